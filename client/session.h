// optd C++ client: one optimization session driven ask-tell.
//
// The server's solver hands out *trials* (a point and what it wants evaluated
// there); the client evaluates its objective and *tells* the result; each
// answer carries the next trial(s), or the summary once the session has ended
// (DESIGN §2). Vectors travel as raw little-endian float64 bytes by default,
// one memcpy each way.
//
//   using namespace optd::client;
//   absl::StatusOr<Session> session = Session::Create(
//       *client, /*x0=*/{-1.2, 1.0}, SolverSpec::Lbfgs());
//   std::vector<Trial> trials = session->first_trials();
//   while (true) {
//     const Trial& t = trials.front();
//     std::vector<double> g(2);
//     double f = Rosenbrock(t.x, &g);
//     absl::StatusOr<Answer> answer = session->Tell(t.id, f, g);
//     if (!answer.ok()) return answer.status();  // INVALID_ARGUMENT, ...
//     if (answer->finished()) {
//       std::cout << answer->summary->brief_report << "\n";
//       break;
//     }
//     trials = std::move(answer->trials);
//   }
//
// A tell that fails (network error, deadline) can be retried with the same
// payload: the server answers a repeat with the same trials, duplicate = true,
// and changes nothing.
//
// Thread-safety: a Session is immutable after Create() and every method is one
// RPC, so it is thread-safe; several workers may share one (each evaluating a
// different trial).
#ifndef OPTD_CLIENT_SESSION_H_
#define OPTD_CLIENT_SESSION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "client/client.h"
#include "client/direct_path.h"
#include "optd/v1/optimizer.pb.h"

namespace optd::client {

// What a trial wants evaluated at its point (v1::Evaluation).
enum class Wants {
  kValue,
  kGradient,
  kValueAndGradient,
  // The value, the gradient and the dense n x n Hessian (trust region, exact
  // subproblem).
  kHessian,
  // Only the product H(x) v for the trial's `vector` v (trust region,
  // Newton-CG subproblem).
  kHessianVector,
  // Least squares (SolverSpec::LeastSquares): the m residuals r(x), the
  // m x n Jacobian J(x), or both (Evaluation::residuals, ::jacobian).
  kResiduals,
  kJacobian,
  kResidualsAndJacobian,
  // Matrix-free least squares (tr_solver LSMR): J(x) v (m elements) for
  // the trial's `vector` v (n elements), or J(x)^T u (n elements) for u =
  // `vector` (m elements); Evaluation::jacobian_vector,
  // ::jacobian_transpose_vector.
  kJacobianVector,
  kJacobianTransposeVector,
};

inline bool WantsValue(Wants w) {
  return w == Wants::kValue || w == Wants::kValueAndGradient ||
         w == Wants::kHessian;
}
inline bool WantsGradient(Wants w) {
  return w == Wants::kGradient || w == Wants::kValueAndGradient ||
         w == Wants::kHessian;
}
inline bool WantsHessian(Wants w) { return w == Wants::kHessian; }
inline bool WantsHessianVector(Wants w) { return w == Wants::kHessianVector; }
inline bool WantsResiduals(Wants w) {
  return w == Wants::kResiduals || w == Wants::kResidualsAndJacobian;
}
inline bool WantsJacobian(Wants w) {
  return w == Wants::kJacobian || w == Wants::kResidualsAndJacobian;
}
// WantsName(): "value", "gradient", "value and gradient", "hessian",
// "hessian-vector product", "residuals", "jacobian", "residuals and
// jacobian", "jacobian-vector product", "jacobian-transpose-vector
// product".
absl::string_view WantsName(Wants w);

// A point to evaluate.
struct Trial {
  // Per-session, strictly increasing, starting at 1.
  uint64_t id = 0;
  // The point, widened exactly to double when it came as float32.
  std::vector<double> x;
  Wants wants = Wants::kValueAndGradient;
  // Wants::kHessianVector: the vector v of the wanted product H(x) v (n
  // elements); kJacobianVector: v of J(x) v (n); kJacobianTransposeVector:
  // u of J(x)^T u (m); empty otherwise.
  std::vector<double> vector;
  // Its place in the batch of trials handed out together (a
  // finite-difference stencil, a data-parallel step; v1::Trial).
  int batch_index = 0;
  int batch_size = 1;
};

// The result of evaluating a trial, as returned by an Objective (minimize.h)
// or passed to Session::Tell().
struct Evaluation {
  // f(x). Required when the trial wants a value, unless `failed`. NaN or Inf
  // counts as a failed evaluation on the server.
  std::optional<double> value;
  // The gradient at x (n elements). Required when the trial wants a gradient,
  // unless `failed`; empty otherwise.
  std::vector<double> gradient;
  // The dense Hessian at x, n*n elements, row-major. Required when the trial
  // wants Wants::kHessian, unless `failed`; empty otherwise.
  std::vector<double> hessian;
  // The product H(x) v for the trial's vector v, n elements. Required when the
  // trial wants Wants::kHessianVector, unless `failed`; empty otherwise.
  std::vector<double> hessian_vector;
  // Least squares: the m residuals r(x), required when the trial wants them
  // (WantsResiduals), unless `failed`; NaN or Inf counts as a failed
  // evaluation on the server.
  std::vector<double> residuals;
  // Least squares: the Jacobian J_ij = d r_i / d x_j, m*n elements,
  // row-major; required when the trial wants it (WantsJacobian), unless
  // `failed`. NaN or Inf is INVALID_ARGUMENT.
  std::vector<double> jacobian;
  // Matrix-free least squares: J(x) v (m elements) for a kJacobianVector
  // trial, J(x)^T u (n elements) for a kJacobianTransposeVector trial.
  std::vector<double> jacobian_vector;
  std::vector<double> jacobian_transpose_vector;
  // The evaluation crashed or diverged: the line search backtracks, Adam skips
  // the step. The session carries on.
  bool failed = false;
  // Kept with the trial in the session's trial log (optctl history).
  std::string note;
  // Data-parallel sessions: the gradient's weight in the step's mean.
  std::optional<double> weight;

  // Evaluation::Failed(): an evaluation reported as failed.
  static Evaluation Failed() {
    Evaluation e;
    e.failed = true;
    return e;
  }
};

// A least-squares session's end: v1::LeastSquaresResult with its vectors
// decoded (scipy's OptimizeResult fields; matrices row-major).
struct LeastSquaresResult {
  double cost = 0.0;
  std::vector<double> fun;         // r(x), m
  std::vector<double> jac;         // J(x), m*n
  std::vector<double> grad;        // J^T r, n
  std::vector<double> covariance;  // n*n
  double optimality = 0.0;
  int64_t nfev = 0;
  int64_t njev = 0;
  int status = 0;  // scipy's status (-2: optd's evaluation failed)
  bool success = false;
  int jacobian_rank = 0;
  // -1 / 1 where x is on its lower / upper bound, else 0 (n entries).
  std::vector<int> active_mask;
  std::string method;  // "lm" or "trf"
  // tr_solver LSMR: the J v and J^T u products told, the LSMR iterations.
  int64_t jacobian_vector_products = 0;
  int64_t jacobian_transpose_vector_products = 0;
  int64_t lsmr_iterations = 0;
};

// How a session ended: v1::Summary with its vector decoded. Like scipy's
// OptimizeResult, "did not converge" is a Result with success == false, not
// an error.
struct Result {
  std::string session_id;
  // The best point: the last accepted iterate (L-BFGS) or the final
  // parameters (Adam).
  std::vector<double> x;
  // f(x); NaN when unknown (an Adam session told no values).
  double value = 0.0;
  // max_i |g_i| at x.
  double gradient_max_norm = 0.0;
  int64_t iterations = 0;
  int64_t evaluations = 0;
  v1::TerminationReason reason = v1::TERMINATION_REASON_UNSPECIFIED;
  // scipy-style, e.g. "CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL".
  std::string message;
  // True for the convergence reasons (and Adam's max_steps, a client stop).
  bool success = false;
  double wall_seconds = 0.0;
  // One line: solver, reason, counters, final value.
  std::string brief_report;
  // Several lines: options, counters, final value and gradient norm.
  std::string full_report;
  // Least-squares sessions that ran to lmder's end; unset otherwise.
  std::optional<LeastSquaresResult> least_squares;
  // Curvature sessions (SolverSpec::Curvature, Client::Diagnose): the
  // spectrum estimate; unset otherwise.
  std::optional<v1::CurvatureResult> curvature;
};

// DecodeSummary(): `summary` as a Result; DATA_LOSS for a malformed vector.
absl::StatusOr<Result> DecodeSummary(const std::string& session_id,
                                     const v1::Summary& summary);

// The server's answer to Create, Ask and Tell.
struct Answer {
  // The outstanding trial(s); empty once the session has ended.
  std::vector<Trial> trials;
  v1::SessionState state = v1::SESSION_STATE_RUNNING;
  // Set once the session has ended.
  std::optional<Result> summary;
  // The tell repeated an earlier one (same trial, same payload) and changed
  // nothing.
  bool duplicate = false;
  // AskAsWorker only: every outstanding trial is leased to another worker;
  // ask again after this long.
  absl::Duration retry_after = absl::ZeroDuration();

  bool finished() const { return summary.has_value(); }
};

// The solver of a new session, with its options as the proto messages (whose
// comments document every default; unset fields take them).
//
//   v1::LbfgsOptions lbfgs;
//   lbfgs.set_memory(20);
//   SolverSpec solver = SolverSpec::Lbfgs(lbfgs);
//
// Thread-safety: a value type; const methods are safe from any thread.
class SolverSpec {
 public:
  static SolverSpec Lbfgs(const v1::LbfgsOptions& options = {});
  static SolverSpec TrustRegion(const v1::TrustRegionOptions& options = {});
  // The first-order family (options.proto says each one's semantics).
  static SolverSpec Adam(const v1::AdamOptions& options = {});
  static SolverSpec AdamW(const v1::AdamOptions& options = {});
  static SolverSpec Sgd(const v1::SgdOptions& options);  // lr is required
  static SolverSpec Rmsprop(const v1::RmspropOptions& options = {});
  static SolverSpec Adagrad(const v1::AdagradOptions& options = {});
  static SolverSpec Adamax(const v1::AdamaxOptions& options = {});
  static SolverSpec Nadam(const v1::NadamOptions& options = {});
  static SolverSpec Radam(const v1::RadamOptions& options = {});
  static SolverSpec Lion(const v1::LionOptions& options = {});
  // Adafactor (transformers' semantics) for a model whose parameter tensors
  // lie along x as `layers` (CreateSessionRequest.layers: rows x cols, cols
  // 0 for a vector); empty: x is one vector.
  static SolverSpec Adafactor(const v1::AdafactorOptions& options = {},
                              const std::vector<v1::Layer>& layers = {});
  // Levenberg-Marquardt least squares; options.residuals (m) is required.
  static SolverSpec LeastSquares(const v1::LeastSquaresOptions& options);
  // Curvature diagnostics at x0 (trials want Hessian-vector products, or
  // gradients at x0 +- h v with SOURCE_GRADIENT_DIFFERENCE).
  static SolverSpec Curvature(const v1::CurvatureOptions& options = {});

  // The field of CreateSessionRequest.solver it sets: "lbfgs",
  // "trust_region", "adam", "adamw", "sgd", ...
  absl::string_view name() const;
  // Sets the request's solver oneof.
  void AddTo(v1::CreateSessionRequest* request) const;

 private:
  SolverSpec() = default;

  // Only the solver oneof is set (and, for adafactor, layers).
  v1::CreateSessionRequest solver_;
};

// Options for a new session other than the solver.
struct SessionOptions {
  // 1-63 characters of [a-z0-9-], starting with a letter or digit. Default
  // empty: the server picks a random id.
  std::string session_id;
  // Free-form labels for ListSessions filters. Default none.
  std::map<std::string, std::string> labels;
  // How the server sends trial points and summaries. Default F64 (raw
  // binary64 bytes). F32 suits float32 (Adam dtype FLOAT32) sessions; VALUES
  // also makes this client send doubles as packed values instead of f64 bytes.
  v1::VectorEncoding encoding = v1::VECTOR_ENCODING_F64;
  // Replicas to split the state over; 0 or 1: one. Default 0.
  int shards = 0;
  // For a sharded session: exchange gradients and points with each replica
  // directly (PutSlice/GetSlice, all shards in parallel) instead of through
  // the home replica. Default true.
  bool direct = true;
  // Box lower <= x <= upper (docs/api.md "Bounds"); empty: no bound on that
  // side.
  std::vector<double> lower;
  std::vector<double> upper;
  // FINITE_DIFFERENCE: the server forms gradients from told values.
  v1::GradientSource gradient_source = v1::GRADIENT_SOURCE_UNSPECIFIED;
  // Set to have the server check told gradients (Session.gradient_checks).
  std::optional<v1::GradientCheckOptions> gradient_check;
  // > 1: synchronous data-parallel steps over this many workers.
  int data_parallel_workers = 0;
  // Durability.checkpoint_interval: 0 makes every tell durable before its
  // answer; N > 0 checkpoints every N tells (a restart resumes from the last
  // checkpoint, Session.durable_step). Unset: the server's default (0 up to
  // --durable_tell_max_dimension).
  std::optional<int64_t> checkpoint_interval;
};

// MakeCreateSessionRequest(): the CreateSessionRequest for `x0`, `solver` and
// `options`, for callers that want to adjust it before Session::Create() or
// RunStream() (e.g. x0 as float32 bytes).
// MakeTellRequest(): the TellRequest (without session id) for trial
// `trial_id` evaluated as `evaluation`; vectors are f64 bytes, or packed
// values with encoding VALUES.
v1::TellRequest MakeTellRequest(uint64_t trial_id, const Evaluation& evaluation,
                                v1::VectorEncoding encoding);

v1::CreateSessionRequest MakeCreateSessionRequest(
    absl::Span<const double> x0, const SolverSpec& solver,
    const SessionOptions& options = SessionOptions());

class Session {
 public:
  // Session::Create()
  //
  // Opens a session on the server (CreateSession). The first trial(s) are in
  // first_trials(). INVALID_ARGUMENT for bad options or x0, naming the field;
  // ALREADY_EXISTS for a session id in use; RESOURCE_EXHAUSTED for limits.
  static absl::StatusOr<Session> Create(
      const Client& client, absl::Span<const double> x0,
      const SolverSpec& solver,
      const SessionOptions& options = SessionOptions());
  static absl::StatusOr<Session> Create(const Client& client,
                                        const v1::CreateSessionRequest& request,
                                        bool direct = true);

  // Session::Attach()
  //
  // A handle on an existing session (no RPC); the next Ask() returns its
  // outstanding trials. `encoding` is how this handle asks for vectors.
  static Session Attach(const Client& client, std::string session_id,
                        v1::VectorEncoding encoding = v1::VECTOR_ENCODING_F64);

  // Session::EnableDirectPath()
  //
  // Reads the shard map (GetSession) and from then on exchanges vectors with
  // each replica directly (Create does this for sharded sessions). Gradients
  // go as slices, tells carry `sliced`, and points come back from the
  // replicas. FAILED_PRECONDITION for a session that is not sharded.
  absl::Status EnableDirectPath();
  bool direct() const { return direct_ != nullptr; }

  const std::string& id() const { return id_; }
  // The trial(s) CreateSession returned; empty for an attached session.
  // Decoded on first use: the 2n + 1 points of a finite-difference stencil
  // are n doubles each once built (DecodeTrials), which a worker that asks
  // for its own trials (AskAsWorker) never needs.
  const std::vector<Trial>& first_trials() const;

  // Session::Ask()
  //
  // The outstanding trial(s), or the summary once ended. Idempotent.
  absl::StatusOr<Answer> Ask() const;
  // Session::AskAsWorker()
  //
  // Ask as worker `worker_id`: the trials returned are leased to it for the
  // session's lease_seconds (asking again renews the lease); trials another
  // worker holds are withheld and Answer::retry_after says when to ask
  // again. For several workers serving one session; a worker holds up to
  // `max_trials` trials of a batch at once. An empty `worker_id` is Ask().
  absl::StatusOr<Answer> AskAsWorker(const std::string& worker_id,
                                     int max_trials = 1) const;

  // Session::Tell()
  //
  // Reports the evaluation of trial `trial_id`: its value (if wanted) and its
  // gradient (if wanted; n elements), or `failed` (Evaluation::Failed()). The
  // gradient travels as float64 bytes (packed values with encoding VALUES),
  // so nothing is converted per element. Returns the next trial(s) or the
  // summary.
  //
  // INVALID_ARGUMENT for a wrong length or a NaN/Inf gradient element;
  // FAILED_PRECONDITION for a stale or already answered trial told with a
  // different payload, or a finished session; NOT_FOUND for an unknown or
  // deleted session. In every error case the session is unchanged.
  absl::StatusOr<Answer> Tell(uint64_t trial_id, std::optional<double> value,
                              absl::Span<const double> gradient = {},
                              bool failed = false) const;
  // With an Evaluation, its `hessian` (n*n, row-major) and `hessian_vector`
  // (n) go too when not empty, as float64 bytes like the gradient;
  // INVALID_ARGUMENT also for a Hessian of the wrong length or with a NaN/Inf
  // element (the message names its index).
  absl::StatusOr<Answer> Tell(uint64_t trial_id,
                              const Evaluation& evaluation) const;
  // Session::TellF32()
  //
  // Tell() with a float gradient, sent as float32 bytes: the natural form for
  // a float32 (Adam dtype FLOAT32) session, which then widens nothing.
  absl::StatusOr<Answer> TellF32(uint64_t trial_id, std::optional<double> value,
                                 absl::Span<const float> gradient,
                                 bool failed = false) const;

  // Session::Tell(request)
  //
  // Sends `request` as is, with its session_id set to this session's; for
  // what the forms above cannot express.
  absl::StatusOr<Answer> Tell(v1::TellRequest request) const;

  // Session::Stop()
  //
  // Ends the session now (reason STOPPED_BY_CLIENT); returns the summary.
  absl::StatusOr<Answer> Stop() const;

  // Session::Get()
  //
  // GetSession for this session; with `include_x`, best_x comes in this
  // handle's encoding (read it with DecodeVector(), vector_codec.h).
  absl::StatusOr<v1::Session> Get(bool include_x = false) const;

  // Session::Delete()
  //
  // DeleteSession: ends the session and frees it on the server.
  absl::Status Delete() const;

 private:
  // CreateSession's trials as they came (checked by Create), and their
  // decoding once first_trials() asks for it. Shared by copies.
  struct FirstTrials;

  Session(const Client& client, std::string id, v1::VectorEncoding encoding,
          std::shared_ptr<FirstTrials> first_trials);

  // Trials the server left on the replicas (Trial.on_slices) get their
  // points (and vectors) from them.
  absl::Status FillFromSlices(
      const google::protobuf::RepeatedPtrField<v1::Trial>& sent,
      std::vector<Trial>* trials) const;
  // Tell() of `request` after its vectors went to the replicas.
  absl::StatusOr<Answer> SendTell(v1::TellRequest request) const;

  Client client_;
  std::string id_;
  v1::VectorEncoding encoding_;
  std::shared_ptr<FirstTrials> first_trials_;  // null when attached
  // Set for a sharded session on the direct data path.
  std::shared_ptr<const DirectPath> direct_;
};

// DecodeTrials(): `trials` with their points (and Hessian-vector trials'
// vectors) decoded. A trial that came as a delta from another trial of its
// batch (v1::Trial.delta: a finite-difference stencil point, a data-parallel
// worker's share) gets its point built as the server means it, bit for bit:
// its base point, found in `base_points` or among `trials`, with the delta's
// element set. Every such trial holds its own copy of n doubles, so decode
// only the trials to evaluate (DecodeTrial) where a batch is large.
// DATA_LOSS for a malformed vector, a delta whose base point the answer
// lacks or whose coordinate is out of range; UNIMPLEMENTED for a trial that
// wants an evaluation this client does not know.
absl::StatusOr<std::vector<Trial>> DecodeTrials(
    const google::protobuf::RepeatedPtrField<v1::Trial>& trials,
    const google::protobuf::RepeatedPtrField<v1::BasePoint>& base_points);
// As above, for an answer without base points (bases only among `trials`).
absl::StatusOr<std::vector<Trial>> DecodeTrials(
    const google::protobuf::RepeatedPtrField<v1::Trial>& trials);
// DecodeTrial(): trials[index] alone, decoded as DecodeTrials does.
absl::StatusOr<Trial> DecodeTrial(
    int index, const google::protobuf::RepeatedPtrField<v1::Trial>& trials,
    const google::protobuf::RepeatedPtrField<v1::BasePoint>& base_points);

}  // namespace optd::client

#endif  // OPTD_CLIENT_SESSION_H_
