#include "server/sharding/remote_vectors.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"
#include "solvers/sharding/slice_state.h"

namespace optd::server {
namespace {

// The first non-finite index any slice reported (slices are in index order,
// so the first found is the global first), or -1.
int64_t FirstBad(const std::vector<v1::SliceOpResponse>& answers) {
  for (const v1::SliceOpResponse& a : answers) {
    if (a.bad_index() >= 0) return a.bad_index();
  }
  return -1;
}

// full[i] for messages; a sliced vector's values are on the replicas.
double ValueAt(const ConstVectorView& full, int64_t i) {
  return full.on_slices() ? std::numeric_limits<double>::quiet_NaN()
                          : full.Get(i);
}

// FAILED_PRECONDITION naming the first shard whose replica was sent nothing
// for the direct trial (PutSlice).
absl::Status CheckStaged(const ShardGroup& group,
                         const std::vector<v1::SliceOpResponse>& answers,
                         absl::string_view what) {
  for (size_t shard = 0; shard < answers.size(); ++shard) {
    if (!answers[shard].missing()) continue;
    const ShardPlacement p = group.placements()[shard];
    return absl::FailedPreconditionError(absl::StrCat(
        "the tell is sliced but replica ", p.replica, " (", p.address,
        ") has no ", what, " slice of trial ", group.direct_trial(),
        " for shard ", shard, " [", p.range.begin, ", ", p.range.end,
        "); PutSlice it there, then tell again"));
  }
  return absl::OkStatus();
}

// Scatters the told vector `full` with `op` and checks the answers: a slice
// sent nothing for the direct trial (CheckStaged), then the first
// non-finite element (-1 in *bad when none). The one remote check of a told
// gradient or product for every solver.
absl::StatusOr<std::vector<v1::SliceOpResponse>> ScatterTold(
    ShardGroup& group, v1::SliceOp op, const ConstVectorView& full,
    const char* what, int64_t* bad, bool flag = false) {
  OPTD_RETURN_IF_ERROR(group.layout().CheckDimension(full.size(), what));
  OPTD_ASSIGN_OR_RETURN(auto answers, group.Scatter(op, full, flag));
  OPTD_RETURN_IF_ERROR(CheckStaged(group, answers, what));
  *bad = FirstBad(answers);
  return answers;
}

}  // namespace

absl::Status ScatterChecked(ShardGroup& group, v1::SliceOp op,
                            const ConstVectorView& full, const char* what,
                            bool flag) {
  int64_t bad = -1;
  OPTD_RETURN_IF_ERROR(ScatterTold(group, op, full, what, &bad, flag).status());
  if (bad >= 0) return NonFiniteElementError(what, bad, ValueAt(full, bad));
  return absl::OkStatus();
}

absl::Status SendBounds(ShardGroup& group, const Bounds& box) {
  OPTD_RETURN_IF_ERROR(group.layout().CheckDimension(box.size(), "bounds"));
  std::vector<std::string> parts;
  for (int shard = 0; shard < group.layout().shards(); ++shard) {
    const ShardRange r = group.layout().range(shard);
    const size_t bytes = static_cast<size_t>(r.size()) * sizeof(double);
    std::string part;
    part.reserve(2 * bytes);
    part.append(reinterpret_cast<const char*>(box.lower().data() + r.begin),
                bytes);
    part.append(reinterpret_cast<const char*>(box.upper().data() + r.begin),
                bytes);
    parts.push_back(std::move(part));
  }
  return group.ScatterBytes(v1::SLICE_OP_SET_BOUNDS, std::move(parts)).status();
}

namespace {

constexpr std::string_view kSliceReferenceTag = "optd.slice_checkpoint.v1";

// A vectors section that names the slices' own checkpoint files: the portable
// state's header (so that the controller's checks of it hold), then the tag
// and the tells.
void AppendSliceReference(std::string_view header, uint64_t tells,
                          std::string* out) {
  out->append(header.data(), header.size());
  StateWriter writer(out);
  writer.Tag(kSliceReferenceTag);
  writer.U64(tells);
}

// True (with its tells) when `in` is such a reference with a header of
// `header_bytes`.
bool ParseSliceReference(std::string_view in, size_t header_bytes,
                         uint64_t* tells) {
  if (in.size() != header_bytes + kSliceReferenceTag.size() + 8) return false;
  StateReader reader(in.substr(header_bytes));
  if (!reader.Tag(kSliceReferenceTag)) return false;
  *tells = reader.U64();
  return reader.ok() && *tells > 0;
}

// SaveState of remote vectors: the reference (after `header`) when the
// slices checkpoint themselves, else the portable state `merge` makes of
// their states.
absl::Status SaveRemoteState(
    ShardGroup& group, std::string_view header, std::string* out,
    const std::function<absl::Status(absl::Span<const std::string>,
                                     std::string*)>& merge) {
  if (const auto& target = group.checkpoint_target()) {
    OPTD_RETURN_IF_ERROR(group.SaveSlices(*target));
    AppendSliceReference(header, target->tells, out);
    return absl::OkStatus();
  }
  OPTD_ASSIGN_OR_RETURN(auto answers, group.Read(v1::SLICE_OP_READ_STATE));
  std::vector<std::string> states;
  states.reserve(answers.size());
  for (v1::SliceOpResponse& a : answers) {
    states.push_back(std::move(*a.mutable_data()));
  }
  return merge(states, out);
}

// RestoreState of remote vectors: a reference has the slices load their
// checkpoint; a portable state is split (`split`) and loaded. Either starts
// with the header, whose pair count (`header_pairs`) goes to *pairs.
absl::Status RestoreRemoteState(
    ShardGroup& group, std::string_view in, size_t header_bytes, int* pairs,
    const std::function<
        absl::StatusOr<std::vector<std::string>>(std::string_view)>& split,
    const std::function<absl::StatusOr<int>(std::string_view)>& header_pairs) {
  OPTD_ASSIGN_OR_RETURN(const int restored, header_pairs(in));
  uint64_t tells = 0;
  if (ParseSliceReference(in, header_bytes, &tells)) {
    OPTD_RETURN_IF_ERROR(group.LoadSlices(tells));
  } else {
    OPTD_ASSIGN_OR_RETURN(std::vector<std::string> parts, split(in));
    OPTD_RETURN_IF_ERROR(
        group.ScatterBytes(v1::SLICE_OP_LOAD_STATE, std::move(parts)).status());
  }
  *pairs = restored;
  return absl::OkStatus();
}

absl::Status NoBounds() {
  return absl::FailedPreconditionError("these vectors have no bounds");
}

}  // namespace

// --- L-BFGS ----------------------------------------------------------------

int64_t RemoteLbfgsVectors::StateBytes() const {
  return static_cast<int64_t>(kLbfgsSliceHeaderBytes) +
         LbfgsSliceHeader{pairs_}.state_vectors() * dimension() * 8;
}

absl::Status RemoteLbfgsVectors::SaveState(std::string* out) const {
  std::string header;
  AppendLbfgsSliceHeader({pairs_}, &header);
  return SaveRemoteState(
      *group_, header, out,
      [&](absl::Span<const std::string> states, std::string* portable) {
        return MergeLbfgsSliceStates(group_->layout(), states, portable);
      });
}

absl::Status RemoteLbfgsVectors::RestoreState(std::string_view in) {
  return RestoreRemoteState(
      *group_, in, kLbfgsSliceHeaderBytes, &pairs_,
      [&](std::string_view portable) {
        return SplitLbfgsState(group_->layout(), memory_, portable);
      },
      [&](std::string_view portable) -> absl::StatusOr<int> {
        OPTD_ASSIGN_OR_RETURN(LbfgsSliceHeader header,
                              ParseLbfgsSliceHeader(portable, memory_));
        return header.pairs;
      });
}

absl::Status RemoteLbfgsVectors::SetTrialPoint(const ConstVectorView& full) {
  OPTD_RETURN_IF_ERROR(group_->layout().CheckDimension(full.size(), "point"));
  return group_->Scatter(v1::SLICE_OP_SET_TRIAL_POINT, full).status();
}

absl::Status RemoteLbfgsVectors::SetTrialGradient(const ConstVectorView& full) {
  return ScatterChecked(*group_, v1::SLICE_OP_SET_TRIAL_GRADIENT, full,
                        "gradient");
}

absl::Status RemoteLbfgsVectors::ReadTrialPoint(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_TRIAL_POINT, full);
}

absl::Status RemoteLbfgsVectors::ReadPoint(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_POINT, full);
}

absl::Status RemoteLbfgsVectors::SetDirection(absl::Span<const double> delta) {
  group_->Post(v1::SLICE_OP_SET_DIRECTION, delta);
  return absl::OkStatus();
}

absl::Status RemoteLbfgsVectors::FormTrial(double stp) {
  group_->Post(v1::SLICE_OP_FORM_TRIAL, {stp});
  return absl::OkStatus();
}

absl::StatusOr<Reduction> RemoteLbfgsVectors::ReduceTrial(double stp,
                                                          bool with_candidate) {
  return group_->Reduce(v1::SLICE_OP_REDUCE_TRIAL, {stp}, with_candidate);
}

absl::Status RemoteLbfgsVectors::Accept(bool push_pair, double stp) {
  group_->Post(v1::SLICE_OP_ACCEPT, {stp}, push_pair);
  if (push_pair) pairs_ = std::min(pairs_ + 1, memory_);
  return absl::OkStatus();
}

absl::Status RemoteLbfgsVectors::ClearMemory() {
  group_->Post(v1::SLICE_OP_CLEAR_MEMORY);
  pairs_ = 0;
  return absl::OkStatus();
}

// --- Trust region ------------------------------------------------------------

absl::Status RemoteTrustRegionVectors::SetTrialPoint(
    const ConstVectorView& full) {
  OPTD_RETURN_IF_ERROR(group_->layout().CheckDimension(full.size(), "point"));
  return group_->Scatter(v1::SLICE_OP_SET_TRIAL_POINT, full).status();
}

absl::Status RemoteTrustRegionVectors::SetTrialGradient(
    const ConstVectorView& full) {
  return ScatterChecked(*group_, v1::SLICE_OP_SET_TRIAL_GRADIENT, full,
                        "gradient");
}

absl::Status RemoteTrustRegionVectors::SetProduct(const ConstVectorView& full) {
  return ScatterChecked(*group_, v1::SLICE_OP_SET_PRODUCT, full,
                        "hessian_vector");
}

absl::Status RemoteTrustRegionVectors::ReadTrialPoint(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_TRIAL_POINT, full);
}

absl::Status RemoteTrustRegionVectors::ReadPoint(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_POINT, full);
}

absl::Status RemoteTrustRegionVectors::ReadGradient(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_GRADIENT, full);
}

absl::Status RemoteTrustRegionVectors::ReadDirection(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_DIRECTION, full);
}

absl::Status RemoteTrustRegionVectors::SetStep(const ConstVectorView& full) {
  OPTD_RETURN_IF_ERROR(group_->layout().CheckDimension(full.size(), "step"));
  return group_->Scatter(v1::SLICE_OP_SET_STEP, full).status();
}

absl::Status RemoteTrustRegionVectors::FormStep(
    absl::Span<const double> coefficients) {
  group_->Post(v1::SLICE_OP_FORM_STEP, coefficients);
  return absl::OkStatus();
}

absl::Status RemoteTrustRegionVectors::FormCgStep(double tau) {
  group_->Post(v1::SLICE_OP_FORM_CG_STEP, {tau});
  return absl::OkStatus();
}

absl::StatusOr<Reduction> RemoteTrustRegionVectors::ReduceTrial(
    bool with_pair) {
  return group_->Reduce(v1::SLICE_OP_TR_REDUCE_TRIAL, {}, with_pair);
}

absl::Status RemoteTrustRegionVectors::Advance(bool push_pair, bool accept) {
  group_->Post(v1::SLICE_OP_ADVANCE, {}, push_pair, accept);
  if (push_pair) pairs_ = std::min(pairs_ + 1, memory_);
  return absl::OkStatus();
}

absl::Status RemoteTrustRegionVectors::CgStart() {
  group_->Post(v1::SLICE_OP_CG_START);
  return absl::OkStatus();
}

absl::Status RemoteTrustRegionVectors::FormDifferencePoint(double h) {
  group_->Post(v1::SLICE_OP_FORM_DIFFERENCE_POINT, {h});
  return absl::OkStatus();
}

absl::Status RemoteTrustRegionVectors::DifferenceProduct(double h) {
  group_->Post(v1::SLICE_OP_DIFFERENCE_PRODUCT, {h});
  return absl::OkStatus();
}

absl::StatusOr<Reduction> RemoteTrustRegionVectors::ReduceCurvature() {
  return group_->Reduce(v1::SLICE_OP_REDUCE_CURVATURE);
}

absl::StatusOr<Reduction> RemoteTrustRegionVectors::CgAdvance(double alpha) {
  return group_->Reduce(v1::SLICE_OP_CG_ADVANCE, {alpha});
}

absl::StatusOr<Reduction> RemoteTrustRegionVectors::CgDirection(double beta) {
  return group_->Reduce(v1::SLICE_OP_CG_DIRECTION, {beta});
}

int64_t RemoteTrustRegionVectors::StateBytes() const {
  return static_cast<int64_t>(kTrustRegionSliceHeaderBytes) +
         TrustRegionSliceHeader{pairs_, cg_vectors_, false}.state_vectors() *
             dimension() * 8;
}

absl::Status RemoteTrustRegionVectors::SetBounds(const Bounds& box) {
  OPTD_RETURN_IF_ERROR(SendBounds(*group_, box));
  bounded_ = true;
  return absl::OkStatus();
}

absl::StatusOr<Reduction> RemoteTrustRegionVectors::ReduceBox() {
  if (!bounded_) return NoBounds();
  return group_->Reduce(v1::SLICE_OP_REDUCE_BOX);
}

absl::StatusOr<Reduction> RemoteTrustRegionVectors::ReduceFreeGram() {
  if (!bounded_) return NoBounds();
  return group_->Reduce(v1::SLICE_OP_REDUCE_FREE_GRAM);
}

absl::StatusOr<Reduction> RemoteTrustRegionVectors::FormProjectedStep(
    absl::Span<const double> coefficients) {
  if (!bounded_) return NoBounds();
  if (coefficients.size() != static_cast<size_t>(2 * pairs_ + 1)) {
    return absl::InternalError(absl::StrCat("step has ", coefficients.size(),
                                            " coefficients for ", pairs_,
                                            " pairs"));
  }
  return group_->Reduce(v1::SLICE_OP_FORM_PROJECTED_STEP, coefficients);
}

absl::Status RemoteTrustRegionVectors::SaveState(std::string* out) const {
  std::string header;
  AppendTrustRegionSliceHeader({pairs_, cg_vectors_, bounded_}, &header);
  return SaveRemoteState(
      *group_, header, out,
      [&](absl::Span<const std::string> states, std::string* portable) {
        return MergeTrustRegionSliceStates(group_->layout(), states, portable);
      });
}

absl::Status RemoteTrustRegionVectors::RestoreState(std::string_view in) {
  return RestoreRemoteState(
      *group_, in, kTrustRegionSliceHeaderBytes, &pairs_,
      [&](std::string_view portable) {
        return SplitTrustRegionState(group_->layout(), memory_, cg_vectors_,
                                     portable);
      },
      [&](std::string_view portable) -> absl::StatusOr<int> {
        OPTD_ASSIGN_OR_RETURN(TrustRegionSliceHeader header,
                              ParseTrustRegionSliceHeader(portable, memory_));
        return header.pairs;
      });
}

// --- Adam ------------------------------------------------------------------

absl::Status RemoteAdamVectors::SetBounds(const Bounds& box) {
  OPTD_RETURN_IF_ERROR(group_->layout().CheckDimension(box.size(), "bounds"));
  const int64_t n = box.size();
  const double* lower = box.lower().data();
  const double* upper = box.upper().data();
  OPTD_RETURN_IF_ERROR(
      type_ == ScalarType::kFloat32
          ? RoundBoundsInward<float>(lower, upper, n, 0, nullptr, nullptr)
          : RoundBoundsInward<double>(lower, upper, n, 0, nullptr, nullptr));
  return SendBounds(*group_, box);
}

absl::Status RemoteAdamVectors::SetPoint(const ConstVectorView& full) {
  OPTD_RETURN_IF_ERROR(group_->layout().CheckDimension(full.size(), "point"));
  return group_->Scatter(v1::SLICE_OP_SET_TRIAL_POINT, full).status();
}

absl::StatusOr<double> RemoteAdamVectors::SetGradient(
    const ConstVectorView& full) {
  int64_t bad = -1;
  OPTD_ASSIGN_OR_RETURN(
      auto answers, ScatterTold(*group_, v1::SLICE_OP_SET_TRIAL_GRADIENT, full,
                                "gradient", &bad));
  if (bad >= 0) {
    // A sliced gradient's value is on the replica; name the index only.
    return AdamGradientError(bad,
                             full.on_slices()
                                 ? std::numeric_limits<double>::infinity()
                                 : full.Get(bad),
                             type_ == ScalarType::kFloat32);
  }
  double max_abs = 0;
  for (const v1::SliceOpResponse& a : answers) {
    max_abs = std::max(max_abs, a.max_abs());
  }
  return max_abs;
}

absl::StatusOr<double> RemoteAdamVectors::GradientSquaredNorm() {
  OPTD_ASSIGN_OR_RETURN(Reduction r,
                        group_->Reduce(v1::SLICE_OP_GRADIENT_SQUARES));
  return r.sums.empty() ? 0.0 : r.sums[0];
}

absl::StatusOr<int64_t> RemoteAdamVectors::StepSegments(
    absl::Span<const AdamSegmentStep> segments) {
  google::protobuf::RepeatedField<double> packed;
  AdamSegmentsToProto(segments, dimension(), &packed);
  group_->Post(v1::SLICE_OP_ADAM_STEP, packed);
  return -1;
}

absl::Status RemoteAdamVectors::ReadPoint(const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_POINT, full);
}

int64_t RemoteAdamVectors::StateBytes() const {
  return dimension() * vectors() * width();
}

// In global order (x of every slice, then m of every slice, ...), as
// LocalAdamVectors writes it: the bytes do not depend on the slicing. With
// a checkpoint target, a reference to the slices' own files instead.
absl::Status RemoteAdamVectors::SaveState(std::string* out) const {
  if (const auto& target = group_->checkpoint_target()) {
    OPTD_RETURN_IF_ERROR(group_->SaveSlices(*target));
    AppendSliceReference("", target->tells, out);
    return absl::OkStatus();
  }
  OPTD_ASSIGN_OR_RETURN(auto answers, group_->Read(v1::SLICE_OP_READ_STATE));
  out->reserve(out->size() + static_cast<size_t>(StateBytes()));
  for (int which = 0; which < vectors(); ++which) {
    for (int shard = 0; shard < group_->layout().shards(); ++shard) {
      const size_t each =
          static_cast<size_t>(group_->layout().range(shard).size() * width());
      const std::string& data = answers[shard].data();
      if (data.size() != each * vectors()) {
        return absl::InternalError(absl::StrCat(
            "shard ", shard, " answered ", data.size(), " bytes of state"));
      }
      out->append(data, which * each, each);
    }
  }
  return absl::OkStatus();
}

absl::Status RemoteAdamVectors::LoadState(std::string_view in) {
  uint64_t tells = 0;
  if (ParseSliceReference(in, /*header_bytes=*/0, &tells)) {
    return group_->LoadSlices(tells);
  }
  if (static_cast<int64_t>(in.size()) != StateBytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the state has ", in.size(), " bytes; this session needs ",
                     StateBytes()));
  }
  const int k = group_->layout().shards();
  std::vector<std::string> parts(static_cast<size_t>(k));
  const size_t vector_bytes = static_cast<size_t>(dimension() * width());
  for (int shard = 0; shard < k; ++shard) {
    const ShardRange& r = group_->layout().range(shard);
    for (int which = 0; which < vectors(); ++which) {
      parts[shard].append(in.data() + which * vector_bytes + r.begin * width(),
                          static_cast<size_t>(r.size() * width()));
    }
  }
  return group_->ScatterBytes(v1::SLICE_OP_LOAD_STATE, std::move(parts))
      .status();
}

// --- Adafactor -------------------------------------------------------------

template <typename T>
RemoteAdafactorVectors<T>::RemoteAdafactorVectors(
    std::shared_ptr<ShardGroup> group, const AdafactorOptions& options)
    : group_(std::move(group)),
      options_(options),
      stats_(options, group_->layout().dimension()) {}

template <typename T>
ScalarType RemoteAdafactorVectors<T>::type() const {
  return std::is_same_v<T, float> ? ScalarType::kFloat32 : ScalarType::kFloat64;
}

template <typename T>
absl::Status RemoteAdafactorVectors<T>::SetPoint(const ConstVectorView& full) {
  OPTD_RETURN_IF_ERROR(group_->layout().CheckDimension(full.size(), "x0"));
  OPTD_RETURN_IF_ERROR(
      group_->Scatter(v1::SLICE_OP_SET_TRIAL_POINT, full).status());
  stats_.Reset();
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<double> RemoteAdafactorVectors<T>::SetGradient(
    const ConstVectorView& full) {
  int64_t bad = -1;
  OPTD_ASSIGN_OR_RETURN(
      auto answers, ScatterTold(*group_, v1::SLICE_OP_SET_TRIAL_GRADIENT, full,
                                "gradient", &bad));
  if (bad >= 0) {
    // A sliced gradient's value is on the replica; name the index only.
    return AdamGradientError(bad,
                             full.on_slices()
                                 ? std::numeric_limits<double>::infinity()
                                 : full.Get(bad),
                             std::is_same_v<T, float>);
  }
  double max_abs = 0;
  for (const v1::SliceOpResponse& a : answers) {
    max_abs = std::max(max_abs, a.max_abs());
  }
  return max_abs;
}

template <typename T>
absl::StatusOr<std::vector<double>>
RemoteAdafactorVectors<T>::CarryThroughSlices(v1::SliceOpRequest request,
                                              std::vector<double> sums) {
  for (int shard = 0; shard < group_->layout().shards(); ++shard) {
    request.mutable_sums()->Assign(sums.begin(), sums.end());
    OPTD_ASSIGN_OR_RETURN(v1::SliceOpResponse answer,
                          group_->ReadShard(shard, request));
    if (answer.sums_size() != static_cast<int>(sums.size())) {
      return absl::InternalError(
          absl::StrCat("shard ", shard, " answered ", answer.sums_size(),
                       " running sums for ", sums.size()));
    }
    sums.assign(answer.sums().begin(), answer.sums().end());
  }
  return sums;
}

template <typename T>
absl::StatusOr<AdafactorStepInfo> RemoteAdafactorVectors<T>::Step(
    int64_t step) {
  const double beta2t = stats_.Beta2t(step);
  AdafactorSums sums = stats_.NewSums();
  // Pass 1: the sums, slice by slice; then v, on every slice at once.
  v1::SliceOpRequest statistics;
  statistics.set_op(v1::SLICE_OP_ADAFACTOR_STATISTICS);
  statistics.add_scalars(options_.eps1);
  OPTD_ASSIGN_OR_RETURN(
      std::vector<double> flat,
      CarryThroughSlices(statistics, FlattenStatisticsSums(sums)));
  OPTD_RETURN_IF_ERROR(UnflattenStatisticsSums(flat, &sums));
  group_->Post(v1::SLICE_OP_ADAFACTOR_SECOND_MOMENT, {options_.eps1, beta2t});
  AdafactorFactors<T> factors = stats_.UpdateFactored(sums, beta2t);
  // Pass 2, slice by slice (the queued update of v goes with the first).
  v1::SliceOpRequest squares;
  squares.set_op(v1::SLICE_OP_ADAFACTOR_UPDATE_SQUARES);
  const std::vector<double> factored = FlattenFactors(factors, false);
  squares.mutable_scalars()->Assign(factored.begin(), factored.end());
  OPTD_ASSIGN_OR_RETURN(sums.u_squares,
                        CarryThroughSlices(std::move(squares), sums.u_squares));
  const AdafactorStepInfo info = stats_.FinishFactors(sums, step, &factors);
  // Pass 3, posted: it goes with the next read of the point.
  std::vector<double> apply{options_.beta1.value_or(-1.0),
                            options_.weight_decay};
  const std::vector<double> all = FlattenFactors(factors, true);
  apply.insert(apply.end(), all.begin(), all.end());
  group_->Post(v1::SLICE_OP_ADAFACTOR_APPLY, apply);
  return info;
}

template <typename T>
absl::Status RemoteAdafactorVectors<T>::ReadPoint(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_POINT, full);
}

template <typename T>
int64_t RemoteAdafactorVectors<T>::StateBytes() const {
  return AdafactorStateBytes(dimension(), options_.beta1.has_value(),
                             stats_.v_elements(), stats_.elements(), sizeof(T));
}

template <typename T>
int64_t RemoteAdafactorVectors<T>::SliceElements(int shard) const {
  const ShardRange& r = group_->layout().range(shard);
  return r.size() * (options_.beta1.has_value() ? 2 : 1) +
         AdafactorVectorElements(stats_.layers(), stats_.offsets(), r);
}

// The portable state as LocalAdafactorVectors writes it (x of every slice,
// then m, then v, then R and C): the bytes do not depend on the slicing.
// With a checkpoint target, a reference to the slices' own files and R and C.
template <typename T>
absl::Status RemoteAdafactorVectors<T>::SaveState(std::string* out) const {
  if (const auto& target = group_->checkpoint_target()) {
    OPTD_RETURN_IF_ERROR(group_->SaveSlices(*target));
    AppendSliceReference("", target->tells, out);
    stats_.Append(out);
    return absl::OkStatus();
  }
  OPTD_ASSIGN_OR_RETURN(auto answers, group_->Read(v1::SLICE_OP_READ_STATE));
  const int k = group_->layout().shards();
  for (int shard = 0; shard < k; ++shard) {
    const size_t need = static_cast<size_t>(SliceElements(shard)) * sizeof(T);
    if (answers[shard].data().size() != need) {
      return absl::InternalError(absl::StrCat("shard ", shard, " answered ",
                                              answers[shard].data().size(),
                                              " bytes of state; its "
                                              "slice holds ",
                                              need));
    }
  }
  out->reserve(out->size() + static_cast<size_t>(StateBytes()));
  // Each slice's state is x | m | v of its range.
  const int sections = options_.beta1.has_value() ? 3 : 2;
  for (int which = 0; which < sections; ++which) {
    for (int shard = 0; shard < k; ++shard) {
      const size_t x_bytes =
          static_cast<size_t>(group_->layout().range(shard).size()) * sizeof(T);
      const std::string& data = answers[shard].data();
      const bool is_v = which == sections - 1;
      const size_t from = which * x_bytes;
      out->append(data, from, is_v ? data.size() - from : x_bytes);
    }
  }
  stats_.Append(out);
  return absl::OkStatus();
}

template <typename T>
absl::Status RemoteAdafactorVectors<T>::LoadState(std::string_view in) {
  const size_t stats_bytes = static_cast<size_t>(stats_.elements()) * sizeof(T);
  uint64_t tells = 0;
  if (in.size() >= stats_bytes &&
      ParseSliceReference(in.substr(0, in.size() - stats_bytes),
                          /*header_bytes=*/0, &tells)) {
    OPTD_RETURN_IF_ERROR(stats_.Load(in.substr(in.size() - stats_bytes)));
    return group_->LoadSlices(tells);
  }
  if (static_cast<int64_t>(in.size()) != StateBytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Adafactor vectors' state has ", in.size(),
                     " bytes; a session of this dimension, layers and "
                     "options has ",
                     StateBytes()));
  }
  // The in-process vectors' checks, before any slice changes.
  OPTD_RETURN_IF_ERROR(CheckAdafactorState<T>(
      in, dimension(), options_.beta1.has_value(), stats_.v_elements()));
  OPTD_RETURN_IF_ERROR(stats_.Load(in.substr(in.size() - stats_bytes)));
  const int k = group_->layout().shards();
  const size_t n_bytes = static_cast<size_t>(dimension()) * sizeof(T);
  const int vectors = options_.beta1.has_value() ? 2 : 1;
  const char* v_at = in.data() + vectors * n_bytes;
  std::vector<std::string> parts(static_cast<size_t>(k));
  for (int shard = 0; shard < k; ++shard) {
    const ShardRange& r = group_->layout().range(shard);
    for (int which = 0; which < vectors; ++which) {
      parts[shard].append(in.data() + which * n_bytes + r.begin * sizeof(T),
                          static_cast<size_t>(r.size()) * sizeof(T));
    }
    const size_t v_bytes = static_cast<size_t>(AdafactorVectorElements(
                               stats_.layers(), stats_.offsets(), r)) *
                           sizeof(T);
    parts[shard].append(v_at, v_bytes);
    v_at += v_bytes;
  }
  return group_->ScatterBytes(v1::SLICE_OP_LOAD_STATE, std::move(parts))
      .status();
}

template class RemoteAdafactorVectors<float>;
template class RemoteAdafactorVectors<double>;

std::unique_ptr<AdafactorVectors> NewRemoteAdafactorVectors(
    std::shared_ptr<ShardGroup> group, const AdafactorOptions& options) {
  if (options.dtype == ScalarType::kFloat32) {
    return std::make_unique<RemoteAdafactorVectors<float>>(std::move(group),
                                                           options);
  }
  return std::make_unique<RemoteAdafactorVectors<double>>(std::move(group),
                                                          options);
}

}  // namespace optd::server
