#include "server/session/codecs.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "server/session/adafactor_codec.h"
#include "server/session/curvature_codec.h"
#include "server/session/first_order_codec.h"

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
// Points

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

absl::Status WriteBestGradient(const Solver& solver,
                               v1::VectorEncoding encoding, v1::Vector* out) {
  return WritePoint(solver.dimension(), encoding, out,
                    [&](const MutableVectorView& view) {
                      return solver.ReadBestGradient(view);
                    });
}

absl::Status WriteTrialVector(const Solver& solver, v1::VectorEncoding encoding,
                              v1::Vector* out, int k) {
  // J^T u's u has m elements; every other trial vector n.
  const int64_t size =
      solver.batch_wants(k) == Evaluation::kJacobianTransposeVector
          ? solver.residual_count()
          : solver.dimension();
  return WritePoint(size, encoding, out, [&](const MutableVectorView& view) {
    return solver.ReadBatchVector(k, view);
  });
}

absl::Status WriteCurvaturePairs(const Solver& solver,
                                 v1::CurvaturePairs* out) {
  std::vector<std::vector<double>> s, y;
  OPTD_RETURN_IF_ERROR(solver.ReadCurvaturePairs(&s, &y));
  for (const auto* vectors : {&s, &y}) {
    for (const std::vector<double>& v : *vectors) {
      v1::Vector* to = vectors == &s ? out->add_s() : out->add_y();
      std::string* bytes = to->mutable_f64();
      bytes->resize(v.size() * sizeof(double));
      // f64 bytes are little-endian doubles, as the host's (vectors.cc).
      std::memcpy(bytes->data(), v.data(), bytes->size());
    }
  }
  return absl::OkStatus();
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
  return FirstOrderOptionsFromProto(proto, adamw ? "adamw" : "adam");
}

v1::AdamOptions AdamOptionsToProto(const AdamOptions& options) {
  v1::AdamOptions proto;
  FirstOrderOptionsToProto(options, &proto);
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

std::optional<RobustLoss> LossFromProto(v1::LeastSquaresOptions::Loss loss) {
  switch (loss) {
    case v1::LeastSquaresOptions::LOSS_UNSPECIFIED:
    case v1::LeastSquaresOptions::LOSS_LINEAR:
      return RobustLoss::kLinear;
    case v1::LeastSquaresOptions::LOSS_SOFT_L1:
      return RobustLoss::kSoftL1;
    case v1::LeastSquaresOptions::LOSS_HUBER:
      return RobustLoss::kHuber;
    case v1::LeastSquaresOptions::LOSS_CAUCHY:
      return RobustLoss::kCauchy;
    case v1::LeastSquaresOptions::LOSS_ARCTAN:
      return RobustLoss::kArctan;
    default:
      return std::nullopt;
  }
}

v1::LeastSquaresOptions::Loss LossToProto(RobustLoss loss) {
  switch (loss) {
    case RobustLoss::kSoftL1:
      return v1::LeastSquaresOptions::LOSS_SOFT_L1;
    case RobustLoss::kHuber:
      return v1::LeastSquaresOptions::LOSS_HUBER;
    case RobustLoss::kCauchy:
      return v1::LeastSquaresOptions::LOSS_CAUCHY;
    case RobustLoss::kArctan:
      return v1::LeastSquaresOptions::LOSS_ARCTAN;
    default:
      return v1::LeastSquaresOptions::LOSS_LINEAR;
  }
}

// tr_solver and its options, after the method is known (options->use_trf):
// scipy refuses tr_solver='lsmr' with method='lm' (which "works only with
// dense Jacobian matrices"); the lsmr options need LSMR.
absl::Status ReadTrSolver(const v1::LeastSquaresOptions& proto,
                          LeastSquaresSessionOptions* options) {
  switch (proto.tr_solver()) {
    case v1::LeastSquaresOptions::TR_SOLVER_UNSPECIFIED:
    case v1::LeastSquaresOptions::TR_SOLVER_EXACT:
      break;
    case v1::LeastSquaresOptions::TR_SOLVER_LSMR:
      if (proto.method() == v1::LeastSquaresOptions::METHOD_LM) {
        return InvalidArgument(
            "least_squares.tr_solver is TR_SOLVER_LSMR, which method LM does "
            "not serve (scipy: method='lm' works only with dense Jacobian "
            "matrices); use method TRF or leave method unset");
      }
      options->use_trf = true;
      options->use_lsmr = true;
      break;
    default:
      return InvalidArgument(
          absl::StrCat("least_squares.tr_solver is ", proto.tr_solver(),
                       "; it is UNSPECIFIED (0), EXACT (1) or LSMR (2)"));
  }
  const char* set = proto.has_lsmr_tol()       ? "lsmr_tol"
                    : proto.has_lsmr_maxiter() ? "lsmr_maxiter"
                    : proto.has_regularize()   ? "regularize"
                                               : nullptr;
  if (set != nullptr && !options->use_lsmr) {
    return InvalidArgument(
        absl::StrCat("least_squares.", set,
                     " applies to tr_solver TR_SOLVER_LSMR only; set "
                     "tr_solver or leave it unset"));
  }
  if (proto.has_lsmr_tol()) options->lsmr.lsmr_tol = proto.lsmr_tol();
  if (proto.has_lsmr_maxiter()) {
    options->lsmr.lsmr_maxiter = proto.lsmr_maxiter();
  }
  if (proto.has_regularize()) options->lsmr.regularize = proto.regularize();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LeastSquaresSessionOptions> LeastSquaresOptionsFromProto(
    const v1::LeastSquaresOptions& proto, int64_t n, bool bounded) {
  LeastSquaresSessionOptions options;  // scipy defaults, as the proto says
  const std::optional<RobustLoss> loss = LossFromProto(proto.loss());
  if (!loss.has_value()) {
    return InvalidArgument(absl::StrCat("least_squares.loss is ", proto.loss(),
                                        "; it is LINEAR (1), SOFT_L1 (2), "
                                        "HUBER (3), CAUCHY (4) or ARCTAN (5)"));
  }
  switch (proto.method()) {
    case v1::LeastSquaresOptions::METHOD_UNSPECIFIED:
      options.use_trf = bounded || *loss != RobustLoss::kLinear;
      break;
    case v1::LeastSquaresOptions::METHOD_LM:
      // scipy's least_squares refuses both for method='lm'.
      if (*loss != RobustLoss::kLinear) {
        return InvalidArgument(absl::StrCat(
            "least_squares.loss is ",
            v1::LeastSquaresOptions::Loss_Name(proto.loss()),
            "; method LM supports only the linear loss (scipy: method='lm' "
            "supports only 'linear' loss function); use method TRF"));
      }
      if (bounded) {
        return InvalidArgument(
            "bounds are not supported by least_squares method LM (scipy: "
            "Method 'lm' doesn't support bounds); use method TRF or leave "
            "bounds unset");
      }
      break;
    case v1::LeastSquaresOptions::METHOD_TRF:
      options.use_trf = true;
      break;
    default:
      return InvalidArgument(
          absl::StrCat("least_squares.method is ", proto.method(),
                       "; it is UNSPECIFIED (0), LM (1) or TRF (2)"));
  }
  OPTD_RETURN_IF_ERROR(ReadTrSolver(proto, &options));
  // m >= n for lmder; m*n bounds the Jacobian of one tell (512 MiB in f64,
  // within the 1 GiB message limit).
  constexpr int64_t kMaxResiduals = int64_t{1} << 24;
  constexpr int64_t kMaxJacobian = int64_t{1} << 26;
  const int64_t m = proto.residuals();
  const int64_t min_m = options.use_trf ? 1 : n;
  // tr_solver LSMR never forms J: only m and n themselves are bounded.
  if (m < min_m || m > kMaxResiduals ||
      (!options.use_lsmr && m * n > kMaxJacobian)) {
    return InvalidArgument(absl::StrCat(
        "least_squares.residuals is ", m, "; it must be in [",
        options.use_trf ? "1" : "n", ", 2^24] = [", min_m, ", ", kMaxResiduals,
        "]", options.use_lsmr ? "" : " with m*n <= 2^26 = ",
        options.use_lsmr ? "" : absl::StrCat(kMaxJacobian),
        options.use_trf ? ""
                        : " (Levenberg-Marquardt needs at least as many "
                          "residuals as variables)"));
  }
  options.residuals = static_cast<int>(m);
  if (options.use_trf) {
    if (proto.has_factor()) {
      return InvalidArgument(
          "least_squares.factor applies to method LM only; TRF starts from "
          "the radius |x0 / x_scale| (or 1): leave factor unset");
    }
    TrustRegionReflectiveOptions& trf = options.trf;
    if (proto.has_ftol()) trf.ftol = proto.ftol();
    if (proto.has_xtol()) trf.xtol = proto.xtol();
    if (proto.has_gtol()) trf.gtol = proto.gtol();
    trf.max_nfev = proto.max_nfev();
    trf.x_scale.assign(proto.x_scale().begin(), proto.x_scale().end());
    trf.x_scale_jac = proto.x_scale_jac();
    trf.loss = *loss;
    if (proto.has_f_scale()) trf.f_scale = proto.f_scale();
    absl::Status valid =
        options.use_lsmr
            ? ValidateTrfLsmrOptions(
                  {trf, options.lsmr.lsmr_tol, options.lsmr.lsmr_maxiter,
                   options.lsmr.regularize},
                  static_cast<int>(n), options.residuals)
            : ValidateTrustRegionReflectiveOptions(trf, static_cast<int>(n),
                                                   options.residuals);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(absl::StrReplaceAll(
          valid.message(), {{"trust_region_reflective", "least_squares"}}));
    }
    return options;
  }
  if (proto.has_f_scale() &&
      (!(proto.f_scale() > 0.0) || std::isinf(proto.f_scale()))) {
    return InvalidArgument(absl::StrCat("least_squares.f_scale is ",
                                        proto.f_scale(),
                                        "; it must be in (0, inf)"));
  }
  LevenbergMarquardtOptions& lm = options.lm;
  if (proto.has_ftol()) lm.ftol = proto.ftol();
  if (proto.has_xtol()) lm.xtol = proto.xtol();
  if (proto.has_gtol()) lm.gtol = proto.gtol();
  lm.max_nfev = proto.max_nfev();
  lm.x_scale.assign(proto.x_scale().begin(), proto.x_scale().end());
  lm.x_scale_jac = proto.x_scale_jac();
  if (proto.has_factor()) lm.factor = proto.factor();
  absl::Status valid = ValidateLevenbergMarquardtOptions(
      lm, static_cast<int>(n), options.residuals);
  if (!valid.ok()) {
    // The library names its own fields; the client knows the proto's.
    return absl::InvalidArgumentError(absl::StrReplaceAll(
        valid.message(), {{"levenberg_marquardt", "least_squares"}}));
  }
  return options;
}

v1::LeastSquaresOptions LeastSquaresOptionsToProto(
    const LeastSquaresSessionOptions& options) {
  v1::LeastSquaresOptions proto;
  proto.set_residuals(options.residuals);
  if (options.use_trf) {
    const TrustRegionReflectiveOptions& trf = options.trf;
    proto.set_method(v1::LeastSquaresOptions::METHOD_TRF);
    proto.set_ftol(trf.ftol);
    proto.set_xtol(trf.xtol);
    proto.set_gtol(trf.gtol);
    proto.set_max_nfev(trf.max_nfev);
    proto.mutable_x_scale()->Add(trf.x_scale.begin(), trf.x_scale.end());
    proto.set_x_scale_jac(trf.x_scale_jac);
    proto.set_loss(LossToProto(trf.loss));
    proto.set_f_scale(trf.f_scale);
    if (options.use_lsmr) {
      proto.set_tr_solver(v1::LeastSquaresOptions::TR_SOLVER_LSMR);
      proto.set_lsmr_tol(options.lsmr.lsmr_tol);
      proto.set_lsmr_maxiter(options.lsmr.lsmr_maxiter);
      proto.set_regularize(options.lsmr.regularize);
    }
    return proto;
  }
  proto.set_method(v1::LeastSquaresOptions::METHOD_LM);
  proto.set_ftol(options.lm.ftol);
  proto.set_xtol(options.lm.xtol);
  proto.set_gtol(options.lm.gtol);
  proto.set_max_nfev(options.lm.max_nfev);
  proto.mutable_x_scale()->Add(options.lm.x_scale.begin(),
                               options.lm.x_scale.end());
  proto.set_x_scale_jac(options.lm.x_scale_jac);
  proto.set_factor(options.lm.factor);
  proto.set_loss(v1::LeastSquaresOptions::LOSS_LINEAR);
  return proto;
}

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
  } else if (const auto* first_order = std::get_if<AdamOptions>(&options)) {
    // Session.options' field for each method is named as the method.
    const google::protobuf::FieldDescriptor* field =
        session->GetDescriptor()->FindFieldByName(first_order->name());
    FirstOrderOptionsToProto(
        *first_order, session->GetReflection()->MutableMessage(session, field));
  } else if (const auto* adafactor = std::get_if<AdafactorOptions>(&options)) {
    *session->mutable_adafactor() = AdafactorOptionsToProto(*adafactor);
    AdafactorLayersToProto(*adafactor, session->mutable_layers());
  } else if (const auto* lsq =
                 std::get_if<LeastSquaresSessionOptions>(&options)) {
    *session->mutable_least_squares() = LeastSquaresOptionsToProto(*lsq);
  } else if (const auto* curvature = std::get_if<CurvatureOptions>(&options)) {
    *session->mutable_curvature() = CurvatureOptionsToProto(*curvature);
  } else {
    *session->mutable_trust_region() =
        TrustRegionOptionsToProto(std::get<TrustRegionOptions>(options));
  }
}

// ---------------------------------------------------------------------------
// Outcomes

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
    case Evaluation::kResiduals:
      return v1::EVALUATION_RESIDUALS;
    case Evaluation::kJacobian:
      return v1::EVALUATION_JACOBIAN;
    case Evaluation::kResidualsAndJacobian:
      return v1::EVALUATION_RESIDUALS_AND_JACOBIAN;
    case Evaluation::kJacobianVector:
      return v1::EVALUATION_JACOBIAN_VECTOR;
    case Evaluation::kJacobianTransposeVector:
      return v1::EVALUATION_JACOBIAN_TRANSPOSE_VECTOR;
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

namespace {

// Summary.least_squares: its scalars, and its vectors in `encoding` unless
// that is UNSPECIFIED.
absl::Status WriteLeastSquaresResult(const LeastSquaresSummary& s,
                                     v1::VectorEncoding encoding,
                                     v1::Summary* out) {
  v1::LeastSquaresResult* result = out->mutable_least_squares();
  result->Clear();
  result->set_cost(s.cost);
  result->set_optimality(s.optimality);
  result->set_nfev(s.nfev);
  result->set_njev(s.njev);
  result->set_status(s.status);
  result->set_success(s.success);
  result->set_jacobian_rank(s.jacobian_rank);
  result->mutable_active_mask()->Add(s.active_mask.begin(),
                                     s.active_mask.end());
  result->set_method(s.method);
  result->set_jacobian_vector_products(s.jacobian_vector_products);
  result->set_jacobian_transpose_vector_products(
      s.jacobian_transpose_vector_products);
  result->set_lsmr_iterations(s.lsmr_iterations);
  if (encoding == v1::VECTOR_ENCODING_UNSPECIFIED) return absl::OkStatus();
  // Eigen is column-major; the wire's matrices are row-major.
  using RowMajor =
      Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMajor jac = s.jac;
  const RowMajor covariance = s.covariance;
  const std::pair<const double*, int64_t> vectors[] = {
      {s.fun.data(), s.fun.size()},
      {jac.data(), jac.size()},
      {s.grad.data(), s.grad.size()},
      {covariance.data(), covariance.size()}};
  v1::Vector* fields[] = {result->mutable_fun(), result->mutable_jac(),
                          result->mutable_grad(), result->mutable_covariance()};
  for (int i = 0; i < 4; ++i) {
    if (vectors[i].second == 0) {
      fields[i]->Clear();
      continue;
    }
    OPTD_RETURN_IF_ERROR(WritePoint(vectors[i].second, encoding, fields[i],
                                    [&](const MutableVectorView& view) {
                                      view.CopyFrom(0, vectors[i].second,
                                                    vectors[i].first);
                                      return absl::OkStatus();
                                    }));
  }
  return absl::OkStatus();
}

}  // namespace

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
  if (const LeastSquaresSummary* lsq = solver.least_squares_summary()) {
    OPTD_RETURN_IF_ERROR(WriteLeastSquaresResult(*lsq, x_encoding, out));
  } else {
    out->clear_least_squares();
  }
  if (const SpectrumEstimate* curvature = solver.curvature_estimate()) {
    CurvatureResultToProto(*curvature, out->mutable_curvature());
  } else {
    out->clear_curvature();
  }
  if (x_encoding == v1::VECTOR_ENCODING_UNSPECIFIED) {
    out->clear_x();
    return absl::OkStatus();
  }
  return WriteBestPoint(solver, x_encoding, out->mutable_x());
}

}  // namespace optd::server
