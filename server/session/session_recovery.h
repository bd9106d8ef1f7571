// Recovery: the sessions of a store loaded at start, and a sharded session
// (re)built from its journal.
//
// RecoverStore() replays every journal of the store into its session, then
// the write-ahead log's tells the journals lack, completes and syncs the
// journals, and lets the old log go. A sharded session is only read through
// at start (its replicas may not be up yet): it comes back kDormant, and
// RebuildSession() builds it from its journal on first use, in a new epoch,
// and again whenever its group breaks (a replica was lost).
//
//   OPTD_ASSIGN_OR_RETURN(RecoveredStore recovered,
//                         RecoverStore(store, factory));
//   for (auto& [id, entry] : recovered.entries) ...  // into the registry
#ifndef OPTD_SERVER_SESSION_SESSION_RECOVERY_H_
#define OPTD_SERVER_SESSION_SESSION_RECOVERY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/session/session.h"
#include "server/session/session_factory.h"
#include "server/session/session_registry.h"
#include "server/storage/journal.h"
#include "server/storage/session_store.h"

namespace optd::server {

// How many sessions loaded and how many are damaged.
struct RecoveryCounts {
  int64_t loaded = 0;
  int64_t damaged = 0;
  // Tells replayed, and sessions restored from a checkpoint first.
  int64_t tells = 0;
  int64_t checkpoints = 0;
};

// What RecoverStore() found.
struct RecoveredStore {
  RecoveryCounts counts;
  // Every stored session by id: kLocal (loaded), kDormant (sharded, not
  // built yet) or kDamaged (a journal that is damaged or does not replay).
  std::map<std::string, SessionEntry> entries;
};

// RecoverStore()
//
// Loads every session of `store`. A session that does not load is a
// kDamaged entry (logged) and the others load; an error means the store
// could not be read at all.
absl::StatusOr<RecoveredStore> RecoverStore(SessionStore& store,
                                            const SessionFactory& factory);

// ReadStoredSession()
//
// Reads the journal at `path` (session `id`'s) into a session built from its
// header. With `defer_sharded`, a sharded session is only read through:
// *session stays null.
absl::StatusOr<JournalHeader> ReadStoredSession(
    SessionStore& store, const SessionFactory& factory, const std::string& id,
    const std::string& path, bool defer_sharded,
    std::shared_ptr<Session>* session);

// RebuildSession()
//
// Session `id` built from `journal` (synced first), with the journal
// attached. UNAVAILABLE while a replica it needs is unreachable, or when
// there is no journal (a session in memory only cannot be rebuilt).
absl::StatusOr<std::shared_ptr<Session>> RebuildSession(
    SessionStore* store, const SessionFactory& factory, absl::string_view id,
    const std::shared_ptr<SessionJournal>& journal);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SESSION_RECOVERY_H_
