// LbfgsVectors: every slice of one L-BFGS session's state, as seen by the
// controller (lbfgs.h). Each operation is applied to all slices; reductions
// come back combined in global block order (block_reduction.h), so results are
// bitwise the same for any number of slices.
//
// LocalLbfgsVectors holds K slices in this process (K = 1 is the unsharded
// session). A replica-spanning implementation sends the same operations to
// remote slices; the controller does not change.
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_LBFGS_LBFGS_VECTORS_H_
#define OPTD_SOLVERS_LBFGS_LBFGS_VECTORS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/lbfgs_slice.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

class LbfgsVectors {
 public:
  virtual ~LbfgsVectors() = default;

  virtual int64_t dimension() const = 0;
  // Curvature pairs held (the same on every slice).
  virtual int pairs() const = 0;

  // x_trial <- full (dimension elements).
  virtual absl::Status SetTrialPoint(const ConstVectorView& full) = 0;
  // g_trial <- full. INVALID_ARGUMENT naming the first non-finite index; then
  // g_trial is unspecified but nothing else changed.
  virtual absl::Status SetTrialGradient(const ConstVectorView& full) = 0;
  virtual absl::Status ReadTrialPoint(const MutableVectorView& full) const = 0;
  virtual absl::Status ReadPoint(const MutableVectorView& full) const = 0;

  virtual absl::Status SetDirection(absl::Span<const double> delta) = 0;
  virtual absl::Status FormTrial(double stp) = 0;
  virtual absl::StatusOr<Reduction> ReduceTrial(double stp,
                                                bool with_candidate) = 0;
  virtual absl::Status Accept(bool push_pair, double stp) = 0;
  virtual absl::Status ClearMemory() = 0;
  // g in full (Solver::ReadBestGradient), and the pairs in full, oldest
  // first (Solver::ReadCurvaturePairs). Vectors on other replicas:
  // FAILED_PRECONDITION (these defaults).
  virtual absl::Status ReadGradient(const MutableVectorView& full) const;
  virtual absl::Status ReadPairs(std::vector<std::vector<double>>* s,
                                 std::vector<std::vector<double>>* y) const;

  // LbfgsVectors::SaveState(), LbfgsVectors::RestoreState()
  //
  // The portable state of every slice (slice_state.h): the slice header
  // once, then x, g, x_trial, g_trial, d, s_0..s_{k-1}, y_0..y_{k-1}, each
  // in full; independent of the number of slices. SaveState appends
  // StateBytes() bytes. RestoreState: INVALID_ARGUMENT naming what does not
  // fit (tag, pairs above the memory, size), and nothing changed. Vectors
  // that cannot save keep these defaults: StateBytes 0, UNIMPLEMENTED.
  virtual int64_t StateBytes() const { return 0; }
  virtual absl::Status SaveState(std::string* out) const;
  virtual absl::Status RestoreState(std::string_view in);
};

class LocalLbfgsVectors : public LbfgsVectors {
 public:
  // One slice per range of `layout`, each holding at most `memory` pairs.
  LocalLbfgsVectors(const ShardLayout& layout, int memory);

  int64_t dimension() const override { return layout_.dimension(); }
  int pairs() const override { return slices_.front().pairs(); }
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
  absl::Status ReadGradient(const MutableVectorView& full) const override;
  absl::Status ReadPairs(std::vector<std::vector<double>>* s,
                         std::vector<std::vector<double>>* y) const override;
  int64_t StateBytes() const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view in) override;

 private:
  ShardLayout layout_;
  std::vector<LbfgsSlice> slices_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LBFGS_LBFGS_VECTORS_H_
