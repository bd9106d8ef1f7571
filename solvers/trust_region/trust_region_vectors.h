// TrustRegionVectors: every slice of one trust-region session's state, as
// seen by the controller (trust_region.h). Each operation is applied to all
// slices; reductions come back combined in global block order
// (block_reduction.h), so results are bitwise the same for any number of
// slices. See trust_region_slice.h for the named vectors.
//
// LocalTrustRegionVectors holds K slices in this process (K = 1 is the
// unsharded session). A replica-spanning implementation sends the same
// operations to remote slices; the controller does not change.
//
//   auto layout = ShardLayout::Make(n, /*shards=*/3);
//   LocalTrustRegionVectors v(*layout, /*memory=*/10, /*cg_vectors=*/false);
//   OPTD_RETURN_IF_ERROR(v.SetTrialPoint(x0));
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_VECTORS_H_
#define OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_VECTORS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/core/bounds.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/shard_layout.h"
#include "solvers/sharding/trust_region_slice.h"

namespace optd {

class TrustRegionVectors {
 public:
  virtual ~TrustRegionVectors() = default;

  virtual int64_t dimension() const = 0;
  // Curvature pairs held (the same on every slice).
  virtual int pairs() const = 0;

  // Whole-vector transport. The setters answer INVALID_ARGUMENT naming a
  // wrong length or the first non-finite index (then the slot written is
  // unspecified, but nothing else changed).
  virtual absl::Status SetTrialPoint(const ConstVectorView& full) = 0;
  virtual absl::Status SetTrialGradient(const ConstVectorView& full) = 0;
  virtual absl::Status SetProduct(const ConstVectorView& full) = 0;
  virtual absl::Status ReadTrialPoint(const MutableVectorView& full) const = 0;
  virtual absl::Status ReadPoint(const MutableVectorView& full) const = 0;
  virtual absl::Status ReadGradient(const MutableVectorView& full) const = 0;
  virtual absl::Status ReadDirection(const MutableVectorView& full) const = 0;

  // The operations of TrustRegionSlice, on every slice.
  virtual absl::Status SetStep(const ConstVectorView& full) = 0;
  virtual absl::Status FormStep(absl::Span<const double> coefficients) = 0;
  virtual absl::Status FormCgStep(double tau) = 0;
  virtual absl::StatusOr<Reduction> ReduceTrial(bool with_pair) = 0;
  virtual absl::Status Advance(bool push_pair, bool accept) = 0;
  virtual absl::Status CgStart() = 0;
  virtual absl::Status FormDifferencePoint(double h) = 0;
  virtual absl::Status DifferenceProduct(double h) = 0;
  virtual absl::StatusOr<Reduction> ReduceCurvature() = 0;
  virtual absl::StatusOr<Reduction> CgAdvance(double alpha) = 0;
  virtual absl::StatusOr<Reduction> CgDirection(double beta) = 0;

  // Box bounds (trust_region.h). SetBounds gives every slice its range of
  // the box; the box operations (TrustRegionSlice) answer
  // FAILED_PRECONDITION on vectors without one. Every slice reduces its own
  // range, so the iterates are bitwise the same for any number of slices.
  // REQUIRES: box.size() == dimension(); SetBounds before SetTrialPoint.
  virtual absl::Status SetBounds(const Bounds& box) = 0;
  virtual absl::StatusOr<Reduction> ReduceBox() = 0;
  virtual absl::StatusOr<Reduction> ReduceFreeGram() = 0;
  virtual absl::StatusOr<Reduction> FormProjectedStep(
      absl::Span<const double> coefficients) = 0;

  // TrustRegionVectors::SaveState(), TrustRegionVectors::RestoreState()
  //
  // The portable state of every slice (slice_state.h): the slice header
  // once, then x, g, x_trial, g_trial, p, [z, r, d, hd], s_0..s_{k-1},
  // y_0..y_{k-1}, each in full; independent of the number of slices. The
  // box is not saved: a restore needs vectors given the same bounds.
  // SaveState appends StateBytes() bytes. RestoreState: INVALID_ARGUMENT
  // naming what does not fit (tag, pairs above the memory, CG vectors or
  // bounds other than these vectors', size), and nothing changed. Vectors
  // that cannot save keep these defaults: StateBytes 0, UNIMPLEMENTED.
  virtual int64_t StateBytes() const { return 0; }
  virtual absl::Status SaveState(std::string* out) const;
  virtual absl::Status RestoreState(std::string_view in);
};

class LocalTrustRegionVectors : public TrustRegionVectors {
 public:
  // One slice per range of `layout`, each holding at most `memory` pairs and,
  // with `cg_vectors`, the Steihaug CG vectors.
  LocalTrustRegionVectors(const ShardLayout& layout, int memory,
                          bool cg_vectors);

  int64_t dimension() const override { return layout_.dimension(); }
  int pairs() const override { return slices_.front().pairs(); }
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
  absl::Status SetBounds(const Bounds& box) override;
  absl::StatusOr<Reduction> ReduceBox() override;
  absl::StatusOr<Reduction> ReduceFreeGram() override;
  absl::StatusOr<Reduction> FormProjectedStep(
      absl::Span<const double> coefficients) override;
  int64_t StateBytes() const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view in) override;

 private:
  absl::Status CheckSize(int64_t size, const char* what) const;
  // Sets a told vector on every slice; `what` names it in errors.
  template <typename Setter>
  absl::Status SetChecked(const ConstVectorView& full, const char* what,
                          Setter set);
  template <typename Reduce>
  Reduction Combine(Reduce reduce);

  ShardLayout layout_;
  std::vector<TrustRegionSlice> slices_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_VECTORS_H_
