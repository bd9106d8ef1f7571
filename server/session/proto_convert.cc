#include "server/session/proto_convert.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/sharding/remote_vectors.h"
#include "solvers/core/bounds.h"
#include "solvers/adapters/data_parallel.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/adapters/gradient_check.h"
#include "solvers/lbfgsb/lbfgsb.h"
#include "common/status_macros.h"

namespace optd::server {
namespace {

absl::Status InvalidArgument(absl::string_view a, absl::string_view b = "",
                             absl::string_view c = "",
                             absl::string_view d = "") {
  return absl::InvalidArgumentError(absl::StrCat(a, b, c, d));
}

// Sizes `out` for n elements of `encoding` and hands the storage to `read`.
// Clearing first keeps the field's capacity, so a reused response message
// (the Optimize stream) does not reallocate per trial.
template <typename Read>
absl::Status WritePoint(int64_t n, v1::VectorEncoding encoding, v1::Vector* out,
                        Read read) {
  out->Clear();
  switch (encoding) {
    case v1::VECTOR_ENCODING_VALUES: {
      google::protobuf::RepeatedField<double>* values = out->mutable_values();
      values->Resize(static_cast<int>(n), 0.0);
      return read(MutableVectorView::Float64(values->mutable_data(), n));
    }
    case v1::VECTOR_ENCODING_F64: {
      std::string* bytes = out->mutable_f64();
      bytes->resize(static_cast<size_t>(n) * 8);
      return read(MutableVectorView::Float64(bytes->data(), n));
    }
    case v1::VECTOR_ENCODING_F32: {
      std::string* bytes = out->mutable_f32();
      bytes->resize(static_cast<size_t>(n) * 4);
      return read(MutableVectorView::Float32(bytes->data(), n));
    }
    default:
      return absl::InternalError(absl::StrCat("unresolved vector encoding ",
                                              static_cast<int>(encoding)));
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Vectors

absl::StatusOr<ConstVectorView> DecodeVector(const v1::Vector& vector,
                                             absl::string_view field) {
  std::vector<absl::string_view> set;
  if (vector.values_size() > 0) set.push_back("values");
  if (!vector.f64().empty()) set.push_back("f64");
  if (!vector.f32().empty()) set.push_back("f32");
  if (set.size() > 1) {
    const std::string names =
        set.size() == 2 ? absl::StrCat("both ", set[0], " and ", set[1])
                        : absl::StrCat(set[0], ", ", set[1], " and ", set[2]);
    return InvalidArgument(field, " sets ", names,
                           "; set exactly one encoding");
  }
  if (vector.values_size() > 0) {
    return ConstVectorView::Float64(vector.values().data(),
                                    vector.values_size());
  }
  if (!vector.f64().empty()) {
    const size_t bytes = vector.f64().size();
    if (bytes % 8 != 0) {
      return InvalidArgument(absl::StrCat(field, ".f64 has ", bytes, " bytes"),
                             "; float64 data needs a multiple of 8");
    }
    return ConstVectorView::Float64(vector.f64().data(), bytes / 8);
  }
  if (!vector.f32().empty()) {
    const size_t bytes = vector.f32().size();
    if (bytes % 4 != 0) {
      return InvalidArgument(absl::StrCat(field, ".f32 has ", bytes, " bytes"),
                             "; float32 data needs a multiple of 4");
    }
    return ConstVectorView::Float32(vector.f32().data(), bytes / 4);
  }
  return ConstVectorView();
}

absl::Status ValidateEncoding(v1::VectorEncoding encoding,
                              absl::string_view field) {
  if (!v1::VectorEncoding_IsValid(encoding)) {
    return InvalidArgument(
        absl::StrCat(field, " is ", static_cast<int>(encoding)),
        "; use VECTOR_ENCODING_VALUES, _F64, _F32 or leave it unspecified");
  }
  return absl::OkStatus();
}

v1::VectorEncoding ResolveEncoding(v1::VectorEncoding requested,
                                   v1::VectorEncoding session_default) {
  if (requested != v1::VECTOR_ENCODING_UNSPECIFIED) return requested;
  if (session_default != v1::VECTOR_ENCODING_UNSPECIFIED)
    return session_default;
  return v1::VECTOR_ENCODING_VALUES;
}

absl::Status WriteTrialPoint(const Solver& solver, v1::VectorEncoding encoding,
                             v1::Vector* out, int k) {
  return WritePoint(solver.dimension(), encoding, out,
                    [&](const MutableVectorView& view) {
                      return solver.ReadBatchPoint(k, view);
                    });
}

absl::Status WriteBestPoint(const Solver& solver, v1::VectorEncoding encoding,
                            v1::Vector* out) {
  return WritePoint(solver.dimension(), encoding, out,
                    [&](const MutableVectorView& view) {
                      return solver.ReadBestPoint(view);
                    });
}

absl::Status WriteTrialVector(const Solver& solver, v1::VectorEncoding encoding,
                              v1::Vector* out, int k) {
  return WritePoint(solver.dimension(), encoding, out,
                    [&](const MutableVectorView& view) {
                      return solver.ReadBatchVector(k, view);
                    });
}

// ---------------------------------------------------------------------------
// Solver options

absl::StatusOr<LbfgsOptions> LbfgsOptionsFromProto(
    const v1::LbfgsOptions& proto) {
  LbfgsOptions options;  // scipy defaults, as the proto documents
  if (proto.has_memory()) options.memory = proto.memory();
  if (proto.has_ftol()) options.ftol = proto.ftol();
  if (proto.has_gtol()) options.gtol = proto.gtol();
  if (proto.has_max_iterations())
    options.max_iterations = proto.max_iterations();
  if (proto.has_max_evaluations())
    options.max_evaluations = proto.max_evaluations();
  if (proto.has_max_line_search())
    options.max_line_search = proto.max_line_search();
  if (proto.has_line_search_ftol())
    options.line_search.ftol = proto.line_search_ftol();
  if (proto.has_line_search_gtol())
    options.line_search.gtol = proto.line_search_gtol();
  if (proto.has_line_search_xtol())
    options.line_search.xtol = proto.line_search_xtol();
  if (proto.has_max_step()) options.line_search.stpmax = proto.max_step();
  OPTD_RETURN_IF_ERROR(options.Validate());
  return options;
}

v1::LbfgsOptions LbfgsOptionsToProto(const LbfgsOptions& options) {
  v1::LbfgsOptions proto;
  proto.set_memory(options.memory);
  proto.set_ftol(options.ftol);
  proto.set_gtol(options.gtol);
  proto.set_max_iterations(options.max_iterations);
  proto.set_max_evaluations(options.max_evaluations);
  proto.set_max_line_search(options.max_line_search);
  proto.set_line_search_ftol(options.line_search.ftol);
  proto.set_line_search_gtol(options.line_search.gtol);
  proto.set_line_search_xtol(options.line_search.xtol);
  proto.set_max_step(options.line_search.stpmax);
  return proto;
}

absl::StatusOr<AdamOptions> AdamOptionsFromProto(const v1::AdamOptions& proto,
                                                 bool adamw) {
  const absl::string_view prefix = adamw ? "adamw." : "adam.";
  AdamOptions options = adamw ? AdamOptions::AdamW() : AdamOptions();
  if (proto.has_lr()) options.lr = proto.lr();
  if (proto.has_beta1()) options.hyper.beta1 = proto.beta1();
  if (proto.has_beta2()) options.hyper.beta2 = proto.beta2();
  if (proto.has_eps()) options.hyper.eps = proto.eps();
  if (proto.has_weight_decay())
    options.hyper.weight_decay = proto.weight_decay();
  options.hyper.amsgrad = proto.amsgrad();
  if (proto.has_max_grad_norm()) {
    // The solver reads 0 as "no clipping"; on the wire that is "unset", so an
    // explicit 0 is a mistake worth reporting.
    if (!(proto.max_grad_norm() > 0 && std::isfinite(proto.max_grad_norm()))) {
      return InvalidArgument(
          absl::StrCat(prefix, "max_grad_norm is ", proto.max_grad_norm()),
          "; it must be in (0, inf), or unset for no clipping");
    }
    options.max_grad_norm = proto.max_grad_norm();
  }
  const v1::LrSchedule& schedule = proto.schedule();
  options.schedule.warmup_steps = schedule.warmup_steps();
  if (schedule.has_warmup_start_factor()) {
    options.schedule.warmup_start_factor = schedule.warmup_start_factor();
  }
  switch (schedule.decay()) {
    case v1::LrSchedule::DECAY_CONSTANT:
      options.schedule.decay = LrScheduleOptions::Decay::kConstant;
      break;
    case v1::LrSchedule::DECAY_COSINE:
      options.schedule.decay = LrScheduleOptions::Decay::kCosine;
      break;
    default:
      return InvalidArgument(absl::StrCat(prefix, "schedule.decay is ",
                                          static_cast<int>(schedule.decay())),
                             "; use DECAY_CONSTANT or DECAY_COSINE");
  }
  options.schedule.decay_steps = schedule.decay_steps();
  options.schedule.min_lr = schedule.min_lr();
  switch (proto.dtype()) {
    case v1::STATE_DTYPE_UNSPECIFIED:
    case v1::STATE_DTYPE_FLOAT64:
      options.dtype = ScalarType::kFloat64;
      break;
    case v1::STATE_DTYPE_FLOAT32:
      options.dtype = ScalarType::kFloat32;
      break;
    default:
      return InvalidArgument(
          absl::StrCat(prefix, "dtype is ", static_cast<int>(proto.dtype())),
          "; use STATE_DTYPE_FLOAT64 or STATE_DTYPE_FLOAT32");
  }
  options.max_steps = proto.max_steps();
  OPTD_RETURN_IF_ERROR(options.Validate());
  return options;
}

v1::AdamOptions AdamOptionsToProto(const AdamOptions& options) {
  v1::AdamOptions proto;
  proto.set_lr(options.lr);
  proto.set_beta1(options.hyper.beta1);
  proto.set_beta2(options.hyper.beta2);
  proto.set_eps(options.hyper.eps);
  proto.set_weight_decay(options.hyper.weight_decay);
  proto.set_amsgrad(options.hyper.amsgrad);
  if (options.max_grad_norm > 0) proto.set_max_grad_norm(options.max_grad_norm);
  v1::LrSchedule* schedule = proto.mutable_schedule();
  schedule->set_warmup_steps(options.schedule.warmup_steps);
  schedule->set_warmup_start_factor(options.schedule.warmup_start_factor);
  schedule->set_decay(options.schedule.decay ==
                              LrScheduleOptions::Decay::kCosine
                          ? v1::LrSchedule::DECAY_COSINE
                          : v1::LrSchedule::DECAY_CONSTANT);
  schedule->set_decay_steps(options.schedule.decay_steps);
  schedule->set_min_lr(options.schedule.min_lr);
  proto.set_dtype(options.dtype == ScalarType::kFloat32
                      ? v1::STATE_DTYPE_FLOAT32
                      : v1::STATE_DTYPE_FLOAT64);
  proto.set_max_steps(options.max_steps);
  return proto;
}

absl::StatusOr<TrustRegionOptions> TrustRegionOptionsFromProto(
    const v1::TrustRegionOptions& proto) {
  TrustRegionOptions options;  // scipy defaults, as the proto documents
  switch (proto.subproblem()) {
    case v1::TrustRegionOptions::SUBPROBLEM_UNSPECIFIED:
    case v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON:
      options.subproblem = TrustRegionSubproblem::kQuasiNewton;
      break;
    case v1::TrustRegionOptions::SUBPROBLEM_EXACT:
      options.subproblem = TrustRegionSubproblem::kExact;
      break;
    case v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG:
      options.subproblem = TrustRegionSubproblem::kNewtonCg;
      break;
    case v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD:
      options.subproblem = TrustRegionSubproblem::kNewtonCgFiniteDifference;
      break;
    default:
      return InvalidArgument(
          absl::StrCat("trust_region.subproblem is ",
                       static_cast<int>(proto.subproblem())),
          "; use SUBPROBLEM_EXACT, _NEWTON_CG, _NEWTON_CG_FD or _QUASI_NEWTON");
  }
  switch (proto.quasi_newton_update()) {
    case v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_UNSPECIFIED:
    case v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LSR1:
      options.quasi_newton_update = QuasiNewtonUpdate::kLsr1;
      break;
    case v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS:
      options.quasi_newton_update = QuasiNewtonUpdate::kLbfgs;
      break;
    default:
      return InvalidArgument(
          absl::StrCat("trust_region.quasi_newton_update is ",
                       static_cast<int>(proto.quasi_newton_update())),
          "; use QUASI_NEWTON_UPDATE_LSR1 or QUASI_NEWTON_UPDATE_LBFGS");
  }
  if (proto.has_memory()) options.memory = proto.memory();
  if (proto.has_initial_radius())
    options.initial_radius = proto.initial_radius();
  if (proto.has_max_radius()) options.max_radius = proto.max_radius();
  if (proto.has_eta()) options.eta = proto.eta();
  if (proto.has_gtol()) options.gtol = proto.gtol();
  if (proto.has_max_iterations()) {
    // 0 would mean "200 n" to the solver; on the wire that is "unset".
    if (proto.max_iterations() < 1) {
      return InvalidArgument(absl::StrCat("trust_region.max_iterations is ",
                                          proto.max_iterations()),
                             "; it must be in [1, 2^53], or unset for 200 n");
    }
    options.max_iterations = proto.max_iterations();
  }
  if (proto.has_max_evaluations())
    options.max_evaluations = proto.max_evaluations();
  if (proto.has_ftol()) options.ftol = proto.ftol();
  if (proto.has_ftol_steps()) options.ftol_steps = proto.ftol_steps();
  OPTD_RETURN_IF_ERROR(options.Validate());
  return options;
}

v1::TrustRegionOptions TrustRegionOptionsToProto(
    const TrustRegionOptions& options) {
  v1::TrustRegionOptions proto;
  switch (options.subproblem) {
    case TrustRegionSubproblem::kExact:
      proto.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_EXACT);
      break;
    case TrustRegionSubproblem::kNewtonCg:
      proto.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
      break;
    case TrustRegionSubproblem::kNewtonCgFiniteDifference:
      proto.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD);
      break;
    case TrustRegionSubproblem::kQuasiNewton:
      proto.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON);
      break;
  }
  proto.set_quasi_newton_update(
      options.quasi_newton_update == QuasiNewtonUpdate::kLbfgs
          ? v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS
          : v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LSR1);
  proto.set_memory(options.memory);
  proto.set_initial_radius(options.initial_radius);
  proto.set_max_radius(options.max_radius);
  proto.set_eta(options.eta);
  proto.set_gtol(options.gtol);
  proto.set_max_iterations(options.max_iterations);
  proto.set_max_evaluations(options.max_evaluations);
  proto.set_ftol(options.ftol);
  proto.set_ftol_steps(options.ftol_steps);
  return proto;
}

namespace {
// The solver's own state (its vectors), by the same rule.
int64_t EstimateSolverBytes(const v1::CreateSessionRequest& request, int64_t n);
}  // namespace

SessionBytes EstimateSessionBytes(const v1::CreateSessionRequest& request,
                                  int64_t n) {
  constexpr int64_t kDouble = sizeof(double);
  SessionBytes bytes;
  bytes.solver = EstimateSolverBytes(request, n);
  const bool finite_difference =
      request.gradient_source() == v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
  if (request.has_bounds()) {
    // The solver's box and the creation echo's; the finite-difference
    // adapter keeps its own.
    bytes.layers += (finite_difference ? 6 : 4) * n * kDouble;
    bytes.layers_name = "bounds";
  }
  if (finite_difference) {
    const FiniteDifferenceScheme scheme =
        request.finite_difference().scheme() ==
                v1::FiniteDifferenceOptions::SCHEME_FORWARD
            ? FiniteDifferenceScheme::kForward
            : FiniteDifferenceScheme::kCentral;
    bytes.layers += FiniteDifferenceBytes(n, scheme);
    bytes.batch_trials = FiniteDifferenceTrials(n, scheme);
    bytes.layers_name = request.has_bounds()
                            ? "finite-difference stencil and bounds"
                            : "finite-difference stencil";
  } else if (request.has_gradient_check()) {
    GradientCheckOptions check;
    check.at_iterations.assign(request.gradient_check().at_iterations().begin(),
                               request.gradient_check().at_iterations().end());
    check.every_iterations = request.gradient_check().every_iterations();
    bytes.layers += GradientCheckBytes(n, check);
    bytes.batch_trials = 2 * n + 1;
    bytes.layers_name = "gradient-check stencil and reports";
  } else if (request.data_parallel().workers() > 1) {
    const int workers = std::min(request.data_parallel().workers(), 1024);
    bytes.layers += DataParallelBytes(n, workers);
    bytes.batch_trials = workers;
    bytes.layers_name = "data-parallel gradient sums";
  }
  if (bytes.batch_trials > 1) bytes.layers += bytes.batch_trials * kLeaseBytes;
  return bytes;
}

int64_t EstimateStateBytes(const v1::CreateSessionRequest& request, int64_t n) {
  return EstimateSessionBytes(request, n).total();
}

namespace {

int64_t EstimateSolverBytes(const v1::CreateSessionRequest& request,
                            int64_t n) {
  constexpr int64_t kDouble = sizeof(double);
  switch (request.solver_case()) {
    case v1::CreateSessionRequest::kLbfgs: {
      const int64_t m =
          request.lbfgs().has_memory() ? request.lbfgs().memory() : 10;
      return (2 * std::max<int64_t>(m, 0) + 6) * n * kDouble;
    }
    case v1::CreateSessionRequest::kTrustRegion: {
      const v1::TrustRegionOptions& tr = request.trust_region();
      switch (tr.subproblem()) {
        case v1::TrustRegionOptions::SUBPROBLEM_EXACT:
          return (n + 8) * n * kDouble;
        case v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG:
        case v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD:
          return 8 * n * kDouble;
        default: {
          const int64_t m = tr.has_memory() ? tr.memory() : 10;
          return (2 * std::max<int64_t>(m, 0) + 8) * n * kDouble;
        }
      }
    }
    case v1::CreateSessionRequest::kAdam:
    case v1::CreateSessionRequest::kAdamw: {
      const v1::AdamOptions& adam =
          request.solver_case() == v1::CreateSessionRequest::kAdam
              ? request.adam()
              : request.adamw();
      const int64_t element =
          adam.dtype() == v1::STATE_DTYPE_FLOAT32 ? sizeof(float) : kDouble;
      return ((adam.amsgrad() ? 4 : 3) * element + kDouble) * n;
    }
    case v1::CreateSessionRequest::SOLVER_NOT_SET:
      break;
  }
  return n * kDouble;
}

}  // namespace

namespace {

// The session-level layers of CreateSessionRequest, decoded and checked
// against each other before any solver (or slice) is made.
struct SessionLayers {
  Bounds bounds;
  bool finite_difference = false;
  FiniteDifferenceOptions finite_difference_options;
  bool gradient_check = false;
  GradientCheckOptions gradient_check_options;
  int data_parallel_workers = 1;
};

absl::StatusOr<SessionLayers> DecodeSessionLayers(
    const v1::CreateSessionRequest& request, int64_t n) {
  SessionLayers layers;
  layers.bounds = Bounds::Unbounded(n);
  const bool sharded = request.shards() > 1;
  // Which solvers take their gradients from the client: the layers below
  // work on those.
  const bool trust_region =
      request.solver_case() == v1::CreateSessionRequest::kTrustRegion;
  const auto subproblem = request.trust_region().subproblem();
  const bool wants_only_gradients =
      !trust_region ||
      subproblem == v1::TrustRegionOptions::SUBPROBLEM_UNSPECIFIED ||
      subproblem == v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON;
  constexpr absl::string_view kGradientSolvers =
      "lbfgs, adam, adamw or trust_region with subproblem QUASI_NEWTON";
  if (request.has_bounds()) {
    OPTD_ASSIGN_OR_RETURN(
        ConstVectorView lower,
        DecodeVector(request.bounds().lower(), "bounds.lower"));
    OPTD_ASSIGN_OR_RETURN(
        ConstVectorView upper,
        DecodeVector(request.bounds().upper(), "bounds.upper"));
    OPTD_ASSIGN_OR_RETURN(layers.bounds, Bounds::Create(lower, upper, n));
    if (layers.bounds.any() && sharded) {
      return InvalidArgument(absl::StrCat(
          "bounds are not supported for sharded sessions (shards = ",
          request.shards(), "); use shards 0 or 1"));
    }
    if (layers.bounds.any() && !wants_only_gradients) {
      return InvalidArgument(
          "bounds are supported by trust_region only with subproblem "
          "QUASI_NEWTON");
    }
  }
  switch (request.gradient_source()) {
    case v1::GRADIENT_SOURCE_UNSPECIFIED:
    case v1::GRADIENT_SOURCE_CLIENT:
      break;
    case v1::GRADIENT_SOURCE_FINITE_DIFFERENCE:
      layers.finite_difference = true;
      break;
    default:
      return InvalidArgument(
          absl::StrCat("gradient_source is ", request.gradient_source(),
                       "; it is CLIENT (1) or FINITE_DIFFERENCE (2)"));
  }
  if (request.has_finite_difference() && !layers.finite_difference) {
    return InvalidArgument(
        "finite_difference is set but gradient_source is not "
        "FINITE_DIFFERENCE");
  }
  if (layers.finite_difference) {
    if (sharded) {
      return InvalidArgument(
          "gradient_source FINITE_DIFFERENCE is not supported for sharded "
          "sessions; use shards 0 or 1");
    }
    if (!wants_only_gradients) {
      return InvalidArgument(absl::StrCat(
          "gradient_source FINITE_DIFFERENCE needs a solver that takes "
          "gradients: ",
          kGradientSolvers));
    }
    const v1::FiniteDifferenceOptions& fd = request.finite_difference();
    switch (fd.scheme()) {
      case v1::FiniteDifferenceOptions::SCHEME_UNSPECIFIED:
      case v1::FiniteDifferenceOptions::SCHEME_CENTRAL:
        layers.finite_difference_options.scheme =
            FiniteDifferenceScheme::kCentral;
        break;
      case v1::FiniteDifferenceOptions::SCHEME_FORWARD:
        layers.finite_difference_options.scheme =
            FiniteDifferenceScheme::kForward;
        break;
      default:
        return InvalidArgument(
            absl::StrCat("finite_difference.scheme is ", fd.scheme(),
                         "; it is CENTRAL (1) or FORWARD (2)"));
    }
    if (fd.has_relative_step()) {
      layers.finite_difference_options.relative_step = fd.relative_step();
    }
    OPTD_RETURN_IF_ERROR(layers.finite_difference_options.Validate());
  }
  if (request.has_gradient_check()) {
    layers.gradient_check = true;
    if (layers.finite_difference) {
      return InvalidArgument(
          "gradient_check checks the client's gradients, and with "
          "gradient_source FINITE_DIFFERENCE the client tells none");
    }
    if (sharded) {
      return InvalidArgument(
          "gradient_check is not supported for sharded sessions; use shards "
          "0 or 1");
    }
    if (!wants_only_gradients) {
      return InvalidArgument(
          absl::StrCat("gradient_check needs a solver that takes gradients: ",
                       kGradientSolvers));
    }
    if (layers.bounds.any()) {
      // Its central stencil would step up to h outside the box, where the
      // objective may not be defined.
      return InvalidArgument(
          "gradient_check does not go with bounds: its central-difference "
          "points may leave the box; check the gradient in a session without "
          "bounds");
    }
    const v1::GradientCheckOptions& check = request.gradient_check();
    layers.gradient_check_options.at_iterations.assign(
        check.at_iterations().begin(), check.at_iterations().end());
    layers.gradient_check_options.every_iterations = check.every_iterations();
    if (check.has_relative_step()) {
      layers.gradient_check_options.relative_step = check.relative_step();
    }
    OPTD_RETURN_IF_ERROR(layers.gradient_check_options.Validate());
  }
  const int workers = request.data_parallel().workers();
  constexpr int kMaxWorkers = 1024;
  if (workers < 0 || workers > kMaxWorkers) {
    return InvalidArgument(absl::StrCat("data_parallel.workers is ", workers,
                                        "; the range is [0, ", kMaxWorkers,
                                        "] (0 or 1: off)"));
  }
  if (workers > 1) {
    if (sharded) {
      return InvalidArgument(
          "data_parallel is not supported for sharded sessions; use shards 0 "
          "or 1");
    }
    if (layers.finite_difference || layers.gradient_check) {
      return InvalidArgument(
          "data_parallel averages the workers' own gradients; it does not go "
          "with gradient_source FINITE_DIFFERENCE or gradient_check");
    }
    if (!wants_only_gradients) {
      return InvalidArgument(
          absl::StrCat("data_parallel needs a solver that takes gradients: ",
                       kGradientSolvers));
    }
    layers.data_parallel_workers = workers;
  }
  return layers;
}

// The solver `request` selects, confined to `bounds` when it has any.
absl::StatusOr<SolverSetup> CreateBaseSolver(
    const v1::CreateSessionRequest& request, const ConstVectorView& x0,
    const Bounds& bounds, ShardMaker* make_shards, uint32_t solver_revision);

}  // namespace

absl::StatusOr<SolverSetup> CreateSolver(
    const v1::CreateSessionRequest& request, const ConstVectorView& x0,
    ShardMaker* make_shards, uint32_t solver_revision) {
  if (solver_revision > kSolverRevision) {
    return InvalidArgument(
        absl::StrCat("solver_revision is ", solver_revision),
        absl::StrCat("; this server has revision ", kSolverRevision,
                     ": replay the session on a server of its revision or "
                     "newer"));
  }
  OPTD_ASSIGN_OR_RETURN(SessionLayers layers,
                        DecodeSessionLayers(request, x0.size()));
  OPTD_ASSIGN_OR_RETURN(SolverSetup setup,
                        CreateBaseSolver(request, x0, layers.bounds,
                                         make_shards, solver_revision));
  if (layers.finite_difference) {
    OPTD_ASSIGN_OR_RETURN(
        setup.solver, WithFiniteDifferences(std::move(setup.solver),
                                            layers.finite_difference_options,
                                            std::move(layers.bounds)));
  } else if (layers.gradient_check) {
    OPTD_ASSIGN_OR_RETURN(setup.solver,
                          WithGradientCheck(std::move(setup.solver),
                                            layers.gradient_check_options));
  } else if (layers.data_parallel_workers > 1) {
    OPTD_ASSIGN_OR_RETURN(setup.solver,
                          WithDataParallel(std::move(setup.solver),
                                           layers.data_parallel_workers));
  }
  return setup;
}

namespace {

absl::StatusOr<SolverSetup> CreateBaseSolver(
    const v1::CreateSessionRequest& request, const ConstVectorView& x0,
    const Bounds& bounds, ShardMaker* make_shards, uint32_t solver_revision) {
  SolverSetup setup;
  v1::CreateSliceRequest slice;
  switch (request.solver_case()) {
    case v1::CreateSessionRequest::kLbfgs: {
      OPTD_ASSIGN_OR_RETURN(LbfgsOptions options,
                            LbfgsOptionsFromProto(request.lbfgs()));
      if (make_shards != nullptr) {
        slice.set_kind(v1::SLICE_KIND_LBFGS);
        slice.set_memory(options.memory);
        OPTD_ASSIGN_OR_RETURN(setup.shards, (*make_shards)(slice));
        OPTD_ASSIGN_OR_RETURN(
            setup.solver, Lbfgs::Create(options, x0,
                                        std::make_unique<RemoteLbfgsVectors>(
                                            setup.shards, options.memory)));
      } else if (bounds.any()) {
        // L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995), dense on this replica.
        OPTD_ASSIGN_OR_RETURN(setup.solver,
                              LbfgsB::Create(options, x0, bounds));
      } else {
        OPTD_ASSIGN_OR_RETURN(setup.solver, Lbfgs::Create(options, x0));
      }
      setup.options = options;
      return setup;
    }
    case v1::CreateSessionRequest::kAdam:
    case v1::CreateSessionRequest::kAdamw: {
      const bool adamw =
          request.solver_case() == v1::CreateSessionRequest::kAdamw;
      OPTD_ASSIGN_OR_RETURN(
          AdamOptions options,
          AdamOptionsFromProto(adamw ? request.adamw() : request.adam(),
                               adamw));
      if (make_shards != nullptr) {
        slice.set_kind(v1::SLICE_KIND_ADAM);
        slice.set_amsgrad(options.hyper.amsgrad);
        slice.set_float32(options.dtype == ScalarType::kFloat32);
        OPTD_ASSIGN_OR_RETURN(setup.shards, (*make_shards)(slice));
        OPTD_ASSIGN_OR_RETURN(setup.solver,
                              Adam::Create(options, x0,
                                           std::make_unique<RemoteAdamVectors>(
                                               setup.shards, options.dtype,
                                               options.hyper.amsgrad)));
      } else if (bounds.any()) {
        OPTD_ASSIGN_OR_RETURN(setup.solver, Adam::Create(options, x0, bounds));
      } else {
        OPTD_ASSIGN_OR_RETURN(setup.solver, Adam::Create(options, x0));
      }
      setup.options = options;
      return setup;
    }
    case v1::CreateSessionRequest::kTrustRegion: {
      OPTD_ASSIGN_OR_RETURN(
          TrustRegionOptions options,
          TrustRegionOptionsFromProto(request.trust_region()));
      // Resolve scipy's "200 n" here, so Session.options shows the number.
      if (options.max_iterations == 0) options.max_iterations = 200 * x0.size();
      if (solver_revision < 1) {
        // The arithmetic of the builds before revision 1 (proto_convert.h).
        options.ftol = 0.0;
        options.pair_dependence = 1e-8;
      }
      if (make_shards != nullptr) {
        slice.set_kind(v1::SLICE_KIND_TRUST_REGION);
        slice.set_memory(options.slice_memory());
        slice.set_cg_vectors(options.slice_cg_vectors());
        OPTD_ASSIGN_OR_RETURN(setup.shards, (*make_shards)(slice));
        OPTD_ASSIGN_OR_RETURN(
            setup.solver,
            TrustRegion::Create(options, x0,
                                std::make_unique<RemoteTrustRegionVectors>(
                                    setup.shards, options.slice_memory(),
                                    options.slice_cg_vectors())));
      } else if (bounds.any()) {
        OPTD_ASSIGN_OR_RETURN(setup.solver,
                              TrustRegion::Create(options, x0, bounds));
      } else {
        OPTD_ASSIGN_OR_RETURN(setup.solver, TrustRegion::Create(options, x0));
      }
      setup.options = options;
      return setup;
    }
    case v1::CreateSessionRequest::SOLVER_NOT_SET:
      break;
  }
  return InvalidArgument(
      "solver is not set; set exactly one of lbfgs, adam, adamw or "
      "trust_region");
}

}  // namespace

void SetCreationEcho(const v1::CreateSessionRequest& request,
                     v1::Session* echo) {
  echo->Clear();
  if (request.has_bounds()) *echo->mutable_bounds() = request.bounds();
  echo->set_gradient_source(request.gradient_source());
  if (request.has_finite_difference()) {
    *echo->mutable_finite_difference() = request.finite_difference();
  }
  if (request.has_gradient_check()) {
    *echo->mutable_gradient_check() = request.gradient_check();
  }
  if (request.has_data_parallel()) {
    *echo->mutable_data_parallel() = request.data_parallel();
  }
}

void SetSessionOptions(const SolverOptions& options, v1::Session* session) {
  if (const auto* lbfgs = std::get_if<LbfgsOptions>(&options)) {
    *session->mutable_lbfgs() = LbfgsOptionsToProto(*lbfgs);
  } else if (const auto* adam = std::get_if<AdamOptions>(&options)) {
    *(adam->hyper.decoupled_weight_decay ? session->mutable_adamw()
                                         : session->mutable_adam()) =
        AdamOptionsToProto(*adam);
  } else {
    *session->mutable_trust_region() =
        TrustRegionOptionsToProto(std::get<TrustRegionOptions>(options));
  }
}

// ---------------------------------------------------------------------------
// Outcomes

void TimeToProto(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

absl::Time TimeFromProto(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) +
         absl::Nanoseconds(time.nanos());
}

v1::Evaluation EvaluationToProto(Evaluation evaluation) {
  switch (evaluation) {
    case Evaluation::kValue:
      return v1::EVALUATION_VALUE;
    case Evaluation::kGradient:
      return v1::EVALUATION_GRADIENT;
    case Evaluation::kValueAndGradient:
      return v1::EVALUATION_VALUE_AND_GRADIENT;
    case Evaluation::kHessian:
      return v1::EVALUATION_HESSIAN;
    case Evaluation::kHessianVector:
      return v1::EVALUATION_HESSIAN_VECTOR;
  }
  return v1::EVALUATION_UNSPECIFIED;
}

v1::TerminationReason TerminationReasonToProto(TerminationReason reason) {
  switch (reason) {
    case TerminationReason::kNone:
      return v1::TERMINATION_REASON_UNSPECIFIED;
    case TerminationReason::kGradientTolerance:
      return v1::TERMINATION_REASON_GRADIENT_TOLERANCE;
    case TerminationReason::kFunctionTolerance:
      return v1::TERMINATION_REASON_FUNCTION_TOLERANCE;
    case TerminationReason::kMaxIterations:
      return v1::TERMINATION_REASON_MAX_ITERATIONS;
    case TerminationReason::kMaxEvaluations:
      return v1::TERMINATION_REASON_MAX_EVALUATIONS;
    case TerminationReason::kLineSearchFailed:
      return v1::TERMINATION_REASON_LINE_SEARCH_FAILED;
    case TerminationReason::kEvaluationFailed:
      return v1::TERMINATION_REASON_EVALUATION_FAILED;
    case TerminationReason::kStoppedByClient:
      return v1::TERMINATION_REASON_STOPPED_BY_CLIENT;
    case TerminationReason::kMaxSteps:
      return v1::TERMINATION_REASON_MAX_STEPS;
    case TerminationReason::kTrustRegionFailed:
      return v1::TERMINATION_REASON_TRUST_REGION_FAILED;
    case TerminationReason::kStepNotFinite:
      return v1::TERMINATION_REASON_STEP_NOT_FINITE;
  }
  return v1::TERMINATION_REASON_UNSPECIFIED;
}

v1::SessionState SessionStateFor(TerminationReason reason) {
  switch (reason) {
    case TerminationReason::kNone:
      return v1::SESSION_STATE_RUNNING;
    case TerminationReason::kGradientTolerance:
    case TerminationReason::kFunctionTolerance:
      return v1::SESSION_STATE_CONVERGED;
    case TerminationReason::kMaxIterations:
    case TerminationReason::kMaxEvaluations:
    case TerminationReason::kMaxSteps:
      return v1::SESSION_STATE_LIMIT_REACHED;
    case TerminationReason::kLineSearchFailed:
    case TerminationReason::kEvaluationFailed:
    case TerminationReason::kTrustRegionFailed:
    case TerminationReason::kStepNotFinite:
      return v1::SESSION_STATE_FAILED;
    case TerminationReason::kStoppedByClient:
      return v1::SESSION_STATE_STOPPED;
  }
  return v1::SESSION_STATE_UNSPECIFIED;
}

absl::Status SummaryToProto(const Summary& summary, double wall_seconds,
                            const Solver& solver, v1::VectorEncoding x_encoding,
                            v1::Summary* out) {
  // The solver has no clock (solver.h); the session's goes into the reports.
  Summary timed = summary;
  timed.wall_seconds = wall_seconds;
  out->set_reason(TerminationReasonToProto(timed.reason));
  out->set_message(timed.message);
  out->set_success(timed.success());
  out->set_value(timed.value);
  out->set_gradient_max_norm(timed.gradient_max_norm);
  out->set_iterations(timed.iterations);
  out->set_evaluations(timed.evaluations);
  out->set_wall_seconds(wall_seconds);
  out->set_brief_report(timed.BriefReport());
  out->set_full_report(timed.FullReport());
  if (x_encoding == v1::VECTOR_ENCODING_UNSPECIFIED) {
    out->clear_x();
    return absl::OkStatus();
  }
  return WriteBestPoint(solver, x_encoding, out->mutable_x());
}

}  // namespace optd::server
