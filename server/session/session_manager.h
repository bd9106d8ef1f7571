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
// The parts: SessionRegistry (the entries by id, with their residency, and the
// quotas), SessionFactory (validation, building and importing sessions) and
// session_recovery.h (loading the store, rebuilding sharded sessions).
//
// Thread-safety: thread-safe. A reader/writer mutex guards the registry and is
// held only to look up, insert or erase; the work on a session happens under
// that session's own mutex, so tells to different sessions never contend.
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
#include "server/session/session.h"
#include "server/session/session_factory.h"
#include "server/session/session_id.h"
#include "server/session/session_recovery.h"
#include "server/session/session_registry.h"
#include "server/sharding/session_id_arbiter.h"
#include "server/sharding/shard_group.h"
#include "server/storage/journal.h"
#include "server/storage/session_store.h"

namespace optd::server {

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
  using RecoveryCounts = ::optd::server::RecoveryCounts;
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

  // SessionManager::Fork()
  //
  // ForkSession (optimizer.proto ForkSessionRequest says what it does): the
  // source exported and cut at `step`, its overrides applied, imported under
  // the new id. INVALID_ARGUMENT for a step the source's journal does not
  // hold, overrides a fork cannot take or options the solver refuses
  // (naming the field); otherwise the errors of Export and Import. The
  // source is unchanged; nothing is kept on error.
  struct Forked {
    std::shared_ptr<Session> session;
    int64_t step = 0;  // the source's tells the fork starts after
  };
  absl::StatusOr<Forked> Fork(const v1::ForkSessionRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);

  // SessionManager::SwitchSolver()
  //
  // SwitchSolver (optimizer.proto SwitchSolverRequest): the session goes on
  // under the new solver with the same id, from a creation request with a
  // WarmStart (session_switch.cc). NOT_FOUND for an unknown session;
  // INVALID_ARGUMENT for no solver, a pair of solvers that does not transfer
  // or options the new solver refuses (naming the field);
  // FAILED_PRECONDITION without a store, for a sharded or finished session;
  // ABORTED when a tell came during the switch (nothing changed: switch
  // again). Nothing changes on error, except that a journal that cannot be
  // written leaves the session DAMAGED until a restart recovers the old one.
  struct Switched {
    std::shared_ptr<Session> session;
    int64_t step = 0;  // tells the old solver had applied
    int pairs = 0;     // curvature pairs carried over
  };
  absl::StatusOr<Switched> SwitchSolver(const v1::SwitchSolverRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  // SessionManager::Export()
  //
  // The session's snapshot, read back from its journal after syncing it.
  // FAILED_PRECONDITION without a store; RESOURCE_EXHAUSTED, before the
  // journal is read, when the snapshot (about twice the journal: the
  // message and its serialized answer) does not fit what the session's
  // tenant (--tenant_memory_bytes) or the server (--server_memory_bytes)
  // has left.
  // With `compact` (ExportSessionRequest.compact) every session is exported
  // as a sharded one is: its state now, no tells. With `tells` (a solver
  // switch, which forms curvature pairs from the last tells) a sharded
  // session whose journal holds no checkpoint yet is exported as an
  // unsharded one is: its creation and its tells, their vectors gathered
  // from the replicas.
  absl::Status Export(absl::string_view session_id,
                      v1::SessionSnapshot* snapshot, bool compact = false,
                      bool tells = false) ABSL_LOCKS_EXCLUDED(mu_);

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
  // `scope` (a tenant's, tenant.h). INVALID_ARGUMENT for a page_size outside
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

  // Number of sessions held: local and dormant ones (SessionRegistry::
  // sessions()), in O(1).
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
  absl::Status DamagedError(absl::string_view id,
                            const std::string& damage) const;
  // A random incarnation for a new session's journal.
  uint64_t NewIncarnation() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::string> Reserve(absl::string_view requested,
                                      const SessionBytes& bytes)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Unreserve(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  // Journals (with a store) and registers a built session under a reserved
  // id (SessionFactory::WriteJournal says what the arguments are).
  absl::Status Register(const std::shared_ptr<Session>& session,
                        const v1::CreateSessionRequest& header,
                        uint32_t solver_revision, uint64_t incarnation,
                        const v1::SessionCheckpoint* checkpoint,
                        const std::vector<const v1::SnapshotTell*>& tells)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Claims and reserves `requested` (empty: a random id), builds the
  // snapshot's session under it on `shards` (0: the snapshot's), and
  // journals and registers it (Import, Fork).
  absl::StatusOr<std::shared_ptr<Session>> BuildFromSnapshot(
      const v1::SessionSnapshot& snapshot, const std::string& requested,
      int32_t shards) ABSL_LOCKS_EXCLUDED(mu_);
  // Fork's snapshot of the source with the solver options of `overrides`:
  // the cut snapshot replayed into a session of one shard that is not
  // registered, saved as one checkpoint, under the changed options.
  absl::Status ApplySolverOverrides(const v1::CreateSessionRequest& overrides,
                                    v1::SessionSnapshot* snapshot)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The creation request that continues `snapshot`'s session (cut where it
  // should switch) under `target`'s solver, its transfer read from a replay
  // on one shard that is not registered (SwitchSolver, and Fork into another
  // solver). INVALID_ARGUMENT for a pair of solvers that does not transfer
  // or bad target options; FAILED_PRECONDITION when the replayed session
  // has finished.
  absl::StatusOr<v1::CreateSessionRequest> SwitchedCreate(
      const v1::SessionSnapshot& snapshot,
      const v1::CreateSessionRequest& target) ABSL_LOCKS_EXCLUDED(mu_);
  // Find() for a session that must be (re)built from its journal.
  absl::StatusOr<std::shared_ptr<Session>> Revive(absl::string_view session_id)
      ABSL_LOCKS_EXCLUDED(mu_, rebuild_mu_);
  // Every kLocal session.
  std::vector<std::shared_ptr<Session>> LocalSessions() const
      ABSL_LOCKS_EXCLUDED(mu_);

  const SessionLimits limits_;
  SessionStore* const store_;
  const std::shared_ptr<const Replicas> replicas_;
  const SessionFactory factory_;
  SessionIdArbiter* arbiter_ = nullptr;
  // Serializes rebuilds (Revive), which call replicas without holding mu_.
  absl::Mutex rebuild_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  // Every id this server holds, by residency; held only to look up, insert
  // or erase.
  SessionRegistry registry_ ABSL_GUARDED_BY(mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
};

// ValidateSessionId(), ValidateStoredSessionId() and NewSessionId() are in
// session_id.h; ValidateLabels() is in session_factory.h.

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SESSION_MANAGER_H_
