#include "solvers/testing/bounded_problems.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "solvers/testing/mgh_hessians.h"

namespace optd::problems {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Entry {
  const char* name;
  const char* base;  // a StandardProblems() name, a scalable family, or own
  int n;             // the scalable family's n; 0 for a standard problem
  std::vector<double> lower, upper;  // patterns repeated over the variables
};

// Keep in step with TABLE in tests/data/bounded_problems.py.
const std::vector<Entry>& Table() {
  static const auto* table = new std::vector<Entry>{
      {"rosenbrock_x1_upper", "rosenbrock", 0, {-kInf}, {0.5, kInf}},
      {"rosenbrock_box", "rosenbrock", 0, {-2.0, -2.0}, {0.5, 2.0}},
      {"rosenbrock_x0_outside", "rosenbrock", 0, {-1.0, -0.5}, {0.5, 0.2}},
      {"freudenstein_roth_box", "freudenstein_roth", 0, {-kInf}, {10.0, 3.0}},
      {"beale_box", "beale", 0, {-4.5, -4.5}, {2.5, 4.5}},
      {"helical_valley_box",
       "helical_valley",
       0,
       {-100.0, -1.0, -1.0},
       {0.8, 1.0, 1.0}},
      {"bard_box", "bard", 0, {0.1, 0.0, 0.0}, {kInf, kInf, 2.0}},
      {"box_3d_box", "box_3d", 0, {0.0}, {2.0, 8.0, 20.0}},
      {"powell_singular_lower",
       "powell_singular",
       0,
       {0.1, -kInf, -kInf, 0.1},
       {kInf}},
      {"wood_box", "wood", 0, {-3.0}, {0.5, 10.0, 10.0, 10.0}},
      {"kowalik_osborne_box",
       "kowalik_osborne",
       0,
       {0.0, 0.2, 0.0, 0.0},
       {0.3, 0.5, 0.5, 0.5}},
      {"osborne_1_box",
       "osborne_1",
       0,
       {0.0, 0.0, -1.2, 0.0, 0.0},
       {1.0, 1.8, 0.0, 1.0, 1.0}},
      {"biggs_exp6_box", "biggs_exp6", 0, {0.0}, {10.0}},
      {"watson_6_box",
       "watson_6",
       0,
       {0.0, -2.0, -2.0, -2.0, -1.0, -2.0},
       {2.0, 1.0, 2.0, 1.0, 2.0, 2.0}},
      {"penalty_1_10_box", "penalty_1_10", 0, {0.2, -kInf}, {kInf}},
      {"trigonometric_10_box", "trigonometric_10", 0, {0.07}, {0.3}},
      {"chebyquad_8_box",
       "chebyquad_8",
       0,
       {0.0, 0.0, 0.0, 0.0, 0.55, 0.0, 0.0, 0.0},
       {1.0, 1.0, 1.0, 0.45, 1.0, 1.0, 1.0, 1.0}},
      {"variably_dimensioned_10_box",
       "variably_dimensioned_10",
       0,
       {-kInf},
       {kInf, 0.8}},
      {"extended_rosenbrock_10_alt",
       "extended_rosenbrock",
       10,
       {-2.0, -kInf, -kInf, 1.5},
       {0.5, kInf, kInf, 3.0}},
      {"extended_rosenbrock_100_alt",
       "extended_rosenbrock",
       100,
       {-2.0, -kInf, -kInf, 1.5},
       {0.5, kInf, kInf, 3.0}},
      {"extended_rosenbrock_1000_alt",
       "extended_rosenbrock",
       1000,
       {-2.0, -kInf, -kInf, 1.5},
       {0.5, kInf, kInf, 3.0}},
      {"extended_powell_100_lower",
       "extended_powell",
       100,
       {0.1, -kInf, -kInf, 0.1},
       {kInf}},
      {"broyden_tridiagonal_100_box",
       "broyden_tridiagonal",
       100,
       {-kInf},
       {-0.65}},
      {"broyden_tridiagonal_1000_box",
       "broyden_tridiagonal",
       1000,
       {-kInf},
       {-0.65}},
      {"broyden_banded_100_box", "broyden_banded", 100, {-0.5}, {kInf}},
      {"discrete_boundary_value_100_box",
       "discrete_boundary_value",
       100,
       {-0.1},
       {0.0}},
      {"driver1_25", "driver1", 25, {1.0, -100.0}, {100.0, 100.0}},
      {"bounded_quadratic_50",
       "bounded_quadratic",
       50,
       {-1.0, -1.0, -kInf, -1.0},
       {1.0, kInf, 1.0, 1.0}},
  };
  return *table;
}

// L-BFGS-B's driver1.f example: f = 4 (0.25 (x_1 - 1)^2 + sum_{i>=2}
// (x_i - x_{i-1}^2)^2), its gradient as driver1.f writes it.
TestProblem Driver1(int n) {
  TestProblem p;
  p.name = "driver1";
  p.n = n;
  p.x0 = Eigen::VectorXd::Constant(n, 3.0);
  p.evaluate = [](const Eigen::VectorXd& x, Eigen::VectorXd* grad) {
    const int n = static_cast<int>(x.size());
    double f = 0.25 * (x[0] - 1.0) * (x[0] - 1.0);
    for (int i = 1; i < n; ++i) {
      const double t = x[i] - x[i - 1] * x[i - 1];
      f += t * t;
    }
    f *= 4.0;
    if (grad != nullptr) {
      grad->resize(n);
      double t1 = x[1] - x[0] * x[0];
      (*grad)[0] = 2.0 * (x[0] - 1.0) - 16.0 * x[0] * t1;
      for (int i = 1; i + 1 < n; ++i) {
        const double t2 = t1;
        t1 = x[i + 1] - x[i] * x[i];
        (*grad)[i] = 8.0 * t2 - 16.0 * x[i] * t1;
      }
      (*grad)[n - 1] = 8.0 * t1;
    }
    return f;
  };
  return p;
}

// 0.5 x'Ax - b'x with A = tridiag(-1, 4, -1), b_i = 6 sin(0.7 (i + 1)).
TestProblem BoundedQuadratic(int n) {
  TestProblem p;
  p.name = "bounded_quadratic";
  p.n = n;
  p.x0 = Eigen::VectorXd::Zero(n);
  p.evaluate = [](const Eigen::VectorXd& x, Eigen::VectorXd* grad) {
    const int n = static_cast<int>(x.size());
    Eigen::VectorXd ax = 4.0 * x, b(n);
    for (int i = 0; i < n; ++i) {
      b[i] = 6.0 * std::sin(0.7 * (i + 1));
      if (i > 0) ax[i] -= x[i - 1];
      if (i + 1 < n) ax[i] -= x[i + 1];
    }
    if (grad != nullptr) *grad = ax - b;
    return 0.5 * x.dot(ax) - b.dot(x);
  };
  return p;
}

absl::StatusOr<BoundedProblem> Make(const Entry& e) {
  BoundedProblem bp;
  bp.name = e.name;
  const std::string base = e.base;
  if (base == "driver1") {
    bp.problem = Driver1(e.n);
  } else if (base == "bounded_quadratic") {
    bp.problem = BoundedQuadratic(e.n);
  } else if (e.n == 0) {
    auto p = FindProblem(base);
    if (!p.ok()) return p.status();
    bp.problem = *std::move(p);
  } else {
    auto p = ScalableProblem(base, e.n);
    if (!p.ok()) return p.status();
    bp.problem = *std::move(p);
  }
  const int n = bp.problem.n;
  for (int i = 0; i < n; ++i) {
    bp.lower.push_back(e.lower[i % e.lower.size()]);
    bp.upper.push_back(e.upper[i % e.upper.size()]);
  }
  return bp;
}

}  // namespace

Bounds BoundedProblem::bounds() const {
  const int64_t n = static_cast<int64_t>(lower.size());
  return *Bounds::Create(ConstVectorView::Float64(lower.data(), n),
                         ConstVectorView::Float64(upper.data(), n), n);
}

const std::vector<BoundedProblem>& BoundedProblems() {
  static const auto* problems = [] {
    auto* v = new std::vector<BoundedProblem>;
    for (const Entry& e : Table()) v->push_back(*Make(e));
    return v;
  }();
  return *problems;
}

absl::StatusOr<BoundedProblem> FindBoundedProblem(std::string_view name) {
  for (const BoundedProblem& p : BoundedProblems()) {
    if (p.name == name) return p;
  }
  return absl::NotFoundError(
      absl::StrCat("no bounded test problem '", std::string(name), "'"));
}

}  // namespace optd::problems

namespace optd::testing {

absl::StatusOr<std::vector<BoundedReference>> LoadBoundedReferences(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::vector<BoundedReference> references;
  std::string line;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream fields(line);
    BoundedReference r;
    bool ok = static_cast<bool>(fields >> r.name >> r.n >> r.nfev >> r.nit >>
                                r.fun >> r.status >> r.message >> r.pg_inf >>
                                r.f_x0 >> r.f_ref);
    r.x.resize(ok && r.n > 0 ? r.n : 0);
    for (double& v : r.x) ok = ok && static_cast<bool>(fields >> v);
    std::string extra;
    if (!ok || r.n <= 0 || (fields >> extra)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_number,
          ": expected 'name n nfev nit fun status message pg_inf f_x0 f_ref "
          "x_1 .. x_n'"));
    }
    references.push_back(std::move(r));
  }
  return references;
}

}  // namespace optd::testing
