// ToldVectors: what a tell carries, decoded and checked before the session's
// lock is taken, and the checks of its vectors against the trial they answer.
//
// DecodeTell() views the tell's vectors in the request's memory (no copy)
// and digests its payload (payload_digest.h), so that the milliseconds the
// digest of a 10^7-element gradient takes are spent outside the lock.
//
//   OPTD_ASSIGN_OR_RETURN(const ToldVectors told,
//                         DecodeTell(request, kMaxWorkerId, kMaxNoteBytes));
#ifndef OPTD_SERVER_SESSION_TOLD_VECTORS_H_
#define OPTD_SERVER_SESSION_TOLD_VECTORS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "optd/v1/optimizer.pb.h"
#include "server/session/codecs.h"
#include "solvers/core/solver.h"
#include "solvers/core/vector_view.h"

namespace optd::server {

// The vectors of a tell, viewed in the request's memory, and its digest.
struct ToldVectors {
  ConstVectorView gradient;
  ConstVectorView hessian;
  ConstVectorView hessian_vector;
  // Least squares: r(x) (m) and J(x) (m*n, row-major).
  ConstVectorView residuals;
  ConstVectorView jacobian;
  // Matrix-free least squares: J(x) v (m) or J(x)^T u (n).
  ConstVectorView jacobian_vector;
  ConstVectorView jacobian_transpose_vector;
  uint64_t digest = 0;
};

// DecodeTell()
//
// INVALID_ARGUMENT for a bad encoding, vectors set beside `sliced`, a
// worker_id over `max_worker_id` characters, a note over `max_note_bytes`
// bytes, or a weight or group_lr value that is not finite and > 0.
absl::StatusOr<ToldVectors> DecodeTell(const v1::TellRequest& request,
                                       size_t max_worker_id,
                                       size_t max_note_bytes);

// "VALUE_AND_GRADIENT", for messages.
absl::string_view WantsName(Evaluation wants);

// CheckToldLength()
//
// INVALID_ARGUMENT when a vector trial `trial_id` wants is missing or has a
// length other than `expected` (`dimension`, or its square for a Hessian);
// the message names the field and session `session_id`. Least squares:
// CheckToldResiduals with m residuals (`expected` m or m*n).
absl::Status CheckToldLength(const ConstVectorView& vector,
                             absl::string_view field, int64_t expected,
                             Evaluation wants, uint64_t trial_id,
                             absl::string_view session_id, int64_t dimension);

// CheckToldResiduals()
//
// As CheckToldLength for a least-squares trial's `residuals` (m elements),
// `jacobian` (m*n, row-major), `jacobian_vector` (m) or
// `jacobian_transpose_vector` (n).
absl::Status CheckToldResiduals(const ConstVectorView& vector,
                                absl::string_view field, int64_t m,
                                Evaluation wants, uint64_t trial_id,
                                absl::string_view session_id,
                                int64_t dimension);

// CheckGroupLearningRates()
//
// INVALID_ARGUMENT when request.group_lr is set for a session that takes
// none (`options` not Adam's, or `data_parallel`), or holds another count
// than the session's parameter groups (1 without groups). OK when unset.
absl::Status CheckGroupLearningRates(const v1::TellRequest& request,
                                     const SolverOptions& options,
                                     bool data_parallel,
                                     absl::string_view session_id,
                                     absl::string_view solver_name);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_TOLD_VECTORS_H_
