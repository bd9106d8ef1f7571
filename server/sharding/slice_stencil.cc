#include "server/sharding/slice_stencil.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/adapters/finite_difference.h"

namespace optd::server {
namespace {

// `v` as a count in [0, limit]: an integer, not NaN.
bool IsCount(double v, double limit) {
  return v >= 0 && v <= limit && std::floor(v) == v;
}

}  // namespace

bool SliceStencil::IsStencilOp(v1::SliceOp op) {
  return op == v1::SLICE_OP_STENCIL_PLAN || op == v1::SLICE_OP_STENCIL_POINTS ||
         op == v1::SLICE_OP_STENCIL_CHECK;
}

absl::Status SliceStencil::Apply(SliceSolver& solver,
                                 const v1::CreateSliceRequest& spec,
                                 const ShardRange& range,
                                 const v1::SliceOpRequest& op,
                                 v1::SliceOpResponse* answer) {
  switch (op.op()) {
    case v1::SLICE_OP_STENCIL_PLAN:
      return Plan(solver, spec, range, op, answer);
    case v1::SLICE_OP_STENCIL_POINTS:
      return Points(op, answer);
    case v1::SLICE_OP_STENCIL_CHECK: {
      std::vector<double> gradient(static_cast<size_t>(size_));
      OPTD_ASSIGN_OR_RETURN(const int64_t bad,
                            Differentiate(op, gradient.data()));
      answer->set_bad_index(bad);
      return absl::OkStatus();
    }
    default:
      return SliceOpError(op, "is not a stencil operation");
  }
}

absl::Status SliceStencil::Plan(SliceSolver& solver,
                                const v1::CreateSliceRequest& spec,
                                const ShardRange& range,
                                const v1::SliceOpRequest& op,
                                v1::SliceOpResponse* answer) {
  if (op.scalars_size() != 2) {
    return SliceOpError(op, absl::StrCat("has ", op.scalars_size(),
                                         " scalars; it takes 2 (scheme, "
                                         "relative_step)"));
  }
  const double scheme = op.scalars(0), rel_step = op.scalars(1);
  if (scheme != 0 && scheme != 1) {
    return SliceOpError(op, absl::StrCat("scheme is ", scheme,
                                         "; it is 0 (central) or 1 (forward)"));
  }
  if (!(rel_step > 0 && rel_step <= 0.1)) {
    return SliceOpError(
        op, absl::StrCat("relative_step is ", rel_step,
                         "; it must be in (0, 0.1] (resolved, not NaN)"));
  }
  const size_t n = static_cast<size_t>(range.size());
  const bool bounded = !op.data().empty();
  if (bounded &&
      (op.data().size() != 2 * n * sizeof(double) || op.data_float32())) {
    return SliceOpError(
        op, absl::StrCat("data has ", op.data().size(),
                         op.data_float32() ? " bytes of float32" : " bytes",
                         "; the slice [", range.begin, ", ", range.end,
                         ") needs 0 (no bounds) or ", 2 * n * sizeof(double),
                         " (its lower and upper bounds, float64)"));
  }
  // The slice's trial point, in its state type, as the home's
  // ReadTrialPoint would gather it.
  v1::SliceOpRequest read;
  read.set_op(v1::SLICE_OP_READ_TRIAL_POINT);
  v1::SliceOpResponse point;
  OPTD_RETURN_IF_ERROR(solver.Apply(read, &point));
  const size_t width = point.data_float32() ? 4 : 8;
  if (point.data().size() != width * n) {
    return absl::InternalError(
        absl::StrCat("the slice's trial point has ", point.data().size(),
                     " bytes; its range needs ", width * n));
  }
  std::vector<double> x(n), lower, upper;
  for (size_t i = 0; i < n; ++i) {
    if (point.data_float32()) {
      float f;
      std::memcpy(&f, point.data().data() + 4 * i, 4);
      x[i] = f;
    } else {
      std::memcpy(&x[i], point.data().data() + 8 * i, 8);
    }
  }
  if (bounded) {
    lower.resize(n);
    upper.resize(n);
    if (n > 0) {
      std::memcpy(lower.data(), op.data().data(), n * sizeof(double));
      std::memcpy(upper.data(), op.data().data() + n * sizeof(double),
                  n * sizeof(double));
    }
  }
  // The state type the home's solver reports (CreateSliceRequest.float32:
  // the first-order family and Adafactor; L-BFGS and the trust region keep
  // float64).
  const ScalarType type =
      spec.float32() ? ScalarType::kFloat32 : ScalarType::kFloat64;
  stencil_.Plan(range.begin, x, lower, upper,
                scheme == 0 ? FiniteDifferenceScheme::kCentral
                            : FiniteDifferenceScheme::kForward,
                rel_step, type);
  size_ = range.size();
  answer->add_sums(static_cast<double>(stencil_.points()));
  return absl::OkStatus();
}

absl::Status SliceStencil::Points(const v1::SliceOpRequest& op,
                                  v1::SliceOpResponse* answer) const {
  if (!stencil_.planned()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "slice operation ", v1::SliceOp_Name(op.op()),
        ": no stencil is planned on this slice (SLICE_OP_STENCIL_PLAN first)"));
  }
  if (op.scalars_size() != 2) {
    return SliceOpError(op, absl::StrCat("has ", op.scalars_size(),
                                         " scalars; it takes 2 (first, "
                                         "count)"));
  }
  const double points = static_cast<double>(stencil_.points());
  const double first = op.scalars(0), count = op.scalars(1);
  if (!IsCount(first, points) ||
      !IsCount(count, static_cast<double>(kMaxStencilPointsRead)) ||
      first + count > points) {
    return SliceOpError(op,
                        absl::StrCat("points [", first, ", ", first + count,
                                     ") are not within the slice's ", points,
                                     " stencil points, or more than ",
                                     kMaxStencilPointsRead, " at once"));
  }
  const int64_t begin = static_cast<int64_t>(first);
  const int64_t end = begin + static_cast<int64_t>(count);
  for (int64_t j = begin; j < end; ++j) {
    const PointDelta p = stencil_.Point(j);
    answer->add_sums(static_cast<double>(p.coordinate));
    answer->add_sums(p.value);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SliceStencil::Differentiate(
    const v1::SliceOpRequest& op, double* out) const {
  if (!stencil_.planned()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "slice operation ", v1::SliceOp_Name(op.op()),
        ": no stencil is planned on this slice (SLICE_OP_STENCIL_PLAN first)"));
  }
  const int64_t want = 1 + stencil_.points();
  if (op.stencil_values_size() != want) {
    return SliceOpError(
        op, absl::StrCat("stencil_values has ", op.stencil_values_size(),
                         " values; the slice's stencil takes ", want,
                         " (f(x), then its ", stencil_.points(), " points)"));
  }
  const absl::Span<const double> values(op.stencil_values().data(),
                                        static_cast<size_t>(want));
  return stencil_.Differentiate(values[0], values.subspan(1), out);
}

absl::StatusOr<std::string> SliceStencil::Gradient(
    const v1::SliceOpRequest& op) const {
  std::vector<double> gradient(static_cast<size_t>(size_));
  OPTD_RETURN_IF_ERROR(Differentiate(op, gradient.data()).status());
  std::string bytes(gradient.size() * sizeof(double), '\0');
  if (!gradient.empty()) {
    std::memcpy(bytes.data(), gradient.data(), bytes.size());
  }
  return bytes;
}

}  // namespace optd::server
