#include "server/rpc/optimizer_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "server/rpc/presized_parse.h"
#include "server/session/memory_release.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

// The caller of a call to the Optimizer service (anonymous without `auth`).
absl::StatusOr<Caller> Authenticate(
    const Authenticator* auth, const grpc::CallbackServerContext& context) {
  if (auth == nullptr) return Caller{};
  return auth->AuthenticateTenant(context);
}

// A new session's id, as the client asked for it (checked) or picked here,
// scoped to the caller's tenant. An anonymous caller's empty id stays empty
// (the SessionManager picks one).
absl::Status ScopeNewSessionId(const Caller& caller, std::string* id,
                               absl::string_view field = "session_id") {
  if (!id->empty()) {
    OPTD_RETURN_IF_ERROR(ValidateSessionId(*id, field));
  } else if (caller.tenant.empty()) {
    return absl::OkStatus();
  } else {
    *id = NewSessionId();
  }
  *id = caller.Scope(*id);
  return absl::OkStatus();
}

// Runs `handler(caller)` unless the client has already gone (cancelled, or
// its deadline passed while the call waited for a thread): work nobody will
// read is skipped, and a tell the client gave up on is not applied behind its
// back. Calls that do not authenticate are refused first. The call is
// counted under `method` in `options.metrics`.
template <typename Request, typename Response, typename Handler>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* context,
                                   const ServiceOptions& options,
                                   const char* method, const Request* request,
                                   const Response* response, Handler handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  absl::Status status;
  if (context->IsCancelled()) {
    status = absl::CancelledError("the call was cancelled before it ran");
  } else {
    absl::StatusOr<Caller> caller = Authenticate(options.auth, *context);
    status = caller.ok() ? caller->Unscope(handler(*caller)) : caller.status();
  }
  if (options.metrics != nullptr) {
    options.metrics->Handled(
        method, status.code(), static_cast<int64_t>(request->ByteSizeLong()),
        status.ok() ? static_cast<int64_t>(response->ByteSizeLong()) : 0);
    options.metrics->UnaryDuration(method, absl::Now() - start);
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Optimize: one response per request, in order, so a read is started only
// after the previous response was written (at most one read or one write in
// flight, as the callback API allows). The response message is reused, which
// keeps the capacity of its vectors across the loop.
class OptimizeReactor final
    : public grpc::ServerBidiReactor<v1::OptimizeRequest,
                                     v1::OptimizeResponse> {
 public:
  OptimizeReactor(SessionManager* sessions, Caller caller,
                  std::atomic<int64_t>* open_streams, ServiceMetrics* metrics)
      : sessions_(sessions),
        caller_(std::move(caller)),
        open_streams_(open_streams),
        metrics_(metrics) {
    StartRead(&request_);
  }

  // A stream that is refused before its first read.
  OptimizeReactor(grpc::Status refusal, std::atomic<int64_t>* open_streams,
                  ServiceMetrics* metrics)
      : sessions_(nullptr), open_streams_(open_streams), metrics_(metrics) {
    End(refusal);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or the call was cancelled)
      End(grpc::Status::OK);
      return;
    }
    received_bytes_ += static_cast<int64_t>(request_.ByteSizeLong());
    response_.Clear();
    if (session_ == nullptr && !request_.has_create() &&
        !request_.has_attach_session_id()) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "the first OptimizeRequest must set create or "
                       "attach_session_id; tells come after it"));
      return;
    }
    DurableTicket ticket;
    absl::Status status = Handle(&ticket);
    if (!status.ok()) {
      WriteError(status);
      return;
    }
    // The answer leaves once the tell is durable (at once without a journal).
    ticket.WhenDurable([this](absl::Status durable) {
      if (!durable.ok()) {
        WriteError(durable);
        return;
      }
      sent_bytes_ += static_cast<int64_t>(response_.ByteSizeLong());
      StartWrite(&response_);
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED,
                       "the stream broke while writing a response"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override {
    if (metrics_ != nullptr) {
      metrics_->Handled("Optimize", static_cast<absl::StatusCode>(code_),
                        received_bytes_, sent_bytes_);
    }
    open_streams_->fetch_sub(1);
    delete this;
  }

 private:
  // The session is unchanged (or the tell could not be made durable): tell
  // the client and keep the stream open.
  void WriteError(const absl::Status& status) {
    response_.Clear();
    if (session_ != nullptr) {
      response_.set_session_id(caller_.Unscope(session_->id()));
    }
    const absl::Status unscoped = caller_.Unscope(status);
    response_.set_error_code(static_cast<int>(unscoped.code()));
    response_.set_error_message(std::string(unscoped.message()));
    sent_bytes_ += static_cast<int64_t>(response_.ByteSizeLong());
    StartWrite(&response_);
  }

  absl::Status Handle(DurableTicket* ticket) {
    switch (request_.request_case()) {
      case v1::OptimizeRequest::kCreate:
      case v1::OptimizeRequest::kAttachSessionId:
        return Open();
      case v1::OptimizeRequest::kTell:
        return Tell(ticket);
      case v1::OptimizeRequest::REQUEST_NOT_SET:
        break;
    }
    return absl::InvalidArgumentError(
        "OptimizeRequest sets no request; send a tell");
  }

  absl::Status Open() {
    if (session_ != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "this stream already serves session \"", session_->id(),
          "\"; send tells, or open another stream for another session"));
    }
    std::shared_ptr<Session> session;
    if (request_.has_create()) {
      OPTD_RETURN_IF_ERROR(ScopeNewSessionId(
          caller_, request_.mutable_create()->mutable_session_id()));
      OPTD_ASSIGN_OR_RETURN(session, sessions_->Create(request_.create()));
      if (metrics_ != nullptr) metrics_->Created(session->solver_name());
    } else {
      OPTD_ASSIGN_OR_RETURN(
          session,
          sessions_->Find(caller_.Scope(request_.attach_session_id())));
    }
    OPTD_RETURN_IF_ERROR(
        session->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &response_));
    session_ = std::move(session);
    response_.set_session_id(caller_.Unscope(session_->id()));
    return absl::OkStatus();
  }

  absl::Status Tell(DurableTicket* ticket) {
    const v1::TellRequest& tell = request_.tell();
    const std::string served = caller_.Unscope(session_->id());
    if (!tell.session_id().empty() && tell.session_id() != served) {
      return absl::InvalidArgumentError(
          absl::StrCat("tell.session_id is \"", tell.session_id(),
                       "\" but this stream serves \"", served,
                       "\"; leave it empty or open another stream"));
    }
    const absl::Time start = absl::Now();
    Session::TellStats stats;
    OPTD_RETURN_IF_ERROR(session_->Tell(tell, &response_, ticket, &stats));
    if (metrics_ != nullptr) {
      metrics_->Told(session_->solver_name(), absl::Now() - start, stats);
    }
    response_.set_session_id(served);
    return absl::OkStatus();
  }

  // Finish() with the code remembered for the metrics.
  void End(const grpc::Status& status) {
    code_ = status.error_code();
    Finish(status);
  }

  SessionManager* const sessions_;
  const Caller caller_;
  std::atomic<int64_t>* const open_streams_;
  ServiceMetrics* const metrics_;
  grpc::StatusCode code_ = grpc::StatusCode::OK;
  int64_t received_bytes_ = 0;
  int64_t sent_bytes_ = 0;
  std::shared_ptr<Session> session_;
  v1::OptimizeRequest request_;
  v1::OptimizeResponse response_;
};

}  // namespace

grpc::ServerUnaryReactor* OptimizerService::CreateSession(
    grpc::CallbackServerContext* context,
    const v1::CreateSessionRequest* request,
    v1::CreateSessionResponse* response) {
  return RunUnary(context, options_, "CreateSession", request, response,
                  [&](const Caller& caller) -> absl::Status {
                    NoteMessageBytes(request->x0().ByteSizeLong());
                    // The request is this call's own until it finishes: its id
                    // is scoped in place rather than copying x0.
                    OPTD_RETURN_IF_ERROR(ScopeNewSessionId(
                        caller, const_cast<v1::CreateSessionRequest*>(request)
                                    ->mutable_session_id()));
                    OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                                          sessions_->Create(*request));
                    if (options_.metrics != nullptr) {
                      options_.metrics->Created(session->solver_name());
                    }
                    response->set_session_id(caller.Unscope(session->id()));
                    OPTD_RETURN_IF_ERROR(session->WriteTrials(
                        v1::VECTOR_ENCODING_UNSPECIFIED, response));
                    NoteMessageBytes(response->ByteSizeLong());
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* OptimizerService::Diagnose(
    grpc::CallbackServerContext* context, const v1::DiagnoseRequest* request,
    v1::DiagnoseResponse* response) {
  return RunUnary(
      context, options_, "Diagnose", request, response,
      [&](const Caller& caller) -> absl::Status {
        absl::StatusOr<std::shared_ptr<Session>> source =
            sessions_->Find(caller.Scope(request->session_id()));
        if (!source.ok()) {
          // A session on another replica is diagnosed there.
          return router_.Forward(*context, source.status(),
                                 request->session_id(), *request, response,
                                 &v1::Optimizer::Stub::Diagnose);
        }
        if (!request->diagnosis_id().empty()) {
          OPTD_RETURN_IF_ERROR(
              ValidateSessionId(request->diagnosis_id(), "diagnosis_id"));
        }
        const bool best = request->point() == v1::DiagnoseRequest::POINT_BEST;
        std::vector<double> x;
        OPTD_RETURN_IF_ERROR((*source)->ReadPoint(best, &x));
        v1::CreateSessionRequest create;
        create.set_session_id(request->diagnosis_id());
        create.mutable_x0()->mutable_values()->Add(x.begin(), x.end());
        // A sharded session is diagnosed on as many shards, on the same
        // replicas (docs/curvature.md, "Sharded sessions").
        const int shards = (*source)->shards();
        if (shards > 1) create.set_shards(shards);
        *create.mutable_curvature() = request->curvature();
        create.set_vector_encoding(request->vector_encoding());
        (*create.mutable_labels())["optd.diagnoses"] = request->session_id();
        (*create.mutable_labels())["optd.diagnosis_point"] =
            best ? "best" : "current";
        OPTD_RETURN_IF_ERROR(
            ScopeNewSessionId(caller, create.mutable_session_id()));
        OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                              sessions_->Create(create));
        if (options_.metrics != nullptr) {
          options_.metrics->Created(session->solver_name());
        }
        response->set_session_id(caller.Unscope(session->id()));
        OPTD_RETURN_IF_ERROR(
            session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, response));
        // A sharded point stays on the slices: x is left empty (read it
        // with GetSession of the diagnosis, best_x).
        if (shards <= 1) {
          response->mutable_x()->mutable_values()->Add(x.begin(), x.end());
        }
        NoteMessageBytes(response->ByteSizeLong());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OptimizerService::GetSession(
    grpc::CallbackServerContext* context, const v1::GetSessionRequest* request,
    v1::Session* response) {
  return RunUnary(
      context, options_, "GetSession", request, response,
      [&](const Caller& caller) {
        // Forwarded unscoped: the other replica scopes it for the same caller.
        v1::GetSessionRequest scoped = *request;
        scoped.set_session_id(caller.Scope(request->session_id()));
        absl::Status status = router_.Forward(
            *context, sessions_->Get(scoped, response), request->session_id(),
            *request, response, &v1::Optimizer::Stub::GetSession);
        response->set_session_id(caller.Unscope(response->session_id()));
        return status;
      });
}

grpc::ServerUnaryReactor* OptimizerService::ListSessions(
    grpc::CallbackServerContext* context,
    const v1::ListSessionsRequest* request,
    v1::ListSessionsResponse* response) {
  return RunUnary(
      context, options_, "ListSessions", request, response,
      [&](const Caller& caller) {
        absl::Status status =
            sessions_->List(*request, response, caller.ScopePrefix());
        for (v1::Session& session : *response->mutable_sessions()) {
          session.set_session_id(caller.Unscope(session.session_id()));
        }
        return status;
      });
}

grpc::ServerUnaryReactor* OptimizerService::DeleteSession(
    grpc::CallbackServerContext* context,
    const v1::DeleteSessionRequest* request,
    v1::DeleteSessionResponse* response) {
  return RunUnary(context, options_, "DeleteSession", request, response,
                  [&](const Caller& caller) {
                    return router_.Forward(
                        *context,
                        sessions_->Delete(caller.Scope(request->session_id())),
                        request->session_id(), *request, response,
                        &v1::Optimizer::Stub::DeleteSession);
                  });
}

grpc::ServerUnaryReactor* OptimizerService::Ask(
    grpc::CallbackServerContext* context, const v1::AskRequest* request,
    v1::AskResponse* response) {
  return RunUnary(
      context, options_, "Ask", request, response,
      [&](const Caller& caller) -> absl::Status {
        absl::StatusOr<std::shared_ptr<Session>> found =
            sessions_->Find(caller.Scope(request->session_id()));
        if (!found.ok()) {
          return router_.Forward(*context, found.status(),
                                 request->session_id(), *request, response,
                                 &v1::Optimizer::Stub::Ask);
        }
        std::shared_ptr<Session> session = *std::move(found);
        if (!request->worker_id().empty()) {
          OPTD_RETURN_IF_ERROR(session->AskAsWorker(
              request->encoding(), request->worker_id(), response,
              request->points_on_slices(), request->max_trials()));
        } else {
          OPTD_RETURN_IF_ERROR(session->Ask(request->encoding(), response,
                                            request->points_on_slices()));
        }
        NoteMessageBytes(response->ByteSizeLong());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OptimizerService::Tell(
    grpc::CallbackServerContext* context, const v1::TellRequest* request,
    v1::TellResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ServiceMetrics* const metrics = options_.metrics;
  const absl::Time start = absl::Now();
  // Counted when the call finishes, with the code the client gets.
  auto finish = [reactor, metrics, request, response,
                 start](absl::Status status) {
    if (metrics != nullptr) {
      metrics->Handled(
          "Tell", status.code(), static_cast<int64_t>(request->ByteSizeLong()),
          status.ok() ? static_cast<int64_t>(response->ByteSizeLong()) : 0);
      metrics->UnaryDuration("Tell", absl::Now() - start);
    }
    reactor->Finish(ToGrpcStatus(status));
  };
  if (context->IsCancelled()) {
    finish(absl::CancelledError("the call was cancelled before it ran"));
    return reactor;
  }
  DurableTicket ticket;
  absl::StatusOr<Caller> caller = Authenticate(options_.auth, *context);
  absl::Status status = [&]() -> absl::Status {
    if (!caller.ok()) return caller.status();
    absl::StatusOr<std::shared_ptr<Session>> found =
        sessions_->Find(caller->Scope(request->session_id()));
    if (!found.ok()) {
      // Another replica's session: its answer is durable there.
      return router_.Forward(*context, found.status(), request->session_id(),
                             *request, response, &v1::Optimizer::Stub::Tell);
    }
    std::shared_ptr<Session> session = *std::move(found);
    NoteMessageBytes(request->gradient().ByteSizeLong() +
                     request->hessian().ByteSizeLong() +
                     request->hessian_vector().ByteSizeLong() +
                     request->residuals().ByteSizeLong() +
                     request->jacobian().ByteSizeLong() +
                     request->jacobian_vector().ByteSizeLong() +
                     request->jacobian_transpose_vector().ByteSizeLong());
    const absl::Time start = absl::Now();
    Session::TellStats stats;
    OPTD_RETURN_IF_ERROR(session->Tell(*request, response, &ticket, &stats));
    if (metrics != nullptr) {
      metrics->Told(session->solver_name(), absl::Now() - start, stats);
    }
    NoteMessageBytes(response->ByteSizeLong());
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    finish(caller.ok() ? caller->Unscope(status) : status);
    return reactor;
  }
  // Acknowledged only once durable; the commit thread finishes the call.
  ticket.WhenDurable([finish, caller = *caller](absl::Status durable) {
    finish(caller.Unscope(durable));
  });
  return reactor;
}

grpc::ServerUnaryReactor* OptimizerService::ExportSession(
    grpc::CallbackServerContext* context,
    const v1::ExportSessionRequest* request, v1::SessionSnapshot* response) {
  return RunUnary(context, options_, "ExportSession", request, response,
                  [&](const Caller& caller) -> absl::Status {
                    OPTD_RETURN_IF_ERROR(router_.Forward(
                        *context,
                        sessions_->Export(caller.Scope(request->session_id()),
                                          response, request->compact()),
                        request->session_id(), *request, response,
                        &v1::Optimizer::Stub::ExportSession));
                    // The snapshot names the session as its tenant does, so
                    // that it imports under any tenant.
                    response->mutable_create()->set_session_id(
                        caller.Unscope(response->create().session_id()));
                    NoteMessageBytes(response->ByteSizeLong());
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* OptimizerService::ImportSession(
    grpc::CallbackServerContext* context,
    const v1::ImportSessionRequest* request,
    v1::ImportSessionResponse* response) {
  return RunUnary(
      context, options_, "ImportSession", request, response,
      [&](const Caller& caller) -> absl::Status {
        NoteMessageBytes(request->ByteSizeLong());
        if (!caller.tenant.empty()) {
          // Scoped in place (the request is this call's own): the id asked for,
          // or the snapshot's.
          auto* scoped = const_cast<v1::ImportSessionRequest*>(request);
          std::string id = scoped->session_id().empty()
                               ? scoped->snapshot().create().session_id()
                               : scoped->session_id();
          OPTD_RETURN_IF_ERROR(ValidateSessionId(id, "session_id"));
          scoped->set_session_id(caller.Scope(id));
        }
        OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                              sessions_->Import(*request));
        if (options_.metrics != nullptr) {
          options_.metrics->Created(session->solver_name());
        }
        response->set_session_id(caller.Unscope(session->id()));
        response->set_state(session->state());
        response->set_tells(session->tells());
        return session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, response);
      });
}

grpc::ServerUnaryReactor* OptimizerService::ForkSession(
    grpc::CallbackServerContext* context, const v1::ForkSessionRequest* request,
    v1::ForkSessionResponse* response) {
  return RunUnary(
      context, options_, "ForkSession", request, response,
      [&](const Caller& caller) -> absl::Status {
        // Scoped on a copy: a source held by another replica is forked there,
        // from the request as the client sent it.
        v1::ForkSessionRequest scoped = *request;
        scoped.set_session_id(caller.Scope(request->session_id()));
        OPTD_RETURN_IF_ERROR(ScopeNewSessionId(
            caller, scoped.mutable_new_session_id(), "new_session_id"));
        absl::StatusOr<SessionManager::Forked> forked = sessions_->Fork(scoped);
        if (!forked.ok()) {
          return router_.Forward(*context, forked.status(),
                                 request->session_id(), *request, response,
                                 &v1::Optimizer::Stub::ForkSession);
        }
        const std::shared_ptr<Session>& session = forked->session;
        if (options_.metrics != nullptr) {
          options_.metrics->Created(session->solver_name());
        }
        response->set_session_id(caller.Unscope(session->id()));
        response->set_state(session->state());
        response->set_step(forked->step);
        OPTD_RETURN_IF_ERROR(
            session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, response));
        NoteMessageBytes(response->ByteSizeLong());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OptimizerService::SwitchSolver(
    grpc::CallbackServerContext* context,
    const v1::SwitchSolverRequest* request,
    v1::SwitchSolverResponse* response) {
  return RunUnary(
      context, options_, "SwitchSolver", request, response,
      [&](const Caller& caller) -> absl::Status {
        v1::SwitchSolverRequest scoped = *request;
        scoped.set_session_id(caller.Scope(request->session_id()));
        absl::StatusOr<SessionManager::Switched> switched =
            sessions_->SwitchSolver(scoped);
        if (!switched.ok()) {
          return router_.Forward(*context, switched.status(),
                                 request->session_id(), *request, response,
                                 &v1::Optimizer::Stub::SwitchSolver);
        }
        const std::shared_ptr<Session>& session = switched->session;
        if (options_.metrics != nullptr) {
          options_.metrics->Created(session->solver_name());
        }
        response->set_session_id(caller.Unscope(session->id()));
        response->set_state(session->state());
        response->set_step(switched->step);
        response->set_pairs(switched->pairs);
        OPTD_RETURN_IF_ERROR(
            session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, response));
        NoteMessageBytes(response->ByteSizeLong());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OptimizerService::PutSlice(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  v1::PutSliceRequest request;
  const absl::Status parsed = ParsePresized(*request_bytes, &request);
  // The received slices go now, not when the call ends: the request holds
  // the values. The buffer is this call's own; gRPC reads it no more.
  const_cast<grpc::ByteBuffer*>(request_bytes)->Clear();
  v1::PutSliceResponse response;
  return RunUnary(
      context, options_, "PutSlice", &request, &response,
      [&](const Caller& caller) -> absl::Status {
        OPTD_RETURN_IF_ERROR(parsed);
        if (slices_ == nullptr) {
          return absl::UnimplementedError("this server holds no slices");
        }
        NoteMessageBytes(request.values().ByteSizeLong());
        // The request's bytes move into the staged slice.
        request.set_session_id(caller.Scope(request.session_id()));
        OPTD_ASSIGN_OR_RETURN(ShardRange range, slices_->Stage(request));
        response.set_begin(range.begin);
        response.set_end(range.end);
        bool own_buffer = false;
        return ToAbslStatus(
            grpc::SerializationTraits<v1::PutSliceResponse>::Serialize(
                response, response_bytes, &own_buffer));
      });
}

grpc::ServerUnaryReactor* OptimizerService::GetSlice(
    grpc::CallbackServerContext* context, const v1::GetSliceRequest* request,
    v1::GetSliceResponse* response) {
  return RunUnary(
      context, options_, "GetSlice", request, response,
      [&](const Caller& caller) -> absl::Status {
        if (slices_ == nullptr) {
          return absl::UnimplementedError("this server holds no slices");
        }
        auto* own = const_cast<v1::GetSliceRequest*>(request);
        own->set_session_id(caller.Scope(request->session_id()));
        OPTD_RETURN_IF_ERROR(slices_->ReadPublished(*own, response));
        NoteMessageBytes(response->values().ByteSizeLong());
        return absl::OkStatus();
      });
}

grpc::ServerBidiReactor<v1::OptimizeRequest, v1::OptimizeResponse>*
OptimizerService::Optimize(grpc::CallbackServerContext* context) {
  // Counted from here; OnDone() of either constructor gives it back.
  const int64_t open = open_streams_.fetch_add(1) + 1;
  if (open > options_.max_streams) {
    return new OptimizeReactor(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     absl::StrCat("this server has ", open - 1,
                                  " Optimize streams open, its limit "
                                  "(--max_concurrent_streams=",
                                  options_.max_streams,
                                  "); close one, or use unary Ask/Tell")),
        &open_streams_, options_.metrics);
  }
  absl::StatusOr<Caller> caller = Authenticate(options_.auth, *context);
  if (!caller.ok()) {
    return new OptimizeReactor(ToGrpcStatus(caller.status()), &open_streams_,
                               options_.metrics);
  }
  return new OptimizeReactor(sessions_, *std::move(caller), &open_streams_,
                             options_.metrics);
}

}  // namespace optd::server
