// WithDataParallel: a Solver adapter for synchronous data parallelism. Each
// gradient trial of the inner solver is handed out to W workers at the same
// point, each evaluating its share of the data; the told gradients (and
// values) are averaged by TrialResult::weight before the inner solver sees
// one.
//
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Adam> adam,
//                         Adam::Create(AdamOptions(), x0));
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Solver> solver,
//                         WithDataParallel(std::move(adam), /*workers=*/4));
//   while (!solver->finished()) {
//     for (int k = 0; k < solver->batch_size(); ++k) {  // worker k
//       solver->ReadBatchPoint(k, x_view);
//       OPTD_RETURN_IF_ERROR(solver->SetBatchGradient(k, g_k));
//       OPTD_RETURN_IF_ERROR(solver->TellBatch(
//           k, {.has_gradient = true, .weight = rows_k}));
//     }
//   }
//
// Like every batch adapter (batch_adapter.h) it forwards what it does not
// change to the inner solver, counts every worker's trial in its evaluations,
// passes other trials through as a batch of one, and serves the single-trial
// methods from the first untold trial of the batch.
//
// Thread-safety: not thread-safe, like every Solver.
#ifndef OPTD_SOLVERS_ADAPTERS_DATA_PARALLEL_H_
#define OPTD_SOLVERS_ADAPTERS_DATA_PARALLEL_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "solvers/core/solver.h"

namespace optd {

// WithDataParallel()
//
// Whenever the inner solver's trial wants kGradient or kValueAndGradient, the
// batch is `workers` trials at its point with its wants. SetBatchGradient(k)
// validates (as the inner solver does: length, finite elements, float32
// range for a float32 state) and stages the gradient; TellBatch(k) adds it,
// times result.weight (> 0, finite), to a float64 sum, in tell order. Values
// are averaged the same way. A failed trial (failed, no gradient, or a
// non-finite value where a value is wanted) is left out; when all failed the
// inner solver is told a failed evaluation. When all are told the inner
// solver gets sum / total weight. Scratch: two n-vectors of float64.
// Identical tells in the same order give bitwise identical iterates; another
// order may differ by rounding.
//
// SaveState: when the inner solver saves its state, the adapter saves it with
// its own (told flags, sums, weights).
//
// INVALID_ARGUMENT: inner null, workers outside [2, 1024] (naming
// "data_parallel.workers").
absl::StatusOr<std::unique_ptr<Solver>> WithDataParallel(
    std::unique_ptr<Solver> inner, int workers);

// DataParallelBytes()
//
// The bytes the adapter holds for dimension n besides the inner solver: the
// staged gradient and the weighted sum (float64 each), a told flag per
// worker.
int64_t DataParallelBytes(int64_t n, int workers);

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAPTERS_DATA_PARALLEL_H_
