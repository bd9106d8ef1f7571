#include "server/session/solver_factory.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "server/session/adafactor_codec.h"
#include "server/session/curvature_codec.h"
#include "server/session/first_order_codec.h"
#include "server/session/request_fields.h"
#include "server/session/warm_start.h"
#include "server/sharding/data_parallel_slices.h"
#include "server/sharding/finite_difference_slices.h"
#include "server/sharding/remote_lanczos_vectors.h"
#include "server/sharding/remote_lbfgsb_vectors.h"
#include "server/sharding/remote_vectors.h"
#include "solvers/adafactor/adafactor.h"
#include "solvers/adapters/data_parallel.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/adapters/finite_difference_jacobian.h"
#include "solvers/adapters/gradient_check.h"
#include "solvers/core/bounds.h"
#include "solvers/curvature/curvature_solver.h"
#include "solvers/lbfgsb/lbfgsb.h"
#include "solvers/least_squares/least_squares_solver.h"

namespace optd::server {
namespace {

absl::Status InvalidArgument(absl::string_view a, absl::string_view b = "",
                             absl::string_view c = "",
                             absl::string_view d = "") {
  return absl::InvalidArgumentError(absl::StrCat(a, b, c, d));
}

}  // namespace

// Least squares (scipy's method='lm' or 'trf') runs on one replica; of the
// session layers it takes bounds (LeastSquaresOptionsFromProto checks them
// against the method) and finite differences (the Jacobian from told
// residuals, finite_difference_jacobian.h). A curvature diagnosis, which
// holds x fixed and wants the client's Hessian-vector products (or
// gradients at x +- h v) itself, takes none of them but shards. Adafactor alone
// uses `layers`.
absl::Status CheckSolverLayers(const v1::CreateSessionRequest& request) {
  const bool adafactor =
      request.solver_case() == v1::CreateSessionRequest::kAdafactor;
  if (request.layers_size() > 0 && !adafactor) {
    const google::protobuf::FieldDescriptor* field =
        request.GetDescriptor()->FindFieldByNumber(request.solver_case());
    return InvalidArgument(
        absl::StrCat("layers is set but the solver is ",
                     field == nullptr ? std::string("not set") : field->name(),
                     "; only adafactor uses layers"));
  }
  if (adafactor) {
    if (request.has_bounds()) {
      return InvalidArgument(
          "bounds are not supported by adafactor; leave bounds unset");
    }
    return absl::OkStatus();
  }
  const char* solver = nullptr;
  const char* why = nullptr;
  if (request.solver_case() == v1::CreateSessionRequest::kLeastSquares) {
    solver = "least_squares";
  } else if (request.solver_case() == v1::CreateSessionRequest::kCurvature) {
    solver = "curvature";
    why = "(it diagnoses the Hessian at x0 and moves nowhere)";
  } else {
    return absl::OkStatus();
  }
  const bool lsq =
      request.solver_case() == v1::CreateSessionRequest::kLeastSquares;
  // A curvature diagnosis runs on slices (SLICE_KIND_LANCZOS) like the
  // other sharded kinds.
  if (lsq && request.shards() > 1) {
    return InvalidArgument(absl::StrCat(
        solver, " sessions are not sharded (shards = ", request.shards(),
        "); use shards 0 or 1"));
  }
  if (!lsq && request.has_bounds()) {
    return InvalidArgument(absl::StrCat("bounds are not supported by ", solver,
                                        " ", why, "; leave bounds unset"));
  }
  if (!lsq &&
      (request.gradient_source() == v1::GRADIENT_SOURCE_FINITE_DIFFERENCE ||
       request.has_finite_difference())) {
    return InvalidArgument(absl::StrCat(
        "gradient_source FINITE_DIFFERENCE is not supported by ", solver,
        ": its trials want Hessian-vector products or gradients from the "
        "client (curvature.source); leave gradient_source and "
        "finite_difference unset"));
  }
  if (request.has_gradient_check()) {
    return InvalidArgument(absl::StrCat(
        "gradient_check is not supported by ", solver,
        lsq ? ", whose trials want residuals and Jacobians, not gradients"
            : ", whose trials are all at (or next to) one point"));
  }
  if (request.data_parallel().workers() > 1) {
    return InvalidArgument(absl::StrCat(
        "data_parallel.workers is ", request.data_parallel().workers(), "; ",
        solver, " sessions take 0 or 1 (no data parallelism)"));
  }
  return absl::OkStatus();
}

namespace {

// The session-level layers of CreateSessionRequest, decoded and checked
// against each other before any solver (or slice) is made.
struct SessionLayers {
  Bounds bounds;
  bool finite_difference = false;
  FiniteDifferenceOptions finite_difference_options;
  // least_squares sessions: the Jacobian's, instead.
  FiniteDifferenceJacobianOptions jacobian_options;
  bool gradient_check = false;
  GradientCheckOptions gradient_check_options;
  int data_parallel_workers = 1;
};

// FiniteDifferenceOptions for a session whose gradients the adapter forms
// (finite_difference.h).
absl::Status DecodeGradientOptions(const v1::FiniteDifferenceOptions& fd,
                                   FiniteDifferenceOptions* options) {
  switch (fd.scheme()) {
    case v1::FiniteDifferenceOptions::SCHEME_UNSPECIFIED:
    case v1::FiniteDifferenceOptions::SCHEME_CENTRAL:
      options->scheme = FiniteDifferenceScheme::kCentral;
      break;
    case v1::FiniteDifferenceOptions::SCHEME_FORWARD:
      options->scheme = FiniteDifferenceScheme::kForward;
      break;
    case v1::FiniteDifferenceOptions::SCHEME_MINPACK_FORWARD:
      return InvalidArgument(
          "finite_difference.scheme is MINPACK_FORWARD (3), which "
          "differences the residuals of least_squares sessions only; use "
          "CENTRAL (1) or FORWARD (2)");
    default:
      return InvalidArgument(
          absl::StrCat("finite_difference.scheme is ", fd.scheme(),
                       "; it is CENTRAL (1) or FORWARD (2)"));
  }
  if (fd.has_relative_step()) options->relative_step = fd.relative_step();
  return options->Validate();
}

// FiniteDifferenceOptions for a least_squares session, whose Jacobians the
// adapter forms (finite_difference_jacobian.h).
absl::Status DecodeJacobianOptions(const v1::FiniteDifferenceOptions& fd,
                                   FiniteDifferenceJacobianOptions* options) {
  OPTD_ASSIGN_OR_RETURN(options->rule, LeastSquaresJacobianRule(fd));
  if (fd.has_relative_step()) options->relative_step = fd.relative_step();
  return options->Validate();
}

absl::StatusOr<SessionLayers> DecodeSessionLayers(
    const v1::CreateSessionRequest& request, int64_t n) {
  // No bounds until the request sets some: an empty Bounds, not
  // Bounds::Unbounded(n), whose 2 n infinities (16 n bytes) the home of a
  // sharded session would hold for nothing.
  SessionLayers layers;
  OPTD_RETURN_IF_ERROR(CheckSolverLayers(request));
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
      "lbfgs, a first-order method (adam, sgd, ...) or trust_region with "
      "subproblem QUASI_NEWTON";
  if (request.has_bounds()) {
    OPTD_ASSIGN_OR_RETURN(
        ConstVectorView lower,
        DecodeVector(request.bounds().lower(), "bounds.lower"));
    OPTD_ASSIGN_OR_RETURN(
        ConstVectorView upper,
        DecodeVector(request.bounds().upper(), "bounds.upper"));
    OPTD_ASSIGN_OR_RETURN(layers.bounds, Bounds::Create(lower, upper, n));
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
    if (!wants_only_gradients) {
      return InvalidArgument(absl::StrCat(
          "gradient_source FINITE_DIFFERENCE needs a solver that takes "
          "gradients: ",
          kGradientSolvers));
    }
    const v1::FiniteDifferenceOptions& fd = request.finite_difference();
    if (IsLeastSquares(request)) {
      OPTD_RETURN_IF_ERROR(DecodeJacobianOptions(fd, &layers.jacobian_options));
    } else {
      OPTD_RETURN_IF_ERROR(
          DecodeGradientOptions(fd, &layers.finite_difference_options));
    }
  }
  if (request.has_gradient_check()) {
    layers.gradient_check = true;
    if (layers.finite_difference) {
      return InvalidArgument(
          "gradient_check checks the client's gradients, and with "
          "gradient_source FINITE_DIFFERENCE the client tells none");
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

// ---------------------------------------------------------------------------
// The solver kinds. A recipe says how one kind is built: its options from the
// request (with the revision's shims), the slice it asks each replica for,
// and the solver over remote slices, in a box, or plain.

using SolverOr = absl::StatusOr<std::unique_ptr<Solver>>;

struct LbfgsRecipe {
  using Options = LbfgsOptions;
  static absl::StatusOr<Options> Read(const v1::CreateSessionRequest& request,
                                      int64_t, uint32_t) {
    return LbfgsOptionsFromProto(request.lbfgs());
  }
  // A box makes the session L-BFGS-B, whose slices hold the box and the
  // Cauchy and subspace work vectors too.
  static void Slice(const Options& options, const Bounds& bounds,
                    v1::CreateSliceRequest* slice) {
    slice->set_kind(bounds.any() ? v1::SLICE_KIND_LBFGSB
                                 : v1::SLICE_KIND_LBFGS);
    slice->set_memory(options.memory);
  }
  // L-BFGS-B's vector operations go to the slices as L-BFGS's do
  // (remote_lbfgsb_vectors.h); the box is sent to them here.
  static SolverOr Sharded(const Options& options, const ConstVectorView& x0,
                          const Bounds& bounds,
                          std::shared_ptr<ShardGroup> shards) {
    if (bounds.any()) {
      OPTD_ASSIGN_OR_RETURN(std::unique_ptr<RemoteLbfgsbVectors> vectors,
                            RemoteLbfgsbVectors::Create(
                                std::move(shards), options.memory, bounds));
      return LbfgsB::Create(options, x0, bounds, std::move(vectors));
    }
    return Lbfgs::Create(options, x0,
                         std::make_unique<RemoteLbfgsVectors>(std::move(shards),
                                                              options.memory));
  }
  // L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995), one slice on this replica.
  static SolverOr Bounded(const Options& options, const ConstVectorView& x0,
                          const Bounds& bounds) {
    return LbfgsB::Create(options, x0, bounds);
  }
  static SolverOr Plain(const Options& options, const ConstVectorView& x0) {
    return Lbfgs::Create(options, x0);
  }
};

struct FirstOrderRecipe {
  using Options = AdamOptions;
  static absl::StatusOr<Options> Read(const v1::CreateSessionRequest& request,
                                      int64_t n, uint32_t) {
    std::string name;
    const google::protobuf::Message& proto = FirstOrderField(request, &name);
    OPTD_ASSIGN_OR_RETURN(Options options,
                          FirstOrderOptionsFromProto(proto, name));
    // Before any slice is made: the groups must tile [0, n).
    OPTD_RETURN_IF_ERROR(options.ValidateGroups(n));
    return options;
  }
  static void Slice(const Options& options, const Bounds&,
                    v1::CreateSliceRequest* slice) {
    const AdamSlots slots = AdamSlots::For(options.hyper);
    slice->set_kind(v1::SLICE_KIND_ADAM);
    slice->set_amsgrad(options.hyper.amsgrad);
    slice->set_slots(slots.mask);
    slice->set_slot0_init(slots.s0_init);
    slice->set_float32(options.dtype == ScalarType::kFloat32);
  }
  // Every slice projects onto its range of the box (AdamVectors::SetBounds).
  static SolverOr Sharded(const Options& options, const ConstVectorView& x0,
                          const Bounds& bounds,
                          std::shared_ptr<ShardGroup> shards) {
    return Adam::Create(
        options, x0, bounds,
        std::make_unique<RemoteAdamVectors>(std::move(shards), options.dtype,
                                            AdamSlots::For(options.hyper)));
  }
  static SolverOr Bounded(const Options& options, const ConstVectorView& x0,
                          const Bounds& bounds) {
    return Adam::Create(options, x0, bounds);
  }
  static SolverOr Plain(const Options& options, const ConstVectorView& x0) {
    return Adam::Create(options, x0);
  }
};

struct AdafactorRecipe {
  using Options = AdafactorOptions;
  static absl::StatusOr<Options> Read(const v1::CreateSessionRequest& request,
                                      int64_t n, uint32_t) {
    OPTD_ASSIGN_OR_RETURN(
        Options options,
        AdafactorOptionsFromProto(request.adafactor(), request.layers()));
    OPTD_RETURN_IF_ERROR(options.ValidateLayers(n));
    return options;
  }
  // Each slice holds its range of x, m and the vector layers' v; the layers
  // say where the matrices are (remote_vectors.h RemoteAdafactorVectors).
  static void Slice(const Options& options, const Bounds&,
                    v1::CreateSliceRequest* slice) {
    slice->set_kind(v1::SLICE_KIND_ADAFACTOR);
    slice->set_float32(options.dtype == ScalarType::kFloat32);
    slice->set_first_moment(options.beta1.has_value());
    for (const AdafactorLayer& layer : options.layers) {
      slice->add_layer_rows(layer.rows);
      slice->add_layer_cols(layer.cols);
    }
  }
  static SolverOr Sharded(const Options& options, const ConstVectorView& x0,
                          const Bounds&, std::shared_ptr<ShardGroup> shards) {
    OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Adafactor> solver,
                          Adafactor::Create(options, x0,
                                            NewRemoteAdafactorVectors(
                                                std::move(shards), options)));
    return std::unique_ptr<Solver>(std::move(solver));
  }
  static SolverOr Bounded(const Options&, const ConstVectorView&,
                          const Bounds&) {
    return absl::InternalError("adafactor sessions have no bounds");
  }
  static SolverOr Plain(const Options& options, const ConstVectorView& x0) {
    OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Adafactor> solver,
                          Adafactor::Create(options, x0));
    return std::unique_ptr<Solver>(std::move(solver));
  }
};

struct TrustRegionRecipe {
  using Options = TrustRegionOptions;
  static absl::StatusOr<Options> Read(const v1::CreateSessionRequest& request,
                                      int64_t n, uint32_t solver_revision) {
    OPTD_ASSIGN_OR_RETURN(TrustRegionOptions options,
                          TrustRegionOptionsFromProto(request.trust_region()));
    // Resolve scipy's "200 n" here, so Session.options shows the number.
    if (options.max_iterations == 0) options.max_iterations = 200 * n;
    ApplyRevisionShims(solver_revision, &options);
    return options;
  }
  static void Slice(const Options& options, const Bounds&,
                    v1::CreateSliceRequest* slice) {
    slice->set_kind(v1::SLICE_KIND_TRUST_REGION);
    slice->set_memory(options.slice_memory());
    slice->set_cg_vectors(options.slice_cg_vectors());
  }
  // The box operations are slice reductions (TrustRegionVectors).
  static SolverOr Sharded(const Options& options, const ConstVectorView& x0,
                          const Bounds& bounds,
                          std::shared_ptr<ShardGroup> shards) {
    return TrustRegion::Create(options, x0, bounds,
                               std::make_unique<RemoteTrustRegionVectors>(
                                   std::move(shards), options.slice_memory(),
                                   options.slice_cg_vectors()));
  }
  static SolverOr Bounded(const Options& options, const ConstVectorView& x0,
                          const Bounds& bounds) {
    return TrustRegion::Create(options, x0, bounds);
  }
  static SolverOr Plain(const Options& options, const ConstVectorView& x0) {
    return TrustRegion::Create(options, x0);
  }
};

struct LeastSquaresRecipe {
  using Options = LeastSquaresSessionOptions;
  static absl::StatusOr<Options> Read(const v1::CreateSessionRequest& request,
                                      int64_t n, uint32_t) {
    // DecodeSessionLayers has checked the bounds; `bounded` is whether
    // any is finite (scipy's trf_bounds against trf_no_bounds).
    bool bounded = false;
    if (request.has_bounds()) {
      OPTD_ASSIGN_OR_RETURN(
          ConstVectorView lower,
          DecodeVector(request.bounds().lower(), "bounds.lower"));
      OPTD_ASSIGN_OR_RETURN(
          ConstVectorView upper,
          DecodeVector(request.bounds().upper(), "bounds.upper"));
      OPTD_ASSIGN_OR_RETURN(Bounds bounds, Bounds::Create(lower, upper, n));
      bounded = bounds.any();
    }
    OPTD_ASSIGN_OR_RETURN(
        Options options,
        LeastSquaresOptionsFromProto(request.least_squares(), n, bounded));
    // Finite-difference Jacobians: lmdif counts their residual evaluations
    // in nfev (levenberg_marquardt.h jacobian_nfev); scipy's trf does not
    // (approx_derivative's calls are outside its nfev; njev counts the
    // Jacobians), so TRF's nfev and max_nfev stay the algorithm's.
    if (request.gradient_source() == v1::GRADIENT_SOURCE_FINITE_DIFFERENCE) {
      OPTD_ASSIGN_OR_RETURN(
          JacobianStepRule rule,
          LeastSquaresJacobianRule(request.finite_difference()));
      if (options.use_lsmr) {
        // Its trials want J v and J^T u, which the stencil does not form.
        return InvalidArgument(
            "gradient_source FINITE_DIFFERENCE does not go with "
            "least_squares.tr_solver TR_SOLVER_LSMR "
            "(the session never forms J); tell the products, or use "
            "tr_solver EXACT");
      }
      if (options.use_trf && rule == JacobianStepRule::kMinpackForward) {
        // scipy's trf differences by approx_derivative only.
        return InvalidArgument(
            "finite_difference.scheme is ",
            request.finite_difference().scheme() ==
                    v1::FiniteDifferenceOptions::SCHEME_UNSPECIFIED
                ? "unset (MINPACK_FORWARD, lmdif's rule)"
                : "MINPACK_FORWARD (3)",
            "; least_squares with method TRF (bounds or a robust loss) "
            "differences as scipy's approx_derivative: set "
            "FORWARD (2, jac='2-point') or CENTRAL (1, jac='3-point')");
      }
      if (!options.use_trf) {
        options.lm.jacobian_nfev = JacobianEvaluations(n, rule);
      }
    }
    // Resolve scipy's "100 n" (lmdif: "100 n (n + 1)") here, so
    // Session.options shows the number.
    if (options.lm.max_nfev == 0) {
      options.lm.max_nfev = DefaultMaxNfev(n, options.lm.jacobian_nfev);
    }
    if (options.trf.max_nfev == 0) options.trf.max_nfev = 100 * n;
    return options;
  }
  // CheckSolverLayers refuses shards before these.
  static void Slice(const Options&, const Bounds&, v1::CreateSliceRequest*) {}
  static SolverOr Sharded(const Options&, const ConstVectorView&, const Bounds&,
                          std::shared_ptr<ShardGroup>) {
    return absl::InternalError("least_squares sessions are never sharded");
  }
  static SolverOr Bounded(const Options& options, const ConstVectorView& x0,
                          const Bounds& bounds) {
    // Read refused LM with finite bounds.
    TrustRegionReflectiveOptions trf = options.trf;
    trf.lower = bounds.lower();
    trf.upper = bounds.upper();
    return Make(options, trf, x0);
  }
  static SolverOr Plain(const Options& options, const ConstVectorView& x0) {
    return Make(options, options.trf, x0);
  }
  static SolverOr Make(const Options& options,
                       const TrustRegionReflectiveOptions& trf,
                       const ConstVectorView& x0) {
    TrfLsmrOptions lsmr = options.lsmr;
    lsmr.trf = trf;
    absl::StatusOr<std::unique_ptr<LeastSquaresSolver>> solver =
        options.use_lsmr
            ? LeastSquaresSolver::Create(lsmr, x0, options.residuals)
        : options.use_trf
            ? LeastSquaresSolver::Create(trf, x0, options.residuals)
            : LeastSquaresSolver::Create(options.lm, x0, options.residuals);
    if (!solver.ok()) {
      // The library names its own fields; the client knows the proto's.
      return absl::Status(
          solver.status().code(),
          absl::StrReplaceAll(solver.status().message(),
                              {{"trust_region_reflective", "least_squares"}}));
    }
    return std::unique_ptr<Solver>(*std::move(solver));
  }
};

struct CurvatureRecipe {
  using Options = CurvatureOptions;
  static absl::StatusOr<Options> Read(const v1::CreateSessionRequest& request,
                                      int64_t, uint32_t) {
    return CurvatureOptionsFromProto(request.curvature());
  }
  // Each slice holds its range of x, q, the working vector and the basis
  // (remote_lanczos_vectors.h), and g_0, g_1 for gradient differences.
  static void Slice(const Options& options, const Bounds&,
                    v1::CreateSliceRequest* slice) {
    slice->set_kind(v1::SLICE_KIND_LANCZOS);
    slice->set_lanczos_gradients(options.source ==
                                 ProductSource::kGradientDifference);
  }
  // CheckSolverLayers refuses bounds before these.
  static SolverOr Sharded(const Options& options, const ConstVectorView& x0,
                          const Bounds&, std::shared_ptr<ShardGroup> shards) {
    OPTD_ASSIGN_OR_RETURN(
        std::unique_ptr<CurvatureSolver> solver,
        CurvatureSolver::Create(
            options, x0,
            std::make_unique<RemoteLanczosVectors>(std::move(shards))));
    return std::unique_ptr<Solver>(std::move(solver));
  }
  static SolverOr Bounded(const Options&, const ConstVectorView&,
                          const Bounds&) {
    return absl::InternalError("curvature sessions have no bounds");
  }
  static SolverOr Plain(const Options& options, const ConstVectorView& x0) {
    OPTD_ASSIGN_OR_RETURN(std::unique_ptr<CurvatureSolver> solver,
                          CurvatureSolver::Create(options, x0));
    return std::unique_ptr<Solver>(std::move(solver));
  }
};

// The solver `request` selects by `Recipe`: over the slices `make_shards`
// makes, confined to `bounds` when it has any, or plain.
template <typename Recipe>
absl::StatusOr<SolverSetup> Build(const v1::CreateSessionRequest& request,
                                  const ConstVectorView& x0,
                                  const Bounds& bounds, ShardMaker* make_shards,
                                  uint32_t solver_revision) {
  SolverSetup setup;
  OPTD_ASSIGN_OR_RETURN(typename Recipe::Options options,
                        Recipe::Read(request, x0.size(), solver_revision));
  if (make_shards != nullptr) {
    v1::CreateSliceRequest slice;
    Recipe::Slice(options, bounds, &slice);
    // The workers' gradients of a step wait on the slices for its mean.
    if (request.data_parallel().workers() > 1) {
      slice.set_data_parallel_workers(request.data_parallel().workers());
    }
    OPTD_ASSIGN_OR_RETURN(setup.shards, (*make_shards)(slice));
    OPTD_ASSIGN_OR_RETURN(setup.solver,
                          Recipe::Sharded(options, x0, bounds, setup.shards));
  } else if (bounds.any()) {
    OPTD_ASSIGN_OR_RETURN(setup.solver, Recipe::Bounded(options, x0, bounds));
  } else {
    OPTD_ASSIGN_OR_RETURN(setup.solver, Recipe::Plain(options, x0));
  }
  setup.options = options;
  return setup;
}

struct SolverKind {
  v1::CreateSessionRequest::SolverCase solver;
  absl::StatusOr<SolverSetup> (*build)(const v1::CreateSessionRequest& request,
                                       const ConstVectorView& x0,
                                       const Bounds& bounds,
                                       ShardMaker* make_shards,
                                       uint32_t solver_revision);
};

constexpr SolverKind kSolverKinds[] = {
    {v1::CreateSessionRequest::kLbfgs, &Build<LbfgsRecipe>},
    {v1::CreateSessionRequest::kAdam, &Build<FirstOrderRecipe>},
    {v1::CreateSessionRequest::kAdamw, &Build<FirstOrderRecipe>},
    {v1::CreateSessionRequest::kSgd, &Build<FirstOrderRecipe>},
    {v1::CreateSessionRequest::kRmsprop, &Build<FirstOrderRecipe>},
    {v1::CreateSessionRequest::kAdagrad, &Build<FirstOrderRecipe>},
    {v1::CreateSessionRequest::kAdamax, &Build<FirstOrderRecipe>},
    {v1::CreateSessionRequest::kNadam, &Build<FirstOrderRecipe>},
    {v1::CreateSessionRequest::kRadam, &Build<FirstOrderRecipe>},
    {v1::CreateSessionRequest::kLion, &Build<FirstOrderRecipe>},
    {v1::CreateSessionRequest::kAdafactor, &Build<AdafactorRecipe>},
    {v1::CreateSessionRequest::kTrustRegion, &Build<TrustRegionRecipe>},
    {v1::CreateSessionRequest::kLeastSquares, &Build<LeastSquaresRecipe>},
    {v1::CreateSessionRequest::kCurvature, &Build<CurvatureRecipe>},
};

}  // namespace

absl::StatusOr<SolverSetup> CreateSolver(
    const v1::CreateSessionRequest& request, const ConstVectorView& x0,
    ShardMaker* make_shards, uint32_t solver_revision) {
  OPTD_RETURN_IF_ERROR(CheckSolverRevision(solver_revision));
  OPTD_ASSIGN_OR_RETURN(SessionLayers layers,
                        DecodeSessionLayers(request, x0.size()));
  const SolverKind* kind = nullptr;
  for (const SolverKind& row : kSolverKinds) {
    if (row.solver == request.solver_case()) kind = &row;
  }
  if (kind == nullptr) {
    return InvalidArgument(
        "solver is not set; set exactly one of lbfgs, trust_region, adam, "
        "adamw, sgd, rmsprop, adagrad, adamax, nadam, radam, lion, adafactor, "
        "least_squares or curvature");
  }
  OPTD_ASSIGN_OR_RETURN(
      SolverSetup setup,
      kind->build(request, x0, layers.bounds, make_shards, solver_revision));
  // Before any wrapper: the pairs start the solver's own memory.
  OPTD_RETURN_IF_ERROR(ApplyWarmStart(request, setup.solver.get()));
  if (layers.finite_difference && IsLeastSquares(request)) {
    // TRF's box bounds the stencil as approx_derivative's (LM has none).
    OPTD_ASSIGN_OR_RETURN(
        setup.solver, WithFiniteDifferenceJacobian(std::move(setup.solver),
                                                   layers.jacobian_options,
                                                   std::move(layers.bounds)));
  } else if (layers.finite_difference && setup.shards != nullptr) {
    // The stencil on the slices, within each slice's range of the box: the
    // home never holds x or the gradient.
    OPTD_ASSIGN_OR_RETURN(
        setup.solver,
        WithFiniteDifferencesOnSlices(std::move(setup.solver),
                                      layers.finite_difference_options,
                                      std::move(layers.bounds), setup.shards));
  } else if (layers.finite_difference) {
    OPTD_ASSIGN_OR_RETURN(
        setup.solver, WithFiniteDifferences(std::move(setup.solver),
                                            layers.finite_difference_options,
                                            std::move(layers.bounds)));
  } else if (layers.gradient_check) {
    OPTD_ASSIGN_OR_RETURN(setup.solver,
                          WithGradientCheck(std::move(setup.solver),
                                            layers.gradient_check_options));
  } else if (layers.data_parallel_workers > 1 && setup.shards != nullptr) {
    OPTD_ASSIGN_OR_RETURN(
        setup.solver,
        WithDataParallelOnSlices(std::move(setup.solver),
                                 layers.data_parallel_workers, setup.shards));
  } else if (layers.data_parallel_workers > 1) {
    OPTD_ASSIGN_OR_RETURN(setup.solver,
                          WithDataParallel(std::move(setup.solver),
                                           layers.data_parallel_workers));
  }
  return setup;
}

}  // namespace optd::server
