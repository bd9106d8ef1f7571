// The codecs of a session's messages that know the solvers: points and
// vectors written straight from a solver into a response, solver options
// with their documented defaults (and back, for Session.options), the
// creation echo, summaries, termination reasons and session states. The
// wire vector and time codecs below them are in server/codec/; the solver
// factory is solver_factory.h.
//
//   OPTD_RETURN_IF_ERROR(WriteTrialPoint(solver, encoding,
//                                        trial->mutable_x()));
//
// Thread-safety: stateless functions; the caller serializes access to the
// solver and to the messages they read or write.
#ifndef OPTD_SERVER_SESSION_CODECS_H_
#define OPTD_SERVER_SESSION_CODECS_H_

#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "optd/v1/optimizer.pb.h"
#include "server/codec/time.h"
#include "server/codec/vectors.h"
#include "solvers/adafactor/adafactor_options.h"
#include "solvers/adam/adam.h"
#include "solvers/core/solver.h"
#include "solvers/core/summary.h"
#include "solvers/core/vector_view.h"
#include "solvers/curvature/curvature_solver.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/least_squares/levenberg_marquardt.h"
#include "solvers/least_squares/trf_lsmr.h"
#include "solvers/least_squares/trust_region_reflective.h"
#include "solvers/trust_region/trust_region.h"

namespace optd::server {

// ---------------------------------------------------------------------------
// Points

// WriteTrialPoint(), WriteBestPoint()
//
// Replaces `out` with the point of trial k of the solver's outstanding batch
// (best point) in `encoding`: the field is sized once and the solver writes
// into it, so the n elements are copied exactly once. REQUIRES: `encoding`
// resolved (not UNSPECIFIED).
absl::Status WriteTrialPoint(const Solver& solver, v1::VectorEncoding encoding,
                             v1::Vector* out, int k = 0);
absl::Status WriteBestPoint(const Solver& solver, v1::VectorEncoding encoding,
                            v1::Vector* out);
// WriteBestGradient()
//
// The gradient at the best point (Solver::ReadBestGradient), likewise.
absl::Status WriteBestGradient(const Solver& solver,
                               v1::VectorEncoding encoding, v1::Vector* out);
// WriteTrialVector()
//
// The vector v of an outstanding EVALUATION_HESSIAN_VECTOR trial, likewise.
absl::Status WriteTrialVector(const Solver& solver, v1::VectorEncoding encoding,
                              v1::Vector* out, int k = 0);
// WriteCurvaturePairs()
//
// The solver's curvature pairs (Solver::ReadCurvaturePairs) into `out`, each
// vector as f64 bytes. FAILED_PRECONDITION as ReadCurvaturePairs, and `out`
// unchanged.
absl::Status WriteCurvaturePairs(const Solver& solver, v1::CurvaturePairs* out);

// ---------------------------------------------------------------------------
// Solver options

// A least-squares session's options: the residual count m, the method and
// its options (lm for method LM, trf for TRF; trf's bounds are set by the
// solver factory from CreateSessionRequest.bounds).
struct LeastSquaresSessionOptions {
  int residuals = 0;
  bool use_trf = false;
  LevenbergMarquardtOptions lm;
  TrustRegionReflectiveOptions trf;
  // tr_solver LSMR (with use_trf): trf_lsmr.h's solver, whose other
  // options are lsmr's (lsmr.trf is unused: trf above holds them).
  bool use_lsmr = false;
  TrfLsmrOptions lsmr;
};

// The resolved options of a session's solver, echoed in Session.options.
using SolverOptions =
    std::variant<LbfgsOptions, AdamOptions, TrustRegionOptions,
                 LeastSquaresSessionOptions, AdafactorOptions,
                 CurvatureOptions>;

// LbfgsOptionsFromProto()
//
// Unset fields take the defaults documented in options.proto (scipy 1.10
// L-BFGS-B's). INVALID_ARGUMENT naming the field ("lbfgs.memory") when a value
// is out of its documented range.
absl::StatusOr<LbfgsOptions> LbfgsOptionsFromProto(
    const v1::LbfgsOptions& proto);
// Every field set, so a client sees what the session runs with.
v1::LbfgsOptions LbfgsOptionsToProto(const LbfgsOptions& options);

// AdamOptionsFromProto()
//
// torch.optim.Adam defaults, or AdamW's (weight_decay 1e-2, decoupled) when
// `adamw`. INVALID_ARGUMENT naming the field ("adamw.lr") when a value is out
// of its documented range.
absl::StatusOr<AdamOptions> AdamOptionsFromProto(const v1::AdamOptions& proto,
                                                 bool adamw);
v1::AdamOptions AdamOptionsToProto(const AdamOptions& options);

// TrustRegionOptionsFromProto()
//
// scipy 1.10 defaults for the radii, eta and gtol; max_iterations unset stays
// 0, which the solver reads as scipy's 200 n (CreateSolver() resolves it).
// INVALID_ARGUMENT naming the field ("trust_region.eta") when out of range.
absl::StatusOr<TrustRegionOptions> TrustRegionOptionsFromProto(
    const v1::TrustRegionOptions& proto);
v1::TrustRegionOptions TrustRegionOptionsToProto(
    const TrustRegionOptions& options);

// LeastSquaresOptionsFromProto()
//
// scipy 1.10 least_squares defaults; max_nfev unset stays 0 (100 n,
// resolved by CreateSolver()). `bounded`: the session has a finite bound,
// which with method UNSPECIFIED selects TRF (as a loss other than linear
// does). INVALID_ARGUMENT naming the field ("least_squares.residuals",
// "least_squares.loss") when out of range for dimension `n`, or LM with
// bounds or a robust loss.
absl::StatusOr<LeastSquaresSessionOptions> LeastSquaresOptionsFromProto(
    const v1::LeastSquaresOptions& proto, int64_t n, bool bounded = false);
v1::LeastSquaresOptions LeastSquaresOptionsToProto(
    const LeastSquaresSessionOptions& options);

// SetSessionOptions()
//
// Sets the `options` oneof of `session` (lbfgs, adam, adamw, trust_region,
// least_squares, ...).
void SetSessionOptions(const SolverOptions& options, v1::Session* session);

// SetCreationEcho()
//
// Copies the creation request's bounds, gradient_source, finite_difference,
// gradient_check and data_parallel into `echo` (what GetSession shows of
// them), every other field left unset.
void SetCreationEcho(const v1::CreateSessionRequest& request,
                     v1::Session* echo);

// ---------------------------------------------------------------------------
// Outcomes

v1::Evaluation EvaluationToProto(Evaluation evaluation);
v1::TerminationReason TerminationReasonToProto(TerminationReason reason);

// SessionStateFor()
//
// RUNNING for kNone; gradient/function tolerance -> CONVERGED; max
// iterations/evaluations/steps -> LIMIT_REACHED; line search or evaluation
// failed -> FAILED; stopped by client -> STOPPED.
v1::SessionState SessionStateFor(TerminationReason reason);

// SummaryToProto()
//
// Everything in `summary`, with `wall_seconds` (the session's clock) and the
// reports, and a least-squares solver's Summary.least_squares. When
// `x_encoding` is not UNSPECIFIED, also Summary.x: the solver's best point in
// that encoding (and the least-squares vectors, which are left out
// otherwise).
absl::Status SummaryToProto(const Summary& summary, double wall_seconds,
                            const Solver& solver, v1::VectorEncoding x_encoding,
                            v1::Summary* out);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_CODECS_H_
