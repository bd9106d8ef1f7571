// The one place where optd.v1 protos and solver types meet: vectors on the
// wire <-> solver vector views, solver options with their documented defaults,
// summaries, termination reasons and session states. Everything else in
// server/ calls these helpers rather than touching both worlds itself.
//
// Vectors cross without extra copies: DecodeVector() returns a view into the
// request's own memory (the packed `values` array or the `f64`/`f32` bytes),
// and WriteTrialPoint() sizes the response's field and lets the solver write
// straight into it.
//
//   OPTD_ASSIGN_OR_RETURN(ConstVectorView g,
//                         DecodeVector(request.gradient(), "gradient"));
//   OPTD_RETURN_IF_ERROR(solver.SetTrialGradient(g));
//   OPTD_RETURN_IF_ERROR(WriteTrialPoint(solver, encoding,
//   trial->mutable_x()));
//
// Thread-safety: stateless functions; the caller serializes access to the
// solver and to the messages they read or write.
#ifndef OPTD_SERVER_SESSION_PROTO_CONVERT_H_
#define OPTD_SERVER_SESSION_PROTO_CONVERT_H_

#include <memory>
#include <string>
#include <variant>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "optd/v1/optimizer.pb.h"
#include "server/sharding/shard_group.h"
#include "solvers/adam/adam.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/core/solver.h"
#include "solvers/core/summary.h"
#include "solvers/trust_region/trust_region.h"
#include "solvers/core/vector_view.h"

namespace optd::server {

// ---------------------------------------------------------------------------
// Vectors

// DecodeVector()
//
// A view of `vector`'s one set encoding, pointing into `vector`'s memory (valid
// while `vector` lives and is not modified). A vector with no encoding set
// gives an empty view; callers that need elements check the size.
// INVALID_ARGUMENT, naming `field`, when more than one encoding is set or a
// byte length is not a multiple of the element width.
absl::StatusOr<ConstVectorView> DecodeVector(const v1::Vector& vector,
                                             absl::string_view field);

// ValidateEncoding()
//
// INVALID_ARGUMENT naming `field` when `encoding` is not a known enum value
// (proto3 enums are open, so any int32 can arrive).
absl::Status ValidateEncoding(v1::VectorEncoding encoding,
                              absl::string_view field);

// ResolveEncoding()
//
// `requested` unless it is UNSPECIFIED, then `session_default` (itself VALUES
// when unspecified). REQUIRES: both pass ValidateEncoding().
v1::VectorEncoding ResolveEncoding(v1::VectorEncoding requested,
                                   v1::VectorEncoding session_default);

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
// WriteTrialVector()
//
// The vector v of an outstanding EVALUATION_HESSIAN_VECTOR trial, likewise.
absl::Status WriteTrialVector(const Solver& solver, v1::VectorEncoding encoding,
                              v1::Vector* out, int k = 0);

// ---------------------------------------------------------------------------
// Solver options

// The resolved options of a session's solver, echoed in Session.options.
using SolverOptions =
    std::variant<LbfgsOptions, AdamOptions, TrustRegionOptions>;

// LbfgsOptionsFromProto()
//
// Unset fields take the defaults documented in optimizer.proto (scipy 1.10
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

// A freshly created solver and the options it resolved.
struct SolverSetup {
  std::unique_ptr<Solver> solver;
  SolverOptions options;
  // The slices on other replicas, for a sharded session; null otherwise.
  std::shared_ptr<ShardGroup> shards;
};

// Builds the slices of a sharded session from `base` (kind and solver fields
// set; SessionManager knows the replicas, the id and the layout).
using ShardMaker =
    absl::AnyInvocable<absl::StatusOr<std::shared_ptr<ShardGroup>>(
        const v1::CreateSliceRequest& base)>;

// The revision of the solvers' arithmetic that this build creates sessions
// with (SessionSnapshot.solver_revision). A change that would give a stored
// session's tells other trials on replay bumps it and keeps the old
// arithmetic for the older revisions:
//   0  before revisions were recorded.
//   1  trust region: the ftol test (default on) and the quasi-Newton model's
//      pair threshold kPairDependence = 1e-12; revision 0 sessions replay with
//      ftol = 0 and 1e-8.
inline constexpr uint32_t kSolverRevision = 1;

// CreateSolver()
//
// The solver `request` selects (exactly one of lbfgs, adam, adamw or
// trust_region), starting at `x0`, with one in-process slice, or, given a
// `make_shards`, with its vectors in the slices that makes (DESIGN §3), with
// the arithmetic of `solver_revision`.
// INVALID_ARGUMENT when no solver is set, an option is out of range, x0 is
// not finite, or solver_revision is newer than kSolverRevision; UNAVAILABLE
// when a replica for the slices is unreachable.
absl::StatusOr<SolverSetup> CreateSolver(
    const v1::CreateSessionRequest& request, const ConstVectorView& x0,
    ShardMaker* make_shards = nullptr,
    uint32_t solver_revision = kSolverRevision);

// SetSessionOptions()
//
// Sets the `options` oneof of `session` (lbfgs, adam, adamw or trust_region).
// EstimateSessionBytes(), EstimateStateBytes()
//
// The bytes a session of dimension `n` created by `request` holds, all of
// its shards together, from its options (what --tenant_memory_bytes and
// --server_memory_bytes count; within a few vectors of the real figure):
//   solver  the solver state: L-BFGS (2m + 6)n doubles, the quasi-Newton
//           trust region (2m + 8)n, Newton-CG 8n, the exact trust region
//           n^2 + 8n, Adam 3n (4n with amsgrad) of its state type plus the
//           point in float64;
//   layers  the session layers: bounds (2n doubles in the solver and 2n in
//           the creation echo, 2n more in a finite-difference adapter), the
//           finite-difference, gradient-check or data-parallel adapter
//           (FiniteDifferenceBytes, GradientCheckBytes, DataParallelBytes),
//           and a lease for every trial of their batches (kLeaseBytes), which
//           workers may all hold at once.
// EstimateStateBytes is their sum.
struct SessionBytes {
  int64_t solver = 0;
  int64_t layers = 0;
  // The largest batch: 2n + 1 for central differences and gradient checks,
  // n + 1 forward, the data-parallel workers; 1 without layers.
  int64_t batch_trials = 1;
  // What the layers are, for messages: "finite-difference stencil", ...;
  // empty without layers.
  std::string layers_name;
  int64_t total() const { return solver + layers; }
};
SessionBytes EstimateSessionBytes(const v1::CreateSessionRequest& request,
                                  int64_t n);
int64_t EstimateStateBytes(const v1::CreateSessionRequest& request, int64_t n);

// A lease on a trial as Session keeps it: its map entry (96 bytes) and a
// worker id of up to 128 characters on the heap (144).
inline constexpr int64_t kLeaseBytes = 240;

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

// TimeToProto(): `time` as a google.protobuf.Timestamp (nanosecond precision).
void TimeToProto(absl::Time time, google::protobuf::Timestamp* out);
// TimeFromProto(): the inverse, exact for what TimeToProto wrote.
absl::Time TimeFromProto(const google::protobuf::Timestamp& time);

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
// reports. When `x_encoding` is not UNSPECIFIED, also Summary.x: the solver's
// best point in that encoding.
absl::Status SummaryToProto(const Summary& summary, double wall_seconds,
                            const Solver& solver, v1::VectorEncoding x_encoding,
                            v1::Summary* out);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_PROTO_CONVERT_H_
