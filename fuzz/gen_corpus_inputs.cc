// gen_corpus's shared inputs (gen_corpus.h).
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/gen_corpus.h"

namespace optd::fuzz::corpus {

namespace fs = std::filesystem;

namespace {

std::string corpus_dir;

}  // namespace

void SetCorpusDir(const std::string& dir) { corpus_dir = dir; }

void Write(const std::string& target, const std::string& name,
           const google::protobuf::Message& input) {
  const fs::path dir = fs::path(corpus_dir) / target;
  fs::create_directories(dir);
  std::ofstream out(dir / ("seed-" + name), std::ios::binary | std::ios::trunc);
  const std::string bytes = input.SerializeAsString();
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

v1::CreateSessionRequest Create(const std::string& solver,
                                std::vector<double> x0) {
  v1::CreateSessionRequest create;
  create.mutable_x0()->mutable_values()->Add(x0.begin(), x0.end());
  if (solver == "lbfgs") create.mutable_lbfgs()->set_memory(3);
  if (solver == "adam") create.mutable_adam()->set_lr(0.1);
  if (solver == "adamw") {
    v1::AdamOptions* adamw = create.mutable_adamw();
    adamw->set_lr(0.05);
    adamw->set_dtype(v1::STATE_DTYPE_FLOAT32);
    adamw->set_amsgrad(true);
    adamw->set_max_grad_norm(1.0);
    adamw->mutable_schedule()->set_warmup_steps(2);
    adamw->mutable_schedule()->set_decay(v1::LrSchedule::DECAY_COSINE);
    adamw->mutable_schedule()->set_decay_steps(10);
  }
  // The rest of the first-order family, each with the options that give it
  // its most slots.
  if (solver == "sgd") {
    v1::SgdOptions* sgd = create.mutable_sgd();
    sgd->set_lr(0.01);
    sgd->set_momentum(0.9);
    sgd->set_nesterov(true);
    sgd->set_weight_decay(0.01);
  }
  if (solver == "rmsprop") {
    v1::RmspropOptions* rmsprop = create.mutable_rmsprop();
    rmsprop->set_centered(true);
    rmsprop->set_momentum(0.5);
    rmsprop->set_maximize(true);
  }
  if (solver == "adagrad") {
    v1::AdagradOptions* adagrad = create.mutable_adagrad();
    adagrad->set_lr_decay(0.01);
    adagrad->set_initial_accumulator_value(0.1);
    adagrad->set_dtype(v1::STATE_DTYPE_FLOAT32);
  }
  if (solver == "adamax") create.mutable_adamax()->set_weight_decay(0.01);
  if (solver == "nadam") create.mutable_nadam()->set_max_grad_norm(1.0);
  if (solver == "radam") create.mutable_radam()->set_lr(0.01);
  if (solver == "lion") create.mutable_lion()->set_weight_decay(0.1);
  if (solver == "tr_exact") {
    create.mutable_trust_region()->set_subproblem(
        v1::TrustRegionOptions::SUBPROBLEM_EXACT);
  }
  if (solver == "tr_cg") {
    create.mutable_trust_region()->set_subproblem(
        v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
  }
  if (solver == "tr_cg_fd") {
    create.mutable_trust_region()->set_subproblem(
        v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD);
  }
  if (solver == "tr_lsr1" || solver == "tr_lbfgs") {
    v1::TrustRegionOptions* tr = create.mutable_trust_region();
    tr->set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON);
    tr->set_quasi_newton_update(
        solver == "tr_lsr1"
            ? v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LSR1
            : v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS);
    tr->set_memory(4);
  }
  return create;
}

Step CreateStep(const v1::CreateSessionRequest& create) {
  Step step;
  *step.mutable_create() = create;
  return step;
}

Step Evaluate(uint32_t repeat, double scale, double center, double wave,
              v1::VectorEncoding encoding) {
  Step step;
  Objective* o = step.mutable_evaluate();
  o->set_repeat(repeat);
  o->set_scale(scale);
  o->set_center(center);
  o->set_wave(wave);
  o->set_offset(3);
  o->set_encoding(encoding);
  return step;
}

void SetBounds(v1::CreateSessionRequest* create, std::vector<double> lower,
               std::vector<double> upper) {
  v1::Bounds* bounds = create->mutable_bounds();
  if (!lower.empty()) {
    bounds->mutable_lower()->mutable_values()->Add(lower.begin(), lower.end());
  }
  if (!upper.empty()) {
    bounds->mutable_upper()->mutable_values()->Add(upper.begin(), upper.end());
  }
}

Step WorkerEvaluate(uint32_t repeat, const std::string& worker,
                    int32_t max_trials, uint32_t pick) {
  Step step = Evaluate(repeat);
  step.mutable_evaluate()->set_worker_id(worker);
  step.mutable_evaluate()->set_max_trials(max_trials);
  step.mutable_evaluate()->set_pick(pick);
  return step;
}

Step GetWithTrials(uint64_t after) {
  Step get;
  get.mutable_get()->set_include_x(true);
  get.mutable_get()->set_include_trials(true);
  get.mutable_get()->set_trials_after_id(after);
  return get;
}

Step WorkerAsk(const std::string& worker, int32_t max_trials) {
  Step ask;
  ask.mutable_ask()->set_worker_id(worker);
  ask.mutable_ask()->set_max_trials(max_trials);
  return ask;
}

v1::SliceOpRequest Op(v1::SliceOp kind, std::vector<double> scalars,
                      int data_elements) {
  v1::SliceOpRequest op;
  op.set_op(kind);
  op.mutable_scalars()->Add(scalars.begin(), scalars.end());
  if (data_elements > 0) {
    std::string bytes(8 * data_elements, '\0');
    for (int i = 0; i < data_elements; ++i) {
      const double v = 0.5 * (i + 1);
      std::memcpy(bytes.data() + 8 * i, &v, 8);
    }
    op.set_data(bytes);
  }
  return op;
}

namespace {

// SLICE_OP_SET_BOUNDS for a slice of n: lower -1, upper 1 (float64 each).
v1::SliceOpRequest Box(int n) {
  v1::SliceOpRequest op;
  op.set_op(v1::SLICE_OP_SET_BOUNDS);
  std::string bytes(16 * n, '\0');
  for (int i = 0; i < 2 * n; ++i) {
    const double v = i < n ? -1.0 : 1.0;
    std::memcpy(bytes.data() + 8 * i, &v, 8);
  }
  op.set_data(bytes);
  return op;
}

// A worker's gradient staged under `trial`.
v1::SliceOpRequest Staged(uint64_t trial, int n) {
  v1::SliceOpRequest op = Op(v1::SLICE_OP_STAGE_GRADIENT, {}, n);
  op.set_staged_trial(trial);
  return op;
}

// `kind` over the staged trials 1 and 2 with weights 1 and 3.
v1::SliceOpRequest DataParallel(v1::SliceOp kind) {
  v1::SliceOpRequest op = Op(kind);
  for (uint64_t trial : {1, 2}) op.add_data_parallel_trials(trial);
  for (double weight : {1.0, 3.0}) op.add_data_parallel_weights(weight);
  if (kind == v1::SLICE_OP_SET_TRIAL_GRADIENT) op.set_data_parallel_mean(true);
  return op;
}

// `op` with integer arguments (SLICE_OP_LBFGSB_*) and its flag.
v1::SliceOpRequest Integers(v1::SliceOpRequest op,
                            std::vector<int64_t> integers, bool flag = false) {
  op.mutable_integers()->Add(integers.begin(), integers.end());
  op.set_flag(flag);
  return op;
}

// `op` carrying `count` running sums, all 0.
v1::SliceOpRequest Sums(v1::SliceOpRequest op, int count) {
  for (int i = 0; i < count; ++i) op.add_sums(0.0);
  return op;
}

}  // namespace

std::vector<SliceKindOps> SliceKinds() {
  const int n = kSliceElements;
  return {
      {"lbfgs",
       v1::SLICE_KIND_LBFGS,
       {Op(v1::SLICE_OP_SET_TRIAL_GRADIENT, {}, n),
        Op(v1::SLICE_OP_SET_DIRECTION, {1.0}),
        Op(v1::SLICE_OP_FORM_TRIAL, {0.5}),
        Op(v1::SLICE_OP_SET_TRIAL_GRADIENT, {}, n),
        Op(v1::SLICE_OP_REDUCE_TRIAL, {0.5}), Op(v1::SLICE_OP_ACCEPT, {0.5}),
        Op(v1::SLICE_OP_READ_POINT), Op(v1::SLICE_OP_CLEAR_MEMORY)}},
      {"trust_region",
       v1::SLICE_KIND_TRUST_REGION,
       {Op(v1::SLICE_OP_SET_TRIAL_GRADIENT, {}, n), Op(v1::SLICE_OP_CG_START),
        Op(v1::SLICE_OP_SET_PRODUCT, {}, n), Op(v1::SLICE_OP_CG_ADVANCE, {0.1}),
        Op(v1::SLICE_OP_CG_DIRECTION, {0.2}),
        Op(v1::SLICE_OP_FORM_CG_STEP, {0.3}),
        Op(v1::SLICE_OP_FORM_DIFFERENCE_POINT, {1e-3}),
        Op(v1::SLICE_OP_DIFFERENCE_PRODUCT, {1e-3}),
        Op(v1::SLICE_OP_SET_STEP, {}, n), Op(v1::SLICE_OP_FORM_STEP, {1, 2}),
        Op(v1::SLICE_OP_TR_REDUCE_TRIAL), Op(v1::SLICE_OP_REDUCE_CURVATURE),
        Op(v1::SLICE_OP_ADVANCE), Op(v1::SLICE_OP_READ_DIRECTION)}},
      {"adam",
       v1::SLICE_KIND_ADAM,
       {Op(v1::SLICE_OP_SET_TRIAL_POINT, {}, n),
        Op(v1::SLICE_OP_SET_TRIAL_GRADIENT, {}, n),
        Op(v1::SLICE_OP_GRADIENT_SQUARES),
        Op(v1::SLICE_OP_ADAM_STEP,
           {0, 0, 1, 0.9, 0.1, 0.999, 0.001, 0.1, 0.03, 1e-8, 1}),
        Op(v1::SLICE_OP_READ_STATE), Op(v1::SLICE_OP_LOAD_STATE, {}, 3 * n)}},
      // The first-order family in a box: bounds, then a projected step.
      {"adam_box",
       v1::SLICE_KIND_ADAM,
       {Box(n), Op(v1::SLICE_OP_SET_TRIAL_POINT, {}, n),
        Op(v1::SLICE_OP_SET_TRIAL_GRADIENT, {}, n),
        Op(v1::SLICE_OP_GRADIENT_SQUARES),
        Op(v1::SLICE_OP_ADAM_STEP,
           {0, 0, 1, 0.9, 0.1, 0.999, 0.001, 0.1, 0.03, 1e-8, 1}),
        Op(v1::SLICE_OP_READ_POINT)}},
      // The quasi-Newton trust region's bounded iteration (no CG vectors).
      {"trust_region_box",
       v1::SLICE_KIND_TRUST_REGION,
       {Box(n), Op(v1::SLICE_OP_SET_TRIAL_GRADIENT, {}, n),
        Op(v1::SLICE_OP_REDUCE_BOX), Op(v1::SLICE_OP_REDUCE_FREE_GRAM),
        Op(v1::SLICE_OP_FORM_PROJECTED_STEP, {1.0}),
        Op(v1::SLICE_OP_TR_REDUCE_TRIAL), Op(v1::SLICE_OP_ADVANCE),
        Op(v1::SLICE_OP_READ_POINT)},
       [](v1::CreateSliceRequest* create) { create->set_cg_vectors(false); }},
      // L-BFGS-B: x0 projected into the box, one iteration's Cauchy point
      // (breakpoints read), free set, reduced gradient, subspace step and
      // line search to an accepted pair, then a pair read back. Its slices
      // save no state (no slice checkpoint seed).
      {"lbfgsb",
       v1::SLICE_KIND_LBFGSB,
       {Box(n),
        Op(v1::SLICE_OP_SET_TRIAL_POINT, {}, n),
        Op(v1::SLICE_OP_LBFGSB_ACTIVATE),
        Op(v1::SLICE_OP_SET_TRIAL_GRADIENT, {}, n),
        Op(v1::SLICE_OP_LBFGSB_ACCEPT_INITIAL),
        Op(v1::SLICE_OP_LBFGSB_PROJECTED_GRADIENT_NORM),
        Op(v1::SLICE_OP_LBFGSB_CAUCHY_START),
        Integers(Op(v1::SLICE_OP_LBFGSB_BREAKPOINTS), {0, 64}),
        Integers(Op(v1::SLICE_OP_LBFGSB_CAUCHY_FINISH, {0.5, 0.25}), {3}, true),
        Op(v1::SLICE_OP_LBFGSB_FREE_VARIABLES),
        Op(v1::SLICE_OP_LBFGSB_FORMK_SUMS),
        Integers(Op(v1::SLICE_OP_LBFGSB_REDUCED_GRADIENT, {1.0}), {}, true),
        Op(v1::SLICE_OP_LBFGSB_SUBSPACE_PRODUCTS),
        Op(v1::SLICE_OP_LBFGSB_SUBSPACE_STEP, {1.0}),
        Integers(Op(v1::SLICE_OP_LBFGSB_SUBSPACE_BACKTRACK, {0.5}), {2}),
        Op(v1::SLICE_OP_LBFGSB_SEARCH_DIRECTION),
        Op(v1::SLICE_OP_LBFGSB_FORM_TRIAL, {0.5}),
        Op(v1::SLICE_OP_SET_TRIAL_GRADIENT, {}, n),
        Op(v1::SLICE_OP_LBFGSB_TRIAL_SLOPE),
        Op(v1::SLICE_OP_LBFGSB_ACCEPT_TRIAL),
        Op(v1::SLICE_OP_LBFGSB_PUSH_PAIR, {0.5}),
        Integers(Op(v1::SLICE_OP_LBFGSB_READ_PAIR), {0}),
        Op(v1::SLICE_OP_READ_POINT)}},
      // A data-parallel step: two workers' gradients staged, their weighted
      // sum, the mean as the told gradient.
      {"adam_data_parallel",
       v1::SLICE_KIND_ADAM,
       {Op(v1::SLICE_OP_SET_TRIAL_POINT, {}, n), Staged(1, n), Staged(2, n),
        DataParallel(v1::SLICE_OP_DATA_PARALLEL_ADD),
        DataParallel(v1::SLICE_OP_SET_TRIAL_GRADIENT),
        Op(v1::SLICE_OP_GRADIENT_SQUARES), Op(v1::SLICE_OP_READ_POINT)},
       [](v1::CreateSliceRequest* create) {
         create->set_data_parallel_workers(2);
       }},
      // Adafactor: a 2 x 2 matrix and a vector of 4 (float32 state), the
      // three passes of a step.
      {"adafactor",
       v1::SLICE_KIND_ADAFACTOR,
       {Op(v1::SLICE_OP_SET_TRIAL_POINT, {}, n),
        Op(v1::SLICE_OP_SET_TRIAL_GRADIENT, {}, n),
        Sums(Op(v1::SLICE_OP_ADAFACTOR_STATISTICS, {1e-30}), 2 + 2 + 2),
        Op(v1::SLICE_OP_ADAFACTOR_SECOND_MOMENT, {1e-30, 0.2}),
        Sums(Op(v1::SLICE_OP_ADAFACTOR_UPDATE_SQUARES, {1, 1, 1, 1}), 2),
        Op(v1::SLICE_OP_ADAFACTOR_APPLY,
           {0.9, 0.0, 1, 1, 1, 1, 1, 1, 0.01, 0.01, 0, 0}),
        Op(v1::SLICE_OP_READ_STATE)},
       [](v1::CreateSliceRequest* create) {
         create->set_float32(true);
         create->set_first_moment(true);
         for (auto [rows, cols] : {std::pair{2, 2}, std::pair{4, 0}}) {
           create->add_layer_rows(rows);
           create->add_layer_cols(cols);
         }
       }},
  };
}

}  // namespace optd::fuzz::corpus
