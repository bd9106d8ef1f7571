#include "client/minimize.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/vector_codec.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "grpcpp/client_context.h"

namespace optd::client {
namespace {

// The TellRequest for `trial` evaluated as `evaluation`.
v1::OptimizeRequest MakeTell(const Trial& trial, const Evaluation& evaluation,
                             v1::VectorEncoding encoding) {
  v1::OptimizeRequest request;
  *request.mutable_tell() = MakeTellRequest(trial.id, evaluation, encoding);
  return request;
}

// One Optimize stream; Finish() always runs, so the call never leaks.
class OptimizeStream {
 public:
  explicit OptimizeStream(const Client& client) {
    client.PrepareStreamContext(&context_);
    stream_ = client.stub().Optimize(&context_);
  }

  bool Write(const v1::OptimizeRequest& request) {
    return stream_->Write(request);
  }
  bool Read(v1::OptimizeResponse* response) { return stream_->Read(response); }

  // The stream's final status after a clean end: half-close, drain, Finish.
  absl::Status Close() {
    stream_->WritesDone();
    v1::OptimizeResponse ignored;
    while (stream_->Read(&ignored)) {
    }
    return ToAbslStatus(stream_->Finish());
  }

  // Ends the call after an error on our side; its status (CANCELLED) adds
  // nothing to that error.
  void Cancel() {
    context_.TryCancel();
    stream_->Finish();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::OptimizeRequest, v1::OptimizeResponse>>
      stream_;
};

}  // namespace

absl::StatusOr<Result> RunStream(const Client& client,
                                 const v1::OptimizeRequest& open,
                                 const Objective& objective) {
  return RunStream(client, open, [&objective](const Trial& trial) {
    return objective(trial.x, trial.wants);
  });
}

absl::StatusOr<Result> RunStream(const Client& client,
                                 const v1::OptimizeRequest& open,
                                 const TrialObjective& objective) {
  const v1::VectorEncoding encoding = open.has_create()
                                          ? open.create().vector_encoding()
                                          : v1::VECTOR_ENCODING_UNSPECIFIED;
  OptimizeStream stream(client);
  // When a Write fails the server has ended the call; Read then returns false
  // and the loop ends with the stream's status.
  stream.Write(open);
  // The last trial told on this stream. Each tell is answered by exactly one
  // response, whose outstanding trials may include ones told before it; trial
  // ids increase strictly, so the next to evaluate is the first one above.
  uint64_t last_told = 0;
  v1::OptimizeResponse response;
  while (stream.Read(&response)) {
    if (response.error_code() != 0) {
      stream.Cancel();
      return absl::Status(static_cast<absl::StatusCode>(response.error_code()),
                          response.error_message());
    }
    if (response.has_summary()) {
      absl::StatusOr<Result> result =
          DecodeSummary(response.session_id(), response.summary());
      // The summary arrived: a status the server gives after it (e.g.
      // CANCELLED while draining on shutdown) does not undo the result.
      stream.Close().IgnoreError();
      return result;
    }
    // Only the trial to evaluate is decoded: a stencil's other trials would
    // each build a point of n doubles (v1::Trial.delta).
    int next = -1;
    for (int i = 0; i < response.trials_size(); ++i) {
      if (response.trials(i).trial_id() > last_told) {
        next = i;
        break;
      }
    }
    if (next < 0) {
      stream.Cancel();
      return absl::InternalError(
          absl::StrCat("session \"", response.session_id(),
                       "\" is running but has no trial left to evaluate"));
    }
    absl::StatusOr<Trial> trial =
        DecodeTrial(next, response.trials(), response.base_points());
    if (!trial.ok()) {
      stream.Cancel();
      return trial.status();
    }
    const Evaluation evaluation = objective(*trial);
    last_told = trial->id;
    stream.Write(MakeTell(*trial, evaluation, encoding));
  }
  absl::Status status = stream.Close();
  if (status.ok()) {
    return absl::UnavailableError(
        "the Optimize stream ended before the session did; attach again to "
        "continue it");
  }
  return status;
}

absl::StatusOr<Result> RunStream(const Client& client,
                                 absl::Span<const double> x0,
                                 const SolverSpec& solver,
                                 const Objective& objective,
                                 const SessionOptions& options) {
  v1::OptimizeRequest open;
  *open.mutable_create() = MakeCreateSessionRequest(x0, solver, options);
  return RunStream(client, open, objective);
}

absl::StatusOr<Result> RunStream(const Client& client,
                                 absl::Span<const double> x0,
                                 const SolverSpec& solver,
                                 const TrialObjective& objective,
                                 const SessionOptions& options) {
  v1::OptimizeRequest open;
  *open.mutable_create() = MakeCreateSessionRequest(x0, solver, options);
  return RunStream(client, open, objective);
}

absl::StatusOr<Result> Minimize(const std::string& address,
                                const Objective& objective,
                                absl::Span<const double> x0,
                                const MinimizeOptions& options) {
  OPTD_ASSIGN_OR_RETURN(Client client,
                        Client::Connect(address, options.client));
  return Minimize(client, objective, x0, options);
}

absl::StatusOr<Result> Minimize(const Client& client,
                                const Objective& objective,
                                absl::Span<const double> x0,
                                const MinimizeOptions& options) {
  OPTD_ASSIGN_OR_RETURN(Result result, RunStream(client, x0, options.solver,
                                                 objective, options.session));
  if (options.delete_session) {
    OPTD_RETURN_IF_ERROR(client.DeleteSession(result.session_id));
  }
  return result;
}

}  // namespace optd::client
