// gen_corpus's seeds of session_requests_fuzzer: scripts of requests that
// run each solver, with bounds, batch layers (finite differences, gradient
// checks, data parallelism), workers, hand-written tells and the other RPCs.
#include <cmath>
#include <string>
#include <vector>

#include "fuzz/gen_corpus.h"

namespace optd::fuzz::corpus {

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
       {"lbfgs", "adam", "adamw", "sgd", "rmsprop", "adagrad", "adamax",
        "nadam", "radam", "lion", "tr_exact", "tr_cg", "tr_cg_fd", "tr_lsr1",
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

}  // namespace optd::fuzz::corpus
