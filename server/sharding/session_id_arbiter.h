// SessionIdArbiter: makes a named session id unique across the replicas of a
// deployment (docs/sharding.md "Named sessions").
//
// A session lives on the replica that created it, and any replica answers
// for it (session_router.h). Behind a load balancer, two clients may create
// the same named session through two replicas at once; each replica alone
// would see the id free. So before a replica creates (or imports) a named
// session it *claims* the id from the id's arbiter, one replica fixed by a
// hash of the id:
//   - the arbiter grants the claim unless another replica holds the id
//     (Shard.HoldsSession: a session, one being created, damaged or not yet
//     rebuilt) or another replica's claim on it is still pending;
//   - claims are served one at a time, so of two concurrent creates of one id
//     exactly one is granted; the other gets ALREADY_EXISTS;
//   - the creating replica releases its claim when the create is done (it
//     then holds the id itself); a claim that is never released lapses after
//     kClaimLifetime.
// An arbiter that cannot be reached, or that cannot reach a replica to ask,
// refuses the claim with UNAVAILABLE: creating a named session needs every
// replica. Sessions with ids the server picks (128 random bits) need none of
// this.
//
//   SessionIdArbiter arbiter(replicas, [&](absl::string_view id) {
//     return manager.Holds(id);
//   });
//   OPTD_ASSIGN_OR_RETURN(SessionIdArbiter::Claim claim,
//                         arbiter.ClaimId("t1.rosen"));
//   ... create the session ...   // the claim is released when it goes
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_SHARDING_SESSION_ID_ARBITER_H_
#define OPTD_SERVER_SHARDING_SESSION_ID_ARBITER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/sharding/shard_group.h"

namespace optd::server {

class SessionIdArbiter {
 public:
  // How long a granted claim that is never released keeps the id.
  static constexpr absl::Duration kClaimLifetime = absl::Seconds(30);

  // Whether this replica holds a stored session id (SessionManager::Holds).
  using Holds = std::function<bool(absl::string_view stored_id)>;

  // `replicas` may be null or a single replica: every claim is granted.
  SessionIdArbiter(std::shared_ptr<const Replicas> replicas, Holds holds);

  // A granted claim; releases it (best effort) when destroyed.
  class Claim {
   public:
    Claim() = default;
    Claim(Claim&& other) noexcept { *this = std::move(other); }
    Claim& operator=(Claim&& other) noexcept;
    ~Claim();

   private:
    friend class SessionIdArbiter;
    SessionIdArbiter* arbiter_ = nullptr;
    std::string stored_id_;
  };

  // SessionIdArbiter::ArbiterOf()
  //
  // The replica that arbitrates `stored_id`: FNV-1a of the id modulo the
  // replicas (the same on every replica and build); -1 without others.
  int ArbiterOf(absl::string_view stored_id) const;

  // SessionIdArbiter::ClaimId()
  //
  // Claims `stored_id` for this replica from its arbiter. ALREADY_EXISTS
  // naming the replica that holds it or is creating it; UNAVAILABLE naming a
  // replica that could not be reached.
  absl::StatusOr<Claim> ClaimId(const std::string& stored_id)
      ABSL_LOCKS_EXCLUDED(mu_);

  // SessionIdArbiter::Arbitrate()
  //
  // The arbiter's side (Shard.ClaimSessionId): grants `stored_id` to
  // `replica`, or with `release` drops that replica's claim on it.
  absl::Status Arbitrate(const std::string& stored_id, int replica,
                         bool release) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pending {
    int replica;
    absl::Time expires;
  };
  // Asks `arbiter` (this replica: Arbitrate) to grant or release.
  absl::Status Ask(int arbiter, const std::string& stored_id, bool release);
  // Whether replica `r` holds `stored_id` (this one: holds_).
  absl::StatusOr<bool> HoldsOn(int r, const std::string& stored_id) const;

  const std::shared_ptr<const Replicas> replicas_;
  const Holds holds_;
  // Held for a whole arbitration, the calls to the other replicas included:
  // claims are decided one at a time.
  absl::Mutex mu_;
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_SESSION_ID_ARBITER_H_
