#include <cmath>
#include <limits>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/solver_factory.h"
#include "server/testing/rosenbrock.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::F32;
using ::optd::server::testing::F64;
using ::optd::server::testing::ToDoubles;
using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(DecodeVector, ValuesPointIntoTheRequest) {
  const v1::Vector v = Values({1.0, 2.0, 3.0});
  absl::StatusOr<ConstVectorView> view = DecodeVector(v, "x0");
  ASSERT_OK(view);
  EXPECT_EQ(view->size(), 3);
  EXPECT_EQ(view->type(), ScalarType::kFloat64);
  EXPECT_EQ(view->data(), v.values().data());  // no copy
  EXPECT_EQ(view->Get(2), 3.0);
}

TEST(DecodeVector, F64PointsIntoTheRequest) {
  const v1::Vector v = F64({1.0, -2.0});
  absl::StatusOr<ConstVectorView> view = DecodeVector(v, "x0");
  ASSERT_OK(view);
  EXPECT_EQ(view->size(), 2);
  EXPECT_EQ(view->data(), v.f64().data());
  EXPECT_EQ(view->Get(1), -2.0);
}

TEST(DecodeVector, F32PointsIntoTheRequest) {
  const v1::Vector v = F32({0.5, 4.0, -1.0});
  absl::StatusOr<ConstVectorView> view = DecodeVector(v, "gradient");
  ASSERT_OK(view);
  EXPECT_EQ(view->size(), 3);
  EXPECT_EQ(view->type(), ScalarType::kFloat32);
  EXPECT_EQ(view->data(), v.f32().data());
  EXPECT_EQ(view->Get(0), 0.5);
}

TEST(DecodeVector, NoEncodingIsAnEmptyView) {
  absl::StatusOr<ConstVectorView> view = DecodeVector(v1::Vector(), "gradient");
  ASSERT_OK(view);
  EXPECT_EQ(view->size(), 0);
}

TEST(DecodeVector, TwoEncodingsAreRefusedByName) {
  v1::Vector v = Values({1.0});
  v.set_f64(std::string(8, '\0'));
  EXPECT_THAT(
      DecodeVector(v, "gradient"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "gradient sets both values and f64; set exactly one encoding"));
  v1::Vector w = F64({1.0});
  w.set_f32(std::string(4, '\0'));
  EXPECT_THAT(DecodeVector(w, "x0"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "x0 sets both f64 and f32; set exactly one encoding"));
}

TEST(DecodeVector, ThreeEncodingsAreRefused) {
  v1::Vector v = Values({1.0});
  v.set_f64(std::string(8, '\0'));
  v.set_f32(std::string(4, '\0'));
  EXPECT_THAT(
      DecodeVector(v, "gradient"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "gradient sets values, f64 and f32; set exactly one encoding"));
}

TEST(DecodeVector, ByteLengthsMustBeWholeElements) {
  v1::Vector v;
  v.set_f64(std::string(12, '\0'));
  EXPECT_THAT(
      DecodeVector(v, "gradient"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          "gradient.f64 has 12 bytes; float64 data needs a multiple of 8"));
  v1::Vector w;
  w.set_f32(std::string(6, '\0'));
  EXPECT_THAT(
      DecodeVector(w, "x0"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "x0.f32 has 6 bytes; float32 data needs a multiple of 4"));
}

TEST(ValidateEncoding, RefusesUnknownValues) {
  EXPECT_OK(ValidateEncoding(v1::VECTOR_ENCODING_F32, "encoding"));
  EXPECT_THAT(
      ValidateEncoding(static_cast<v1::VectorEncoding>(9), "encoding"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("encoding is 9")));
}

TEST(ResolveEncoding, RequestThenSessionThenValues) {
  EXPECT_EQ(ResolveEncoding(v1::VECTOR_ENCODING_F32, v1::VECTOR_ENCODING_F64),
            v1::VECTOR_ENCODING_F32);
  EXPECT_EQ(
      ResolveEncoding(v1::VECTOR_ENCODING_UNSPECIFIED, v1::VECTOR_ENCODING_F64),
      v1::VECTOR_ENCODING_F64);
  EXPECT_EQ(ResolveEncoding(v1::VECTOR_ENCODING_UNSPECIFIED,
                            v1::VECTOR_ENCODING_UNSPECIFIED),
            v1::VECTOR_ENCODING_VALUES);
}

TEST(WriteTrialPoint, EachEncodingCarriesThePoint) {
  const std::vector<double> x0 = {-1.2, 1.0, 1.0 / 3.0};
  absl::StatusOr<std::unique_ptr<Lbfgs>> solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(solver);
  v1::Vector values, f64, f32;
  ASSERT_OK(WriteTrialPoint(**solver, v1::VECTOR_ENCODING_VALUES, &values));
  ASSERT_OK(WriteTrialPoint(**solver, v1::VECTOR_ENCODING_F64, &f64));
  ASSERT_OK(WriteTrialPoint(**solver, v1::VECTOR_ENCODING_F32, &f32));
  EXPECT_THAT(values.values(), ElementsAre(-1.2, 1.0, 1.0 / 3.0));
  EXPECT_TRUE(values.f64().empty() && values.f32().empty());
  EXPECT_EQ(f64.values_size(), 0);
  EXPECT_EQ(ToDoubles(f64), x0);
  EXPECT_EQ(f32.f32().size(), 12u);
  EXPECT_THAT(ToDoubles(f32), ElementsAre(static_cast<float>(-1.2), 1.0f,
                                          static_cast<float>(1.0 / 3.0)));
}

TEST(WriteTrialPoint, ReplacesAnEarlierEncoding) {
  const std::vector<double> x0 = {2.0, 3.0};
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  v1::Vector v = Values({9, 9, 9, 9});
  ASSERT_OK(WriteTrialPoint(**solver, v1::VECTOR_ENCODING_F64, &v));
  EXPECT_EQ(v.values_size(), 0);
  EXPECT_EQ(ToDoubles(v), x0);
}

TEST(LbfgsOptionsFromProto, UnsetFieldsTakeScipyDefaults) {
  absl::StatusOr<LbfgsOptions> options =
      LbfgsOptionsFromProto(v1::LbfgsOptions());
  ASSERT_OK(options);
  EXPECT_EQ(options->memory, 10);
  EXPECT_EQ(options->ftol, 2.220446049250313e-09);
  EXPECT_EQ(options->gtol, 1e-5);
  EXPECT_EQ(options->max_iterations, 15000);
  EXPECT_EQ(options->max_evaluations, 15000);
  EXPECT_EQ(options->max_line_search, 20);
  EXPECT_EQ(options->line_search.ftol, 1e-3);
  EXPECT_EQ(options->line_search.gtol, 0.9);
  EXPECT_EQ(options->line_search.xtol, 0.1);
  EXPECT_EQ(options->line_search.stpmax, 1e10);
}

TEST(LbfgsOptionsFromProto, SetFieldsAreTakenAndEchoed) {
  v1::LbfgsOptions proto;
  proto.set_memory(5);
  proto.set_ftol(1e-12);
  proto.set_gtol(1e-8);
  proto.set_max_iterations(100);
  proto.set_max_evaluations(200);
  proto.set_max_line_search(30);
  proto.set_line_search_ftol(1e-4);
  proto.set_line_search_gtol(0.5);
  proto.set_line_search_xtol(0.2);
  proto.set_max_step(100);
  absl::StatusOr<LbfgsOptions> options = LbfgsOptionsFromProto(proto);
  ASSERT_OK(options);
  const v1::LbfgsOptions echoed = LbfgsOptionsToProto(*options);
  EXPECT_EQ(echoed.SerializeAsString(), proto.SerializeAsString());
}

TEST(LbfgsOptionsFromProto, OutOfRangeNamesTheField) {
  v1::LbfgsOptions proto;
  proto.set_memory(0);
  EXPECT_THAT(LbfgsOptionsFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lbfgs.memory is 0")));
  v1::LbfgsOptions gtol;
  gtol.set_line_search_gtol(1e-4);
  EXPECT_THAT(LbfgsOptionsFromProto(gtol),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lbfgs.line_search_gtol")));
}

TEST(LbfgsOptionsToProto, EchoesEveryDefault) {
  const v1::LbfgsOptions proto = LbfgsOptionsToProto(LbfgsOptions());
  EXPECT_TRUE(proto.has_memory() && proto.has_ftol() && proto.has_gtol() &&
              proto.has_max_iterations() && proto.has_max_evaluations() &&
              proto.has_max_line_search() && proto.has_line_search_ftol() &&
              proto.has_line_search_gtol() && proto.has_line_search_xtol() &&
              proto.has_max_step());
  EXPECT_EQ(proto.max_step(), 1e10);
}

TEST(AdamOptionsFromProto, TorchDefaults) {
  absl::StatusOr<AdamOptions> adam =
      AdamOptionsFromProto(v1::AdamOptions(), false);
  ASSERT_OK(adam);
  EXPECT_EQ(adam->lr, 1e-3);
  EXPECT_EQ(adam->hyper.beta1, 0.9);
  EXPECT_EQ(adam->hyper.beta2, 0.999);
  EXPECT_EQ(adam->hyper.eps, 1e-8);
  EXPECT_EQ(adam->hyper.weight_decay, 0.0);
  EXPECT_FALSE(adam->hyper.decoupled_weight_decay);
  EXPECT_FALSE(adam->hyper.amsgrad);
  EXPECT_EQ(adam->max_grad_norm, 0.0);
  EXPECT_EQ(adam->schedule.warmup_steps, 0);
  EXPECT_EQ(adam->schedule.warmup_start_factor, 1.0 / 3.0);
  EXPECT_EQ(adam->schedule.decay, LrScheduleOptions::Decay::kConstant);
  EXPECT_EQ(adam->dtype, ScalarType::kFloat64);
  EXPECT_EQ(adam->max_steps, 0);

  absl::StatusOr<AdamOptions> adamw =
      AdamOptionsFromProto(v1::AdamOptions(), true);
  ASSERT_OK(adamw);
  EXPECT_EQ(adamw->hyper.weight_decay, 1e-2);
  EXPECT_TRUE(adamw->hyper.decoupled_weight_decay);
}

TEST(AdamOptionsFromProto, SetFieldsAreTakenAndEchoed) {
  v1::AdamOptions proto;
  proto.set_lr(3e-4);
  proto.set_beta1(0.8);
  proto.set_beta2(0.99);
  proto.set_eps(1e-6);
  proto.set_weight_decay(0.1);
  proto.set_amsgrad(true);
  proto.set_max_grad_norm(1.0);
  proto.mutable_schedule()->set_warmup_steps(10);
  proto.mutable_schedule()->set_warmup_start_factor(0.5);
  proto.mutable_schedule()->set_decay(v1::LrSchedule::DECAY_COSINE);
  proto.mutable_schedule()->set_decay_steps(90);
  proto.mutable_schedule()->set_min_lr(1e-5);
  proto.set_dtype(v1::STATE_DTYPE_FLOAT32);
  proto.set_max_steps(100);
  absl::StatusOr<AdamOptions> options = AdamOptionsFromProto(proto, true);
  ASSERT_OK(options);
  EXPECT_EQ(options->dtype, ScalarType::kFloat32);
  EXPECT_EQ(options->schedule.decay, LrScheduleOptions::Decay::kCosine);
  EXPECT_EQ(AdamOptionsToProto(*options).SerializeAsString(),
            proto.SerializeAsString());
}

TEST(AdamOptionsFromProto, ExplicitZeroClippingIsRefused) {
  v1::AdamOptions proto;
  proto.set_max_grad_norm(0);
  EXPECT_THAT(AdamOptionsFromProto(proto, false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adam.max_grad_norm is 0")));
}

TEST(AdamOptionsFromProto, OutOfRangeNamesTheField) {
  v1::AdamOptions lr;
  lr.set_lr(-1);
  EXPECT_THAT(
      AdamOptionsFromProto(lr, true),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("adamw.lr")));
  v1::AdamOptions beta;
  beta.set_beta1(1.0);
  EXPECT_THAT(AdamOptionsFromProto(beta, false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("adam.")));
  v1::AdamOptions dtype;
  dtype.set_dtype(static_cast<v1::StateDtype>(7));
  EXPECT_THAT(AdamOptionsFromProto(dtype, false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adam.dtype is 7")));
  v1::AdamOptions decay;
  decay.mutable_schedule()->set_decay(static_cast<v1::LrSchedule::Decay>(5));
  EXPECT_THAT(AdamOptionsFromProto(decay, false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adam.schedule.decay is 5")));
  v1::AdamOptions cosine;
  cosine.mutable_schedule()->set_decay(v1::LrSchedule::DECAY_COSINE);
  EXPECT_THAT(AdamOptionsFromProto(cosine, false),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adam.schedule.decay_steps")));
}

TEST(TrustRegionOptionsFromProto, ScipyDefaultsAndEcho) {
  absl::StatusOr<TrustRegionOptions> options =
      TrustRegionOptionsFromProto(v1::TrustRegionOptions());
  ASSERT_OK(options);
  EXPECT_EQ(options->subproblem, TrustRegionSubproblem::kQuasiNewton);
  EXPECT_EQ(options->quasi_newton_update, QuasiNewtonUpdate::kLsr1);
  EXPECT_EQ(options->memory, 10);
  EXPECT_EQ(options->initial_radius, 1.0);
  EXPECT_EQ(options->max_radius, 1000.0);
  EXPECT_EQ(options->eta, 0.15);
  EXPECT_EQ(options->gtol, 1e-4);
  EXPECT_EQ(options->max_iterations, 0);  // 200 n, resolved by CreateSolver
  EXPECT_EQ(options->max_evaluations, 0);
  EXPECT_EQ(options->ftol, 2.220446049250313e-09);
  EXPECT_EQ(options->ftol_steps, 20);

  v1::TrustRegionOptions proto;
  proto.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD);
  proto.set_quasi_newton_update(
      v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS);
  proto.set_memory(5);
  proto.set_initial_radius(0.5);
  proto.set_max_radius(10);
  proto.set_eta(0.1);
  proto.set_gtol(1e-6);
  proto.set_max_iterations(50);
  proto.set_max_evaluations(100);
  proto.set_ftol(0);
  proto.set_ftol_steps(3);
  absl::StatusOr<TrustRegionOptions> set = TrustRegionOptionsFromProto(proto);
  ASSERT_OK(set);
  EXPECT_EQ(TrustRegionOptionsToProto(*set).SerializeAsString(),
            proto.SerializeAsString());
}

TEST(TrustRegionOptionsFromProto, OutOfRangeNamesTheField) {
  v1::TrustRegionOptions subproblem;
  subproblem.set_subproblem(static_cast<v1::TrustRegionOptions::Subproblem>(9));
  EXPECT_THAT(TrustRegionOptionsFromProto(subproblem),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust_region.subproblem is 9")));
  v1::TrustRegionOptions update;
  update.set_quasi_newton_update(
      static_cast<v1::TrustRegionOptions::QuasiNewtonUpdate>(4));
  EXPECT_THAT(TrustRegionOptionsFromProto(update),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust_region.quasi_newton_update is 4")));
  v1::TrustRegionOptions iterations;
  iterations.set_max_iterations(0);
  EXPECT_THAT(TrustRegionOptionsFromProto(iterations),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust_region.max_iterations is 0")));
  v1::TrustRegionOptions eta;
  eta.set_eta(0.5);
  EXPECT_THAT(TrustRegionOptionsFromProto(eta),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust_region.eta")));
  v1::TrustRegionOptions ftol;
  ftol.set_ftol(1.0);
  EXPECT_THAT(TrustRegionOptionsFromProto(ftol),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "trust_region.ftol is 1; it must be in [0, 1)"));
  v1::TrustRegionOptions steps;
  steps.set_ftol_steps(0);
  EXPECT_THAT(
      TrustRegionOptionsFromProto(steps),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "trust_region.ftol_steps is 0; it must be in [1, 2^31)"));
}

TEST(LeastSquaresOptionsFromProto, ScipyDefaultsAndEcho) {
  v1::LeastSquaresOptions proto;
  proto.set_residuals(5);
  absl::StatusOr<LeastSquaresSessionOptions> options =
      LeastSquaresOptionsFromProto(proto, 3);
  ASSERT_OK(options);
  EXPECT_EQ(options->residuals, 5);
  EXPECT_EQ(options->lm.ftol, 1e-8);
  EXPECT_EQ(options->lm.xtol, 1e-8);
  EXPECT_EQ(options->lm.gtol, 1e-8);
  EXPECT_EQ(options->lm.max_nfev, 0);
  EXPECT_EQ(options->lm.factor, 100.0);
  EXPECT_TRUE(options->lm.x_scale.empty());
  const v1::LeastSquaresOptions echo = LeastSquaresOptionsToProto(*options);
  EXPECT_EQ(echo.residuals(), 5);
  EXPECT_EQ(echo.ftol(), 1e-8);
  EXPECT_EQ(echo.factor(), 100.0);
  EXPECT_FALSE(echo.x_scale_jac());
}

TEST(LeastSquaresOptionsFromProto, OutOfRangeNamesTheField) {
  v1::LeastSquaresOptions proto;
  EXPECT_THAT(LeastSquaresOptionsFromProto(proto, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares.residuals is 0; it must be in "
                                 "[n, 2^24] = [2, 16777216]")));
  proto.set_residuals(1 << 20);
  EXPECT_THAT(
      LeastSquaresOptionsFromProto(proto, 100),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("m*n <= 2^26")));
  proto.set_residuals(3);
  proto.set_gtol(0.0);
  EXPECT_THAT(LeastSquaresOptionsFromProto(proto, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares.gtol is 0")));
  proto.clear_gtol();
  proto.add_x_scale(1.0);
  EXPECT_THAT(LeastSquaresOptionsFromProto(proto, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares.x_scale has 1 entries")));
}

TEST(LeastSquaresOptionsFromProto, MethodFollowsBoundsAndLoss) {
  v1::LeastSquaresOptions proto;
  proto.set_residuals(3);
  absl::StatusOr<LeastSquaresSessionOptions> plain =
      LeastSquaresOptionsFromProto(proto, 2);
  ASSERT_OK(plain);
  EXPECT_FALSE(plain->use_trf);
  EXPECT_EQ(LeastSquaresOptionsToProto(*plain).method(),
            v1::LeastSquaresOptions::METHOD_LM);
  absl::StatusOr<LeastSquaresSessionOptions> bounded =
      LeastSquaresOptionsFromProto(proto, 2, /*bounded=*/true);
  ASSERT_OK(bounded);
  EXPECT_TRUE(bounded->use_trf);
  proto.set_loss(v1::LeastSquaresOptions::LOSS_ARCTAN);
  proto.set_f_scale(0.25);
  proto.set_residuals(1);  // trf takes m < n
  absl::StatusOr<LeastSquaresSessionOptions> lossy =
      LeastSquaresOptionsFromProto(proto, 2);
  ASSERT_OK(lossy);
  EXPECT_TRUE(lossy->use_trf);
  EXPECT_EQ(lossy->trf.loss, RobustLoss::kArctan);
  EXPECT_EQ(lossy->trf.f_scale, 0.25);
  const v1::LeastSquaresOptions echo = LeastSquaresOptionsToProto(*lossy);
  EXPECT_EQ(echo.method(), v1::LeastSquaresOptions::METHOD_TRF);
  EXPECT_EQ(echo.loss(), v1::LeastSquaresOptions::LOSS_ARCTAN);
  EXPECT_EQ(echo.f_scale(), 0.25);
  EXPECT_FALSE(echo.has_factor());
}

TEST(LeastSquaresOptionsFromProto, LmRefusesBoundsAndLossesAsScipy) {
  v1::LeastSquaresOptions proto;
  proto.set_residuals(3);
  proto.set_method(v1::LeastSquaresOptions::METHOD_LM);
  EXPECT_THAT(LeastSquaresOptionsFromProto(proto, 2, /*bounded=*/true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "bounds are not supported by least_squares method LM "
                       "(scipy: Method 'lm' doesn't support bounds); use "
                       "method TRF or leave bounds unset"));
  proto.set_loss(v1::LeastSquaresOptions::LOSS_CAUCHY);
  EXPECT_THAT(LeastSquaresOptionsFromProto(proto, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.loss is LOSS_CAUCHY; method LM supports "
                       "only the linear loss (scipy: method='lm' supports "
                       "only 'linear' loss function); use method TRF"));
  proto.set_loss(v1::LeastSquaresOptions::LOSS_LINEAR);
  proto.set_f_scale(std::numeric_limits<double>::infinity());
  EXPECT_THAT(LeastSquaresOptionsFromProto(proto, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.f_scale is inf; it must be in (0, inf)"));
  v1::LeastSquaresOptions trf;
  trf.set_residuals(1);
  trf.set_method(v1::LeastSquaresOptions::METHOD_TRF);
  trf.set_residuals(0);
  EXPECT_THAT(LeastSquaresOptionsFromProto(trf, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.residuals is 0; it must be in [1, 2^24] "
                       "= [1, 16777216] with m*n <= 2^26 = 67108864"));
  trf.set_residuals(3);
  trf.set_factor(100.0);
  EXPECT_THAT(LeastSquaresOptionsFromProto(trf, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares.factor applies to method LM "
                                 "only")));
  trf.clear_factor();
  trf.set_xtol(-1.0);
  EXPECT_THAT(LeastSquaresOptionsFromProto(trf, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.xtol is -1; it must be in [0, inf)"));
}

TEST(CreateSolver, LeastSquaresWithBoundsRunsTrf) {
  std::vector<double> x0 = {1.0, 2.0};
  v1::CreateSessionRequest request;
  request.mutable_least_squares()->set_residuals(3);
  const std::vector<double> lower = {0.0, 0.0};
  const std::vector<double> upper = {1.5, 3.0};
  request.mutable_bounds()->mutable_lower()->mutable_values()->Add(
      lower.begin(), lower.end());
  request.mutable_bounds()->mutable_upper()->mutable_values()->Add(
      upper.begin(), upper.end());
  absl::StatusOr<SolverSetup> setup =
      CreateSolver(request, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(setup);
  EXPECT_THAT(setup->solver->OptionsReport(),
              HasSubstr("method=trf ftol=1e-08 xtol=1e-08 gtol=1e-08 "
                        "max_nfev=200 x_scale=1 loss=linear f_scale=1 "
                        "bounds=[0,0]..[1.5,3]"));
  EXPECT_TRUE(std::get<LeastSquaresSessionOptions>(setup->options).use_trf);
  std::vector<double> outside = {2.0, 2.0};
  EXPECT_THAT(
      CreateSolver(request, ConstVectorView::Float64(outside.data(), 2)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "least_squares: x0[0] = 2 is outside the bounds [0, "
               "1.5] (scipy: `x0` is infeasible)"));
}

TEST(CreateSolver, LeastSquaresTakesNoLayers) {
  std::vector<double> x0 = {1.0, 2.0};
  v1::CreateSessionRequest request;
  request.mutable_least_squares()->set_residuals(3);
  absl::StatusOr<SolverSetup> setup =
      CreateSolver(request, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(setup);
  EXPECT_EQ(setup->solver->name(), "least_squares");
  EXPECT_EQ(setup->solver->residual_count(), 3);
  EXPECT_EQ(setup->solver->wants(), Evaluation::kResidualsAndJacobian);
  // max_nfev resolved to scipy's 100 n for Session.options.
  EXPECT_EQ(std::get<LeastSquaresSessionOptions>(setup->options).lm.max_nfev,
            200);
  v1::CreateSessionRequest layered = request;
  layered.mutable_data_parallel()->set_workers(4);
  EXPECT_THAT(CreateSolver(layered, ConstVectorView::Float64(x0.data(), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data_parallel.workers is 4")));
  layered = request;
  layered.mutable_gradient_check();
  EXPECT_THAT(CreateSolver(layered, ConstVectorView::Float64(x0.data(), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient_check is not supported by "
                                 "least_squares")));
  layered = request;
  layered.set_shards(2);
  EXPECT_THAT(CheckSolverLayers(layered),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not sharded (shards = 2)")));
}

TEST(CreateSolver, NeedsExactlyOneSolver) {
  const std::vector<double> x0 = {1.0};
  EXPECT_THAT(
      CreateSolver(v1::CreateSessionRequest(),
                   ConstVectorView::Float64(x0.data(), 1)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "solver is not set; set exactly one of lbfgs, trust_region, "
               "adam, adamw, sgd, rmsprop, adagrad, adamax, nadam, radam, "
               "lion, adafactor, least_squares or curvature"));
}

// CreateSolver at x0 = (1, 2).
absl::StatusOr<SolverSetup> CreateAtOneTwo(
    const v1::CreateSessionRequest& request,
    uint32_t solver_revision = kSolverRevision) {
  static constexpr double kX0[] = {1.0, 2.0};
  return CreateSolver(request, ConstVectorView::Float64(kX0, 2), nullptr,
                      solver_revision);
}

TEST(CreateSolver, PicksTheSolverAndResolvesItsOptions) {
  v1::CreateSessionRequest request;
  request.mutable_lbfgs();
  absl::StatusOr<SolverSetup> lbfgs = CreateAtOneTwo(request);
  ASSERT_OK(lbfgs);
  EXPECT_EQ(lbfgs->solver->name(), "lbfgs");
  request.mutable_adamw();
  absl::StatusOr<SolverSetup> adamw = CreateAtOneTwo(request);
  ASSERT_OK(adamw);
  EXPECT_EQ(adamw->solver->name(), "adamw");
  v1::Session session;
  SetSessionOptions(adamw->options, &session);
  EXPECT_EQ(session.options_case(), v1::Session::kAdamw);
  EXPECT_EQ(session.adamw().weight_decay(), 1e-2);
  SetSessionOptions(lbfgs->options, &session);
  EXPECT_EQ(session.options_case(), v1::Session::kLbfgs);
  EXPECT_EQ(session.lbfgs().memory(), 10);
}

TEST(CreateSolver, OlderSolverRevisionsKeepTheirArithmetic) {
  v1::CreateSessionRequest request;
  request.mutable_trust_region();
  absl::StatusOr<SolverSetup> current = CreateAtOneTwo(request);
  ASSERT_OK(current);
  const auto& now = std::get<TrustRegionOptions>(current->options);
  EXPECT_EQ(now.ftol, TrustRegionOptions().ftol);
  EXPECT_EQ(now.pair_dependence, kPairDependence);
  // Revision 0: the builds before the ftol test and the 1e-12 threshold.
  absl::StatusOr<SolverSetup> legacy =
      CreateAtOneTwo(request, /*solver_revision=*/0);
  ASSERT_OK(legacy);
  const auto& old = std::get<TrustRegionOptions>(legacy->options);
  EXPECT_EQ(old.ftol, 0.0);
  EXPECT_EQ(old.pair_dependence, 1e-8);
  v1::Session session;
  SetSessionOptions(legacy->options, &session);
  EXPECT_EQ(session.trust_region().ftol(), 0.0);
  // The other solvers did not change.
  request.mutable_lbfgs();
  ASSERT_OK(CreateAtOneTwo(request, 0));
  // A revision from a newer build is refused.
  EXPECT_THAT(
      CreateAtOneTwo(request, kSolverRevision + 1),
      StatusIs(absl::StatusCode::kInvalidArgument,
               absl::StrCat("solver_revision is ", kSolverRevision + 1,
                            "; this server has revision ", kSolverRevision,
                            ": replay the session on a server of its "
                            "revision or newer")));
}

TEST(CreateSolver, NonFiniteX0IsRefused) {
  const std::vector<double> x0 = {1.0,
                                  std::numeric_limits<double>::quiet_NaN()};
  v1::CreateSessionRequest request;
  request.mutable_lbfgs();
  EXPECT_THAT(CreateSolver(request, ConstVectorView::Float64(x0.data(), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x0[1]")));
}

TEST(SessionStateFor, MapsEveryReason) {
  EXPECT_EQ(SessionStateFor(TerminationReason::kNone),
            v1::SESSION_STATE_RUNNING);
  EXPECT_EQ(SessionStateFor(TerminationReason::kGradientTolerance),
            v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(SessionStateFor(TerminationReason::kFunctionTolerance),
            v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(SessionStateFor(TerminationReason::kMaxIterations),
            v1::SESSION_STATE_LIMIT_REACHED);
  EXPECT_EQ(SessionStateFor(TerminationReason::kMaxEvaluations),
            v1::SESSION_STATE_LIMIT_REACHED);
  EXPECT_EQ(SessionStateFor(TerminationReason::kMaxSteps),
            v1::SESSION_STATE_LIMIT_REACHED);
  EXPECT_EQ(SessionStateFor(TerminationReason::kLineSearchFailed),
            v1::SESSION_STATE_FAILED);
  EXPECT_EQ(SessionStateFor(TerminationReason::kEvaluationFailed),
            v1::SESSION_STATE_FAILED);
  EXPECT_EQ(SessionStateFor(TerminationReason::kTrustRegionFailed),
            v1::SESSION_STATE_FAILED);
  EXPECT_EQ(SessionStateFor(TerminationReason::kStepNotFinite),
            v1::SESSION_STATE_FAILED);
  EXPECT_EQ(SessionStateFor(TerminationReason::kStoppedByClient),
            v1::SESSION_STATE_STOPPED);
}

TEST(TerminationReasonToProto, MapsEveryReason) {
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kGradientTolerance),
            v1::TERMINATION_REASON_GRADIENT_TOLERANCE);
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kFunctionTolerance),
            v1::TERMINATION_REASON_FUNCTION_TOLERANCE);
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kMaxIterations),
            v1::TERMINATION_REASON_MAX_ITERATIONS);
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kMaxEvaluations),
            v1::TERMINATION_REASON_MAX_EVALUATIONS);
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kLineSearchFailed),
            v1::TERMINATION_REASON_LINE_SEARCH_FAILED);
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kEvaluationFailed),
            v1::TERMINATION_REASON_EVALUATION_FAILED);
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kStoppedByClient),
            v1::TERMINATION_REASON_STOPPED_BY_CLIENT);
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kMaxSteps),
            v1::TERMINATION_REASON_MAX_STEPS);
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kTrustRegionFailed),
            v1::TERMINATION_REASON_TRUST_REGION_FAILED);
  EXPECT_EQ(TerminationReasonToProto(TerminationReason::kStepNotFinite),
            v1::TERMINATION_REASON_STEP_NOT_FINITE);
}

TEST(SummaryToProto, CarriesCountersReportsAndX) {
  const std::vector<double> x0 = {3.0, 4.0};
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  const std::vector<double> g = {1.0, 2.0};
  ASSERT_OK((*solver)->SetTrialGradient(ConstVectorView::Float64(g.data(), 2)));
  ASSERT_OK((*solver)->Tell({.value = 5.0, .has_gradient = true}));
  (*solver)->Stop();
  v1::Summary summary;
  ASSERT_OK(SummaryToProto((*solver)->summary(), 2.5, **solver,
                           v1::VECTOR_ENCODING_F64, &summary));
  EXPECT_EQ(summary.reason(), v1::TERMINATION_REASON_STOPPED_BY_CLIENT);
  EXPECT_TRUE(summary.success());
  EXPECT_EQ(summary.wall_seconds(), 2.5);
  EXPECT_EQ(summary.iterations(), 0);
  EXPECT_EQ(summary.evaluations(), 1);
  EXPECT_EQ(summary.value(), 5.0);
  EXPECT_EQ(summary.gradient_max_norm(), 2.0);
  EXPECT_THAT(summary.brief_report(), HasSubstr("lbfgs n=2"));
  EXPECT_THAT(summary.full_report(), HasSubstr("2.500000 s"));
  EXPECT_EQ(ToDoubles(summary.x()), x0);

  v1::Summary without_x;
  ASSERT_OK(SummaryToProto((*solver)->summary(), 1, **solver,
                           v1::VECTOR_ENCODING_UNSPECIFIED, &without_x));
  EXPECT_FALSE(without_x.has_x());
}

TEST(TimeToProto, KeepsNanoseconds) {
  google::protobuf::Timestamp ts;
  TimeToProto(absl::FromUnixNanos(1'700'000'000'123'456'789), &ts);
  EXPECT_EQ(ts.seconds(), 1'700'000'000);
  EXPECT_EQ(ts.nanos(), 123'456'789);
}

}  // namespace
}  // namespace optd::server
