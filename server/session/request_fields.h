// What a CreateSessionRequest's fields say, read the same way by the solver
// factory (solver_factory.cc) and the memory estimate (session_bytes.cc):
// whether it is a least-squares session, the finite-difference Jacobian's
// step rule, and which field holds a first-order method's options.
//
// Thread-safety: stateless functions.
#ifndef OPTD_SERVER_SESSION_REQUEST_FIELDS_H_
#define OPTD_SERVER_SESSION_REQUEST_FIELDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "optd/v1/optimizer.pb.h"
#include "solvers/adapters/finite_difference_jacobian.h"

namespace optd::server {

bool IsLeastSquares(const v1::CreateSessionRequest& request);

// The Jacobian rule of a least_squares session with gradient_source
// FINITE_DIFFERENCE: scipy method='lm''s (MINPACK fdjac2) unless the scheme
// names approx_derivative's. INVALID_ARGUMENT naming an unknown scheme.
absl::StatusOr<JacobianStepRule> LeastSquaresJacobianRule(
    const v1::FiniteDifferenceOptions& fd);

// The elementwise first-order family (adam, adamw, sgd, rmsprop, ...): the
// options are in the field of CreateSessionRequest.solver named as the
// method; *name <- that name. REQUIRES: the solver is one of the family.
const google::protobuf::Message& FirstOrderField(
    const v1::CreateSessionRequest& request, std::string* name);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_REQUEST_FIELDS_H_
