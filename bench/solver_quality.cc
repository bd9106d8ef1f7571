// solver_quality: optd's L-BFGS and trust-region solvers on the Moré, Garbow
// & Hillstrom (1981) problems, in process through the Solver interface (no
// server). bench/solver_quality.py runs this program, runs scipy 1.10 on the
// same problems, and prints the comparison; run that script, not this.
//
//   solver_quality --mode=optd [--problems=rosenbrock,wood]
//     one line per (problem, solver), whitespace-separated:
//     problem n solver value_calls gradient_calls hessian_calls product_calls
//     iterations f finished reason
//   solver_quality --mode=list
//     one line per problem: problem n f_min f_tolerance
//   solver_quality --mode=hessians
//     answers requests on stdin with the analytic Hessians of
//     solvers/testing/mgh_hessians.h, for scipy's trust-exact and trust-ncg:
//     "H <problem> <n>\n" + n float64 (x)        -> n*n float64 (row-major)
//     "V <problem> <n>\n" + 2n float64 (x, v)    -> n float64 (H(x) v)
//
// The problem set: every problem of StandardProblems(), and the scalable
// families of mgh_hessians.h at n = 100 and 1000.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/trust_region/trust_region.h"

ABSL_FLAG(std::string, mode, "optd",
          "optd: run the solvers; list: the problems; hessians: serve "
          "Hessians on stdin/stdout");
ABSL_FLAG(std::string, problems, "",
          "comma-separated problem names (default: all)");
ABSL_FLAG(int64_t, tr_max_iterations, 5000,
          "trust-region max_iterations (scipy maxiter gets the same)");

namespace optd {
namespace {

std::vector<problems::TestProblem> ProblemSet() {
  std::vector<problems::TestProblem> set = problems::StandardProblems();
  for (std::string_view family : problems::ScalableFamilies()) {
    for (int n : {100, 1000}) {
      auto p = problems::ScalableProblem(family, n);
      bool present = false;
      for (const auto& q : set) present = present || q.name == p->name;
      if (!present) set.push_back(*p);
    }
  }
  return set;
}

struct Run {
  std::string solver;
  std::unique_ptr<Solver> instance;
};

std::vector<Run> Solvers(const problems::TestProblem& p) {
  const ConstVectorView x0 = ConstVectorView::Float64(p.x0.data(), p.n);
  std::vector<Run> runs;
  runs.push_back({"lbfgs", std::move(*Lbfgs::Create(LbfgsOptions(), x0))});
  struct Variant {
    const char* name;
    TrustRegionSubproblem subproblem;
    QuasiNewtonUpdate update;
  };
  for (const Variant& v : {
           Variant{"tr_exact", TrustRegionSubproblem::kExact,
                   QuasiNewtonUpdate::kLsr1},
           Variant{"tr_newton_cg", TrustRegionSubproblem::kNewtonCg,
                   QuasiNewtonUpdate::kLsr1},
           Variant{"tr_newton_cg_fd",
                   TrustRegionSubproblem::kNewtonCgFiniteDifference,
                   QuasiNewtonUpdate::kLsr1},
           Variant{"tr_lsr1", TrustRegionSubproblem::kQuasiNewton,
                   QuasiNewtonUpdate::kLsr1},
           Variant{"tr_lbfgs", TrustRegionSubproblem::kQuasiNewton,
                   QuasiNewtonUpdate::kLbfgs},
       }) {
    TrustRegionOptions options;
    options.subproblem = v.subproblem;
    options.quasi_newton_update = v.update;
    options.max_iterations = absl::GetFlag(FLAGS_tr_max_iterations);
    runs.push_back({v.name, std::move(*TrustRegion::Create(options, x0))});
  }
  return runs;
}

int RunOptd() {
  const std::string only = absl::GetFlag(FLAGS_problems);
  const std::vector<std::string> names =
      absl::StrSplit(only, ',', absl::SkipEmpty());
  for (const problems::TestProblem& p : ProblemSet()) {
    if (!names.empty() &&
        std::find(names.begin(), names.end(), p.name) == names.end()) {
      continue;
    }
    const testing::Objective objective{p.evaluate,
                                       *problems::HessianOf(p.name)};
    for (Run& run : Solvers(p)) {
      const testing::DriveResult r = testing::Drive(*run.instance, objective);
      std::printf("%s %d %s %lld %lld %lld %lld %lld %.17g %d %s\n",
                  p.name.c_str(), p.n, run.solver.c_str(),
                  static_cast<long long>(r.value_calls),
                  static_cast<long long>(r.gradient_calls),
                  static_cast<long long>(r.hessian_calls),
                  static_cast<long long>(r.product_calls),
                  static_cast<long long>(r.summary.iterations), r.summary.value,
                  r.finished ? 1 : 0,
                  std::string(TerminationReasonName(r.summary.reason)).c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}

int ListProblems() {
  for (const problems::TestProblem& p : ProblemSet()) {
    std::printf("%s %d %.17g %.17g\n", p.name.c_str(), p.n, p.f_min,
                p.f_tolerance);
  }
  return 0;
}

int ServeHessians() {
  std::map<std::string, problems::HessianFunction> cache;
  std::string line;
  while (std::getline(std::cin, line)) {
    const std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 3) return 2;
    const int n = std::stoi(parts[2]);
    auto it = cache.find(parts[1]);
    if (it == cache.end()) {
      auto h = problems::HessianOf(parts[1]);
      if (!h.ok()) return 3;
      it = cache.emplace(parts[1], *h).first;
    }
    Eigen::VectorXd x(n), v(n);
    std::cin.read(reinterpret_cast<char*>(x.data()), 8 * n);
    if (parts[0] == "V")
      std::cin.read(reinterpret_cast<char*>(v.data()), 8 * n);
    const Eigen::SparseMatrix<double> h = it->second(x);
    if (parts[0] == "H") {
      // Symmetric, so column-major storage is also row-major.
      const Eigen::MatrixXd dense(h);
      std::cout.write(reinterpret_cast<const char*>(dense.data()), 8 * n * n);
    } else {
      const Eigen::VectorXd hv = h * v;
      std::cout.write(reinterpret_cast<const char*>(hv.data()), 8 * n);
    }
    std::cout.flush();
  }
  return 0;
}

}  // namespace
}  // namespace optd

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::ios::sync_with_stdio(false);
  if (absl::GetFlag(FLAGS_mode) == "hessians") return optd::ServeHessians();
  if (absl::GetFlag(FLAGS_mode) == "list") return optd::ListProblems();
  return optd::RunOptd();
}
