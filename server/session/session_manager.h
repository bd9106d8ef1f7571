// SessionManager: the sessions of this server by id, and the limits on them.
//
// It creates sessions (validating everything in CreateSessionRequest that is
// not the solver's business: id, labels, shards, encoding, the dimension
// limit), finds them for the RPCs, lists them in id order with pagination and
// filters, and deletes them. Sessions are shared_ptrs so that an RPC or an
// Optimize stream can keep working with one without holding the manager's lock.
//
//   SessionManager manager({.max_sessions = 100});
//   OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> created,
//                         manager.Create(request));
//   OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> s, manager.Find(id));
//
// Thread-safety: thread-safe. A reader/writer mutex guards the map and is held
// only to look up, insert or erase; the work on a session happens under that
// session's own mutex, so tells to different sessions never contend.
#ifndef OPTD_SERVER_SESSION_SESSION_MANAGER_H_
#define OPTD_SERVER_SESSION_SESSION_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "optd/v1/optimizer.pb.h"
#include "server/storage/journal.h"
#include "server/session/session.h"
#include "server/sharding/session_id_arbiter.h"
#include "server/storage/session_store.h"
#include "server/sharding/shard_group.h"

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
  // Per tenant (authentication on, auth.h): sessions held at once
  // (--max_sessions_per_tenant), and the memory of all of them together, in
  // bytes (--tenant_memory_bytes): each session's estimated state and
  // batch buffers (EstimateSessionBytes in proto_convert.h) and its trial
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

// Server-wide defaults for what a CreateSessionRequest leaves unset.
struct SessionDefaults {
  // --session_ttl_seconds.
  absl::Duration ttl = absl::Hours(24 * 7);
  // --lease_seconds.
  absl::Duration lease = absl::Seconds(600);
  // Sessions up to this dimension make every tell durable before answering
  // (--durable_tell_max_dimension); larger ones default to
  // `checkpoint_interval` (--default_checkpoint_interval).
  int64_t durable_tell_max_dimension = int64_t{1} << 20;
  int64_t checkpoint_interval = 100;
  // Per-tell durable sessions up to this dimension go through the shared
  // write-ahead log (group commit, wal.h); larger ones sync their own
  // journal (--wal_max_dimension).
  int64_t wal_max_dimension = int64_t{1} << 14;
};

class SessionManager {
 public:
  // ListSessions page size when the request leaves it 0, and the largest.
  static constexpr int kDefaultPageSize = 100;
  static constexpr int kMaxPageSize = 1000;

  // With a `store` (which must outlive the manager) sessions are journaled
  // there; without, they live in memory only.
  // With `replicas` (several, --peers) sessions may be sharded across them.
  explicit SessionManager(SessionLimits limits = {},
                          SessionDefaults defaults = {},
                          SessionStore* store = nullptr,
                          std::shared_ptr<const Replicas> replicas = nullptr);

  // SessionManager::Recover()
  //
  // Loads every session of the store by replaying its journal. A journal
  // that is damaged or does not replay leaves a DAMAGED entry (GetSession and
  // ListSessions show why; DeleteSession removes it) and the others load.
  // Returns how many sessions loaded and how many are damaged.
  struct RecoveryCounts {
    int64_t loaded = 0;
    int64_t damaged = 0;
    // Tells replayed, and sessions restored from a checkpoint first.
    int64_t tells = 0;
    int64_t checkpoints = 0;
  };
  absl::StatusOr<RecoveryCounts> Recover() ABSL_LOCKS_EXCLUDED(mu_);

  SessionManager(const SessionManager&) = delete;
  SessionManager& operator=(const SessionManager&) = delete;

  // SessionManager::Create()
  //
  // Validates `request` and creates the session (running, its first trial
  // outstanding). INVALID_ARGUMENT for a malformed id, labels, x0, encoding or
  // options; ALREADY_EXISTS for an id in use; FAILED_PRECONDITION for more
  // shards than replicas; UNAVAILABLE when a replica for a shard is down;
  // RESOURCE_EXHAUSTED at --max_sessions or --max_dimension.
  absl::StatusOr<std::shared_ptr<Session>> Create(
      const v1::CreateSessionRequest& request) ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::Import()
  //
  // Recreates an exported session under request.session_id (or the
  // snapshot's), replaying its tells. INVALID_ARGUMENT for an unknown
  // format_version or a tell that does not replay (naming it); otherwise the
  // errors of Create. Nothing is kept on error.
  absl::StatusOr<std::shared_ptr<Session>> Import(
      const v1::ImportSessionRequest& request) ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::Export()
  //
  // The session's snapshot, read back from its journal after syncing it.
  // FAILED_PRECONDITION without a store; RESOURCE_EXHAUSTED, before the
  // journal is read, when the snapshot (about twice the journal: the
  // message and its serialized answer) does not fit what the session's
  // tenant (--tenant_memory_bytes) or the server (--server_memory_bytes)
  // has left.
  absl::Status Export(absl::string_view session_id,
                      v1::SessionSnapshot* snapshot) ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::Get()
  //
  // GetSession: the session, or a DAMAGED entry with its damage.
  absl::Status Get(const v1::GetSessionRequest& request, v1::Session* out)
      ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::FlushCheckpoints()
  //
  // Sessions that checkpoint instead of journaling tells write a checkpoint
  // of where they are (clean shutdown, before the store syncs).
  void FlushCheckpoints() ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::ExpireIdle()
  //
  // Deletes every session idle for longer than its TTL; returns how many.
  int64_t ExpireIdle(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::Find()
  //
  // NOT_FOUND `session "x" not found` for an unknown or deleted id;
  // UNAVAILABLE for one whose creation is writing its journal (retry);
  // DATA_LOSS for a damaged one. A sharded session that is not built yet
  // (recovered at start, before its replicas were asked) or whose group broke
  // (a replica was lost) is built here from its journal, in a new epoch:
  // UNAVAILABLE while a replica it needs is unreachable.
  absl::StatusOr<std::shared_ptr<Session>> Find(absl::string_view session_id)
      ABSL_LOCKS_EXCLUDED(mu_, rebuild_mu_);

  // SessionManager::Delete()
  //
  // Removes the session and frees its state; NOT_FOUND if there is none.
  absl::Status Delete(absl::string_view session_id) ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::List()
  //
  // One page of sessions in id order, only those whose id starts with
  // `scope` (a tenant's, auth.h). INVALID_ARGUMENT for a page_size outside
  // [0, 1000], a page_token this server did not issue, or an unknown state.
  absl::Status List(const v1::ListSessionsRequest& request,
                    v1::ListSessionsResponse* response,
                    absl::string_view scope = "") ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::Usage()
  //
  // What the sessions whose id starts with `scope` hold ("" for all).
  TenantUsage Usage(absl::string_view scope) const ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::UsageByTenant()
  //
  // What each tenant holds ("" for sessions of no tenant), for metrics.
  std::map<std::string, TenantUsage> UsageByTenant() const
      ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::CountByState()
  //
  // Sessions by state (damaged entries, and sharded sessions not rebuilt
  // since a restart as RUNNING), for metrics.
  std::map<v1::SessionState, int64_t> CountByState() const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Number of sessions held.
  int64_t size() const ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::Holds()
  //
  // Whether `session_id` (as stored) is taken here: a session, one being
  // created, a damaged one or one not rebuilt since a restart. Loads
  // nothing.
  bool Holds(absl::string_view session_id) const ABSL_LOCKS_EXCLUDED(mu_);

  const SessionLimits& limits() const { return limits_; }

  // Named session ids are claimed from `arbiter` before a create or import
  // (session_id_arbiter.h); null: not (a single replica). Must outlive the
  // manager's use of it. Set before serving.
  void set_id_arbiter(SessionIdArbiter* arbiter) { arbiter_ = arbiter; }

 private:
  // RESOURCE_EXHAUSTED when `count` sessions already fill the limit.
  absl::Status CheckSessionLimit(size_t count) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  TenantUsage UsageLocked(absl::string_view scope) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // NOT_FOUND for `session_id`, or UNAVAILABLE while a create of it is
  // writing its journal (reserved, not yet registered).
  absl::Status NotFoundLocked(absl::string_view session_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // RESOURCE_EXHAUSTED when the tenant of `id`, or the server, cannot take
  // one more session of `bytes`.
  absl::Status CheckTenantLimits(absl::string_view id,
                                 const SessionBytes& bytes) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // RESOURCE_EXHAUSTED when `bytes` more for `what` (a message's start, e.g.
  // `exporting session "x" needs about 123 bytes`) do not fit what the
  // tenant of `id` or the server has left.
  absl::Status CheckMemoryLeft(absl::string_view id, int64_t bytes,
                               absl::string_view what,
                               absl::string_view advice) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Validates `request` and builds its session (not registered), with the
  // arithmetic of `solver_revision` (proto_convert.h kSolverRevision). With
  // `for_recovery` the server limits are not applied (a stored session loads
  // even if the limits were lowered since) and the id must be set.
  // `incarnation` is the journal header's (a sharded session's slices name
  // their files with it).
  absl::StatusOr<std::shared_ptr<Session>> Build(
      const v1::CreateSessionRequest& request, absl::Time create_time,
      bool for_recovery, uint32_t solver_revision, uint64_t incarnation) const;
  // A random incarnation for a new session's journal.
  uint64_t NewIncarnation() ABSL_LOCKS_EXCLUDED(mu_);
  // Reserves an id (a new random one for an empty `requested`) for a session
  // of `bytes`: ALREADY_EXISTS if taken, RESOURCE_EXHAUSTED at the session
  // limit, the tenant's limits or the server's memory limit.
  absl::StatusOr<std::string> Reserve(absl::string_view requested,
                                      const SessionBytes& bytes)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Unreserve(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  // Journals (with a store) and registers a built session under a reserved
  // id: `header` is its creation request, `solver_revision` the arithmetic
  // it was built with, `incarnation` the one it was built for, `tells` what
  // it replayed. `checkpoint` (may be null) the state it was restored from.
  absl::Status Register(const std::shared_ptr<Session>& session,
                        const v1::CreateSessionRequest& header,
                        uint32_t solver_revision, uint64_t incarnation,
                        const v1::SessionCheckpoint* checkpoint,
                        const std::vector<const v1::SnapshotTell*>& tells)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status DamagedError(absl::string_view id,
                            const std::string& damage) const;
  // Per-tell durable and small: its tells go through the write-ahead log.
  bool UsesWal(const Session& session) const;
  // Reads a journal into a built session. With `defer_sharded`, a sharded
  // session is only read through (its replicas may not be up yet): *session
  // stays null.
  absl::StatusOr<JournalHeader> ReadSession(
      const std::string& id, const std::string& path, bool defer_sharded,
      std::shared_ptr<Session>* session) const;
  // Find() for a session that must be (re)built from its journal.
  absl::StatusOr<std::shared_ptr<Session>> Revive(absl::string_view session_id)
      ABSL_LOCKS_EXCLUDED(mu_, rebuild_mu_);

  const SessionLimits limits_;
  const SessionDefaults defaults_;
  SessionStore* const store_;
  const std::shared_ptr<const Replicas> replicas_;
  SessionIdArbiter* arbiter_ = nullptr;
  // Serializes rebuilds (Revive), which call replicas without holding mu_.
  absl::Mutex rebuild_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  // Ordered, so that ListSessions pages through ids in order.
  std::map<std::string, std::shared_ptr<Session>, std::less<>> sessions_
      ABSL_GUARDED_BY(mu_);
  // Ids being created or imported (journal being written): taken, not yet
  // visible; with their estimated state bytes.
  std::map<std::string, int64_t, std::less<>> reserved_ ABSL_GUARDED_BY(mu_);
  // Stored sessions that could not be recovered: id -> what is wrong.
  std::map<std::string, std::string, std::less<>> damaged_ ABSL_GUARDED_BY(mu_);
  // Sharded sessions recovered from the store but not built yet (Find builds
  // them): their reopened journal, and when they expire unless used (the
  // journal's last write plus the session's TTL).
  struct Dormant {
    std::shared_ptr<SessionJournal> journal;
    absl::Time expires;
  };
  std::map<std::string, Dormant, std::less<>> dormant_ ABSL_GUARDED_BY(mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
};

// ValidateSessionId()
//
// 1-63 characters of [a-z0-9-], starting with a letter or digit; else
// INVALID_ARGUMENT naming `field`.
absl::Status ValidateSessionId(absl::string_view id, absl::string_view field);

// ValidateStoredSessionId()
//
// A session id as the server stores it: a valid session id, or a tenant's
// "<tenant>.<id>" (auth.h). INVALID_ARGUMENT naming `field` otherwise.
absl::Status ValidateStoredSessionId(absl::string_view id,
                                     absl::string_view field);

// NewSessionId()
//
// A random session id: 32 hexadecimal digits (128 bits) from the operating
// system's cryptographic random source (getrandom(2)), so that ids cannot be
// guessed.
std::string NewSessionId();

// ValidateLabels()
//
// At most 64 labels; keys 1-63 characters of [a-zA-Z0-9_.-]; values at most
// 256 characters. INVALID_ARGUMENT naming the offending key.
absl::Status ValidateLabels(
    const google::protobuf::Map<std::string, std::string>& labels);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SESSION_MANAGER_H_
