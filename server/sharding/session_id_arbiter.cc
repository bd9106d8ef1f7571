#include "server/sharding/session_id_arbiter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "optd/v1/shard.grpc.pb.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace optd::server {

SessionIdArbiter::SessionIdArbiter(std::shared_ptr<const Replicas> replicas,
                                   Holds holds)
    : replicas_(std::move(replicas)), holds_(std::move(holds)) {}

SessionIdArbiter::Claim& SessionIdArbiter::Claim::operator=(
    Claim&& other) noexcept {
  if (this != &other) {
    arbiter_ = std::exchange(other.arbiter_, nullptr);
    stored_id_ = std::move(other.stored_id_);
  }
  return *this;
}

SessionIdArbiter::Claim::~Claim() {
  if (arbiter_ == nullptr) return;
  const int arbiter = arbiter_->ArbiterOf(stored_id_);
  if (arbiter >= 0) {
    arbiter_->Ask(arbiter, stored_id_, /*release=*/true).IgnoreError();
  }
}

int SessionIdArbiter::ArbiterOf(absl::string_view stored_id) const {
  if (replicas_ == nullptr || replicas_->size() < 2) return -1;
  // FNV-1a (64 bits): the same on every replica and every build.
  uint64_t hash = 14695981039346656037ull;
  for (char c : stored_id) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ull;
  }
  return static_cast<int>(hash % static_cast<uint64_t>(replicas_->size()));
}

absl::StatusOr<SessionIdArbiter::Claim> SessionIdArbiter::ClaimId(
    const std::string& stored_id) {
  Claim claim;
  const int arbiter = ArbiterOf(stored_id);
  if (arbiter < 0) return claim;
  OPTD_RETURN_IF_ERROR(Ask(arbiter, stored_id, /*release=*/false));
  claim.arbiter_ = this;
  claim.stored_id_ = stored_id;
  return claim;
}

absl::Status SessionIdArbiter::Ask(int arbiter, const std::string& stored_id,
                                   bool release) {
  if (arbiter == replicas_->self()) {
    return Arbitrate(stored_id, replicas_->self(), release);
  }
  v1::ClaimSessionIdRequest request;
  request.set_session_id(stored_id);
  request.set_replica(replicas_->self());
  request.set_release(release);
  v1::ClaimSessionIdResponse response;
  grpc::ClientContext context;
  // The arbiter asks every other replica in turn.
  replicas_->Prepare(&context,
                     absl::Now() + 2 * replicas_->options().call_timeout);
  const grpc::Status status =
      replicas_->stub(arbiter)->ClaimSessionId(&context, request, &response);
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::UnavailableError(absl::StrCat(
        "replica ", arbiter, " (", replicas_->address(arbiter),
        "), which decides whether session id \"", stored_id,
        "\" is free, could not be reached (", status.error_message(),
        "); retry, or leave session_id empty for an id the server picks"));
  }
  return ToAbslStatus(status);
}

absl::StatusOr<bool> SessionIdArbiter::HoldsOn(
    int r, const std::string& stored_id) const {
  if (r == replicas_->self()) return holds_ != nullptr && holds_(stored_id);
  v1::HoldsSessionRequest request;
  request.set_session_id(stored_id);
  v1::HoldsSessionResponse response;
  grpc::ClientContext context;
  replicas_->Prepare(&context, absl::Now() + replicas_->options().call_timeout);
  const grpc::Status status =
      replicas_->stub(r)->HoldsSession(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot tell whether session id \"", stored_id, "\" is free: replica ",
        r, " (", replicas_->address(r), ") could not be asked (",
        status.error_message(),
        "); retry, or leave session_id empty for an id the server picks"));
  }
  return response.holds();
}

absl::Status SessionIdArbiter::Arbitrate(const std::string& stored_id,
                                         int replica, bool release) {
  if (replicas_ == nullptr || replica < 0 || replica >= replicas_->size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("replica is ", replica, "; this deployment has ",
                     replicas_ == nullptr ? 1 : replicas_->size()));
  }
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  auto it = pending_.find(stored_id);
  if (release) {
    if (it != pending_.end() && it->second.replica == replica) {
      pending_.erase(it);
    }
    return absl::OkStatus();
  }
  if (it != pending_.end() && it->second.expires > now &&
      it->second.replica != replica) {
    return absl::AlreadyExistsError(absl::StrCat(
        "session \"", stored_id, "\" is being created on replica ",
        it->second.replica, "; pick another id or leave session_id empty"));
  }
  for (int r = 0; r < replicas_->size(); ++r) {
    if (r == replica) continue;  // it reserves the id itself
    OPTD_ASSIGN_OR_RETURN(const bool holds, HoldsOn(r, stored_id));
    if (holds) {
      return absl::AlreadyExistsError(
          absl::StrCat("session \"", stored_id, "\" already exists on replica ",
                       r, "; pick another id or leave session_id empty"));
    }
  }
  // Lapsed claims go as new ones come.
  for (auto p = pending_.begin(); p != pending_.end();) {
    p = p->second.expires <= now ? pending_.erase(p) : std::next(p);
  }
  pending_[stored_id] = {replica, now + kClaimLifetime};
  return absl::OkStatus();
}

}  // namespace optd::server
