// LeastSquaresMethod: what LeastSquaresSolver (least_squares_solver.h) needs
// of a least-squares ask-tell machine, so that one adapter serves scipy's
// method='lm' (LevenbergMarquardt, levenberg_marquardt.h) and method='trf'
// (TrustRegionReflective, trust_region_reflective.h; TrfLsmr, trf_lsmr.h,
// the matrix-free tr_solver='lsmr', whose trials may want a product J(x) v
// or J(x)^T u instead of r and J). See those headers for the meaning of
// each call.
//
//   std::unique_ptr<LeastSquaresMethod> method = ...;
//   while (!method->finished()) {
//     Evaluate(method->trial_point(), method->wants_residuals(),
//              method->wants_jacobian(), &r, &jac);
//     OPTD_RETURN_IF_ERROR(method->Tell(r, jac));
//   }
//
// Thread-safety: not thread-safe; callers serialize access.
#ifndef OPTD_SOLVERS_LEAST_SQUARES_LEAST_SQUARES_METHOD_H_
#define OPTD_SOLVERS_LEAST_SQUARES_LEAST_SQUARES_METHOD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "Eigen/Core"
#include "absl/status/status.h"

namespace optd {

struct LeastSquaresSummary;
struct LeastSquaresProgress;

class LeastSquaresMethod {
 public:
  virtual ~LeastSquaresMethod() = default;
  // "lm" or "trf", as scipy's `method`.
  virtual std::string_view method() const = 0;
  virtual int n() const = 0;
  virtual int m() const = 0;
  virtual bool finished() const = 0;
  virtual const Eigen::VectorXd& trial_point() const = 0;
  virtual bool wants_residuals() const = 0;
  virtual bool wants_jacobian() const = 0;
  // Matrix-free methods only: the trial wants J(x) v (m elements) or
  // J(x)^T u (n elements) for v or u = trial_vector(), told with
  // TellProduct.
  virtual bool wants_jacobian_vector() const { return false; }
  virtual bool wants_jacobian_transpose_vector() const { return false; }
  virtual const Eigen::VectorXd& trial_vector() const;
  // FAILED_PRECONDITION unless a product is wanted.
  virtual absl::Status TellProduct(const Eigen::VectorXd& product);
  virtual const Eigen::VectorXd& x() const = 0;
  virtual absl::Status Tell(const Eigen::VectorXd& r,
                            const Eigen::MatrixXd& jac) = 0;
  virtual absl::Status TellFailed() = 0;
  virtual const LeastSquaresSummary& summary() const = 0;
  virtual LeastSquaresProgress progress() const = 0;
  virtual std::string OptionsReport() const = 0;
  virtual absl::Status SaveState(std::string* out) const = 0;
  virtual absl::Status RestoreState(std::string_view state) = 0;
  // The size of SaveState's bytes now, computed without writing them.
  virtual int64_t StateBytes() const = 0;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LEAST_SQUARES_LEAST_SQUARES_METHOD_H_
