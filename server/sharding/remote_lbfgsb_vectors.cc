#include "server/sharding/remote_lbfgsb_vectors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sharding/remote_vectors.h"

namespace optd::server {
namespace {

// A slice's exact integer answers: INTERNAL (a malformed answer) unless it
// has `count` of them.
absl::Status CheckCounts(const v1::SliceOpResponse& a, int count,
                         const char* op) {
  if (a.counts_size() == count) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("a slice answered ", op, " with ",
                                          a.counts_size(), " counts, not ",
                                          count));
}

absl::Status CheckSums(const v1::SliceOpResponse& a, int count,
                       const char* op) {
  if (a.sums_size() == count) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("a slice answered ", op, " with ",
                                          a.sums_size(), " values, not ",
                                          count));
}

// The largest sums(0) of the answers (a maximum: exact in any order).
absl::StatusOr<double> MaxOfSums(
    const std::vector<v1::SliceOpResponse>& answers, const char* op) {
  double most = 0.0;
  for (const v1::SliceOpResponse& a : answers) {
    OPTD_RETURN_IF_ERROR(CheckSums(a, 1, op));
    most = std::max(most, a.sums(0));
  }
  return most;
}

double ReadWord(const char* p) {
  double v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RemoteLbfgsbVectors>>
RemoteLbfgsbVectors::Create(std::shared_ptr<ShardGroup> group, int memory,
                            const Bounds& box) {
  if (memory < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory is ", memory, "; L-BFGS-B keeps at least 1 pair"));
  }
  OPTD_RETURN_IF_ERROR(SendBounds(*group, box));
  return std::unique_ptr<RemoteLbfgsbVectors>(
      new RemoteLbfgsbVectors(std::move(group)));
}

absl::StatusOr<BoxFlags> RemoteLbfgsbVectors::Start(const ConstVectorView& x0) {
  OPTD_RETURN_IF_ERROR(group_->layout().CheckDimension(x0.size(), "x0"));
  OPTD_RETURN_IF_ERROR(
      group_->Scatter(v1::SLICE_OP_SET_TRIAL_POINT, x0).status());
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        group_->Call(v1::SLICE_OP_LBFGSB_ACTIVATE));
  BoxFlags flags;
  for (const v1::SliceOpResponse& a : answers) {
    OPTD_RETURN_IF_ERROR(CheckCounts(a, 3, "ACTIVATE"));
    flags.projected |= a.counts(0) != 0;
    flags.constrained |= a.counts(1) != 0;
    flags.boxed &= a.counts(2) != 0;
  }
  return flags;
}

absl::Status RemoteLbfgsbVectors::SetTrialGradient(
    const ConstVectorView& full) {
  return ScatterChecked(*group_, v1::SLICE_OP_SET_TRIAL_GRADIENT, full,
                        "gradient");
}

absl::Status RemoteLbfgsbVectors::ReadTrialPoint(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_TRIAL_POINT, full);
}

absl::Status RemoteLbfgsbVectors::ReadPoint(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_POINT, full);
}

absl::Status RemoteLbfgsbVectors::ReadGradient(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_GRADIENT, full);
}

absl::Status RemoteLbfgsbVectors::ReadPairs(
    int pairs, std::vector<std::vector<double>>* s,
    std::vector<std::vector<double>>* y) const {
  const ShardLayout& layout = group_->layout();
  const size_t n = static_cast<size_t>(layout.dimension());
  for (int j = 0; j < pairs; ++j) {
    v1::SliceOpRequest request;
    request.set_op(v1::SLICE_OP_LBFGSB_READ_PAIR);
    request.add_integers(j);
    OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                          group_->CallPrepared(std::move(request)));
    std::vector<double> sj(n), yj(n);
    for (int shard = 0; shard < layout.shards(); ++shard) {
      const ShardRange& r = layout.range(shard);
      const size_t bytes = static_cast<size_t>(r.size()) * sizeof(double);
      const std::string& data = answers[shard].data();
      if (data.size() != 2 * bytes) {
        return absl::InternalError(
            absl::StrCat("shard ", shard, " answered ", data.size(),
                         " bytes for pair ", j, " of ", r.size(), " elements"));
      }
      if (bytes == 0) continue;
      std::memcpy(sj.data() + r.begin, data.data(), bytes);
      std::memcpy(yj.data() + r.begin, data.data() + bytes, bytes);
    }
    s->push_back(std::move(sj));
    y->push_back(std::move(yj));
  }
  return absl::OkStatus();
}

absl::Status RemoteLbfgsbVectors::AcceptInitial() {
  group_->Post(v1::SLICE_OP_LBFGSB_ACCEPT_INITIAL);
  return absl::OkStatus();
}

absl::StatusOr<double> RemoteLbfgsbVectors::ProjectedGradientNorm() {
  OPTD_ASSIGN_OR_RETURN(
      std::vector<v1::SliceOpResponse> answers,
      group_->Call(v1::SLICE_OP_LBFGSB_PROJECTED_GRADIENT_NORM));
  return MaxOfSums(answers, "PROJECTED_GRADIENT_NORM");
}

absl::Status RemoteLbfgsbVectors::SetCauchyPointToIterate() {
  group_->Post(v1::SLICE_OP_LBFGSB_CAUCHY_POINT_TO_ITERATE);
  return absl::OkStatus();
}

absl::StatusOr<CauchyStartResult> RemoteLbfgsbVectors::CauchyStart() {
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        group_->Call(v1::SLICE_OP_LBFGSB_CAUCHY_START));
  CauchyStartResult result;
  for (const v1::SliceOpResponse& a : answers) {
    OPTD_RETURN_IF_ERROR(CheckCounts(a, 3, "CAUCHY_START"));
    result.counts.breakpoints += a.counts(0);
    result.counts.movable += a.counts(1);
    result.counts.unbounded_moving += a.counts(2);
  }
  OPTD_ASSIGN_OR_RETURN(result.sums, group_->Combine(answers));
  return result;
}

absl::Status RemoteLbfgsbVectors::Breakpoints(
    int slice, int64_t from, int count, std::vector<BreakpointRecord>* out) {
  if (slice < 0 || slice >= slices()) {
    return absl::InternalError(
        absl::StrCat("breakpoints of slice ", slice, " of ", slices()));
  }
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_LBFGSB_BREAKPOINTS);
  request.add_integers(from);
  request.add_integers(count);
  OPTD_ASSIGN_OR_RETURN(v1::SliceOpResponse a,
                        group_->ReadShard(slice, std::move(request)));
  OPTD_RETURN_IF_ERROR(CheckCounts(a, 2, "BREAKPOINTS"));
  const int64_t records = a.counts(0), width = a.counts(1);
  const int64_t words = 5 + width;
  if (records < 0 || records > count || width < 0 ||
      static_cast<int64_t>(a.data().size()) != records * words * 8) {
    return absl::InternalError(absl::StrCat(
        "slice ", slice, " answered ", records, " breakpoints of width ", width,
        " in ", a.data().size(), " bytes"));
  }
  const char* p = a.data().data();
  for (int64_t k = 0; k < records; ++k, p += words * 8) {
    BreakpointRecord& r = out->emplace_back();
    r.t = ReadWord(p);
    std::memcpy(&r.index, p + 8, sizeof r.index);
    r.d = ReadWord(p + 16);
    r.x = ReadWord(p + 24);
    r.bound = ReadWord(p + 32);
    r.w.resize(static_cast<size_t>(width));
    if (width > 0) std::memcpy(r.w.data(), p + 40, width * 8);
  }
  return absl::OkStatus();
}

absl::Status RemoteLbfgsbVectors::CauchyFinish(bool any_visited, double last_t,
                                               int64_t last_index, double tsum,
                                               bool move) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_LBFGSB_CAUCHY_FINISH);
  request.set_flag(any_visited);
  request.set_flag2(move);
  request.add_scalars(last_t);
  request.add_scalars(tsum);
  request.add_integers(last_index);
  group_->PostPrepared(std::move(request));
  return absl::OkStatus();
}

absl::StatusOr<FreeCounts> RemoteLbfgsbVectors::FreeVariables(
    bool track_changes) {
  OPTD_ASSIGN_OR_RETURN(
      std::vector<v1::SliceOpResponse> answers,
      group_->Call(v1::SLICE_OP_LBFGSB_FREE_VARIABLES, {}, track_changes));
  FreeCounts total;
  for (const v1::SliceOpResponse& a : answers) {
    OPTD_RETURN_IF_ERROR(CheckCounts(a, 3, "FREE_VARIABLES"));
    total.free += a.counts(0);
    total.entering += a.counts(1);
    total.leaving += a.counts(2);
  }
  return total;
}

absl::StatusOr<Reduction> RemoteLbfgsbVectors::FormkSums(bool updated) {
  return group_->Reduce(v1::SLICE_OP_LBFGSB_FORMK_SUMS, {}, updated);
}

absl::Status RemoteLbfgsbVectors::ReducedGradient(bool negative_gradient,
                                                  double theta,
                                                  absl::Span<const double> wa) {
  std::vector<double> scalars;
  scalars.reserve(1 + wa.size());
  scalars.push_back(theta);
  scalars.insert(scalars.end(), wa.begin(), wa.end());
  group_->Post(v1::SLICE_OP_LBFGSB_REDUCED_GRADIENT, scalars,
               negative_gradient);
  return absl::OkStatus();
}

absl::StatusOr<Reduction> RemoteLbfgsbVectors::SubspaceProducts() {
  return group_->Reduce(v1::SLICE_OP_LBFGSB_SUBSPACE_PRODUCTS);
}

absl::StatusOr<SubspaceStepResult> RemoteLbfgsbVectors::SubspaceStep(
    double theta, absl::Span<const double> wv) {
  std::vector<double> scalars;
  scalars.reserve(1 + wv.size());
  scalars.push_back(theta);
  scalars.insert(scalars.end(), wv.begin(), wv.end());
  OPTD_ASSIGN_OR_RETURN(
      std::vector<v1::SliceOpResponse> answers,
      group_->Call(v1::SLICE_OP_LBFGSB_SUBSPACE_STEP, scalars));
  SubspaceStepResult result;
  for (const v1::SliceOpResponse& a : answers) {
    OPTD_RETURN_IF_ERROR(CheckCounts(a, 2, "SUBSPACE_STEP"));
    OPTD_RETURN_IF_ERROR(CheckSums(a, 1, "SUBSPACE_STEP"));
    result.projected |= a.counts(0) != 0;
    // Slices in index order with a strict test, as LocalLbfgsbVectors: ties
    // go to the first index.
    if (a.sums(0) < result.alpha) {
      result.alpha = a.sums(0);
      result.alpha_index = a.counts(1);
    }
  }
  OPTD_ASSIGN_OR_RETURN(Reduction dd_p, group_->Combine(answers));
  result.dd_p = dd_p.sums[0];
  return result;
}

absl::Status RemoteLbfgsbVectors::SubspaceBacktrack(double alpha,
                                                    int64_t alpha_index) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_LBFGSB_SUBSPACE_BACKTRACK);
  request.add_scalars(alpha);
  request.add_integers(alpha_index);
  group_->PostPrepared(std::move(request));
  return absl::OkStatus();
}

absl::StatusOr<SearchDirectionResult>
RemoteLbfgsbVectors::FormSearchDirection() {
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        group_->Call(v1::SLICE_OP_LBFGSB_SEARCH_DIRECTION));
  SearchDirectionResult result;
  result.step_bound = std::numeric_limits<double>::infinity();
  for (const v1::SliceOpResponse& a : answers) {
    OPTD_RETURN_IF_ERROR(CheckSums(a, 1, "SEARCH_DIRECTION"));
    result.step_bound = std::min(result.step_bound, a.sums(0));
  }
  OPTD_ASSIGN_OR_RETURN(Reduction dots, group_->Combine(answers));
  result.dtd = dots.sums[0];
  result.gd = dots.sums[1];
  return result;
}

absl::StatusOr<bool> RemoteLbfgsbVectors::FormTrial(double stp, bool clip) {
  OPTD_ASSIGN_OR_RETURN(
      std::vector<v1::SliceOpResponse> answers,
      group_->Call(v1::SLICE_OP_LBFGSB_FORM_TRIAL, {stp}, clip));
  bool finite = true;
  for (const v1::SliceOpResponse& a : answers) {
    OPTD_RETURN_IF_ERROR(CheckCounts(a, 1, "FORM_TRIAL"));
    finite &= a.counts(0) != 0;
  }
  return finite;
}

absl::StatusOr<double> RemoteLbfgsbVectors::TrialSlope() {
  OPTD_ASSIGN_OR_RETURN(Reduction slope,
                        group_->Reduce(v1::SLICE_OP_LBFGSB_TRIAL_SLOPE));
  return slope.sums[0];
}

absl::StatusOr<double> RemoteLbfgsbVectors::AcceptTrial() {
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        group_->Call(v1::SLICE_OP_LBFGSB_ACCEPT_TRIAL));
  return MaxOfSums(answers, "ACCEPT_TRIAL");
}

absl::StatusOr<Reduction> RemoteLbfgsbVectors::PushPair(double stp) {
  return group_->Reduce(v1::SLICE_OP_LBFGSB_PUSH_PAIR, {stp});
}

absl::Status RemoteLbfgsbVectors::ClearMemory() {
  group_->Post(v1::SLICE_OP_CLEAR_MEMORY);
  return absl::OkStatus();
}

}  // namespace optd::server
