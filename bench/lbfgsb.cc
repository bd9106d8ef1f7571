// lbfgsb: optd's L-BFGS-B (solvers/lbfgsb.h) on the bound-constrained
// problems of solvers/testing/bounded_problems.h, in process through the
// Solver interface. bench/lbfgsb.py runs this program and scipy 1.10 on the
// same problems and prints the comparison; run that script, not this.
//
//   lbfgsb --mode=optd [--problems=rosenbrock_box,wood_box]
//     one line per problem, whitespace-separated:
//     problem n evaluations iterations f finished reason
//   lbfgsb --mode=list
//     one line per problem: problem n
#include "solvers/lbfgsb.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/bounded_problems.h"

ABSL_FLAG(std::string, mode, "optd",
          "optd: run L-BFGS-B on the problems; list: name them");
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

}  // namespace
}  // namespace optd

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_mode) == "list") return optd::ListProblems();
  return optd::RunOptd();
}
