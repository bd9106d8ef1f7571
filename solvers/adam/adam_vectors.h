// AdamVectors: every slice of one Adam/AdamW session's state (x, m, v, and the
// running max of v with amsgrad), as seen by the controller (adam.h). The
// update is elementwise; the only reduction is the gradient's sum of squares
// for global-norm clipping, summed in global block order (block_reduction.h)
// so that it is bitwise the same for any number of slices.
//
// LocalAdamVectors<T> holds K slices in this process with state of type T
// (float or double). A replica-spanning implementation forwards the same
// operations to remote slices.
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_ADAM_ADAM_VECTORS_H_
#define OPTD_SOLVERS_ADAM_ADAM_VECTORS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/adam/adam_kernel.h"
#include "solvers/core/bounds.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

// AdamSegmentStep
//
// The step scalars of one parameter group: elements [begin, end) of the
// state (global indices). A step is a list of them, in order, tiling
// [0, dimension); each slice applies those that intersect its range.
struct AdamSegmentStep {
  int64_t begin = 0;
  int64_t end = 0;
  AdamStepScalars scalars;
};

class AdamVectors {
 public:
  virtual ~AdamVectors() = default;
  virtual int64_t dimension() const = 0;
  virtual ScalarType type() const = 0;

  // Confines x to a box (adam.h says how): every later SetPoint and Step
  // projects x onto it. Only an in-process session of one slice supports
  // bounds: the default, for slices elsewhere, is INVALID_ARGUMENT "bounds are
  // not supported for sharded sessions". REQUIRES: box.size() == dimension().
  virtual absl::Status SetBounds(const Bounds& box);
  // x <- full, rounded to the state type (and projected onto the box, if
  // any); m, v (and max v) <- 0.
  virtual absl::Status SetPoint(const ConstVectorView& full) = 0;
  // The told gradient, rounded to the state type (torch's grad has the
  // parameter's dtype). INVALID_ARGUMENT naming the first element that is not
  // finite in the state type; the state is unchanged. On success returns
  // max_i |g_i|.
  virtual absl::StatusOr<double> SetGradient(const ConstVectorView& full) = 0;
  // Sum of g_i^2 over the last gradient, in double, in global block order.
  virtual absl::StatusOr<double> GradientSquaredNorm() = 0;
  // One update with these scalars on every slice, unless it would leave some
  // x_i not finite (NaN or +-inf after the projection): then nothing changes
  // and the answer is that i (the first such). -1 when the step was taken.
  // Slices on other replicas are not checked (the step is posted without an
  // answer and applied as torch would): RemoteAdamVectors answers -1.
  // REQUIRES: `segments` tile [0, dimension()) in order.
  virtual absl::StatusOr<int64_t> StepSegments(
      absl::Span<const AdamSegmentStep> segments) = 0;
  // StepSegments with one segment, [0, dimension()).
  absl::StatusOr<int64_t> Step(const AdamStepScalars& scalars) {
    const AdamSegmentStep all{0, dimension(), scalars};
    return StepSegments(absl::MakeConstSpan(&all, 1));
  }
  virtual absl::Status ReadPoint(const MutableVectorView& full) const = 0;
  // Appends x, m, v (and max v with amsgrad), each in global order, in the
  // state type's native bytes; LoadState reads them back (INVALID_ARGUMENT
  // for a wrong size, state unchanged). Independent of the slicing.
  virtual absl::Status SaveState(std::string* out) const = 0;
  virtual absl::Status LoadState(std::string_view in) = 0;
  virtual int64_t StateBytes() const = 0;
};

// The state of one contiguous range, and the operations on it (the same in
// this process and on a remote replica, server/sharding/slice_host.h).
template <typename T>
struct AdamSlice {
  AdamSlice() = default;
  AdamSlice(ShardRange range, bool amsgrad);

  // lower, upper <- this range of `box`, rounded inward to T (the nearest T
  // inside [lower_i, upper_i]; when no T lies inside, both become the T
  // nearest lower_i). INVALID_ARGUMENT naming the first bound that is finite
  // but has no finite T inside it (beyond float32's range).
  absl::Status SetBounds(const Bounds& box);
  // x <- this range of `full`, projected onto the box; m, v (and max v) <- 0.
  void SetPoint(const ConstVectorView& full);
  // g <- this range of `full`, rounded to T. Returns the global index of the
  // first element that is not finite in T, or -1; *max_abs <- max |g_i|.
  int64_t SetGradient(const ConstVectorView& full, double* max_abs);
  // Per-block sums of g_i^2 (widened to double).
  BlockPartials GradientSquares() const;
  // One update, then x <- min(max(x, lower), upper) when bounded.
  void Step(const AdamStepScalars& scalars);
  // As Step, each element with the scalars of the segment holding it
  // (segments that miss this range are skipped).
  void Step(absl::Span<const AdamSegmentStep> segments);
  // The global index of the first x_i that Step(scalars) would leave not
  // finite, or -1; changes nothing. (Step overflows T, or meets inf - inf,
  // 0 * inf or 0 / 0, with a step size or weight decay beyond T's range, eps
  // = 0 and v_i = 0, or iterates near T's largest value.) It runs the same
  // update on a copy of one block of the state at a time: a second pass over
  // the state, no allocation.
  int64_t FirstNotFiniteAfterStep(const AdamStepScalars& scalars) const;
  int64_t FirstNotFiniteAfterStep(
      absl::Span<const AdamSegmentStep> segments) const;
  void ReadPoint(const MutableVectorView& full) const;
  // The vectors SaveState writes, in order: x, m, v (and max v).
  int state_vectors() const { return amsgrad ? 4 : 3; }
  // The global index of the first element of `point` (this range's x as
  // range.size() T in native bytes, as a saved state holds it) that is not
  // finite or lies outside the box, or -1. A state to load must hold a point
  // the slice could have made: it is handed out as the next trial.
  int64_t FirstBadPoint(const char* point) const;
  std::vector<T>& state_vector(int which);
  const std::vector<T>& state_vector(int which) const;

  ShardRange range;
  bool amsgrad = false;
  std::vector<T> x, m, v, v_max, g;
  // The box in T; both empty when unbounded.
  std::vector<T> lower, upper;

 private:
  // x_e = `value` clamped to the box (as is when unbounded).
  T Projected(int64_t e, T value) const;
  void Project();
};

// The message of the INVALID_ARGUMENT for bounds on a sharded session.
inline constexpr char kShardedBoundsMessage[] =
    "bounds are not supported for sharded sessions";

// INVALID_ARGUMENT for gradient[index] == value, not finite in the state type
// (float32 when `float32`).
absl::Status AdamGradientError(int64_t index, double value, bool float32);

template <typename T>
class LocalAdamVectors : public AdamVectors {
 public:
  LocalAdamVectors(const ShardLayout& layout, bool amsgrad);

  int64_t dimension() const override { return layout_.dimension(); }
  ScalarType type() const override;
  // INVALID_ARGUMENT kShardedBoundsMessage for more than one slice.
  absl::Status SetBounds(const Bounds& box) override;
  absl::Status SetPoint(const ConstVectorView& full) override;
  absl::StatusOr<double> SetGradient(const ConstVectorView& full) override;
  absl::StatusOr<double> GradientSquaredNorm() override;
  // Checks every slice before any steps: the point moves as one or not at
  // all.
  absl::StatusOr<int64_t> StepSegments(
      absl::Span<const AdamSegmentStep> segments) override;
  absl::Status ReadPoint(const MutableVectorView& full) const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status LoadState(std::string_view in) override;
  int64_t StateBytes() const override;

 private:
  ShardLayout layout_;
  bool amsgrad_;
  std::vector<AdamSlice<T>> slices_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAM_ADAM_VECTORS_H_
