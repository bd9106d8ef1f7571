// gen_corpus: writes the seed corpus of every fuzz target, small valid inputs
// the fuzzer mutates from (fuzz/corpus/<target>/seed-*), so that it starts
// deep in the code instead of at the parsers. Run by hand after a change to
// fuzz_input.proto or to what a valid request or journal looks like:
//
//   scripts/fuzz.sh --build-only && build-fuzz/fuzz/gen_corpus fuzz/corpus
//
// The stored_session seeds are real data directories: sessions run by a
// SessionManager with a SessionStore in a temporary directory, their
// journals and write-ahead log read back as written (version 2, sync
// marks and salts of their own) and rebuilt from their records as version
// 1 and as version 2 with marks, damaged after the last mark (a torn tail)
// and before one (damage); and slices of each kind run by a SliceHost with
// a data directory, their staged-vector file and a checkpoint
// (SLICE_OP_SAVE_CHECKPOINT) read back and rebuilt the same way. The
// version 2 files read back hold random salts, so the seeds differ from one
// run of gen_corpus to the next.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuzz/harness.h"
#include "fuzz/stored_files.h"
#include "fuzz_input.pb.h"
#include "server/session/session_manager.h"
#include "server/sharding/slice_host.h"
#include "server/storage/env.h"
#include "server/storage/journal.h"
#include "server/storage/session_store.h"
#include "server/storage/slice_checkpoint.h"

namespace optd::fuzz {
namespace {

namespace fs = std::filesystem;

std::string out_dir;

void Write(const std::string& target, const std::string& name,
           const google::protobuf::Message& input) {
  const fs::path dir = fs::path(out_dir) / target;
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

Step Evaluate(uint32_t repeat, double scale = 1, double center = 1,
              double wave = 0.5,
              v1::VectorEncoding encoding = v1::VECTOR_ENCODING_VALUES) {
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

// lower <= x <= upper on `create` (an empty side: unset).
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

// An evaluation as `worker`, holding up to `max_trials`, telling the
// `pick`-th trial it holds.
Step WorkerEvaluate(uint32_t repeat, const std::string& worker,
                    int32_t max_trials = 1, uint32_t pick = 0) {
  Step step = Evaluate(repeat);
  step.mutable_evaluate()->set_worker_id(worker);
  step.mutable_evaluate()->set_max_trials(max_trials);
  step.mutable_evaluate()->set_pick(pick);
  return step;
}

Step GetWithTrials(uint64_t after = 0) {
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

// Sessions with bounds and batch layers (finite differences, gradient
// checks, data parallelism), driven by workers.
void BatchSessionRequests() {
  const double inf = INFINITY;
  const std::vector<double> x0 = {-1.2, 1.0, 0.5};
  {  // L-BFGS-B: x0 outside the box, infinite sides, the optimum outside.
    SessionScript script;
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    SetBounds(&create, {-1, -inf, 0}, {inf, 0.5, 0.4});
    *script.add_steps() = CreateStep(create);
    *script.add_steps() = Evaluate(30, 1, 2, 0.5);
    *script.add_steps() = GetWithTrials();
    Write("session_requests", "lbfgsb_bounds", script);
  }
  {  // L-BFGS-B with a lower side only, x0 on it; a poisoned gradient.
    SessionScript script;
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    SetBounds(&create, {-1.2, 0, -inf}, {});
    *script.add_steps() = CreateStep(create);
    *script.add_steps() = Evaluate(4, 1, -3, 0);
    Step poisoned = Evaluate(1);
    poisoned.mutable_evaluate()->set_poisoned(true);
    poisoned.mutable_evaluate()->set_poison(inf);
    *script.add_steps() = poisoned;
    *script.add_steps() = Evaluate(20, 1, -3, 0);
    Write("session_requests", "lbfgsb_lower_only", script);
  }
  {  // Central differences, x0 at a bound, the stencil told out of order
     // by two workers holding two trials each.
    SessionScript script;
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    SetBounds(&create, {-1.2, -2, -2}, {2, 1.0, 2});
    create.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
    create.mutable_finite_difference()->set_scheme(
        v1::FiniteDifferenceOptions::SCHEME_CENTRAL);
    create.set_lease_seconds(3600);
    *script.add_steps() = CreateStep(create);
    *script.add_steps() = WorkerAsk("w1", 2);
    *script.add_steps() = WorkerEvaluate(3, "w1", 2, 1);
    *script.add_steps() = WorkerEvaluate(5, "w2", 2, 0);
    Step failed = WorkerEvaluate(1, "w2");
    failed.mutable_evaluate()->set_fail(true);
    *script.add_steps() = failed;
    *script.add_steps() = Evaluate(40);
    *script.add_steps() = GetWithTrials(3);
    Write("session_requests", "fd_central_workers", script);
  }
  {  // Forward differences at an upper bound (backward there), a relative
     // step, trust region quasi-Newton with bounds.
    SessionScript script;
    v1::CreateSessionRequest create = Create("tr_lbfgs", x0);
    SetBounds(&create, {-2, -2, -2}, {-1.2, 1.0, 0.5});
    create.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
    create.mutable_finite_difference()->set_scheme(
        v1::FiniteDifferenceOptions::SCHEME_FORWARD);
    create.mutable_finite_difference()->set_relative_step(1e-4);
    *script.add_steps() = CreateStep(create);
    Step picked = Evaluate(40, 1, -1, 0.5);
    picked.mutable_evaluate()->set_pick(2);
    *script.add_steps() = picked;
    Write("session_requests", "fd_forward_tr_bounds", script);
  }
  {  // Gradient checks on a gradient with an error; hand tells with notes.
    SessionScript script;
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.mutable_gradient_check()->add_at_iterations(0);
    create.mutable_gradient_check()->add_at_iterations(2);
    create.mutable_gradient_check()->set_every_iterations(3);
    create.mutable_gradient_check()->set_relative_step(1e-5);
    *script.add_steps() = CreateStep(create);
    Step jittered = Evaluate(12);
    jittered.mutable_evaluate()->set_jitter(1e-3);
    jittered.mutable_evaluate()->set_note("run-7/ckpt");
    *script.add_steps() = jittered;
    Step tell;
    tell.set_to_outstanding(true);
    tell.set_pick(1);
    tell.mutable_tell()->set_value(2.5);
    tell.mutable_tell()->set_note("by hand");
    tell.mutable_tell()->set_worker_id("hand");
    *script.add_steps() = tell;
    *script.add_steps() = tell;          // the retry
    tell.mutable_tell()->set_weight(2);  // not data-parallel: refused
    *script.add_steps() = tell;
    *script.add_steps() = Evaluate(30);
    *script.add_steps() = GetWithTrials();
    Write("session_requests", "gradient_check", script);
  }
  {  // Data parallelism: three workers with weights, one failing.
    SessionScript script;
    v1::CreateSessionRequest create = Create("adam", x0);
    create.mutable_data_parallel()->set_workers(3);
    create.set_lease_seconds(3600);
    *script.add_steps() = CreateStep(create);
    *script.add_steps() = WorkerAsk("w1", 2);
    for (int round = 0; round < 4; ++round) {
      Step w1 = WorkerEvaluate(2, "w1", 2, 1);
      w1.mutable_evaluate()->set_weight(2);
      w1.mutable_evaluate()->set_jitter(0.1);
      *script.add_steps() = w1;
      Step w2 = WorkerEvaluate(1, "w2");
      w2.mutable_evaluate()->set_weight(0.5);
      w2.mutable_evaluate()->set_jitter(0.1);
      w2.mutable_evaluate()->set_note("shard 2");
      w2.mutable_evaluate()->set_fail(round == 2);
      *script.add_steps() = w2;
    }
    Step tell;
    tell.set_to_outstanding(true);
    tell.set_fit_lengths(true);
    tell.mutable_tell()->set_worker_id("w3");
    tell.mutable_tell()->set_value(1);
    tell.mutable_tell()->set_weight(-1);  // refused
    tell.mutable_tell()->mutable_gradient()->add_values(0.5);
    *script.add_steps() = tell;
    tell.mutable_tell()->set_weight(3);
    *script.add_steps() = tell;
    *script.add_steps() = tell;  // the retry
    *script.add_steps() = Evaluate(20);
    *script.add_steps() = GetWithTrials(4);
    Write("session_requests", "data_parallel_weights", script);
  }
  {  // Data-parallel L-BFGS-B with bounds (the line search's trials too).
    SessionScript script;
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    SetBounds(&create, {-1, -1, -1}, {1, 1, 0.25});
    create.mutable_data_parallel()->set_workers(2);
    *script.add_steps() = CreateStep(create);
    Step both = Evaluate(40, 1, 0.3, 0.5);
    both.mutable_evaluate()->set_weight(4);
    both.mutable_evaluate()->set_jitter(0.01);
    *script.add_steps() = both;
    Write("session_requests", "data_parallel_lbfgsb", script);
  }
  for (const std::string solver : {"tr_lsr1", "tr_lbfgs"}) {
    // Trust region quasi-Newton with bounds, x0 outside.
    SessionScript script;
    v1::CreateSessionRequest create = Create(solver, x0);
    SetBounds(&create, {-inf, 0, -0.5}, {0, inf, 0.25});
    *script.add_steps() = CreateStep(create);
    *script.add_steps() = Evaluate(40, 1, 2, 0.5);
    Write("session_requests", solver + "_bounds", script);
  }
  for (const std::string solver : {"adam", "adamw"}) {
    // Projected Adam, x0 outside, one side infinite.
    SessionScript script;
    v1::CreateSessionRequest create = Create(solver, x0);
    SetBounds(&create, {-1, 0, -inf}, {inf, 0.5, 0.25});
    *script.add_steps() = CreateStep(create);
    *script.add_steps() = Evaluate(30, 1, 3, 0.5);
    *script.add_steps() = GetWithTrials();
    Write("session_requests", solver + "_bounds", script);
  }
}

void SessionRequests() {
  const std::vector<double> x0 = {-1.2, 1.0, 0.5};
  for (const std::string solver :
       {"lbfgs", "adam", "adamw", "tr_exact", "tr_cg", "tr_cg_fd", "tr_lsr1",
        "tr_lbfgs"}) {
    SessionScript script;
    *script.add_steps() = CreateStep(Create(solver, x0));
    *script.add_steps() = Evaluate(20);
    Write("session_requests", solver, script);
  }
  {  // Encodings and a poisoned gradient, a failed evaluation, a stop.
    SessionScript script;
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.set_vector_encoding(v1::VECTOR_ENCODING_F32);
    create.set_session_id("rosen-1");
    (*create.mutable_labels())["team"] = "a";
    *script.add_steps() = CreateStep(create);
    *script.add_steps() = Evaluate(3, 2, -1, 0, v1::VECTOR_ENCODING_F64);
    Step poisoned = Evaluate(1, 1, 1, 0, v1::VECTOR_ENCODING_F32);
    poisoned.mutable_evaluate()->set_poisoned(true);
    poisoned.mutable_evaluate()->set_poison_index(1);
    poisoned.mutable_evaluate()->set_poison(std::nan(""));
    *script.add_steps() = poisoned;
    Step failed = Evaluate(1);
    failed.mutable_evaluate()->set_fail(true);
    *script.add_steps() = failed;
    Step stop;
    stop.mutable_tell()->set_stop(true);
    *script.add_steps() = stop;
    Write("session_requests", "encodings_poison_stop", script);
  }
  {  // Hand-written tells: lengths fitted, wrong lengths, retries, Inf.
    SessionScript script;
    *script.add_steps() = CreateStep(Create("tr_exact", x0));
    Step tell;
    tell.set_to_outstanding(true);
    tell.set_fit_lengths(true);
    tell.mutable_tell()->set_value(1.5);
    tell.mutable_tell()->mutable_gradient()->add_values(0.25);
    tell.mutable_tell()->mutable_hessian()->add_values(2.0);
    *script.add_steps() = tell;
    *script.add_steps() = tell;
    tell.mutable_tell()->mutable_gradient()->set_values(0, INFINITY);
    *script.add_steps() = tell;
    tell.set_fit_lengths(false);
    *script.add_steps() = tell;
    Write("session_requests", "hand_tells", script);
  }
  {  // The other RPCs.
    SessionScript script;
    script.set_max_sessions(2);
    v1::CreateSessionRequest create = Create("adam", x0);
    create.set_ttl_seconds(60);
    create.set_lease_seconds(5);
    create.mutable_durability()->set_checkpoint_interval(2);
    *script.add_steps() = CreateStep(create);
    *script.add_steps() = CreateStep(Create("lbfgs", {1, 2}));
    *script.add_steps() = CreateStep(Create("lbfgs", {3}));  // over the limit
    Step ask;
    ask.mutable_ask()->set_worker_id("w1");
    ask.mutable_ask()->set_encoding(v1::VECTOR_ENCODING_F32);
    *script.add_steps() = ask;
    Step get;
    get.mutable_get()->set_include_x(true);
    *script.add_steps() = get;
    Step list;
    list.mutable_list()->set_page_size(1);
    (*list.mutable_list()->mutable_labels())["k"] = "v";
    *script.add_steps() = list;
    Step del;
    del.set_session(1);
    del.mutable_delete_();
    *script.add_steps() = del;
    *script.add_steps() = Evaluate(2);
    Write("session_requests", "rpcs", script);
  }
  {  // An import of a snapshot with two tells (replayed).
    SessionScript script;
    Step import;
    v1::SessionSnapshot* snapshot = import.mutable_import()->mutable_snapshot();
    snapshot->set_format_version(1);
    *snapshot->mutable_create() = Create("lbfgs", {0.5, -0.5});
    snapshot->mutable_create()->set_session_id("imported");
    v1::TellRequest* t1 = snapshot->add_tells()->mutable_tell();
    t1->set_trial_id(1);
    t1->set_value(0.5);
    t1->mutable_gradient()->add_values(1);
    t1->mutable_gradient()->add_values(-1);
    v1::TellRequest* t2 = snapshot->add_tells()->mutable_tell();
    t2->set_trial_id(2);
    t2->set_failed(true);
    *script.add_steps() = import;
    *script.add_steps() = Evaluate(5);
    Write("session_requests", "import", script);
  }
}

v1::SliceOpRequest Op(v1::SliceOp kind, std::vector<double> scalars = {},
                      int data_elements = 0) {
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

// A slice of each kind and operations that give it a state (slice_ops
// seeds, and the slice checkpoints of the stored_session seeds).
struct SliceKindOps {
  std::string name;
  v1::SliceKind kind;
  std::vector<v1::SliceOpRequest> ops;
};
constexpr int kSliceElements = 8;

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
  };
}

// Runs `create` and `steps` with a store in `dir`, then stops.
void RunStored(const std::string& dir, const v1::CreateSessionRequest& create,
               const std::vector<Step>& steps) {
  absl::StatusOr<std::unique_ptr<server::SessionStore>> store =
      server::SessionStore::Open({.data_dir = dir, .commit_threads = 1});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  server::SessionManager manager({}, {}, store->get());
  if (!manager.Recover().ok()) std::exit(1);
  ScriptRunner runner(&manager);
  runner.Run(CreateStep(create));
  for (const Step& step : steps) runner.Run(step);
  manager.FlushCheckpoints();
  (*store)->SyncAll();
}

// The journal at `path` as a structured JournalFile (header and tells).
JournalFile Structured(const fs::path& path, int max_tells) {
  JournalFile file;
  absl::StatusOr<server::JournalHeader> read = server::ReadJournal(
      server::Env::Default(), path.string(),
      [&](const v1::SessionSnapshot& header) {
        *file.mutable_header() = header;
        return absl::OkStatus();
      },
      [&](int64_t i, const v1::SnapshotTell& tell) {
        if (i < max_tells) *file.add_tells() = tell;
        return absl::OkStatus();
      });
  if (!read.ok()) std::exit(1);
  return file;
}

// Seeds `name`_raw, _structured and _torn: `create` run through `steps`
// with a store in `dir`, its files read back, then `after` on the recovered
// session.
void StoredSeeds(const std::string& dir, const std::string& name,
                 const v1::CreateSessionRequest& create,
                 const std::vector<Step>& steps, const Step& after) {
  RunStored(dir, create, steps);
  const fs::path journal =
      fs::path(dir) / "sessions" / (create.session_id() + ".journal");
  StoredSessions raw;  // the files as written
  JournalFile* raw_journal = raw.add_journals();
  raw_journal->set_name(create.session_id());
  raw_journal->set_raw(ReadFile(journal));
  for (const auto& entry : fs::directory_iterator(fs::path(dir) / "wal")) {
    WalFile* wal = raw.add_wal();
    wal->set_raw(ReadFile(entry.path()));
  }
  *raw.add_steps() = after;
  raw.set_export_import(true);
  Write("stored_session", absl::StrCat(name, "_raw"), raw);
  // Structured: the first 3 tells in the journal, tells 3.. in the log.
  StoredSessions structured;
  JournalFile all = Structured(journal, 1000);
  JournalFile* file = structured.add_journals();
  *file = Structured(journal, 3);
  WalFile* wal = structured.add_wal();
  wal->set_sequence(7);
  for (int i = 2; i < all.tells_size(); ++i) {
    WalRecord* r = wal->add_records();
    r->set_session_id(create.session_id());
    r->set_incarnation(all.header().incarnation());
    r->set_tell(i + 1);
    *r->mutable_record() = all.tells(i);
  }
  *structured.add_steps() = after;
  Write("stored_session", absl::StrCat(name, "_structured"), structured);
  // The journal's last record cut short: a torn tail the log covers.
  StoredSessions torn = structured;
  size_t size = server::kJournalMagic.size() +
                server::FrameRecord(file->header().SerializeAsString()).size();
  for (const v1::SnapshotTell& tell : file->tells()) {
    size += server::FrameRecord(tell.SerializeAsString()).size();
  }
  Corruption* cut = torn.mutable_journals(0)->add_damage();
  cut->set_truncate(true);
  cut->set_offset(size - 5);
  Write("stored_session", absl::StrCat(name, "_torn"), torn);
  // Version 2, as this build writes it: the journal sealed when created and
  // marked after each synced tell but the last, which a crash spoiled (a
  // flipped byte after the last mark: a torn tail, the log has the tell);
  // the log sealed when created and marked after each record but the last,
  // spoiled too.
  StoredSessions sealed = structured;
  JournalFile* sealed_journal = sealed.mutable_journals(0);
  Sealing* journal_seal = sealed_journal->mutable_sealing();
  journal_seal->set_v2(true);
  journal_seal->set_salt("jnl-salt");
  for (int records = 1; records <= sealed_journal->tells_size(); ++records) {
    journal_seal->add_mark_after(records);
  }
  WalFile* sealed_wal = sealed.mutable_wal(0);
  Sealing* wal_seal = sealed_wal->mutable_sealing();
  wal_seal->set_v2(true);
  wal_seal->set_salt("wal-salt");
  for (int records = 0; records < sealed_wal->records_size(); ++records) {
    wal_seal->add_mark_after(records);
  }
  Corruption* spoiled = sealed_journal->add_damage();
  spoiled->set_offset(JournalBytes(*sealed_journal).size() - 3);
  spoiled->set_flip(0x20);
  spoiled = sealed_wal->add_damage();
  spoiled->set_offset(WalBytes(*sealed_wal).size() - 3);
  spoiled->set_flip(0x20);
  Write("stored_session", absl::StrCat(name, "_sealed"), sealed);
  // Damage before a mark, in synced records: the journal's first tell
  // (DATA_LOSS, the session damaged) and the log's second record (a range
  // stepped over).
  StoredSessions damaged = sealed;
  JournalFile* damaged_journal = damaged.mutable_journals(0);
  damaged_journal->clear_damage();
  damaged_journal->mutable_sealing()->add_mark_after(
      damaged_journal->tells_size() + 1);
  JournalFile header_only = *damaged_journal;
  header_only.clear_tells();
  Corruption* flipped = damaged_journal->add_damage();
  flipped->set_offset(JournalBytes(header_only).size() + 12);
  flipped->set_flip(0x01);
  WalFile* damaged_wal = damaged.mutable_wal(0);
  damaged_wal->clear_damage();
  damaged_wal->mutable_sealing()->add_mark_after(damaged_wal->records_size());
  WalFile first_record = *damaged_wal;
  while (first_record.records_size() > 1)
    first_record.mutable_records()->RemoveLast();
  flipped = damaged_wal->add_damage();
  flipped->set_offset(WalBytes(first_record).size() + 12);
  flipped->set_flip(0x80);
  Write("stored_session", absl::StrCat(name, "_damaged"), damaged);
}

// Seeds slice_checkpoint_<kind>: a real slice with a data directory (a
// staged gradient, operations, SLICE_OP_SAVE_CHECKPOINT), its staged file
// and checkpoint read back as written, then the same files built from
// their records (version 2, round trip and compaction on); for L-BFGS also
// a checkpoint damaged before its seal and one whose seal was never
// written, cut short.
// Exits with `what` and `status` unless `status` is OK.
void OrDie(const absl::Status& status, const std::string& what) {
  if (status.ok()) return;
  std::fprintf(stderr, "gen_corpus: %s: %s\n", what.c_str(),
               status.ToString().c_str());
  std::exit(1);
}

void SliceCheckpointSeeds(const std::string& dir) {
  constexpr uint64_t kTells = 5;
  for (const SliceKindOps& kind : SliceKinds()) {
    const std::string data_dir = absl::StrCat(dir, "/", kind.name);
    fs::create_directories(data_dir);
    v1::CreateSliceRequest create;
    create.mutable_key()->set_session_id("s1");
    create.mutable_key()->set_epoch(2);
    create.mutable_key()->set_shard(1);
    create.set_kind(kind.kind);
    create.set_dimension(kSliceElements);
    create.set_begin(0);
    create.set_end(kSliceElements);
    create.set_memory(3);
    create.set_cg_vectors(true);
    create.set_journal_staged(true);
    create.set_incarnation(0x5eed);
    v1::PutSliceRequest put;
    put.set_session_id("s1");
    put.set_shard(1);
    put.set_trial_id(1);
    put.set_field(v1::SLICE_FIELD_GRADIENT);
    for (int i = 0; i < kSliceElements; ++i) {
      put.mutable_values()->add_values(0.25 * (i - 3));
    }
    {
      server::SliceHost host(/*replica_index=*/0, data_dir);
      OrDie(host.Create(create), "SliceHost::Create");
      v1::PutSliceRequest staged = put;
      OrDie(host.Stage(staged).status(), "SliceHost::Stage");
      uint64_t seq = 0;
      for (v1::SliceOpRequest op : kind.ops) {
        // Memory is what a checkpoint keeps.
        if (op.op() == v1::SLICE_OP_CLEAR_MEMORY) continue;
        v1::SliceOpBatch batch;
        *batch.mutable_key() = create.key();
        op.set_seq(++seq);
        *batch.add_ops() = op;
        v1::SliceOpResponse answer;
        if (!host.Apply(batch, &answer).ok()) --seq;
      }
      v1::SliceOpBatch save;
      *save.mutable_key() = create.key();
      save.add_ops()->set_op(v1::SLICE_OP_SAVE_CHECKPOINT);
      save.mutable_ops(0)->set_seq(++seq);
      save.mutable_ops(0)->set_checkpoint(kTells);
      v1::SliceOpResponse answer;
      OrDie(host.Apply(save, &answer), "SLICE_OP_SAVE_CHECKPOINT");
    }
    v1::SliceOpRequest read;
    read.set_staged_trial(1);
    StoredSessions raw;
    StagedFile* file = raw.add_staged();
    file->set_raw(ReadFile(StagedPath(data_dir, create)));
    *file->mutable_create() = create;
    *file->add_ops() = read;
    CheckpointFile* checkpoint = file->mutable_checkpoint();
    checkpoint->set_tells(kTells);
    checkpoint->set_raw(ReadFile(CheckpointPath(data_dir, create, kTells)));
    checkpoint->set_round_trip(true);
    if (file->raw().empty() || checkpoint->raw().empty()) {
      OrDie(absl::NotFoundError(StagedPath(data_dir, create)), "read back");
    }
    Write("stored_session", absl::StrCat("slice_checkpoint_", kind.name), raw);
    // The same built: the staged file sealed when created and marked after
    // the put; the checkpoint sealed. The round trip's save compacts the
    // staged trial away (read back after: refused) and keeps only itself.
    absl::StatusOr<std::string> state =
        server::SliceCheckpoints(server::Env::Default(), data_dir + "/slices")
            .Load(create, kTells);
    OrDie(state.status(), "SliceCheckpoints::Load");
    StoredSessions built;
    file = built.add_staged();
    *file->mutable_header() = create;
    *file->add_puts() = put;
    file->mutable_sealing()->set_v2(true);
    file->mutable_sealing()->set_salt("stg-salt");
    file->mutable_sealing()->add_mark_after(1);
    file->mutable_sealing()->add_mark_after(2);
    *file->mutable_create() = create;
    *file->add_ops() = read;
    checkpoint = file->mutable_checkpoint();
    checkpoint->set_tells(kTells);
    checkpoint->set_state(*state);
    checkpoint->mutable_sealing()->set_v2(true);
    checkpoint->mutable_sealing()->set_salt("ckp-salt");
    checkpoint->mutable_sealing()->set_mark_at_end(true);
    checkpoint->set_round_trip(true);
    checkpoint->mutable_save()->set_staged_told_through(1);
    checkpoint->mutable_save()->set_keep_checkpoints_from(kTells + 1);
    Write("stored_session",
          absl::StrCat("slice_checkpoint_", kind.name, "_built"), built);
    if (kind.kind != v1::SLICE_KIND_LBFGS) continue;
    // A flipped byte in the state, which the seal after it vouches for:
    // DATA_LOSS.
    StoredSessions damaged = built;
    checkpoint = damaged.mutable_staged(0)->mutable_checkpoint();
    Corruption* flip = checkpoint->add_damage();
    flip->set_offset(
        CheckpointBytes(*checkpoint, create).size() -
        server::FrameSyncMark(std::string(server::kSaltBytes, '\0'), 0).size() -
        4);
    flip->set_flip(0x10);
    Write("stored_session", "slice_checkpoint_damaged", damaged);
    // No seal and the state cut short: a torn tail, and a checkpoint
    // without its state is damage all the same.
    StoredSessions torn = built;
    checkpoint = torn.mutable_staged(0)->mutable_checkpoint();
    checkpoint->mutable_sealing()->set_mark_at_end(false);
    Corruption* cut = checkpoint->add_damage();
    cut->set_offset(CheckpointBytes(*checkpoint, create).size() - 4);
    cut->set_truncate(true);
    Write("stored_session", "slice_checkpoint_torn", torn);
  }
}

void StoredSession() {
  char pattern[] = "/tmp/optd-gen-corpus-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) std::exit(1);
  const std::string tmp = pattern;
  const std::vector<double> x0 = {-1.2, 1.0};
  int n = 0;
  for (const std::string solver : {"lbfgs", "tr_exact", "adam"}) {
    v1::CreateSessionRequest create = Create(solver, x0);
    create.set_session_id(
        absl::StrCat(solver == "tr_exact" ? "tr" : solver, "-1"));
    StoredSeeds(absl::StrCat(tmp, "/", n++), solver, create, {Evaluate(6)},
                Evaluate(3));
  }
  {  // L-BFGS-B, x0 outside the box.
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.set_session_id("lbfgsb-1");
    SetBounds(&create, {-1, -INFINITY}, {INFINITY, 0.5});
    StoredSeeds(absl::StrCat(tmp, "/", n++), "lbfgsb", create, {Evaluate(6)},
                Evaluate(3));
  }
  {  // Central differences stopped mid-stencil (7 tells, stencils of 4),
     // told by workers with notes; the trial log comes back with them.
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.set_session_id("fd-1");
    SetBounds(&create, {-1.2, -2}, {2, 2});
    create.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
    Step worker = WorkerEvaluate(7, "w1", 2, 1);
    worker.mutable_evaluate()->set_note("fd");
    Step after = WorkerEvaluate(5, "w2", 1, 0);
    StoredSeeds(absl::StrCat(tmp, "/", n++), "fd_midstencil", create, {worker},
                after);
  }
  {  // A gradient check stopped inside its stencil.
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.set_session_id("check-1");
    create.mutable_gradient_check()->set_every_iterations(1);
    Step jittered = Evaluate(6);
    jittered.mutable_evaluate()->set_jitter(1e-3);
    StoredSeeds(absl::StrCat(tmp, "/", n++), "gradient_check", create,
                {jittered}, Evaluate(4));
  }
  {  // Data-parallel Adam checkpointing mid-step, with weights.
    v1::CreateSessionRequest create = Create("adam", x0);
    create.set_session_id("dp-1");
    create.mutable_data_parallel()->set_workers(3);
    create.mutable_durability()->set_checkpoint_interval(2);
    Step heavy = WorkerEvaluate(4, "w1", 2);
    heavy.mutable_evaluate()->set_weight(3);
    heavy.mutable_evaluate()->set_jitter(0.1);
    Step light = WorkerEvaluate(3, "w2");
    light.mutable_evaluate()->set_weight(0.25);
    light.mutable_evaluate()->set_jitter(0.1);
    Step after = WorkerEvaluate(4, "w3", 3);
    after.mutable_evaluate()->set_weight(1.5);
    StoredSeeds(absl::StrCat(tmp, "/", n++), "data_parallel_adam", create,
                {heavy, light}, after);
  }
  {  // Data-parallel L-BFGS-B journaling every tell, mid-step.
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.set_session_id("dp-2");
    SetBounds(&create, {-1, -1}, {1, 0.5});
    create.mutable_data_parallel()->set_workers(2);
    Step weighted = Evaluate(7);
    weighted.mutable_evaluate()->set_weight(2);
    weighted.mutable_evaluate()->set_jitter(0.01);
    StoredSeeds(absl::StrCat(tmp, "/", n++), "data_parallel_lbfgsb", create,
                {weighted}, GetWithTrials());
  }
  {  // An Adam session that checkpoints (its journal header holds the state).
    const std::string dir = absl::StrCat(tmp, "/ckpt");
    v1::CreateSessionRequest create = Create("adam", x0);
    create.set_session_id("ckpt-1");
    create.mutable_durability()->set_checkpoint_interval(2);
    RunStored(dir, create, {Evaluate(5)});
    StoredSessions checkpointed;
    *checkpointed.add_journals() =
        Structured(fs::path(dir) / "sessions" / "ckpt-1.journal", 1000);
    *checkpointed.add_steps() = Evaluate(2);
    checkpointed.set_export_import(true);
    Write("stored_session", "adam_checkpoint", checkpointed);
  }
  {  // A staged-slice file read back by a slice.
    StoredSessions staged;
    StagedFile* file = staged.add_staged();
    v1::CreateSliceRequest create;
    create.mutable_key()->set_session_id("s1");
    create.mutable_key()->set_epoch(3);
    create.mutable_key()->set_shard(1);
    create.set_incarnation(42);
    create.set_kind(v1::SLICE_KIND_LBFGS);
    create.set_dimension(8);
    create.set_begin(0);
    create.set_end(8);
    create.set_memory(2);
    *file->mutable_header() = create;
    *file->mutable_create() = create;
    v1::PutSliceRequest* put = file->add_puts();
    put->set_session_id("s1");
    put->set_trial_id(4);
    put->set_shard(1);
    put->set_field(v1::SLICE_FIELD_GRADIENT);
    for (int i = 0; i < 8; ++i) put->mutable_values()->add_values(i);
    v1::SliceOpRequest* read = file->add_ops();
    read->set_staged_trial(4);
    v1::SliceOpRequest* set = file->add_ops();
    set->set_op(v1::SLICE_OP_SET_TRIAL_GRADIENT);
    set->set_staged_trial(4);
    Write("stored_session", "staged", staged);
  }
  SliceCheckpointSeeds(absl::StrCat(tmp, "/slices"));
  std::error_code ignored;
  fs::remove_all(tmp, ignored);
}

void SliceOps() {
  const int n = kSliceElements;
  for (const SliceKindOps& kind : SliceKinds()) {
    SliceScript script;
    v1::CreateSliceRequest* create = script.add_calls()->mutable_create();
    create->mutable_key()->set_session_id("s1");
    create->mutable_key()->set_epoch(1);
    create->set_kind(kind.kind);
    create->set_dimension(n);
    create->set_begin(0);
    create->set_end(n);
    create->set_memory(3);
    create->set_cg_vectors(true);
    for (const v1::SliceOpRequest& op : kind.ops) {
      SliceCall* call = script.add_calls();
      call->set_same_key(true);
      call->set_next_seq(true);
      *call->mutable_apply()->add_ops() = op;
    }
    // The direct path: a staged gradient, a published point read back.
    SliceCall* put = script.add_calls();
    put->set_same_key(true);
    put->set_fit_length(true);
    put->mutable_put()->set_trial_id(9);
    put->mutable_put()->set_field(v1::SLICE_FIELD_GRADIENT);
    put->mutable_put()->mutable_values()->add_values(1.5);
    SliceCall* staged = script.add_calls();
    staged->set_same_key(true);
    staged->set_next_seq(true);
    v1::SliceOpRequest* use = staged->mutable_apply()->add_ops();
    use->set_op(v1::SLICE_OP_SET_TRIAL_GRADIENT);
    use->set_staged_trial(9);
    v1::SliceOpRequest* publish = staged->mutable_apply()->add_ops();
    publish->set_op(v1::SLICE_OP_READ_TRIAL_POINT);
    publish->set_publish_trial(10);
    SliceCall* get = script.add_calls();
    get->set_same_key(true);
    get->mutable_get()->set_trial_id(10);
    get->mutable_get()->set_field(v1::SLICE_FIELD_POINT);
    SliceCall* del = script.add_calls();
    del->set_same_key(true);
    del->mutable_delete_()->set_purge(true);
    Write("slice_ops", kind.name, script);
  }
}

void VectorCodec() {
  v1::Vector values;
  for (double v : {1.0, -2.5, 1e300}) values.add_values(v);
  Write("vector_codec", "values", values);
  v1::Vector f64;
  f64.set_f64(std::string("\0\0\0\0\0\0\xf0\x3f\0\0\0\0\0\0\xf8\x7f", 16));
  Write("vector_codec", "f64", f64);
  v1::Vector f32;
  f32.set_f32(std::string("\0\0\x80\x3f\0\0\x80\x7f", 8));
  Write("vector_codec", "f32", f32);
  v1::Vector both = values;
  both.set_f32(std::string(3, 'x'));
  Write("vector_codec", "both_odd", both);
}

}  // namespace
}  // namespace optd::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (e.g. fuzz/corpus)\n", argv[0]);
    return 2;
  }
  optd::fuzz::QuietLogs();
  optd::fuzz::out_dir = argv[1];
  optd::fuzz::SessionRequests();
  optd::fuzz::BatchSessionRequests();
  optd::fuzz::StoredSession();
  optd::fuzz::SliceOps();
  optd::fuzz::VectorCodec();
  return 0;
}
