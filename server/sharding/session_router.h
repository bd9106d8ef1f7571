// SessionRouter: lets any replica answer for any session. A session lives on
// the replica that created it (its home); a call for a session this replica
// does not hold is forwarded to the replica that does, found by asking the
// others (and remembered), and its answer relayed. Behind a load-balanced
// Service (deploy/k8s) a client thus keeps its sessions whichever replica its
// channel reaches. Forwarded calls carry the metadata `optd-forwarded` and are
// never forwarded again. The Optimize stream and ListSessions stay local.
//
//   SessionRouter router(replicas);
//   status = router.Forward(*context, status, id, *request, response,
//                           &v1::Optimizer::Stub::Tell);
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_SHARDING_SESSION_ROUTER_H_
#define OPTD_SERVER_SHARDING_SESSION_ROUTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "optd/v1/optimizer.grpc.pb.h"
#include "common/grpc_status.h"
#include "server/sharding/shard_group.h"

namespace optd::server {

// The metadata key of forwarded calls.
inline constexpr char kForwardedKey[] = "optd-forwarded";

class SessionRouter {
 public:
  // `replicas` may be null (a single replica: nothing is forwarded).
  explicit SessionRouter(std::shared_ptr<const Replicas> replicas)
      : replicas_(std::move(replicas)) {}

  // SessionRouter::Forward()
  //
  // `local` is this replica's own answer for session `session_id`. Unless it
  // is NOT_FOUND (or there are no other replicas, or the call was forwarded
  // to us), it is returned as is. Otherwise `method` is called with
  // `request` on the other replicas, the one known to hold the session
  // first, with the caller's deadline and authorization; the first answer
  // that is not NOT_FOUND is written to `response` and returned. When every
  // replica says NOT_FOUND, `local`; when some could not be asked,
  // UNAVAILABLE naming them.
  template <typename Request, typename Response>
  absl::Status Forward(const grpc::CallbackServerContext& context,
                       absl::Status local, const std::string& session_id,
                       const Request& request, Response* response,
                       grpc::Status (v1::Optimizer::Stub::*method)(
                           grpc::ClientContext*, const Request&, Response*));

 private:
  bool Forwardable(const grpc::CallbackServerContext& context,
                   const absl::Status& local) const;
  // Replicas to ask, the remembered home of `session_id` first.
  std::vector<int> Order(const std::string& session_id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  void Remember(const std::string& session_id, int replica)
      ABSL_LOCKS_EXCLUDED(mu_);
  static void Prepare(const grpc::CallbackServerContext& context,
                      grpc::ClientContext* out);

  const std::shared_ptr<const Replicas> replicas_;
  mutable absl::Mutex mu_;
  // Session id -> the replica that answered for it last (bounded).
  absl::flat_hash_map<std::string, int> homes_ ABSL_GUARDED_BY(mu_);
};

template <typename Request, typename Response>
absl::Status SessionRouter::Forward(
    const grpc::CallbackServerContext& context, absl::Status local,
    const std::string& session_id, const Request& request, Response* response,
    grpc::Status (v1::Optimizer::Stub::*method)(grpc::ClientContext*,
                                                const Request&, Response*)) {
  if (!Forwardable(context, local)) return local;
  std::vector<std::string> unreachable;
  for (int replica : Order(session_id)) {
    grpc::ClientContext client;
    Prepare(context, &client);
    Response answer;
    const grpc::Status status = (replicas_->optimizer_stub(replica)->*method)(
        &client, request, &answer);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) continue;
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      unreachable.push_back(
          absl::StrCat(replica, " (", replicas_->address(replica), ")"));
      continue;
    }
    Remember(session_id, replica);
    *response = std::move(answer);
    return ToAbslStatus(status);
  }
  if (!unreachable.empty()) {
    return absl::UnavailableError(
        absl::StrCat(local.message(), " on this replica, and replica ",
                     absl::StrJoin(unreachable, ", "),
                     " could not be asked; retry, the session may live there"));
  }
  return local;
}

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_SESSION_ROUTER_H_
