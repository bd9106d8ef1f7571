// `optctl diagnose ID`: opens a curvature session at session ID's current or
// best point (optimizer.proto Diagnose) and prints what it wants; a client
// that can evaluate the Hessian-vector products (or gradients) drives it, and
// `optctl get` on the new session prints the spectrum estimate.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/optctl/commands.h"

namespace optd::client::optctl {

absl::Status Diagnose(const Client& client, const std::string& id) {
  v1::DiagnoseRequest request;
  request.set_session_id(id);
  const std::string point = absl::GetFlag(FLAGS_point);
  if (point == "best") {
    request.set_point(v1::DiagnoseRequest::POINT_BEST);
  } else if (point == "current") {
    request.set_point(v1::DiagnoseRequest::POINT_CURRENT);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--point is \"", point, "\"; diagnose takes current or best"));
  }
  const std::string source = absl::GetFlag(FLAGS_source);
  if (source == "gradient_difference") {
    request.mutable_curvature()->set_source(
        v1::CurvatureOptions::SOURCE_GRADIENT_DIFFERENCE);
  } else if (source != "hessian_vector") {
    return absl::InvalidArgumentError(
        absl::StrCat("--source is \"", source,
                     "\"; diagnose takes hessian_vector or "
                     "gradient_difference"));
  }
  request.set_diagnosis_id(absl::GetFlag(FLAGS_id));
  request.set_vector_encoding(v1::VECTOR_ENCODING_VALUES);
  absl::StatusOr<v1::DiagnoseResponse> response = client.Diagnose(request);
  if (!response.ok()) return response.status();
  const std::vector<double> x(response->x().values().begin(),
                              response->x().values().end());
  auto line = [](absl::string_view key, const std::string& value) {
    std::cout << absl::StrFormat("%-13s %s\n", key, value);
  };
  line("diagnosis", response->session_id());
  line("of", absl::StrCat(id, " at its ", point, " point"));
  line("x", FormatVector(x));
  line("trials",
       absl::StrCat(response->trials_size(), " outstanding, each wanting ",
                    source == "gradient_difference"
                        ? "a gradient at x +- h v"
                        : "a Hessian-vector product H(x) v"));
  line("then", absl::StrCat("optctl get ", response->session_id(),
                            " prints the eigenvalues once it has ended"));
  return absl::OkStatus();
}

}  // namespace optd::client::optctl
