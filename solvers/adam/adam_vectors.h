// AdamVectors: every slice of one elementwise first-order session's state (x
// and the slots s0, s1, s2 its method keeps: Adam's m, v and, with amsgrad,
// the running max of v; SGD's momentum buffer; ... see ElementwiseMethod in
// adam_kernel.h), as seen by the controller (adam.h). The update is
// elementwise; the only reduction is the gradient's sum of squares for
// global-norm clipping, summed in global block order (block_reduction.h) so
// that it is bitwise the same for any number of slices.
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

// AdamSlots
//
// The state slots a session keeps (bit i of `mask` for slot s_i) and the
// value every element of s0 starts at (Adagrad's initial_accumulator_value;
// 0 for every other method and slot).
struct AdamSlots {
  int mask = 0b011;
  double s0_init = 0.0;

  static AdamSlots For(const AdamHyper& hyper);
  bool has(int slot) const { return (mask >> slot) & 1; }
  // The number of slots kept (0 to 3).
  int count() const { return has(0) + has(1) + has(2); }
};

// The slots ApplyAdamUpdate reads and writes for these scalars (bit i for
// s_i): AdamSlotMask() of the hyperparameters they were computed from. A
// slice checks a step from another replica against its own slots with it.
int AdamStepSlotMask(const AdamStepScalars& scalars);

class AdamVectors {
 public:
  virtual ~AdamVectors() = default;
  virtual int64_t dimension() const = 0;
  virtual ScalarType type() const = 0;

  // Confines x to a box (adam.h says how): every slice keeps its range of
  // the box, rounded inward to the state type, and every later SetPoint and
  // Step projects x onto it, so the iterates are bitwise the same for any
  // number of slices. INVALID_ARGUMENT for a box of another size, or one
  // whose finite bound has no finite value of the state type inside it.
  virtual absl::Status SetBounds(const Bounds& box) = 0;
  // x <- full, rounded to the state type (and projected onto the box, if
  // any); the slots <- their starting values (AdamSlots).
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
  // Appends x and the slots kept (in slot order), each in global order, in
  // the state type's native bytes; LoadState reads them back (INVALID_ARGUMENT
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
  AdamSlice(ShardRange range, AdamSlots slots);

  // lower, upper <- this range of `box`, rounded inward to T
  // (RoundBoundsInward). INVALID_ARGUMENT as RoundBoundsInward, the slice
  // unchanged.
  absl::Status SetBounds(const Bounds& box);
  // The same from this range's bounds (range.size() each: what a replica
  // receives, SLICE_OP_SET_BOUNDS).
  absl::Status SetBounds(const double* lower_range, const double* upper_range);
  // x <- this range of `full`, projected onto the box; the slots <- their
  // starting values.
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
  // The vectors SaveState writes, in order: x, then the slots kept.
  int state_vectors() const { return 1 + slots.count(); }
  // The global index of the first element of `point` (this range's x as
  // range.size() T in native bytes, as a saved state holds it) that is not
  // finite or lies outside the box, or -1. A state to load must hold a point
  // the slice could have made: it is handed out as the next trial.
  int64_t FirstBadPoint(const char* point) const;
  // Vector `which` of state_vectors(): 0 is x, 1 the first slot kept, ...
  std::vector<T>& state_vector(int which);
  const std::vector<T>& state_vector(int which) const;

  ShardRange range;
  AdamSlots slots;
  // s[i] is slot s_i (range.size() elements), empty when not kept.
  std::vector<T> x, s[3], g;
  // The box in T; both empty when unbounded.
  std::vector<T> lower, upper;

 private:
  // s[i] from element `offset` on, or nullptr when slot i is not kept.
  T* Slot(int i, int64_t offset);
  // x_e = `value` clamped to the box (as is when unbounded).
  T Projected(int64_t e, T value) const;
  void Project();
};

// RoundBoundsInward<T>()
//
// The box [lower_e, upper_e], e < n, rounded inward to T (the nearest T inside
// it; when no T lies inside, both sides become the T nearest lower_e) into
// lo_out[e] and hi_out[e] (both null: only checked), so that a point read
// back in double is inside the box. `first` is element 0's global index, for
// the message: INVALID_ARGUMENT naming the first bound that is finite but has
// no finite T inside it (beyond float32's range).
template <typename T>
absl::Status RoundBoundsInward(const double* lower, const double* upper,
                               int64_t n, int64_t first, T* lo_out, T* hi_out);

// INVALID_ARGUMENT for gradient[index] == value, not finite in the state type
// (float32 when `float32`).
absl::Status AdamGradientError(int64_t index, double value, bool float32);

template <typename T>
class LocalAdamVectors : public AdamVectors {
 public:
  LocalAdamVectors(const ShardLayout& layout, AdamSlots slots);

  int64_t dimension() const override { return layout_.dimension(); }
  ScalarType type() const override;
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
  AdamSlots slots_;
  std::vector<AdamSlice<T>> slices_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAM_ADAM_VECTORS_H_
