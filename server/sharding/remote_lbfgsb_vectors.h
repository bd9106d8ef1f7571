// RemoteLbfgsbVectors: LbfgsbVectors (solvers/lbfgsb/lbfgsb_vectors.h) over a
// ShardGroup of SLICE_KIND_LBFGSB slices, for an L-BFGS session with bounds
// on K replicas. The L-BFGS-B controller (solvers/lbfgsb/lbfgsb.h) does not
// change: every operation is the in-process slice's
// (solvers/sharding/lbfgsb_slice.h) sent to the slices; reductions come back
// combined in global block order, and minima, maxima and counts combined
// exactly, so the iterates are bitwise those of the unsharded session for
// any number of shards. The Cauchy search fetches each slice's breakpoints in
// batches (SLICE_OP_LBFGSB_BREAKPOINTS), so the home holds O(K batch m)
// numbers, never O(n), but for the box it keeps to send again (SendBounds).
//
// The box goes to the slices when the vectors are made (Create), so a
// rebuild or an import, which make the solver again from the create request,
// send it again. The slices save no state: a sharded L-BFGS-B session, like
// the unsharded one, is made durable by its journal and rebuilt by replaying
// its tells.
//
// Told gradients go through the one checked scatter (ScatterChecked): the
// same INVALID_ARGUMENT for a wrong length or a non-finite element as in
// process, FAILED_PRECONDITION for a direct-path tell a replica was not
// sent. Trial points are gathered, or on the direct path published for
// GetSlice.
//
//   OPTD_ASSIGN_OR_RETURN(auto vectors,
//                         RemoteLbfgsbVectors::Create(group, memory, box));
//   OPTD_ASSIGN_OR_RETURN(auto solver,
//                         LbfgsB::Create(options, x0, box,
//                         std::move(vectors)));
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SERVER_SHARDING_REMOTE_LBFGSB_VECTORS_H_
#define OPTD_SERVER_SHARDING_REMOTE_LBFGSB_VECTORS_H_

#include <memory>
#include <utility>
#include <vector>

#include "server/sharding/shard_group.h"
#include "solvers/core/bounds.h"
#include "solvers/lbfgsb/lbfgsb_vectors.h"

namespace optd::server {

class RemoteLbfgsbVectors : public LbfgsbVectors {
 public:
  // Vectors over `group`'s slices (made with kind SLICE_KIND_LBFGSB and
  // `memory`), each sent its range of `box` (box.size() == the group's
  // dimension). UNAVAILABLE when a slice cannot be reached.
  static absl::StatusOr<std::unique_ptr<RemoteLbfgsbVectors>> Create(
      std::shared_ptr<ShardGroup> group, int memory, const Bounds& box);

  int64_t dimension() const override { return group_->layout().dimension(); }
  int slices() const override { return group_->layout().shards(); }
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
  explicit RemoteLbfgsbVectors(std::shared_ptr<ShardGroup> group)
      : group_(std::move(group)) {}

  std::shared_ptr<ShardGroup> group_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_REMOTE_LBFGSB_VECTORS_H_
