// FakeSolver: a Solver whose every answer the test sets, for the unit tests
// of a session's parts (TrialLedger, TrialLog, SessionDurability) without a
// real optimizer behind them.
//
// It hands out batches of trials; trial k of a batch sits at the point
// x_i = 100 k + i, and wants what set_wants() says (value and gradient by
// default). A told trial stays told until NewBatch(). Nothing moves on by
// itself: the test says when the batch is told, when a new one starts and
// when the solver has finished.
//
//   FakeSolver solver(/*dimension=*/2, /*batch_size=*/3);
//   solver.set_told(1);
//   EXPECT_EQ(ledger.OutstandingIds(solver), (std::vector<uint64_t>{1, 3}));
//
// Thread-safety: not thread-safe, as Solver.
#ifndef OPTD_SERVER_TESTING_FAKE_SOLVER_H_
#define OPTD_SERVER_TESTING_FAKE_SOLVER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "solvers/core/solver.h"
#include "solvers/core/summary.h"
#include "solvers/core/vector_view.h"

namespace optd::server::testing {

class FakeSolver final : public Solver {
 public:
  FakeSolver(int64_t dimension, int batch_size) : dimension_(dimension) {
    NewBatch(batch_size);
  }

  // A new batch of `batch_size` untold trials, each wanting a value and a
  // gradient.
  void NewBatch(int batch_size) {
    told_.assign(batch_size, false);
    wants_.assign(batch_size, Evaluation::kValueAndGradient);
  }
  void set_told(int k, bool told = true) { told_[k] = told; }
  void set_wants(int k, Evaluation wants) { wants_[k] = wants; }
  void set_finished(bool finished) { finished_ = finished; }
  // What StateBytes() says (0: the solver cannot save its state).
  void set_state_bytes(int64_t bytes) { state_bytes_ = bytes; }
  void set_progress(const Progress& progress) { progress_ = progress; }

  // The point of batch trial `k`: x_i = 100 k + i.
  std::vector<double> BatchPoint(int k) const {
    std::vector<double> x(dimension_);
    for (int64_t i = 0; i < dimension_; ++i) x[i] = 100.0 * k + i;
    return x;
  }

  // Solver.
  std::string_view name() const override { return "fake"; }
  int64_t dimension() const override { return dimension_; }
  bool finished() const override { return finished_; }
  Evaluation wants() const override { return batch_wants(0); }
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override {
    return ReadBatchPoint(0, out);
  }
  absl::Status ReadBestPoint(const MutableVectorView& out) const override {
    return ReadBatchPoint(0, out);
  }
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override {
    return absl::OkStatus();
  }
  absl::Status Tell(const TrialResult& result) override {
    return TellBatch(0, result);
  }
  int batch_size() const override { return static_cast<int>(told_.size()); }
  bool batch_told(int k) const override { return told_[k]; }
  Evaluation batch_wants(int k) const override { return wants_[k]; }
  absl::Status ReadBatchPoint(int k,
                              const MutableVectorView& out) const override {
    const std::vector<double> x = BatchPoint(k);
    out.CopyFrom(0, dimension_, x.data());
    return absl::OkStatus();
  }
  absl::Status TellBatch(int k, const TrialResult& result) override {
    told_[k] = true;
    return absl::OkStatus();
  }
  void Stop() override { finished_ = true; }
  Progress progress() const override { return progress_; }
  int64_t StateBytes() const override { return state_bytes_; }
  const Summary& summary() const override { return summary_; }
  std::string OptionsReport() const override { return "fake"; }

 private:
  const int64_t dimension_;
  std::vector<bool> told_;
  std::vector<Evaluation> wants_;
  bool finished_ = false;
  int64_t state_bytes_ = 0;
  Progress progress_;
  Summary summary_;
};

}  // namespace optd::server::testing

#endif  // OPTD_SERVER_TESTING_FAKE_SOLVER_H_
