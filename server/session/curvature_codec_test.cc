// Curvature sessions' options and result codecs, and what CreateSolver does
// with CreateSessionRequest.curvature.
#include "server/session/curvature_codec.h"

#include <cmath>
#include <limits>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/solver_factory.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CurvatureOptionsFromProto, DefaultsAndEcho) {
  absl::StatusOr<CurvatureOptions> options =
      CurvatureOptionsFromProto(v1::CurvatureOptions());
  ASSERT_OK(options);
  EXPECT_EQ(options->source, ProductSource::kHessianVector);
  EXPECT_EQ(options->lanczos.extreme_count, 3);
  EXPECT_EQ(options->lanczos.max_steps, 200);
  EXPECT_EQ(options->lanczos.tolerance, 1e-10);
  EXPECT_EQ(options->lanczos.probes, 4);
  EXPECT_EQ(options->lanczos.density_steps, 30);
  EXPECT_TRUE(std::isnan(options->relative_step));
  const v1::CurvatureOptions echo = CurvatureOptionsToProto(*options);
  EXPECT_EQ(echo.source(), v1::CurvatureOptions::SOURCE_HESSIAN_VECTOR);
  EXPECT_EQ(echo.max_steps(), 200);
  EXPECT_FALSE(echo.has_relative_step());

  v1::CurvatureOptions proto;
  proto.set_source(v1::CurvatureOptions::SOURCE_GRADIENT_DIFFERENCE);
  proto.set_extreme_count(5);
  options = CurvatureOptionsFromProto(proto);
  ASSERT_OK(options);
  EXPECT_EQ(options->lanczos.extreme_count, 5);
  // The default step is resolved, so that Session.curvature shows it.
  EXPECT_EQ(CurvatureOptionsToProto(*options).relative_step(),
            std::cbrt(std::numeric_limits<double>::epsilon()));
}

TEST(CurvatureOptionsFromProto, OutOfRangeNamesTheField) {
  v1::CurvatureOptions proto;
  proto.set_tolerance(0.5);
  EXPECT_THAT(CurvatureOptionsFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "curvature.tolerance is 0.5; it must be in "
                       "[1e-15, 0.1]"));
  proto = v1::CurvatureOptions();
  proto.set_source(static_cast<v1::CurvatureOptions::Source>(7));
  EXPECT_THAT(CurvatureOptionsFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "curvature.source is 7; it must be "
                       "SOURCE_HESSIAN_VECTOR (1) or "
                       "SOURCE_GRADIENT_DIFFERENCE (2)"));
}

TEST(CurvatureResultToProto, CopiesEveryField) {
  SpectrumEstimate e;
  e.smallest = {1.0, 2.0};
  e.largest = {9.0, 8.0};
  e.condition_number = 9.0;
  e.density_nodes = {1.0, 9.0};
  e.density_weights = {0.5, 0.5};
  e.products = 7;
  e.lanczos_steps = 5;
  e.converged = true;
  v1::CurvatureResult proto;
  CurvatureResultToProto(e, &proto);
  EXPECT_THAT(proto.smallest(), ElementsAre(1.0, 2.0));
  EXPECT_THAT(proto.largest(), ElementsAre(9.0, 8.0));
  EXPECT_EQ(proto.condition_number(), 9.0);
  EXPECT_THAT(proto.density_weights(), ElementsAre(0.5, 0.5));
  EXPECT_EQ(proto.products(), 7);
  EXPECT_EQ(proto.lanczos_steps(), 5);
  EXPECT_TRUE(proto.converged());
}

TEST(CreateSolver, CurvatureTakesNoLayers) {
  std::vector<double> x0 = {1.0, 2.0};
  const ConstVectorView x = ConstVectorView::Float64(x0.data(), 2);
  v1::CreateSessionRequest request;
  request.mutable_curvature();
  absl::StatusOr<SolverSetup> setup = CreateSolver(request, x);
  ASSERT_OK(setup);
  EXPECT_EQ(setup->solver->name(), "curvature");
  EXPECT_EQ(setup->solver->wants(), Evaluation::kHessianVector);
  EXPECT_TRUE(std::holds_alternative<CurvatureOptions>(setup->options));

  // Sharded diagnoses run on Lanczos slices (remote_lanczos_vectors.h).
  v1::CreateSessionRequest layered = request;
  layered.set_shards(2);
  EXPECT_OK(CheckSolverLayers(layered));
  layered = request;
  layered.mutable_bounds();
  EXPECT_THAT(CreateSolver(layered, x),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "bounds are not supported by curvature (it diagnoses "
                       "the Hessian at x0 and moves nowhere); leave bounds "
                       "unset"));
  layered = request;
  layered.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
  EXPECT_THAT(CreateSolver(layered, x),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient_source FINITE_DIFFERENCE is not "
                                 "supported by curvature: its trials want "
                                 "Hessian-vector products or gradients")));
  layered = request;
  layered.mutable_gradient_check();
  EXPECT_THAT(CreateSolver(layered, x),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "gradient_check is not supported by curvature, whose "
                       "trials are all at (or next to) one point"));
  layered = request;
  layered.mutable_data_parallel()->set_workers(3);
  EXPECT_THAT(CreateSolver(layered, x),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "data_parallel.workers is 3; curvature sessions take 0 "
                       "or 1 (no data parallelism)"));
}

TEST(EstimateSessionBytes, CurvatureCountsTheLanczosBasis) {
  v1::CreateSessionRequest request;
  request.mutable_curvature()->set_max_steps(50);
  // min(50, n) basis vectors and 8 more of n doubles.
  EXPECT_EQ(EstimateSessionBytes(request, 1000).solver, (50 + 8) * 1000 * 8);
  EXPECT_EQ(EstimateSessionBytes(request, 10).solver, (10 + 8) * 10 * 8);
}

}  // namespace
}  // namespace optd::server
