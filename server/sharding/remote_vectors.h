// The solvers' vectors interfaces (solvers/{lbfgs,trust_region,adam,adafactor}
// _vectors.h) over a ShardGroup: the same operations the in-process slices
// apply, sent to slices on K replicas (DESIGN §3). The solver controllers do
// not change; a sharded session is an ordinary solver built with these vectors.
//
//   OPTD_ASSIGN_OR_RETURN(auto group, ShardGroup::Create(...));
//   OPTD_ASSIGN_OR_RETURN(
//       auto solver,
//       Lbfgs::Create(options, x0,
//                     std::make_unique<RemoteLbfgsVectors>(group, 10)));
//
// Errors: a failed slice call answers UNAVAILABLE and breaks the group
// (ShardGroup::broken()); told vectors with a non-finite element answer the
// same INVALID_ARGUMENT as the in-process vectors.
//
// State (checkpoints, export, import). SaveState writes the portable state
// (solvers/sharding/slice_state.h: every vector in full, the same bytes as the
// in-process vectors write) gathered from the slices — unless the group has a
// checkpoint target (ShardGroup::set_checkpoint_target), when every slice
// saves its own state on its replica and SaveState writes only a reference:
// the portable state's header (L-BFGS and trust region), then
//
//   "optd.slice_checkpoint.v1" | u64 tells
//
// RestoreState takes either: a portable state is split and loaded into the
// slices, a reference has each slice load its checkpoint. Adafactor's row and
// column statistics live with the home, so its reference is followed by them
// (AdafactorStatistics::Append).
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SERVER_SHARDING_REMOTE_VECTORS_H_
#define OPTD_SERVER_SHARDING_REMOTE_VECTORS_H_

#include <memory>
#include <string>
#include <string_view>

#include "server/sharding/shard_group.h"
#include "solvers/adafactor/adafactor_statistics.h"
#include "solvers/adafactor/adafactor_vectors.h"
#include "solvers/adam/adam_vectors.h"
#include "solvers/core/bounds.h"
#include "solvers/lbfgs/lbfgs_vectors.h"
#include "solvers/trust_region/trust_region_vectors.h"

namespace optd::server {

// The one remote check of a told vector (a gradient or a product): scatters
// `full` with `op` (and `flag`), answers FAILED_PRECONDITION naming the
// first replica sent nothing for the direct trial (PutSlice), and
// INVALID_ARGUMENT for a non-finite element as the in-process vectors do
// (NonFiniteElementError naming `what`).
absl::Status ScatterChecked(ShardGroup& group, v1::SliceOp op,
                            const ConstVectorView& full, const char* what,
                            bool flag = false);

// Sends slice i its range of the box: lower's, then upper's, as float64
// (SLICE_OP_SET_BOUNDS). The home keeps the create request's box, so a
// rebuild or an import sends it again.
absl::Status SendBounds(ShardGroup& group, const Bounds& box);

class RemoteLbfgsVectors : public LbfgsVectors {
 public:
  RemoteLbfgsVectors(std::shared_ptr<ShardGroup> group, int memory)
      : group_(std::move(group)), memory_(memory) {}

  int64_t dimension() const override { return group_->layout().dimension(); }
  int pairs() const override { return pairs_; }
  absl::Status SetTrialPoint(const ConstVectorView& full) override;
  absl::Status SetTrialGradient(const ConstVectorView& full) override;
  absl::Status ReadTrialPoint(const MutableVectorView& full) const override;
  absl::Status ReadPoint(const MutableVectorView& full) const override;
  absl::Status SetDirection(absl::Span<const double> delta) override;
  absl::Status FormTrial(double stp) override;
  absl::StatusOr<Reduction> ReduceTrial(double stp,
                                        bool with_candidate) override;
  absl::Status Accept(bool push_pair, double stp) override;
  absl::Status ClearMemory() override;
  int64_t StateBytes() const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view in) override;

 private:
  std::shared_ptr<ShardGroup> group_;
  const int memory_;
  int pairs_ = 0;
};

class RemoteTrustRegionVectors : public TrustRegionVectors {
 public:
  RemoteTrustRegionVectors(std::shared_ptr<ShardGroup> group, int memory,
                           bool cg_vectors)
      : group_(std::move(group)), memory_(memory), cg_vectors_(cg_vectors) {}

  int64_t dimension() const override { return group_->layout().dimension(); }
  int pairs() const override { return pairs_; }
  absl::Status SetTrialPoint(const ConstVectorView& full) override;
  absl::Status SetTrialGradient(const ConstVectorView& full) override;
  absl::Status SetProduct(const ConstVectorView& full) override;
  absl::Status ReadTrialPoint(const MutableVectorView& full) const override;
  absl::Status ReadPoint(const MutableVectorView& full) const override;
  absl::Status ReadGradient(const MutableVectorView& full) const override;
  absl::Status ReadDirection(const MutableVectorView& full) const override;
  absl::Status SetStep(const ConstVectorView& full) override;
  absl::Status FormStep(absl::Span<const double> coefficients) override;
  absl::Status FormCgStep(double tau) override;
  absl::StatusOr<Reduction> ReduceTrial(bool with_pair) override;
  absl::Status Advance(bool push_pair, bool accept) override;
  absl::Status CgStart() override;
  absl::Status FormDifferencePoint(double h) override;
  absl::Status DifferenceProduct(double h) override;
  absl::StatusOr<Reduction> ReduceCurvature() override;
  absl::StatusOr<Reduction> CgAdvance(double alpha) override;
  absl::StatusOr<Reduction> CgDirection(double beta) override;
  // Sends every slice its range of the box (SLICE_OP_SET_BOUNDS).
  absl::Status SetBounds(const Bounds& box) override;
  absl::StatusOr<Reduction> ReduceBox() override;
  absl::StatusOr<Reduction> ReduceFreeGram() override;
  absl::StatusOr<Reduction> FormProjectedStep(
      absl::Span<const double> coefficients) override;
  int64_t StateBytes() const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view in) override;

 private:
  std::shared_ptr<ShardGroup> group_;
  const int memory_;
  const bool cg_vectors_;
  int pairs_ = 0;
  bool bounded_ = false;
};

class RemoteAdamVectors : public AdamVectors {
 public:
  RemoteAdamVectors(std::shared_ptr<ShardGroup> group, ScalarType type,
                    AdamSlots slots)
      : group_(std::move(group)), type_(type), slots_(slots) {}

  int64_t dimension() const override { return group_->layout().dimension(); }
  ScalarType type() const override { return type_; }
  // Checks the box against the state type here (RoundBoundsInward), then
  // sends every slice its range (SLICE_OP_SET_BOUNDS), which rounds it so.
  absl::Status SetBounds(const Bounds& box) override;
  absl::Status SetPoint(const ConstVectorView& full) override;
  absl::StatusOr<double> SetGradient(const ConstVectorView& full) override;
  absl::StatusOr<double> GradientSquaredNorm() override;
  // Posted without an answer: -1 (AdamVectors::StepSegments).
  absl::StatusOr<int64_t> StepSegments(
      absl::Span<const AdamSegmentStep> segments) override;
  absl::Status ReadPoint(const MutableVectorView& full) const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status LoadState(std::string_view in) override;
  int64_t StateBytes() const override;

 private:
  int width() const { return type_ == ScalarType::kFloat32 ? 4 : 8; }
  int vectors() const { return 1 + slots_.count(); }

  std::shared_ptr<ShardGroup> group_;
  const ScalarType type_;
  const AdamSlots slots_;
};

// Adafactor's three passes (adafactor_vectors.h) over the slices: the two
// that accumulate go to one slice at a time in shard order, carrying the
// running sums (ShardGroup::ReadShard), so that every sum is added in global
// element order, as in process, and the iterates are bitwise those of the
// unsharded session for any K; v's update and the update itself are posted
// to every slice (the update with the next point's gather). A step costs 2K
// round trips besides the gradient's scatter and that gather, each carrying
// O(rows + cols) sums or factors per matrix.
template <typename T>
class RemoteAdafactorVectors : public AdafactorVectors {
 public:
  // REQUIRES: options.Validate() and options.ValidateLayers(dimension) OK.
  RemoteAdafactorVectors(std::shared_ptr<ShardGroup> group,
                         const AdafactorOptions& options);

  int64_t dimension() const override { return group_->layout().dimension(); }
  ScalarType type() const override;
  absl::Status SetPoint(const ConstVectorView& full) override;
  absl::StatusOr<double> SetGradient(const ConstVectorView& full) override;
  absl::StatusOr<AdafactorStepInfo> Step(int64_t step) override;
  absl::Status ReadPoint(const MutableVectorView& full) const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status LoadState(std::string_view in) override;
  int64_t StateBytes() const override;

 private:
  // The running sums through every slice in order, by `request` (its sums
  // set to `sums` for the first).
  absl::StatusOr<std::vector<double>> CarryThroughSlices(
      v1::SliceOpRequest request, std::vector<double> sums);
  // Elements of x, m and v of shard `shard`'s slice.
  int64_t SliceElements(int shard) const;

  std::shared_ptr<ShardGroup> group_;
  const AdafactorOptions options_;
  AdafactorStatistics<T> stats_;
};

// RemoteAdafactorVectors of options.dtype's type.
std::unique_ptr<AdafactorVectors> NewRemoteAdafactorVectors(
    std::shared_ptr<ShardGroup> group, const AdafactorOptions& options);

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_REMOTE_VECTORS_H_
