#include "server/sharding/session_router.h"

namespace optd::server {
namespace {
// Sessions whose home is remembered; beyond, the table starts afresh.
constexpr size_t kRememberedHomes = 100000;
}  // namespace

bool SessionRouter::Forwardable(const grpc::CallbackServerContext& context,
                                const absl::Status& local) const {
  return absl::IsNotFound(local) && replicas_ != nullptr &&
         replicas_->size() > 1 &&
         context.client_metadata().count(kForwardedKey) == 0;
}

std::vector<int> SessionRouter::Order(const std::string& session_id) const {
  std::vector<int> order;
  {
    absl::MutexLock lock(&mu_);
    auto it = homes_.find(session_id);
    if (it != homes_.end()) order.push_back(it->second);
  }
  for (int r = 0; r < replicas_->size(); ++r) {
    if (r != replicas_->self() && (order.empty() || order.front() != r)) {
      order.push_back(r);
    }
  }
  return order;
}

void SessionRouter::Remember(const std::string& session_id, int replica) {
  absl::MutexLock lock(&mu_);
  if (homes_.size() >= kRememberedHomes) homes_.clear();
  homes_[session_id] = replica;
}

void SessionRouter::Prepare(const grpc::CallbackServerContext& context,
                            grpc::ClientContext* out) {
  out->AddMetadata(kForwardedKey, "1");
  out->set_deadline(context.deadline());
  const auto& metadata = context.client_metadata();
  auto auth = metadata.find("authorization");
  if (auth != metadata.end()) {
    out->AddMetadata("authorization",
                     std::string(auth->second.data(), auth->second.size()));
  }
}

}  // namespace optd::server
