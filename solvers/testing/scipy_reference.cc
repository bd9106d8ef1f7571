#include "solvers/testing/scipy_reference.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace optd::testing {

absl::StatusOr<std::vector<ScipyReference>> LoadScipyReferences(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  }
  std::vector<ScipyReference> references;
  std::set<std::string> names;
  std::string line;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream fields(line);
    ScipyReference r;
    std::string extra;
    if (!(fields >> r.name >> r.n >> r.nfev >> r.nit >> r.fun >> r.status >>
          r.message >> r.grad_inf >> r.f_x0 >> r.grad_inf_x0) ||
        (fields >> extra)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_number,
          ": expected 'name n nfev nit fun status message grad_inf f_x0 "
          "grad_inf_x0', got '",
          line, "'"));
    }
    if (!names.insert(r.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_number, ": problem '", r.name, "' appears twice"));
    }
    references.push_back(std::move(r));
  }
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("error reading '", path, "'"));
  }
  return references;
}

}  // namespace optd::testing
