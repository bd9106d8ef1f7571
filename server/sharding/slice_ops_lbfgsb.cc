// The L-BFGS-B slice's op table (SLICE_KIND_LBFGSB; slice_op_rows.h): each
// row decodes the arguments of one LbfgsbSlice operation
// (solvers/sharding/lbfgsb_slice.h), checks what would let a malformed
// request index past the slice's vectors, and writes the slice's answer in
// the layout shard.proto gives for the op. RemoteLbfgsbVectors
// (remote_lbfgsb_vectors.h) is the sending side.
#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sharding/slice_op_rows.h"
#include "solvers/sharding/lbfgsb_slice.h"

namespace optd::server {
namespace {

// The most breakpoints one SLICE_OP_LBFGSB_BREAKPOINTS answers (the home asks
// for at most lbfgsb::kMaxBreakpointBatch, 8192, at a time).
constexpr int64_t kMaxBreakpointsPerCall = int64_t{1} << 16;

absl::Status CheckIntegers(const v1::SliceOpRequest& op, int count,
                           absl::string_view what) {
  if (op.integers_size() == count) return absl::OkStatus();
  return SliceOpError(
      op, absl::StrCat("has ", op.integers_size(), " integers; it takes ",
                       count, " (", what, ")"));
}

// theta, then one coefficient per column of W = [Y, S] (2 k).
absl::Status CheckThetaAndColumns(const v1::SliceOpRequest& op,
                                  const LbfgsbSlice& s,
                                  absl::string_view what) {
  if (op.scalars_size() == 1 + 2 * s.pairs()) return absl::OkStatus();
  return SliceOpError(
      op, absl::StrCat("has ", op.scalars_size(), " scalars; it takes 1 + 2 x ",
                       s.pairs(), " (theta, then ", what,
                       ", one per column of W; the slice holds ", s.pairs(),
                       " pairs)"));
}

absl::Span<const double> AfterTheta(const v1::SliceOpRequest& op) {
  return absl::Span<const double>(op.scalars().data() + 1,
                                  static_cast<size_t>(op.scalars_size() - 1));
}

void AppendWord(double v, std::string* out) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}
void AppendWord(int64_t v, std::string* out) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

}  // namespace

const OpTable<LbfgsbSlice>& LbfgsbTable() {
  using S = LbfgsbSlice;
  using Op = v1::SliceOpRequest;
  using Out = v1::SliceOpResponse;
  static const OpTable<S>* const table = [] {
    auto* t = new OpTable<S>(PointRows<S>());
    t->insert(
        t->end(),
        {
            {v1::SLICE_OP_SET_BOUNDS,
             [](S& s, const Op& op, Out*) -> absl::Status {
               std::vector<double> lower, upper;
               OPTD_RETURN_IF_ERROR(BoxPart(op, s.range(), &lower, &upper));
               for (size_t e = 0; e < lower.size(); ++e) {
                 if (!(lower[e] <= upper[e])) {
                   return SliceOpError(
                       op, absl::StrCat("lower bound ", lower[e],
                                        " is not <= upper bound ", upper[e],
                                        " at index ", s.range().begin + e));
                 }
               }
               const int64_t n = s.range().size();
               s.SetBounds(ConstVectorView::Window(
                               ConstVectorView::Float64(lower.data(), n),
                               s.range().begin),
                           ConstVectorView::Window(
                               ConstVectorView::Float64(upper.data(), n),
                               s.range().begin));
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_READ_GRADIENT,
             [](S& s, const Op&, Out* out) -> absl::Status {
               s.ReadGradient(ReadBuffer(s.range(), false, out));
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_CLEAR_MEMORY,
             [](S& s, const Op&, Out*) -> absl::Status {
               s.ClearMemory();
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_ACTIVATE,
             [](S& s, const Op&, Out* out) -> absl::Status {
               bool projected = false, constrained = false, boxed = true;
               s.Activate(&projected, &constrained, &boxed);
               out->add_counts(projected);
               out->add_counts(constrained);
               out->add_counts(boxed);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_ACCEPT_INITIAL,
             [](S& s, const Op&, Out*) -> absl::Status {
               s.AcceptInitial();
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_PROJECTED_GRADIENT_NORM,
             [](S& s, const Op&, Out* out) -> absl::Status {
               out->add_sums(s.ProjectedGradientNorm());
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_CAUCHY_POINT_TO_ITERATE,
             [](S& s, const Op&, Out*) -> absl::Status {
               s.SetCauchyPointToIterate();
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_CAUCHY_START,
             [](S& s, const Op&, Out* out) -> absl::Status {
               CauchyCounts counts;
               WritePartials(s.CauchyStart(&counts), out);
               out->add_counts(counts.breakpoints);
               out->add_counts(counts.movable);
               out->add_counts(counts.unbounded_moving);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_BREAKPOINTS,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_RETURN_IF_ERROR(CheckIntegers(op, 2, "from, count"));
               const int64_t from = op.integers(0), count = op.integers(1);
               if (from < 0 || count < 0 || count > kMaxBreakpointsPerCall) {
                 return SliceOpError(
                     op, absl::StrCat("asks for breakpoints [", from, ", ",
                                      from + count,
                                      "); from must be >= 0 and count "
                                      "in [0, ",
                                      kMaxBreakpointsPerCall, "]"));
               }
               std::vector<BreakpointRecord> records;
               if (from < s.range().size()) {
                 s.Breakpoints(from, static_cast<int>(count), &records);
               }
               const int64_t width = 2 * s.pairs();
               std::string* data = out->mutable_data();
               data->reserve(records.size() * static_cast<size_t>(5 + width) *
                             8);
               for (const BreakpointRecord& r : records) {
                 AppendWord(r.t, data);
                 AppendWord(r.index, data);
                 AppendWord(r.d, data);
                 AppendWord(r.x, data);
                 AppendWord(r.bound, data);
                 for (double w : r.w) AppendWord(w, data);
               }
               out->add_counts(static_cast<int64_t>(records.size()));
               out->add_counts(width);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_CAUCHY_FINISH,
             [](S& s, const Op& op, Out*) -> absl::Status {
               OPTD_RETURN_IF_ERROR(CheckIntegers(op, 1, "last_index"));
               if (op.scalars_size() != 2) {
                 return SliceOpError(op, absl::StrCat("has ", op.scalars_size(),
                                                      " scalars; it takes 2 "
                                                      "(last_t, tsum)"));
               }
               s.CauchyFinish(op.flag(), op.scalars(0), op.integers(0),
                              op.scalars(1), op.flag2());
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_FREE_VARIABLES,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               const FreeCounts counts = s.FreeVariables(op.flag());
               out->add_counts(counts.free);
               out->add_counts(counts.entering);
               out->add_counts(counts.leaving);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_FORMK_SUMS,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               if (op.flag() && s.pairs() == 0) {
                 return SliceOpError(op,
                                     "updated is set but the slice holds no "
                                     "pairs");
               }
               WritePartials(s.FormkSums(op.flag()), out);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_REDUCED_GRADIENT,
             [](S& s, const Op& op, Out*) -> absl::Status {
               // r = -g takes theta alone; otherwise wa comes with it.
               if (!op.flag()) {
                 OPTD_RETURN_IF_ERROR(CheckThetaAndColumns(op, s, "wa"));
               } else if (op.scalars_size() != 1) {
                 return SliceOpError(
                     op, absl::StrCat("has ", op.scalars_size(),
                                      " scalars; with "
                                      "negative_gradient it takes 1 "
                                      "(theta)"));
               }
               s.ReducedGradient(op.flag(), op.scalars(0), AfterTheta(op));
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_SUBSPACE_PRODUCTS,
             [](S& s, const Op&, Out* out) -> absl::Status {
               WritePartials(s.SubspaceProducts(), out);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_SUBSPACE_STEP,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_RETURN_IF_ERROR(CheckThetaAndColumns(op, s, "wv"));
               const SubspaceStepPartials p =
                   s.SubspaceStep(op.scalars(0), AfterTheta(op));
               WritePartials(p.dd_p, out);
               out->add_counts(p.projected);
               out->add_counts(p.alpha_index);
               out->add_sums(p.alpha);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_SUBSPACE_BACKTRACK,
             [](S& s, const Op& op, Out*) -> absl::Status {
               OPTD_RETURN_IF_ERROR(CheckIntegers(op, 1, "alpha_index"));
               OPTD_ASSIGN_OR_RETURN(double alpha, Scalar(op));
               s.SubspaceBacktrack(alpha, op.integers(0));
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_SEARCH_DIRECTION,
             [](S& s, const Op&, Out* out) -> absl::Status {
               const SearchDirectionPartials p = s.FormSearchDirection();
               WritePartials(p.dots, out);
               out->add_sums(p.step_bound);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_FORM_TRIAL,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_ASSIGN_OR_RETURN(double stp, Scalar(op));
               out->add_counts(s.FormTrial(stp, op.flag()));
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_TRIAL_SLOPE,
             [](S& s, const Op&, Out* out) -> absl::Status {
               WritePartials(s.TrialSlope(), out);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_ACCEPT_TRIAL,
             [](S& s, const Op&, Out* out) -> absl::Status {
               out->add_sums(s.AcceptTrial());
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_PUSH_PAIR,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_ASSIGN_OR_RETURN(double stp, Scalar(op));
               WritePartials(s.PushPair(stp), out);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_LBFGSB_READ_PAIR,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_RETURN_IF_ERROR(CheckIntegers(op, 1, "j"));
               const int64_t j = op.integers(0);
               if (j < 0 || j >= s.pairs()) {
                 return SliceOpError(
                     op, absl::StrCat("asks for pair ", j, "; the slice holds ",
                                      s.pairs()));
               }
               const int64_t n = s.range().size();
               std::string* data = out->mutable_data();
               data->resize(static_cast<size_t>(2 * n) * sizeof(double));
               s.ReadPair(static_cast<int>(j),
                          MutableVectorView::Window(
                              MutableVectorView::Float64(data->data(), n),
                              s.range().begin),
                          MutableVectorView::Window(
                              MutableVectorView::Float64(
                                  data->data() + n * sizeof(double), n),
                              s.range().begin));
               return absl::OkStatus();
             }},
        });
    return t;
  }();
  return *table;
}

}  // namespace optd::server
