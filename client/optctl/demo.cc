// optctl demo: minimizes the extended Rosenbrock function on the server.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/client.h"
#include "client/minimize.h"
#include "client/optctl/commands.h"

namespace optd::client::optctl {
namespace {

// The extended Rosenbrock function (Moré, Garbow & Hillstrom 1981, problem
// 21): sum over pairs of 100 (x_2i+1 - x_2i^2)^2 + (1 - x_2i)^2.
Evaluation ExtendedRosenbrock(const std::vector<double>& x, Wants wants) {
  Evaluation e;
  double f = 0.0;
  std::vector<double> g(x.size(), 0.0);
  for (size_t i = 0; i + 1 < x.size(); i += 2) {
    const double a = 1.0 - x[i];
    const double b = x[i + 1] - x[i] * x[i];
    f += a * a + 100.0 * b * b;
    g[i] = -2.0 * a - 400.0 * x[i] * b;
    g[i + 1] = 200.0 * b;
  }
  if (WantsValue(wants)) e.value = f;
  if (WantsGradient(wants)) e.gradient = std::move(g);
  return e;
}

}  // namespace

absl::Status Demo(const Client& client, const std::string&) {
  const int n = absl::GetFlag(FLAGS_n);
  if (n < 2 || n % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--n=", n,
                     ": the extended Rosenbrock function needs an "
                     "even dimension >= 2"));
  }
  std::vector<double> x0(n);
  for (int i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  SessionOptions options;
  options.labels["demo"] = "rosenbrock";
  absl::StatusOr<Result> result =
      RunStream(client, x0, SolverSpec::Lbfgs(), ExtendedRosenbrock, options);
  if (!result.ok()) return result.status();
  std::cout << "session " << result->session_id << "\n"
            << result->brief_report << "\n"
            << "x = " << FormatVector(result->x) << "\n";
  if (!result->success) {
    return absl::InternalError(absl::StrCat(
        "the Rosenbrock demo did not converge: ", result->message));
  }
  return absl::OkStatus();
}

}  // namespace optd::client::optctl
