#include "client/direct_path.h"

#include <cstring>
#include <map>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/vector_codec.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace optd::client {

absl::StatusOr<std::shared_ptr<const DirectPath>> DirectPath::Connect(
    const Client& client, const v1::Session& session) {
  if (session.shard_map_size() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("session \"", session.session_id(),
                     "\" is not sharded; its vectors go through its replica"));
  }
  auto path = std::shared_ptr<DirectPath>(new DirectPath());
  path->dimension_ = session.dimension();
  // One channel per replica; lazily connected.
  ClientOptions options = client.options();
  options.connect_timeout = absl::ZeroDuration();
  std::map<std::string, std::shared_ptr<Client>> replicas;
  for (const v1::ShardInfo& info : session.shard_map()) {
    std::shared_ptr<Client>& replica = replicas[info.address()];
    if (replica == nullptr) {
      OPTD_ASSIGN_OR_RETURN(Client c, Client::Connect(info.address(), options));
      replica = std::make_shared<Client>(std::move(c));
    }
    path->routes_.push_back({info.shard(), info.begin(), info.end(), replica});
  }
  return std::shared_ptr<const DirectPath>(std::move(path));
}

template <typename Call>
absl::Status DirectPath::ForEachShard(Call call) const {
  std::vector<absl::Status> statuses(routes_.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].end == routes_[i].begin) continue;  // an empty slice
    threads.emplace_back([&, i] { statuses[i] = call(routes_[i]); });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (!statuses[i].ok()) {
      return absl::Status(statuses[i].code(),
                          absl::StrCat("shard ", routes_[i].shard, ": ",
                                       statuses[i].message()));
    }
  }
  return absl::OkStatus();
}

absl::Status DirectPath::PutRaw(const std::string& session_id,
                                uint64_t trial_id, v1::SliceField field,
                                const char* data, size_t size,
                                bool float32) const {
  if (static_cast<int64_t>(size) != dimension_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the vector has ", size,
                     " elements; the session has dimension ", dimension_));
  }
  const size_t width = float32 ? 4 : 8;
  return ForEachShard([&](const Route& route) -> absl::Status {
    v1::PutSliceRequest request;
    request.set_session_id(session_id);
    request.set_trial_id(trial_id);
    request.set_shard(route.shard);
    request.set_field(field);
    std::string* bytes = float32 ? request.mutable_values()->mutable_f32()
                                 : request.mutable_values()->mutable_f64();
    bytes->assign(data + width * static_cast<size_t>(route.begin),
                  width * static_cast<size_t>(route.end - route.begin));
    grpc::ClientContext context;
    route.replica->PrepareUnaryContext(&context);
    v1::PutSliceResponse response;
    return ToAbslStatus(
        route.replica->stub().PutSlice(&context, request, &response));
  });
}

absl::Status DirectPath::Put(const std::string& session_id, uint64_t trial_id,
                             v1::SliceField field,
                             absl::Span<const double> values) const {
  return PutRaw(session_id, trial_id, field,
                reinterpret_cast<const char*>(values.data()), values.size(),
                /*float32=*/false);
}

absl::Status DirectPath::Put32(const std::string& session_id, uint64_t trial_id,
                               v1::SliceField field,
                               absl::Span<const float> values) const {
  return PutRaw(session_id, trial_id, field,
                reinterpret_cast<const char*>(values.data()), values.size(),
                /*float32=*/true);
}

absl::StatusOr<std::vector<double>> DirectPath::Get(
    const std::string& session_id, uint64_t trial_id,
    v1::SliceField field) const {
  std::vector<double> out(static_cast<size_t>(dimension_));
  const absl::Status status =
      ForEachShard([&](const Route& route) -> absl::Status {
        v1::GetSliceRequest request;
        request.set_session_id(session_id);
        request.set_trial_id(trial_id);
        request.set_shard(route.shard);
        request.set_field(field);
        grpc::ClientContext context;
        route.replica->PrepareUnaryContext(&context);
        v1::GetSliceResponse response;
        OPTD_RETURN_IF_ERROR(ToAbslStatus(
            route.replica->stub().GetSlice(&context, request, &response)));
        OPTD_ASSIGN_OR_RETURN(std::vector<double> part,
                              DecodeVector(response.values()));
        if (response.begin() != route.begin ||
            static_cast<int64_t>(part.size()) != route.end - route.begin) {
          return absl::DataLossError(absl::StrCat(
              "the replica answered elements [", response.begin(), ", ",
              response.begin() + static_cast<int64_t>(part.size()),
              ") for the shard [", route.begin, ", ", route.end, ")"));
        }
        std::memcpy(out.data() + route.begin, part.data(), 8 * part.size());
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return out;
}

}  // namespace optd::client
