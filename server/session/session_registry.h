// SessionRegistry: the sessions of one server by id, whatever state they are
// held in, and the quotas counted over them.
//
// Every id the server holds has one entry, and its Residency says where the
// session is: built here, reserved while its creation writes the journal,
// recovered but not built (a sharded session whose state is on the
// replicas), or damaged. Entries are ordered by id, so that ListSessions
// pages through them in order and a tenant's ("<tenant>.") ids are a range.
// The quotas (--max_sessions, the tenants' and the server's memory) count
// every entry.
//
//   SessionRegistry registry(limits);
//   OPTD_ASSIGN_OR_RETURN(std::string id, registry.Reserve("", bytes));
//   registry.SetLocal(id, session);
//
// Thread-safety: none of its own; SessionManager keeps it under its mutex.
#ifndef OPTD_SERVER_SESSION_SESSION_REGISTRY_H_
#define OPTD_SERVER_SESSION_SESSION_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/session/session.h"
#include "server/session/solver_factory.h"
#include "server/storage/session_store.h"

namespace optd::server {

// Limits on what one server holds. Each, when hit, gives RESOURCE_EXHAUSTED
// naming the limit and the flag that sets it.
struct SessionLimits {
  // Sessions held at once, finished ones included until deleted
  // (--max_sessions). Range [1, inf).
  int64_t max_sessions = 10000;
  // Largest dimension n of one session (--max_dimension). The default, 2^27
  // doubles, is a 1 GiB vector: the largest that fits the default message size.
  int64_t max_dimension = int64_t{1} << 27;
  // Per tenant (authentication on, tenant.h): sessions held at once
  // (--max_sessions_per_tenant), and the memory of all of them together, in
  // bytes (--tenant_memory_bytes): each session's estimated state and
  // batch buffers (EstimateSessionBytes in solver_factory.h) and its trial
  // log as it grows; an export's snapshot is checked against what is left.
  // The anonymous tenant of a server without authentication has only the
  // server-wide limits. Range [1, inf).
  int64_t max_sessions_per_tenant = 1000;
  int64_t tenant_memory_bytes = int64_t{32} << 30;
  // The same memory count over every session of the server, tenants or
  // none (--server_memory_bytes). 0: no limit. Range [0, inf).
  int64_t server_memory_bytes = 0;
};

// What one tenant holds (SessionManager::Usage()).
struct TenantUsage {
  // Sessions, created, recovered or being created; damaged entries count.
  int64_t sessions = 0;
  // Their estimated state and batch buffers (sharded sessions not rebuilt
  // since a restart count 0 until they are).
  int64_t state_bytes = 0;
  // Their trial logs' records in memory (Session::trial_log_memory()).
  int64_t trial_log_bytes = 0;
  // What the memory quotas count.
  int64_t memory_bytes() const { return state_bytes + trial_log_bytes; }
};

// Where a registered session is.
enum class Residency {
  // A create or import of it is writing its journal: the id is taken, the
  // session not visible yet.
  kReserved,
  // Built and held here (a sharded one whose group broke is rebuilt from
  // its journal on the next Find).
  kLocal,
  // Sharded, recovered from the store but not built: its state is on the
  // replicas, and it is built from its journal on first use.
  kDormant,
  // Stored, but it could not be recovered: only why is held.
  kDamaged,
};

struct SessionEntry {
  Residency residency = Residency::kReserved;
  // kLocal: the session.
  std::shared_ptr<Session> session;
  // kReserved: its estimated state bytes.
  int64_t reserved_bytes = 0;
  // kDamaged: what is wrong.
  std::string damage;
  // kDormant: its reopened journal, and when it expires unless used (the
  // journal's last write plus the session's TTL).
  std::shared_ptr<SessionJournal> journal;
  absl::Time expires;
};

class SessionRegistry {
 public:
  using Entries = std::map<std::string, SessionEntry, std::less<>>;

  explicit SessionRegistry(const SessionLimits& limits) : limits_(limits) {}

  // Every entry, in id order.
  const Entries& entries() const { return entries_; }
  // The entry of `id`, or null.
  const SessionEntry* Find(absl::string_view id) const;
  // The session of `id` when it is kLocal, else null.
  std::shared_ptr<Session> FindLocal(absl::string_view id) const;
  bool Holds(absl::string_view id) const { return entries_.count(id) > 0; }
  // Sessions held: local and dormant ones (reservations and damaged entries
  // are not sessions). O(1): kept as entries change residency.
  int64_t sessions() const { return sessions_; }

  // SessionRegistry::Reserve()
  //
  // Reserves an id (a new random one for an empty `requested`) for a session
  // of `bytes`: ALREADY_EXISTS if taken, RESOURCE_EXHAUSTED at the session
  // limit, the tenant's limits or the server's memory limit.
  absl::StatusOr<std::string> Reserve(absl::string_view requested,
                                      const SessionBytes& bytes);
  // The entry of `id` becomes the one named (replacing what it was).
  void SetLocal(const std::string& id, std::shared_ptr<Session> session);
  void SetDormant(const std::string& id,
                  std::shared_ptr<SessionJournal> journal, absl::Time expires);
  void SetDamaged(const std::string& id, std::string damage);
  void Erase(absl::string_view id);
  // Erase() only when `id` is reserved.
  void Unreserve(absl::string_view id);

  // NOT_FOUND for `id`, or UNAVAILABLE while a create of it is writing its
  // journal (reserved, not yet registered).
  absl::Status NotFound(absl::string_view id) const;

  // What the entries whose id starts with `scope` hold ("" for all).
  TenantUsage Usage(absl::string_view scope) const;
  // What each tenant holds ("" for sessions of no tenant).
  std::map<std::string, TenantUsage> UsageByTenant() const;
  // RESOURCE_EXHAUSTED when `bytes` more for `what` (a message's start, e.g.
  // `exporting session "x" needs about 123 bytes`) do not fit what the
  // tenant of `id` or the server has left.
  absl::Status CheckMemoryLeft(absl::string_view id, int64_t bytes,
                               absl::string_view what,
                               absl::string_view advice) const;

 private:
  // RESOURCE_EXHAUSTED when `count` sessions already fill the limit.
  absl::Status CheckSessionLimit(size_t count) const;
  // RESOURCE_EXHAUSTED when the tenant of `id`, or the server, cannot take
  // one more session of `bytes`.
  absl::Status CheckTenantLimits(absl::string_view id,
                                 const SessionBytes& bytes) const;

  // Replaces the entry of `id` (creating it) by `entry`, keeping sessions_.
  void Put(const std::string& id, SessionEntry entry);
  // Erases the entry `it` points at, keeping sessions_.
  void EraseEntry(Entries::iterator it);

  const SessionLimits limits_;
  Entries entries_;
  // The local and dormant entries: sessions() without a walk, for the
  // metrics that read it on every scrape.
  int64_t sessions_ = 0;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SESSION_REGISTRY_H_
