// Shared by the SaveState / RestoreState tests of the L-BFGS and
// trust-region solvers: a run that records every tell (what was asked,
// where, and the progress after), and the check that a solver saved after
// any number of tells and restored into a fresh one (with another number of
// slices) goes on bitwise as the uninterrupted run.
//
//   ExpectRestoresBitwiseAtEveryTell(
//       [&](int shards) { return MakeSolver(options, x0, shards); },
//       RosenbrockObjective(), {.save_shards = 1, .restore_shards = 3});
//
// Thread-safety: plain functions.
#ifndef OPTD_SOLVERS_TESTING_STATE_ROUND_TRIP_H_
#define OPTD_SOLVERS_TESTING_STATE_ROUND_TRIP_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "gtest/gtest.h"
#include "solvers/core/solver.h"
#include "solvers/core/state_bytes.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/status_matchers.h"

namespace optd::testing {

// One tell: what the trial wanted, its point (and vector), and the progress
// after it was told.
struct TellRecord {
  Evaluation wants = Evaluation::kValue;
  Eigen::VectorXd point, vector;
  Progress progress;
};

struct RunTrace {
  std::vector<TellRecord> tells;
  bool finished = false;
  Summary summary;
  Eigen::VectorXd best;
};

inline bool SameBits(double a, double b) {
  return std::memcmp(&a, &b, sizeof(double)) == 0;
}
inline bool SameBits(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return a.size() == b.size() &&
         (a.size() == 0 ||
          std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
}

// Answers the outstanding trial from `objective` (as Drive does), or tells it
// failed. Returns false when the solver refused something.
inline bool TellOne(Solver& solver, const Objective& objective, bool fail,
                    TellRecord* record) {
  const int64_t n = solver.dimension();
  Eigen::VectorXd x(n), g(n), v(n);
  if (!solver.ReadTrialPoint(MutableVectorView::Float64(x.data(), n)).ok()) {
    return false;
  }
  record->wants = solver.wants();
  record->point = x;
  TrialResult r;
  absl::Status status;
  if (fail) {
    r.failed = true;
  } else if (record->wants == Evaluation::kHessianVector) {
    status = solver.ReadTrialVector(MutableVectorView::Float64(v.data(), n));
    record->vector = v;
    const Eigen::VectorXd hv = objective.hessian(x) * v;
    if (hv.allFinite()) {
      r.has_hessian_vector = true;
      status.Update(
          solver.SetTrialHessianVector(ConstVectorView::Float64(hv.data(), n)));
    } else {
      r.failed = true;
    }
  } else {
    const double f = objective.evaluate(x, &g);
    if (record->wants != Evaluation::kGradient) r.value = f;
    const bool finite =
        (record->wants == Evaluation::kGradient || std::isfinite(f)) &&
        g.allFinite();
    if (!finite) {
      r.failed = true;
    } else {
      r.has_gradient = true;
      status = solver.SetTrialGradient(ConstVectorView::Float64(g.data(), n));
    }
    if (finite && record->wants == Evaluation::kHessian) {
      const Eigen::MatrixXd h = Eigen::MatrixXd(objective.hessian(x));
      r.has_hessian = true;
      status.Update(
          solver.SetTrialHessian(ConstVectorView::Float64(h.data(), n * n)));
    }
  }
  if (!status.ok() || !solver.Tell(r).ok()) return false;
  record->progress = solver.progress();
  return true;
}

// Tells until the solver finishes or `max_tells` tells; tell i of the run is
// numbered first_tell + i for `fail_at`.
inline RunTrace RunFrom(Solver& solver, const Objective& objective,
                        int64_t first_tell,
                        const std::function<bool(int64_t)>& fail_at,
                        int64_t max_tells) {
  RunTrace trace;
  for (int64_t i = 0; !solver.finished() && i < max_tells; ++i) {
    TellRecord record;
    const bool fail = fail_at && fail_at(first_tell + i);
    if (!TellOne(solver, objective, fail, &record)) break;
    trace.tells.push_back(std::move(record));
  }
  trace.finished = solver.finished();
  if (trace.finished) trace.summary = solver.summary();
  trace.best.resize(solver.dimension());
  (void)solver.ReadBestPoint(
      MutableVectorView::Float64(trace.best.data(), solver.dimension()));
  return trace;
}

// Empty when the two are bitwise the same; else what differs.
inline std::string CompareProgress(const Progress& a, const Progress& b) {
  if (a.iterations != b.iterations || a.evaluations != b.evaluations ||
      !SameBits(a.best_value, b.best_value) ||
      !SameBits(a.gradient_max_norm, b.gradient_max_norm) ||
      !SameBits(a.last_step, b.last_step) ||
      !SameBits(a.current_value, b.current_value) ||
      !SameBits(a.trust_radius, b.trust_radius)) {
    return "progress differs";
  }
  return "";
}

inline std::string CompareSummaries(const Summary& a, const Summary& b) {
  if (a.reason != b.reason || a.message != b.message ||
      !SameBits(a.value, b.value) ||
      !SameBits(a.initial_value, b.initial_value) ||
      !SameBits(a.gradient_max_norm, b.gradient_max_norm) ||
      a.iterations != b.iterations || a.evaluations != b.evaluations ||
      a.failed_evaluations != b.failed_evaluations ||
      a.line_search_restarts != b.line_search_restarts ||
      a.skipped_updates != b.skipped_updates || a.solver != b.solver ||
      a.dimension != b.dimension || a.options_report != b.options_report) {
    return "summary differs: " + a.BriefReport() + " vs " + b.BriefReport();
  }
  return "";
}

// Empty when `rest` is bitwise `reference` from tell `from` on.
inline std::string CompareContinuation(const RunTrace& reference, size_t from,
                                       const RunTrace& rest) {
  if (rest.tells.size() != reference.tells.size() - from) {
    return "the restored run made " + std::to_string(rest.tells.size()) +
           " tells instead of " + std::to_string(reference.tells.size() - from);
  }
  for (size_t i = 0; i < rest.tells.size(); ++i) {
    const TellRecord& a = reference.tells[from + i];
    const TellRecord& b = rest.tells[i];
    const std::string at = " at tell " + std::to_string(from + i);
    if (a.wants != b.wants) return "wants differ" + at;
    if (!SameBits(a.point, b.point)) return "trial point differs" + at;
    if (!SameBits(a.vector, b.vector)) return "trial vector differs" + at;
    const std::string p = CompareProgress(a.progress, b.progress);
    if (!p.empty()) return p + at;
  }
  if (rest.finished != reference.finished) return "finished differs";
  if (!SameBits(rest.best, reference.best)) return "best point differs";
  if (rest.finished) return CompareSummaries(reference.summary, rest.summary);
  return "";
}

struct RoundTripOptions {
  int save_shards = 1;
  int restore_shards = 3;
  std::function<bool(int64_t)> fail_at;
  int64_t max_tells = 100000;
};

// The reference run is make(save_shards) told to the end. A second solver
// follows it tell by tell; before each tell t (and once finished) its state
// is saved, checked (StateBytes, VectorsSectionOffset through
// `vectors_offset`, resaved bytes), restored into make(restore_shards), and
// the restored solver is run to the end against the reference.
template <typename S>
void ExpectRestoresBitwiseAtEveryTell(
    const std::function<std::unique_ptr<S>(int shards)>& make,
    const Objective& objective, const RoundTripOptions& options,
    std::string_view tag) {
  std::unique_ptr<S> reference_solver = make(options.save_shards);
  const RunTrace reference = RunFrom(*reference_solver, objective, 0,
                                     options.fail_at, options.max_tells);
  ASSERT_TRUE(reference.finished) << "raise max_tells";
  std::unique_ptr<S> stepper = make(options.save_shards);
  std::string state, again;
  for (size_t t = 0; t <= reference.tells.size(); ++t) {
    SCOPED_TRACE("saved after " + std::to_string(t) + " tells");
    ASSERT_OK(stepper->SaveState(&state));
    ASSERT_EQ(static_cast<int64_t>(state.size()), stepper->StateBytes());
    absl::StatusOr<StateSections> sections = SplitStateSections(state, tag);
    ASSERT_OK(sections);
    ASSERT_EQ(static_cast<int64_t>(sections->vectors_offset),
              stepper->VectorsSectionOffset());
    std::unique_ptr<S> restored = make(options.restore_shards);
    ASSERT_OK(restored->RestoreState(state));
    ASSERT_OK(restored->SaveState(&again));
    ASSERT_TRUE(again == state) << "the restored solver saves other bytes";
    const RunTrace rest =
        RunFrom(*restored, objective, t, options.fail_at, options.max_tells);
    const std::string diff = CompareContinuation(reference, t, rest);
    ASSERT_TRUE(diff.empty()) << diff;
    if (t == reference.tells.size()) break;
    TellRecord record;
    const bool fail = options.fail_at && options.fail_at(t);
    ASSERT_TRUE(TellOne(*stepper, objective, fail, &record));
  }
}

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_STATE_ROUND_TRIP_H_
