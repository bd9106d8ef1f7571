#include "fuzz/harness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "server/proto_convert.h"
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

// A session's answer to Ask in F64: what a refused tell must leave as is.
std::string AskFingerprint(server::Session& session) {
  v1::AskResponse answer;
  absl::Status status = session.Ask(v1::VECTOR_ENCODING_F64, &answer);
  if (!status.ok()) return absl::StrCat("error ", status.ToString());
  return answer.SerializeAsString();
}

}  // namespace

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

std::string ScriptRunner::SessionFor(const Step& step) const {
  if (sessions_.empty()) return "";
  return sessions_[step.session() % sessions_.size()]->id();
}

void ScriptRunner::TellAndCheck(const std::shared_ptr<server::Session>& session,
                                const v1::TellRequest& request) {
  const std::string before = AskFingerprint(*session);
  v1::TellResponse answer;
  server::DurableTicket ticket;
  absl::Status status = session->Tell(request, &answer, &ticket);
  CheckClean(status, "Tell");
  if (!status.ok()) {
    Require(AskFingerprint(*session) == before,
            absl::StrCat("a refused tell changed the session: ",
                         status.ToString()));
    return;
  }
  // Wait for the journal (stored sessions); in memory this runs at once.
  absl::Status durable = absl::UnknownError("not called");
  ticket.WhenDurable([&](absl::Status s) { durable = std::move(s); });
  if (ticket.journal != nullptr) {
    absl::Status synced = ticket.journal->SyncNow();
    (void)synced;
  }
  // The retry of an applied tell: a duplicate with the same answer.
  const std::string after = AskFingerprint(*session);
  v1::TellResponse retry;
  status = session->Tell(request, &retry);
  Require(
      status.ok() && retry.duplicate(),
      absl::StrCat("a retried tell is not a duplicate: ", status.ToString()));
  retry.set_duplicate(answer.duplicate());
  Require(retry.SerializeAsString() == answer.SerializeAsString(),
          "a retried tell answers differently");
  Require(AskFingerprint(*session) == after,
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
      request.set_trial_id(pending.trials(0).trial_id());
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
    CheckClean((*session)->Ask(v1::VECTOR_ENCODING_F64, &ask), "Ask");
    if (ask.trials_size() == 0) return;  // finished
    const v1::Trial& trial = ask.trials(0);
    const std::vector<double> x = Elements(trial.x());
    const size_t n = x.size();
    // f = a sum (x_i - c)^2 + w sum sin(x_i) + b, exactly differentiated.
    const double a = objective.scale(), c = objective.center(),
                 w = objective.wave();
    double f = objective.offset();
    std::vector<double> g(n), h(n);
    for (size_t i = 0; i < n; ++i) {
      f += a * (x[i] - c) * (x[i] - c) + w * std::sin(x[i]);
      g[i] = 2 * a * (x[i] - c) + w * std::cos(x[i]);
      h[i] = 2 * a - w * std::sin(x[i]);
    }
    v1::TellRequest tell;
    tell.set_session_id(id);
    tell.set_trial_id(trial.trial_id());
    tell.set_encoding(objective.encoding());
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
      absl::StatusOr<std::shared_ptr<server::Session>> session =
          manager_->Create(step.create());
      CheckClean(session.status(), "Create");
      if (!session.ok()) return;
      v1::CreateSessionResponse response;
      CheckClean((*session)->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED,
                                         response.mutable_trials()),
                 "WriteTrials");
      sessions_.push_back(*std::move(session));
      return;
    }
    case Step::kImport: {
      absl::StatusOr<std::shared_ptr<server::Session>> session =
          manager_->Import(step.import());
      CheckClean(session.status(), "Import");
      if (!session.ok()) return;
      v1::ImportSessionResponse response;
      CheckClean((*session)->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED,
                                         response.mutable_trials()),
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
      CheckClean(
          request.worker_id().empty()
              ? (*session)->Ask(request.encoding(), &response,
                                request.points_on_slices())
              : (*session)->AskAsWorker(request.encoding(), request.worker_id(),
                                        &response, request.points_on_slices()),
          "Ask");
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
