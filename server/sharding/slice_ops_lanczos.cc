// The Lanczos slice's op table (SLICE_KIND_LANCZOS; slice_op_rows.h).
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sharding/slice_op_rows.h"
#include "solvers/sharding/lanczos_slice.h"

namespace optd::server {
namespace {

// Lanczos (solvers/sharding/lanczos_slice.h): the reductions answer the
// partials of Q_j.w for every basis column j, then w.w.
absl::Status CheckLanczosScalars(const v1::SliceOpRequest& op, int count,
                                 absl::string_view what) {
  if (op.scalars_size() == count) return absl::OkStatus();
  return SliceOpError(
      op, absl::StrCat("has ", op.scalars_size(), " scalars; it takes ", count,
                       " (", what, ")"));
}

}  // namespace

const OpTable<LanczosSlice>& LanczosTable() {
  using S = LanczosSlice;
  using Op = v1::SliceOpRequest;
  using Out = v1::SliceOpResponse;
  static const OpTable<S>* const table = new OpTable<S>{
      {v1::SLICE_OP_SET_TRIAL_POINT,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, s.range()));
         out->set_bad_index(s.SetPoint(full));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_SET_PRODUCT,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, s.range()));
         out->set_bad_index(s.SetProduct(full));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_SET_TRIAL_GRADIENT,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         if (!s.gradients()) {
           return SliceOpError(op,
                               "the Lanczos slice holds no gradients "
                               "(lanczos_gradients false: Hessian-vector "
                               "products)");
         }
         OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, s.range()));
         out->set_bad_index(s.SetGradient(op.flag() ? 1 : 0, full));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_POINT,
       [](S& s, const Op&, Out* out) -> absl::Status {
         s.ReadPoint(ReadBuffer(s.range(), false, out));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_DIRECTION,
       [](S& s, const Op&, Out* out) -> absl::Status {
         s.ReadVector(ReadBuffer(s.range(), false, out));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_TRIAL_POINT,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         OPTD_ASSIGN_OR_RETURN(double h, Scalar(op));
         s.ReadShiftedPoint(h, ReadBuffer(s.range(), false, out));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_POINT_SQUARES,
       [](S& s, const Op&, Out* out) -> absl::Status {
         WritePartials(s.PointSquares(), out);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_DIFFERENCE_PRODUCT,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         if (!s.gradients()) {
           return SliceOpError(op, "the Lanczos slice holds no gradients");
         }
         OPTD_ASSIGN_OR_RETURN(double h, Scalar(op));
         out->set_bad_index(s.DifferenceProduct(h));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_RADEMACHER,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         WritePartials(s.Rademacher(op.flag(), op.lanczos_position()), out);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_LEAST_COVERED,
       [](S& s, const Op&, Out* out) -> absl::Status {
         const LeastCovered least = s.LeastCoveredCoordinate();
         out->add_sums(least.value);
         out->set_least_index(least.index);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_COORDINATE,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         WritePartials(
             s.Coordinate(static_cast<int64_t>(op.lanczos_position())), out);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_ORTHOGONALIZE,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         OPTD_RETURN_IF_ERROR(CheckLanczosScalars(
             op, s.steps(), "one coefficient per basis column"));
         WritePartials(s.Orthogonalize(op.scalars()), out);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_PUSH_BASIS,
       [](S& s, const Op&, Out* out) -> absl::Status {
         WritePartials(s.PushBasis(), out);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_RESIDUAL,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         OPTD_RETURN_IF_ERROR(CheckLanczosScalars(op, 2, "alpha, beta"));
         WritePartials(s.Residual(op.scalars(0), op.scalars(1)), out);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_NEXT_VECTOR,
       [](S& s, const Op& op, Out*) -> absl::Status {
         OPTD_ASSIGN_OR_RETURN(double scale, Scalar(op));
         s.NextVector(scale);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LANCZOS_CLEAR_BASIS,
       [](S& s, const Op&, Out*) -> absl::Status {
         s.ClearBasis();
         return absl::OkStatus();
       }},
  };
  return *table;
}

}  // namespace optd::server
