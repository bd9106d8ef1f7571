// LbfgsbVectors: every slice of one L-BFGS-B session's state, as seen by the
// controller (lbfgsb.h). Each operation is applied to all slices
// (lbfgsb_slice.h says what each does to one); reductions come back combined
// in global block order (block_reduction.h), minima and counts combined
// exactly, so results are bitwise the same for any number of slices.
//
// The Cauchy search visits breakpoints in (t, index) order across the whole
// dimension; the controller merges the slices' ordered streams
// (BreakpointMerge in lbfgsb_steps.h), fetching them in batches with
// Breakpoints() (64 first, doubling up to kMaxBreakpointBatch), so its
// memory is O(K batch m), never O(n).
//
// LocalLbfgsbVectors holds K slices in this process (K = 1 is the unsharded
// session). A replica-spanning implementation sends the same operations to
// remote slices; the controller does not change.
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_LBFGSB_LBFGSB_VECTORS_H_
#define OPTD_SOLVERS_LBFGSB_LBFGSB_VECTORS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/core/bounds.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/lbfgsb_slice.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

// lbfgsb.f's active flags (prjctd, cnstnd, boxed) over every slice.
struct BoxFlags {
  bool projected = false;
  bool constrained = false;
  bool boxed = true;
};

// What CauchyStart combines: the sums (CauchyStartLayout) and the counts.
struct CauchyStartResult {
  Reduction sums;
  CauchyCounts counts;
};

// SubspaceStep combined: dd_p, whether any variable was projected, and the
// least backtracking step with its first index (-1 for none).
struct SubspaceStepResult {
  double dd_p = 0.0;
  bool projected = false;
  double alpha = 1.0;
  int64_t alpha_index = -1;
};

// FormSearchDirection combined: d'd, g'd, the largest step in the box.
struct SearchDirectionResult {
  double dtd = 0.0;
  double gd = 0.0;
  double step_bound = 0.0;
};

class LbfgsbVectors {
 public:
  virtual ~LbfgsbVectors() = default;

  virtual int64_t dimension() const = 0;
  // Number of slices; breakpoint streams are numbered [0, slices()).
  virtual int slices() const = 0;

  // x_trial <- full, projected into the box; x <- x_trial (lbfgsb.f's
  // active). The box was given when the vectors were made.
  virtual absl::StatusOr<BoxFlags> Start(const ConstVectorView& x0) = 0;
  // g_trial <- full. INVALID_ARGUMENT naming the first non-finite index;
  // then g_trial is unspecified but nothing else changed.
  virtual absl::Status SetTrialGradient(const ConstVectorView& full) = 0;
  virtual absl::Status ReadTrialPoint(const MutableVectorView& full) const = 0;
  virtual absl::Status ReadPoint(const MutableVectorView& full) const = 0;
  // g in full, and the first `pairs` pairs in full, oldest first
  // (Solver::ReadBestGradient, Solver::ReadCurvaturePairs).
  virtual absl::Status ReadGradient(const MutableVectorView& full) const = 0;
  virtual absl::Status ReadPairs(int pairs, std::vector<std::vector<double>>* s,
                                 std::vector<std::vector<double>>* y) const = 0;

  // The operations of LbfgsbSlice of the same names, on every slice.
  virtual absl::Status AcceptInitial() = 0;
  virtual absl::StatusOr<double> ProjectedGradientNorm() = 0;
  virtual absl::Status SetCauchyPointToIterate() = 0;
  virtual absl::StatusOr<CauchyStartResult> CauchyStart() = 0;
  // Breakpoints [from, from + count) of slice `slice`'s (t, index) order.
  virtual absl::Status Breakpoints(int slice, int64_t from, int count,
                                   std::vector<BreakpointRecord>* out) = 0;
  virtual absl::Status CauchyFinish(bool any_visited, double last_t,
                                    int64_t last_index, double tsum,
                                    bool move) = 0;
  virtual absl::StatusOr<FreeCounts> FreeVariables(bool track_changes) = 0;
  virtual absl::StatusOr<Reduction> FormkSums(bool updated) = 0;
  virtual absl::Status ReducedGradient(bool negative_gradient, double theta,
                                       absl::Span<const double> wa) = 0;
  virtual absl::StatusOr<Reduction> SubspaceProducts() = 0;
  virtual absl::StatusOr<SubspaceStepResult> SubspaceStep(
      double theta, absl::Span<const double> wv) = 0;
  virtual absl::Status SubspaceBacktrack(double alpha, int64_t alpha_index) = 0;
  virtual absl::StatusOr<SearchDirectionResult> FormSearchDirection() = 0;
  // False when x + stp d is not finite.
  virtual absl::StatusOr<bool> FormTrial(double stp, bool clip) = 0;
  virtual absl::StatusOr<double> TrialSlope() = 0;
  // Returns projgr at the new iterate.
  virtual absl::StatusOr<double> AcceptTrial() = 0;
  virtual absl::StatusOr<Reduction> PushPair(double stp) = 0;
  virtual absl::Status ClearMemory() = 0;
};

class LocalLbfgsbVectors : public LbfgsbVectors {
 public:
  // One slice per range of `layout`, each holding at most `memory` pairs,
  // in the box `bounds` (bounds.size() == layout.dimension()).
  LocalLbfgsbVectors(const ShardLayout& layout, int memory,
                     const Bounds& bounds);

  int64_t dimension() const override { return layout_.dimension(); }
  int slices() const override { return static_cast<int>(slices_.size()); }
  absl::StatusOr<BoxFlags> Start(const ConstVectorView& x0) override;
  absl::Status SetTrialGradient(const ConstVectorView& full) override;
  absl::Status ReadTrialPoint(const MutableVectorView& full) const override;
  absl::Status ReadPoint(const MutableVectorView& full) const override;
  absl::Status ReadGradient(const MutableVectorView& full) const override;
  absl::Status ReadPairs(int pairs, std::vector<std::vector<double>>* s,
                         std::vector<std::vector<double>>* y) const override;
  absl::Status AcceptInitial() override;
  absl::StatusOr<double> ProjectedGradientNorm() override;
  absl::Status SetCauchyPointToIterate() override;
  absl::StatusOr<CauchyStartResult> CauchyStart() override;
  absl::Status Breakpoints(int slice, int64_t from, int count,
                           std::vector<BreakpointRecord>* out) override;
  absl::Status CauchyFinish(bool any_visited, double last_t, int64_t last_index,
                            double tsum, bool move) override;
  absl::StatusOr<FreeCounts> FreeVariables(bool track_changes) override;
  absl::StatusOr<Reduction> FormkSums(bool updated) override;
  absl::Status ReducedGradient(bool negative_gradient, double theta,
                               absl::Span<const double> wa) override;
  absl::StatusOr<Reduction> SubspaceProducts() override;
  absl::StatusOr<SubspaceStepResult> SubspaceStep(
      double theta, absl::Span<const double> wv) override;
  absl::Status SubspaceBacktrack(double alpha, int64_t alpha_index) override;
  absl::StatusOr<SearchDirectionResult> FormSearchDirection() override;
  absl::StatusOr<bool> FormTrial(double stp, bool clip) override;
  absl::StatusOr<double> TrialSlope() override;
  absl::StatusOr<double> AcceptTrial() override;
  absl::StatusOr<Reduction> PushPair(double stp) override;
  absl::Status ClearMemory() override;

 private:
  // Combines one BlockPartials per slice in global block order.
  static Reduction Combine(const std::vector<BlockPartials>& parts);

  ShardLayout layout_;
  std::vector<LbfgsbSlice> slices_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LBFGSB_LBFGSB_VECTORS_H_
