// lbfgsb: optd's L-BFGS-B (solvers/lbfgsb/lbfgsb.h) on the bound-constrained
// problems of solvers/testing/bounded_problems.h, in process through the
// Solver interface. bench/lbfgsb.py runs this program and scipy 1.10 on the
// same problems and prints the comparison; run that script, not this.
//
//   lbfgsb --mode=optd [--problems=rosenbrock_box,wood_box]
//     one line per problem, whitespace-separated:
//     problem n evaluations iterations f finished reason
//   lbfgsb --mode=list
//     one line per problem: problem n
//   lbfgsb --mode=serve
//     serves the same C++ problems to scipy over stdin/stdout, so that both
//     sides evaluate identical objective bits. Requests are a text header line
//     and raw little-endian float64 payloads; answers are raw float64:
//       "P name\n"                    -> x0, lower, upper (3n doubles)
//       "F name n\n" + x (n doubles)   -> f, g (1 + n doubles)
//     An unknown name or a wrong n ends the program with status 2 or 3.
#include "solvers/lbfgsb/lbfgsb.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/bounded_problems.h"

ABSL_FLAG(std::string, mode, "optd",
          "optd: run L-BFGS-B on the problems; list: name them; serve: "
          "answer (f, g) requests on stdin/stdout");
ABSL_FLAG(std::string, problems, "",
          "comma-separated problem names (default: all)");

namespace optd {
namespace {

int RunOptd() {
  const std::vector<std::string> names =
      absl::StrSplit(absl::GetFlag(FLAGS_problems), ',', absl::SkipEmpty());
  for (const problems::BoundedProblem& p : problems::BoundedProblems()) {
    if (!names.empty() &&
        std::find(names.begin(), names.end(), p.name) == names.end()) {
      continue;
    }
    auto solver = LbfgsB::Create(
        LbfgsOptions(),
        ConstVectorView::Float64(p.problem.x0.data(), p.problem.n), p.bounds());
    if (!solver.ok()) {
      std::fprintf(stderr, "%s: %s\n", p.name.c_str(),
                   solver.status().ToString().c_str());
      return 1;
    }
    const testing::DriveResult r =
        testing::Drive(**solver, {p.problem.evaluate, nullptr});
    std::printf("%s %d %lld %lld %.17g %d %s\n", p.name.c_str(), p.problem.n,
                static_cast<long long>(r.value_calls),
                static_cast<long long>(r.summary.iterations), r.summary.value,
                r.finished ? 1 : 0,
                std::string(TerminationReasonName(r.summary.reason)).c_str());
    std::fflush(stdout);
  }
  return 0;
}

int ListProblems() {
  for (const problems::BoundedProblem& p : problems::BoundedProblems()) {
    std::printf("%s %d\n", p.name.c_str(), p.problem.n);
  }
  return 0;
}

int Serve() {
  std::map<std::string, const problems::BoundedProblem*> by_name;
  for (const problems::BoundedProblem& p : problems::BoundedProblems()) {
    by_name[p.name] = &p;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    const std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() < 2) return 2;
    const auto it = by_name.find(parts[1]);
    if (it == by_name.end()) return 2;
    const problems::BoundedProblem& p = *it->second;
    const int n = p.problem.n;
    if (parts[0] == "P" && parts.size() == 2) {
      std::cout.write(reinterpret_cast<const char*>(p.problem.x0.data()),
                      8 * n);
      std::cout.write(reinterpret_cast<const char*>(p.lower.data()), 8 * n);
      std::cout.write(reinterpret_cast<const char*>(p.upper.data()), 8 * n);
    } else if (parts[0] == "F" && parts.size() == 3) {
      if (std::stoi(parts[2]) != n) return 3;
      Eigen::VectorXd x(n), g(n);
      if (!std::cin.read(reinterpret_cast<char*>(x.data()), 8 * n)) return 3;
      const double f = p.problem.evaluate(x, &g);
      std::cout.write(reinterpret_cast<const char*>(&f), 8);
      std::cout.write(reinterpret_cast<const char*>(g.data()), 8 * n);
    } else {
      return 2;
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
  if (absl::GetFlag(FLAGS_mode) == "serve") return optd::Serve();
  if (absl::GetFlag(FLAGS_mode) == "list") return optd::ListProblems();
  return optd::RunOptd();
}
