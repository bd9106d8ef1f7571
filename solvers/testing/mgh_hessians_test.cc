#include "solvers/testing/mgh_hessians.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "Eigen/Dense"
#include "gtest/gtest.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"

namespace optd::problems {
namespace {

// A point near x0 but off its symmetries, so that no term vanishes by chance.
Eigen::VectorXd Probe(const TestProblem& p) {
  Eigen::VectorXd x = p.x0;
  for (int i = 0; i < p.n; ++i) {
    x(i) += 0.01 * (1.0 + std::fabs(x(i))) * std::sin(1.0 + 0.7 * i);
  }
  return x;
}

// Central differences of the analytic gradient, column by column.
Eigen::MatrixXd DifferencedHessian(const TestProblem& p,
                                   const Eigen::VectorXd& x) {
  Eigen::MatrixXd h(p.n, p.n);
  Eigen::VectorXd gp, gm;
  for (int j = 0; j < p.n; ++j) {
    const double step = 1e-5 * std::max(1.0, std::fabs(x(j)));
    Eigen::VectorXd xp = x, xm = x;
    xp(j) += step;
    xm(j) -= step;
    p.evaluate(xp, &gp);
    p.evaluate(xm, &gm);
    h.col(j) = (gp - gm) / (2.0 * step);
  }
  return h;
}

TEST(MghHessians, EveryStandardProblemHasOneThatMatchesDifferencedGradients) {
  for (const TestProblem& p : StandardProblems()) {
    SCOPED_TRACE(p.name);
    auto hessian = HessianOf(p.name);
    ASSERT_OK(hessian);
    const Eigen::VectorXd x = Probe(p);
    // The residuals written here give mgh_problems.cc's value and gradient.
    Eigen::VectorXd g_ref, g;
    const double f_ref = p.evaluate(x, &g_ref);
    auto f = SecondOrderValue(p.name, x, &g);
    ASSERT_OK(f);
    EXPECT_NEAR(*f, f_ref, 1e-12 * std::max(1.0, std::fabs(f_ref)));
    EXPECT_LE((g - g_ref).norm(), 1e-10 * std::max(1.0, g_ref.norm()));

    const Eigen::MatrixXd h = Eigen::MatrixXd((*hessian)(x));
    EXPECT_LE((h - h.transpose()).norm(), 1e-12 * std::max(1.0, h.norm()));
    const Eigen::MatrixXd fd = DifferencedHessian(p, x);
    EXPECT_LE((h - fd).norm(), 1e-5 * std::max(1.0, h.norm()))
        << "analytic\n"
        << h << "\ndifferenced\n"
        << fd;
  }
}

TEST(MghHessians, ScalableFamiliesWorkAtAnyAllowedDimension) {
  for (std::string_view family : ScalableFamilies()) {
    for (int n : {4, 12, 100}) {
      auto p = ScalableProblem(family, n);
      ASSERT_OK(p);
      SCOPED_TRACE(p->name);
      EXPECT_EQ(p->name, std::string(family) + "_" + std::to_string(n));
      EXPECT_EQ(p->x0.size(), n);
      EXPECT_EQ(p->f_min, 0.0);
      auto hessian = HessianOf(p->name);
      ASSERT_OK(hessian);
      const Eigen::VectorXd x = Probe(*p);
      Eigen::VectorXd g_ref, g;
      p->evaluate(x, &g_ref);
      ASSERT_OK(SecondOrderValue(p->name, x, &g));
      EXPECT_LE((g - g_ref).norm(), 1e-10 * std::max(1.0, g_ref.norm()));
      const Eigen::MatrixXd h = Eigen::MatrixXd((*hessian)(x));
      EXPECT_LE((h - DifferencedHessian(*p, x)).norm(),
                1e-5 * std::max(1.0, h.norm()));
    }
  }
  // The standard starting points, tiled.
  auto rosen = ScalableProblem("extended_rosenbrock", 6);
  ASSERT_OK(rosen);
  EXPECT_EQ(rosen->x0(4), -1.2);
  EXPECT_EQ(rosen->x0(5), 1.0);
}

TEST(MghHessians, UnknownNamesAndBadDimensionsAreErrors) {
  EXPECT_THAT(HessianOf("no_such_problem"),
              testing::StatusIs(absl::StatusCode::kNotFound,
                                ::testing::HasSubstr("no_such_problem")));
  EXPECT_THAT(ScalableProblem("extended_powell", 6),
              testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                ::testing::HasSubstr("multiple of 4")));
  EXPECT_THAT(ScalableProblem("rosenbrock", 6),
              testing::StatusIs(absl::StatusCode::kNotFound,
                                ::testing::HasSubstr("rosenbrock")));
}

}  // namespace
}  // namespace optd::problems
