// SessionFactory: validates a CreateSessionRequest and builds its session
// (the solver and, when sharded, its slices on the replicas), builds an
// imported one from its snapshot, and writes a new session's journal.
//
// It checks everything in CreateSessionRequest that is not the solver's
// business (id, labels, shards, encoding, TTL and lease, durability, the
// dimension limit) and resolves every default (SessionDefaults), so that the
// journal header it writes resumes the session as it was under other
// server defaults. A built session is registered by SessionManager.
//
//   SessionFactory factory(limits, defaults, store, replicas);
//   OPTD_ASSIGN_OR_RETURN(
//       std::shared_ptr<Session> session,
//       factory.Build(request, absl::Now(), /*for_recovery=*/false,
//                     kSolverRevision, incarnation));
//
// Thread-safety: thread-safe (const after construction).
#ifndef OPTD_SERVER_SESSION_SESSION_FACTORY_H_
#define OPTD_SERVER_SESSION_SESSION_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "optd/v1/optimizer.pb.h"
#include "server/session/session.h"
#include "server/session/session_registry.h"
#include "server/sharding/shard_group.h"
#include "server/storage/session_store.h"

namespace optd::server {

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

class SessionFactory {
 public:
  // `store` (may be null: sessions in memory only) and `replicas` (may be
  // null: one replica) are the manager's.
  SessionFactory(const SessionLimits& limits, const SessionDefaults& defaults,
                 SessionStore* store, std::shared_ptr<const Replicas> replicas);

  // SessionFactory::Build()
  //
  // Validates `request` and builds its session (not registered), with the
  // arithmetic of `solver_revision` (solver_revision.h kSolverRevision). With
  // `for_recovery` the server limits are not applied (a stored session loads
  // even if the limits were lowered since) and the id must be set.
  // `incarnation` is the journal header's (a sharded session's slices name
  // their files with it).
  absl::StatusOr<std::shared_ptr<Session>> Build(
      const v1::CreateSessionRequest& request, absl::Time create_time,
      bool for_recovery, uint32_t solver_revision, uint64_t incarnation) const;

  // SessionFactory::CheckSnapshot()
  //
  // INVALID_ARGUMENT for a snapshot of an unknown format_version or of a
  // newer solver revision than this server's.
  static absl::Status CheckSnapshot(const v1::SessionSnapshot& snapshot);

  // SessionFactory::BuildImported()
  //
  // Builds `named` (the snapshot's creation request under its new id) and
  // puts it where `snapshot` left it: its checkpoint restored, its tells
  // replayed (each appended to `tells`). INVALID_ARGUMENT naming what does
  // not fit. The session is to be discarded on error.
  absl::StatusOr<std::shared_ptr<Session>> BuildImported(
      const v1::CreateSessionRequest& named,
      const v1::SessionSnapshot& snapshot, uint64_t incarnation,
      std::vector<const v1::SnapshotTell*>* tells) const;

  // SessionFactory::WriteJournal()
  //
  // With a store, creates the journal of a built session and attaches it:
  // `header` is its creation request, `solver_revision` the arithmetic it
  // was built with, `incarnation` the one it was built for, `tells` what it
  // replayed, `checkpoint` (may be null) the state it was restored from.
  // With `replace`, the journal of a session of that id that is open now
  // is closed and replaced (SessionStore::Replace; a solver switch).
  // Without a store: nothing.
  absl::Status WriteJournal(Session& session,
                            const v1::CreateSessionRequest& header,
                            uint32_t solver_revision, uint64_t incarnation,
                            const v1::SessionCheckpoint* checkpoint,
                            const std::vector<const v1::SnapshotTell*>& tells,
                            bool replace = false) const;

  // Per-tell durable and small: its tells go through the write-ahead log.
  bool UsesWal(const Session& session) const;

 private:
  const SessionLimits limits_;
  const SessionDefaults defaults_;
  SessionStore* const store_;
  const std::shared_ptr<const Replicas> replicas_;
};

// ValidateLabels()
//
// At most 64 labels; keys 1-63 characters of [a-zA-Z0-9_.-]; values at most
// 256 characters. INVALID_ARGUMENT naming the offending key.
absl::Status ValidateLabels(
    const google::protobuf::Map<std::string, std::string>& labels);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SESSION_FACTORY_H_
