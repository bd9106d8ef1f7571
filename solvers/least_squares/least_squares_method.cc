// LeastSquaresMethod (least_squares_method.h): the defaults of the
// product calls, for the methods that ask only for r and J.
#include "solvers/least_squares/least_squares_method.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace optd {

const Eigen::VectorXd& LeastSquaresMethod::trial_vector() const {
  static const Eigen::VectorXd* const kEmpty = new Eigen::VectorXd();
  return *kEmpty;
}

absl::Status LeastSquaresMethod::TellProduct(const Eigen::VectorXd&) {
  return absl::FailedPreconditionError(absl::StrCat(
      std::string(method()), ": the trial wants no Jacobian product"));
}

}  // namespace optd
