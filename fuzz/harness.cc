#include "fuzz/harness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/stubs/logging.h"
#include "server/codec/vectors.h"
#include "spdlog/spdlog.h"

namespace optd::fuzz {
namespace {

// Evaluate steps tell at most this many trials each (the fuzzer's time per
// input stays in milliseconds).
constexpr uint32_t kMaxRepeat = 64;

// `values` into `out` in `encoding` (UNSPECIFIED: packed values).
void Encode(const std::vector<double>& values, v1::VectorEncoding encoding,
            v1::Vector* out) {
  out->Clear();
  switch (encoding) {
    case v1::VECTOR_ENCODING_F64:
      out->mutable_f64()->assign(reinterpret_cast<const char*>(values.data()),
                                 8 * values.size());
      break;
    case v1::VECTOR_ENCODING_F32: {
      std::string* bytes = out->mutable_f32();
      bytes->resize(4 * values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        const float f = static_cast<float>(values[i]);
        std::memcpy(bytes->data() + 4 * i, &f, 4);
      }
      break;
    }
    default:
      out->mutable_values()->Add(values.begin(), values.end());
  }
}

// The elements of a vector the server wrote (VALUES or F64), or {} .
std::vector<double> Elements(const v1::Vector& v) {
  if (v.values_size() > 0) return {v.values().begin(), v.values().end()};
  std::vector<double> out(v.f64().size() / 8);
  if (!out.empty()) std::memcpy(out.data(), v.f64().data(), 8 * out.size());
  return out;
}

// A trial's point: its x, or (Trial.delta) the base point `response` carries
// with one element set.
template <typename Response>
std::vector<double> PointOf(const v1::Trial& trial, const Response& response) {
  if (!trial.has_delta()) return Elements(trial.x());
  std::vector<double> x;
  for (const v1::BasePoint& base : response.base_points()) {
    if (base.trial_id() == trial.delta().base_trial_id())
      x = Elements(base.x());
  }
  for (const v1::Trial& base : response.trials()) {
    if (base.trial_id() == trial.delta().base_trial_id())
      x = Elements(base.x());
  }
  if (x.empty()) return x;  // f32 points are not read here (Elements)
  const int64_t i =
      trial.delta().has_coordinate() ? trial.delta().coordinate() : -1;
  Require(i < static_cast<int64_t>(x.size()),
          absl::StrCat("trial ", trial.trial_id(), " moves coordinate ", i,
                       " of a base point of ", x.size()));
  if (i >= 0) x[static_cast<size_t>(i)] = trial.delta().value();
  return x;
}

// `v` resized to `n` elements by repeating its own (zeros when it has none),
// kept in the encoding it arrived in.
void FitLength(int64_t n, v1::Vector* v) {
  absl::StatusOr<ConstVectorView> view = server::DecodeVector(*v, "fit");
  if (!view.ok()) return;  // let the server refuse it
  v1::VectorEncoding encoding = !v->f32().empty() ? v1::VECTOR_ENCODING_F32
                                : !v->f64().empty()
                                    ? v1::VECTOR_ENCODING_F64
                                    : v1::VECTOR_ENCODING_VALUES;
  std::vector<double> values(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n && view->size() > 0; ++i) {
    values[i] = view->Get(i % view->size());
  }
  Encode(values, encoding, v);
}

// The bounds session `session` was created with (Session.bounds): one side
// as n elements, +-inf where unset.
std::vector<double> BoundSide(const v1::Vector& side, int64_t n, double unset) {
  std::vector<double> out(static_cast<size_t>(n), unset);
  absl::StatusOr<ConstVectorView> view = server::DecodeVector(side, "bound");
  if (view.ok() && view->size() == n) {
    for (int64_t i = 0; i < n; ++i) out[i] = view->Get(i);
  }
  return out;
}

// Every trial point is finite, and for a session with bounds it lies in the
// box (checked for points sent as VALUES or F64; `x` is empty for F32 ones)
// (options.proto, sessions.proto: x0 is finite and projected into the box,
// finite-difference stencils go one-sided at a bound; a solver whose step
// does not fit in a double ends the session instead of handing it out).
void CheckTrialPoint(server::Session& session, const std::vector<double>& x,
                     uint64_t trial_id) {
  for (size_t i = 0; i < x.size(); ++i) {
    Require(std::isfinite(x[i]),
            absl::StrFormat("trial %d of session \"%s\" is not finite: "
                            "x[%d] = %.17g",
                            trial_id, session.id(), i, x[i]));
  }
  v1::Session described;
  if (!session.Describe(false, v1::VECTOR_ENCODING_F64, &described).ok() ||
      !described.has_bounds()) {
    return;
  }
  // A float32 point is the double rounded: it may round out of the box.
  if (x.empty()) return;
  const int64_t n = session.dimension();
  const std::vector<double> lower =
      BoundSide(described.bounds().lower(), n, -INFINITY);
  const std::vector<double> upper =
      BoundSide(described.bounds().upper(), n, INFINITY);
  Require(static_cast<int64_t>(x.size()) == n,
          absl::StrCat("trial ", trial_id, " has ", x.size(),
                       " elements; the session has dimension ", n));
  const v1::AdamOptions& adam =
      described.has_adamw() ? described.adamw() : described.adam();
  const bool float32 = (described.has_adam() || described.has_adamw()) &&
                       adam.dtype() == v1::STATE_DTYPE_FLOAT32;
  for (int64_t i = 0; i < n; ++i) {
    if (float32 && std::isfinite(lower[i])) {
      // Where the box holds no float32, x_i is the float32 nearest lower_i
      // (solvers/adam/adam.h).
      const float nearest = static_cast<float>(lower[i]);
      float inside = nearest;
      if (inside < lower[i]) inside = std::nextafter(inside, INFINITY);
      if (inside > upper[i] && x[i] == static_cast<double>(nearest)) continue;
    }
    Require(
        x[i] >= lower[i] && x[i] <= upper[i],
        absl::StrFormat("trial %d of session \"%s\" leaves the box: "
                        "x[%d] = %.17g, bounds [%.17g, %.17g]",
                        trial_id, session.id(), i, x[i], lower[i], upper[i]));
  }
}

}  // namespace

std::string SessionFingerprint(server::Session& session, bool with_leases) {
  v1::AskResponse answer;
  absl::Status status = session.Ask(v1::VECTOR_ENCODING_F64, &answer);
  if (!status.ok()) return absl::StrCat("error ", status.ToString());
  v1::Session described;
  status = session.Describe(/*include_x=*/true, v1::VECTOR_ENCODING_F64,
                            &described, /*include_trials=*/true);
  if (!status.ok()) return absl::StrCat("error ", status.ToString());
  // What moves on its own: the journal's sync (a commit thread), a lease's
  // expiry (a renewal by a retried tell moves it on, and a short lease may
  // end between two looks), and the labels' map order in the wire format.
  described.clear_durable_step();
  described.clear_labels();
  if (!with_leases || described.lease_seconds() < 60) {
    described.clear_leases();
  }
  for (v1::Lease& lease : *described.mutable_leases()) {
    lease.clear_expire_time();
  }
  return absl::StrCat(answer.SerializeAsString(), "\n",
                      described.SerializeAsString());
}

void Require(bool condition, absl::string_view what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz check failed: %.*s\n",
               static_cast<int>(what.size()), what.data());
  std::abort();
}

void CheckClean(const absl::Status& status, absl::string_view what) {
  if (status.ok()) return;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnimplemented:
      Require(!status.message().empty(),
              absl::StrCat(
                  what, ": an error without a message: ", status.ToString()));
      return;
    default:
      Require(false, absl::StrCat(what, ": ", status.ToString()));
  }
}

void QuietLogs() {
  if (std::getenv("OPTD_FUZZ_LOG") == nullptr) {
    spdlog::set_level(spdlog::level::off);
    // protobuf logs every string field with invalid UTF-8 it refuses.
    google::protobuf::SetLogHandler(nullptr);
  }
}

void ScriptRunner::Adopt(std::shared_ptr<server::Session> session) {
  sessions_.push_back(std::move(session));
}

std::string ScriptRunner::NextId() {
  return absl::StrCat("fuzz-", ++ids_given_);
}

std::string ScriptRunner::SessionFor(const Step& step) const {
  if (sessions_.empty()) return "";
  return sessions_[step.session() % sessions_.size()]->id();
}

void ScriptRunner::TellAndCheck(const std::shared_ptr<server::Session>& session,
                                const v1::TellRequest& request) {
  const std::string before = SessionFingerprint(*session);
  v1::TellResponse answer;
  server::DurableTicket ticket;
  absl::Status status = session->Tell(request, &answer, &ticket);
  CheckClean(status, "Tell");
  if (!status.ok()) {
    Require(SessionFingerprint(*session) == before,
            absl::StrCat("a refused tell changed the session: ",
                         status.ToString()));
    return;
  }
  for (const v1::Trial& trial : answer.trials()) {
    if (trial.has_x() || trial.has_delta())
      CheckTrialPoint(*session, PointOf(trial, answer), trial.trial_id());
  }
  // Wait for the journal (stored sessions); in memory this runs at once.
  absl::Status durable = absl::UnknownError("not called");
  ticket.WhenDurable([&](absl::Status s) { durable = std::move(s); });
  if (ticket.journal != nullptr) {
    absl::Status synced = ticket.journal->SyncNow();
    (void)synced;
  }
  // The retry of an applied tell: a duplicate with the same answer.
  const std::string after = SessionFingerprint(*session);
  v1::TellResponse retry;
  status = session->Tell(request, &retry);
  Require(
      status.ok() && retry.duplicate(),
      absl::StrCat("a retried tell is not a duplicate: ", status.ToString()));
  retry.set_duplicate(answer.duplicate());
  // A worker's retry renews the lease its answer carries.
  for (v1::TellResponse* told : {&answer, &retry}) {
    for (v1::Trial& trial : *told->mutable_trials()) {
      trial.clear_lease_expire_time();
    }
  }
  Require(retry.SerializeAsString() == answer.SerializeAsString(),
          "a retried tell answers differently");
  Require(SessionFingerprint(*session) == after,
          "a retried tell changed the session");
}

void ScriptRunner::Tell(const Step& step) {
  v1::TellRequest request = step.tell();
  if (request.session_id().empty()) request.set_session_id(SessionFor(step));
  absl::StatusOr<std::shared_ptr<server::Session>> session =
      manager_->Find(request.session_id());
  CheckClean(session.status(), "Find");
  if (!session.ok()) return;
  if (step.to_outstanding()) {
    v1::AskResponse pending;
    if ((*session)->Ask(v1::VECTOR_ENCODING_F64, &pending).ok() &&
        pending.trials_size() > 0) {
      request.set_trial_id(
          pending.trials(step.pick() % pending.trials_size()).trial_id());
    }
  }
  if (step.fit_lengths()) {
    const int64_t n = (*session)->dimension();
    if (request.has_gradient()) FitLength(n, request.mutable_gradient());
    if (request.has_hessian()) FitLength(n * n, request.mutable_hessian());
    if (request.has_hessian_vector()) {
      FitLength(n, request.mutable_hessian_vector());
    }
  }
  TellAndCheck(*session, request);
}

void ScriptRunner::Evaluate(const Step& step) {
  const Objective& objective = step.evaluate();
  const std::string id = SessionFor(step);
  const uint32_t repeat =
      std::clamp<uint32_t>(objective.repeat(), 1, kMaxRepeat);
  for (uint32_t r = 0; r < repeat; ++r) {
    absl::StatusOr<std::shared_ptr<server::Session>> session =
        manager_->Find(id);
    CheckClean(session.status(), "Find");
    if (!session.ok()) return;
    v1::AskResponse ask;
    const absl::Status asked =
        objective.worker_id().empty()
            ? (*session)->Ask(v1::VECTOR_ENCODING_F64, &ask)
            : (*session)->AskAsWorker(
                  v1::VECTOR_ENCODING_F64, objective.worker_id(), &ask,
                  /*on_slices=*/false, objective.max_trials());
    CheckClean(asked, "Ask");
    // Finished, or every trial is leased to other workers.
    if (ask.trials_size() == 0) return;
    for (const v1::Trial& handed_out : ask.trials()) {
      CheckTrialPoint(**session, PointOf(handed_out, ask),
                      handed_out.trial_id());
    }
    const v1::Trial& trial = ask.trials(objective.pick() % ask.trials_size());
    const std::vector<double> x = PointOf(trial, ask);
    const size_t n = x.size();
    // f = a sum (x_i - c)^2 + w sum sin(x_i) + b, exactly differentiated.
    const double a = objective.scale(), c = objective.center(),
                 w = objective.wave();
    double f = objective.offset();
    std::vector<double> g(n), h(n);
    for (size_t i = 0; i < n; ++i) {
      f += a * (x[i] - c) * (x[i] - c) + w * std::sin(x[i]);
      g[i] =
          2 * a * (x[i] - c) + w * std::cos(x[i]) +
          objective.jitter() * (static_cast<double>(trial.trial_id() % 7) - 3);
      h[i] = 2 * a - w * std::sin(x[i]);
    }
    v1::TellRequest tell;
    tell.set_session_id(id);
    tell.set_trial_id(trial.trial_id());
    tell.set_encoding(objective.encoding());
    tell.set_worker_id(objective.worker_id());
    tell.set_note(objective.note());
    if (objective.has_weight()) tell.set_weight(objective.weight());
    if (objective.fail()) {
      tell.set_failed(true);
    } else {
      if (!objective.omit_value()) tell.set_value(f);
      std::vector<double>* poisoned = nullptr;
      std::vector<double> dense, product;
      v1::Vector* poisoned_field = nullptr;
      switch (trial.wants()) {
        case v1::EVALUATION_GRADIENT:
        case v1::EVALUATION_VALUE_AND_GRADIENT:
          poisoned = &g;
          poisoned_field = tell.mutable_gradient();
          break;
        case v1::EVALUATION_HESSIAN:
          dense.assign(n * n, 0.0);
          for (size_t i = 0; i < n; ++i) dense[i * n + i] = h[i];
          poisoned = &dense;
          poisoned_field = tell.mutable_hessian();
          break;
        case v1::EVALUATION_HESSIAN_VECTOR: {
          const std::vector<double> v = Elements(trial.vector());
          product.assign(n, 0.0);
          for (size_t i = 0; i < n && i < v.size(); ++i)
            product[i] = h[i] * v[i];
          poisoned = &product;
          poisoned_field = tell.mutable_hessian_vector();
          break;
        }
        default:
          break;
      }
      if (poisoned != nullptr && objective.poisoned() && !poisoned->empty()) {
        (*poisoned)[objective.poison_index() % poisoned->size()] =
            objective.poison();
      }
      if (trial.wants() == v1::EVALUATION_HESSIAN) {
        Encode(g, objective.encoding(), tell.mutable_gradient());
      }
      if (poisoned_field != nullptr) {
        Encode(*poisoned, objective.encoding(), poisoned_field);
      }
    }
    TellAndCheck(*session, tell);
  }
}

void ScriptRunner::Run(const Step& step) {
  switch (step.step_case()) {
    case Step::kCreate: {
      v1::CreateSessionRequest request = step.create();
      if (request.session_id().empty()) request.set_session_id(NextId());
      absl::StatusOr<std::shared_ptr<server::Session>> session =
          manager_->Create(request);
      CheckClean(session.status(), "Create");
      if (!session.ok()) return;
      v1::CreateSessionResponse response;
      CheckClean(
          (*session)->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, &response),
          "WriteTrials");
      sessions_.push_back(*std::move(session));
      return;
    }
    case Step::kImport: {
      v1::ImportSessionRequest request = step.import();
      if (request.session_id().empty() &&
          request.snapshot().create().session_id().empty()) {
        request.set_session_id(NextId());
      }
      absl::StatusOr<std::shared_ptr<server::Session>> session =
          manager_->Import(request);
      CheckClean(session.status(), "Import");
      if (!session.ok()) return;
      v1::ImportSessionResponse response;
      CheckClean(
          (*session)->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, &response),
          "WriteTrials");
      sessions_.push_back(*std::move(session));
      return;
    }
    case Step::kTell:
      return Tell(step);
    case Step::kEvaluate:
      return Evaluate(step);
    case Step::kAsk: {
      v1::AskRequest request = step.ask();
      if (request.session_id().empty())
        request.set_session_id(SessionFor(step));
      absl::StatusOr<std::shared_ptr<server::Session>> session =
          manager_->Find(request.session_id());
      CheckClean(session.status(), "Find");
      if (!session.ok()) return;
      v1::AskResponse response;
      CheckClean(request.worker_id().empty()
                     ? (*session)->Ask(request.encoding(), &response,
                                       request.points_on_slices())
                     : (*session)->AskAsWorker(
                           request.encoding(), request.worker_id(), &response,
                           request.points_on_slices(), request.max_trials()),
                 "Ask");
      for (const v1::Trial& trial : response.trials()) {
        if (trial.has_x() || trial.has_delta()) {
          CheckTrialPoint(**session, PointOf(trial, response),
                          trial.trial_id());
        }
      }
      return;
    }
    case Step::kGet: {
      v1::GetSessionRequest request = step.get();
      if (request.session_id().empty())
        request.set_session_id(SessionFor(step));
      v1::Session response;
      CheckClean(manager_->Get(request, &response), "GetSession");
      return;
    }
    case Step::kList: {
      v1::ListSessionsResponse response;
      CheckClean(manager_->List(step.list(), &response), "ListSessions");
      return;
    }
    case Step::kDelete: {
      std::string id = step.delete_().session_id();
      if (id.empty()) id = SessionFor(step);
      CheckClean(manager_->Delete(id), "DeleteSession");
      return;
    }
    case Step::STEP_NOT_SET:
      return;
  }
}

}  // namespace optd::fuzz
