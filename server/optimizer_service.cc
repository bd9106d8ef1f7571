#include "server/optimizer_service.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"
#include "server/memory_release.h"
#include "solvers/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

// Runs `handler` unless the client has already gone (cancelled, or its
// deadline passed while the call waited for a thread): work nobody will read
// is skipped, and a tell the client gave up on is not applied behind its back.
template <typename Handler>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* context,
                                   Handler handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (context->IsCancelled()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                 "the call was cancelled before it ran"));
    return reactor;
  }
  reactor->Finish(ToGrpcStatus(handler()));
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
  explicit OptimizeReactor(SessionManager* sessions) : sessions_(sessions) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (or the call was cancelled)
      Finish(grpc::Status::OK);
      return;
    }
    response_.Clear();
    if (session_ == nullptr && !request_.has_create() &&
        !request_.has_attach_session_id()) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
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
      StartWrite(&response_);
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                          "the stream broke while writing a response"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  // The session is unchanged (or the tell could not be made durable): tell
  // the client and keep the stream open.
  void WriteError(const absl::Status& status) {
    response_.Clear();
    if (session_ != nullptr) response_.set_session_id(session_->id());
    response_.set_error_code(static_cast<int>(status.code()));
    response_.set_error_message(std::string(status.message()));
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
      OPTD_ASSIGN_OR_RETURN(session, sessions_->Create(request_.create()));
    } else {
      OPTD_ASSIGN_OR_RETURN(session,
                            sessions_->Find(request_.attach_session_id()));
    }
    OPTD_RETURN_IF_ERROR(
        session->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &response_));
    session_ = std::move(session);
    response_.set_session_id(session_->id());
    return absl::OkStatus();
  }

  absl::Status Tell(DurableTicket* ticket) {
    const v1::TellRequest& tell = request_.tell();
    if (!tell.session_id().empty() && tell.session_id() != session_->id()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tell.session_id is \"", tell.session_id(),
                       "\" but this stream serves \"", session_->id(),
                       "\"; leave it empty or open another stream"));
    }
    OPTD_RETURN_IF_ERROR(session_->Tell(tell, &response_, ticket));
    response_.set_session_id(session_->id());
    return absl::OkStatus();
  }

  SessionManager* const sessions_;
  std::shared_ptr<Session> session_;
  v1::OptimizeRequest request_;
  v1::OptimizeResponse response_;
};

}  // namespace

grpc::ServerUnaryReactor* OptimizerService::CreateSession(
    grpc::CallbackServerContext* context,
    const v1::CreateSessionRequest* request,
    v1::CreateSessionResponse* response) {
  return RunUnary(context, [&]() -> absl::Status {
    NoteMessageBytes(request->x0().ByteSizeLong());
    OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                          sessions_->Create(*request));
    response->set_session_id(session->id());
    OPTD_RETURN_IF_ERROR(session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED,
                                              response->mutable_trials()));
    NoteMessageBytes(response->ByteSizeLong());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* OptimizerService::GetSession(
    grpc::CallbackServerContext* context, const v1::GetSessionRequest* request,
    v1::Session* response) {
  return RunUnary(context, [&] {
    return router_.Forward(*context, sessions_->Get(*request, response),
                           request->session_id(), *request, response,
                           &v1::Optimizer::Stub::GetSession);
  });
}

grpc::ServerUnaryReactor* OptimizerService::ListSessions(
    grpc::CallbackServerContext* context,
    const v1::ListSessionsRequest* request,
    v1::ListSessionsResponse* response) {
  return RunUnary(context, [&] { return sessions_->List(*request, response); });
}

grpc::ServerUnaryReactor* OptimizerService::DeleteSession(
    grpc::CallbackServerContext* context,
    const v1::DeleteSessionRequest* request,
    v1::DeleteSessionResponse* response) {
  return RunUnary(context, [&] {
    return router_.Forward(*context, sessions_->Delete(request->session_id()),
                           request->session_id(), *request, response,
                           &v1::Optimizer::Stub::DeleteSession);
  });
}

grpc::ServerUnaryReactor* OptimizerService::Ask(
    grpc::CallbackServerContext* context, const v1::AskRequest* request,
    v1::AskResponse* response) {
  return RunUnary(context, [&]() -> absl::Status {
    absl::StatusOr<std::shared_ptr<Session>> found =
        sessions_->Find(request->session_id());
    if (!found.ok()) {
      return router_.Forward(*context, found.status(), request->session_id(),
                             *request, response, &v1::Optimizer::Stub::Ask);
    }
    std::shared_ptr<Session> session = *std::move(found);
    if (!request->worker_id().empty()) {
      OPTD_RETURN_IF_ERROR(session->AskAsWorker(request->encoding(),
                                                request->worker_id(), response,
                                                request->points_on_slices()));
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
  if (context->IsCancelled()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                 "the call was cancelled before it ran"));
    return reactor;
  }
  DurableTicket ticket;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<std::shared_ptr<Session>> found =
        sessions_->Find(request->session_id());
    if (!found.ok()) {
      // Another replica's session: its answer is durable there.
      return router_.Forward(*context, found.status(), request->session_id(),
                             *request, response, &v1::Optimizer::Stub::Tell);
    }
    std::shared_ptr<Session> session = *std::move(found);
    NoteMessageBytes(request->gradient().ByteSizeLong() +
                     request->hessian().ByteSizeLong() +
                     request->hessian_vector().ByteSizeLong());
    OPTD_RETURN_IF_ERROR(session->Tell(*request, response, &ticket));
    NoteMessageBytes(response->ByteSizeLong());
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }
  // Acknowledged only once durable; the commit thread finishes the call.
  ticket.WhenDurable([reactor](absl::Status durable) {
    reactor->Finish(ToGrpcStatus(durable));
  });
  return reactor;
}

grpc::ServerUnaryReactor* OptimizerService::ExportSession(
    grpc::CallbackServerContext* context,
    const v1::ExportSessionRequest* request, v1::SessionSnapshot* response) {
  return RunUnary(context, [&]() -> absl::Status {
    OPTD_RETURN_IF_ERROR(router_.Forward(
        *context, sessions_->Export(request->session_id(), response),
        request->session_id(), *request, response,
        &v1::Optimizer::Stub::ExportSession));
    NoteMessageBytes(response->ByteSizeLong());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* OptimizerService::ImportSession(
    grpc::CallbackServerContext* context,
    const v1::ImportSessionRequest* request,
    v1::ImportSessionResponse* response) {
  return RunUnary(context, [&]() -> absl::Status {
    NoteMessageBytes(request->ByteSizeLong());
    OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                          sessions_->Import(*request));
    response->set_session_id(session->id());
    response->set_state(session->state());
    response->set_tells(session->tells());
    return session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED,
                                response->mutable_trials());
  });
}

grpc::ServerUnaryReactor* OptimizerService::PutSlice(
    grpc::CallbackServerContext* context, const v1::PutSliceRequest* request,
    v1::PutSliceResponse* response) {
  return RunUnary(context, [&]() -> absl::Status {
    if (slices_ == nullptr) {
      return absl::UnimplementedError("this server holds no slices");
    }
    NoteMessageBytes(request->values().ByteSizeLong());
    // The request is this call's own until it finishes (gRPC reads it no
    // more), so its bytes may move into the staged slice.
    OPTD_ASSIGN_OR_RETURN(
        ShardRange range,
        slices_->Stage(*const_cast<v1::PutSliceRequest*>(request)));
    response->set_begin(range.begin);
    response->set_end(range.end);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* OptimizerService::GetSlice(
    grpc::CallbackServerContext* context, const v1::GetSliceRequest* request,
    v1::GetSliceResponse* response) {
  return RunUnary(context, [&]() -> absl::Status {
    if (slices_ == nullptr) {
      return absl::UnimplementedError("this server holds no slices");
    }
    OPTD_RETURN_IF_ERROR(slices_->ReadPublished(*request, response));
    NoteMessageBytes(response->values().ByteSizeLong());
    return absl::OkStatus();
  });
}

grpc::ServerBidiReactor<v1::OptimizeRequest, v1::OptimizeResponse>*
OptimizerService::Optimize(grpc::CallbackServerContext* context) {
  return new OptimizeReactor(sessions_);
}

}  // namespace optd::server
