// SessionStore: the data directory (--data_dir) and the commits that make
// tells durable before they are acknowledged (DESIGN §4).
//
// Each session has one journal file, <data_dir>/sessions/<id>.journal
// (journal.h). A tell appends its record to the session's SessionJournal under
// the session's lock, in order, and the answer is released only once
// WhenDurable() reports the record synced. Two ways to get there:
//   - small per-tell sessions (SessionManager decides: --wal_max_dimension)
//     submit the record to the shared write-ahead log (wal.h), whose single
//     committer syncs every record submitted meanwhile with one fdatasync;
//     their journal file gets the records too, unsynced, from the commit
//     threads (a second copy that a kill -9 leaves intact);
//   - the others are written and fdatasync'ed by a pool of commit threads:
//     everything a session appended while its previous commit was in flight
//     goes out in one write and one fdatasync.
// Concurrent fdatasyncs of different files are not merged on every file
// system (bench/durability measured one without a journal), hence the log
// for the many-small-sessions case.
//
// With a checkpoint interval N > 0 a session's records are still written as
// they come (the page cache holds them, not optd's memory) but synced only
// every N records, and answers do not wait. A journal can also be replaced
// atomically by a checkpoint of its session (Checkpoint()).
//
// Faults (docs/durability.md "Faults"). All I/O goes through the store's Env
// (env.h). When a journal's write or sync fails, nothing it holds is dropped:
// the records not yet in the file stay in memory, the session refuses tells
// with UNAVAILABLE naming the error (health()), and the store's maintenance
// thread repairs the journal every --storage_retry_seconds: it writes what is
// pending and syncs, or — after a failed sync, which cannot be retried into
// success — writes a new file from the old one read back (checksums
// verified) plus what is pending, and renames it over the old one. Once that
// succeeds the session takes tells again; no restart needed. A failure of the
// shared log fails its records over to their journals' own syncs (wal.h).
//
// The directory is locked (<data_dir>/LOCK) so two servers never share it.
//
//   OPTD_ASSIGN_OR_RETURN(auto store, SessionStore::Open({.data_dir = "d"}));
//   OPTD_ASSIGN_OR_RETURN(auto journal,
//                         store->Create("s1", header, 0, 0, false, 0));
//   uint64_t seq = journal->Append(EncodeTellRecord(tell, absl::Now()));
//   journal->WhenDurable(seq, [](absl::Status s) { /* answer the tell */ });
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_STORAGE_SESSION_STORE_H_
#define OPTD_SERVER_STORAGE_SESSION_STORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/storage/env.h"
#include "server/storage/journal.h"
#include "server/storage/wal.h"

namespace optd::server {

class SessionStore;

// The journal of one session: appends in order, durable in order.
class SessionJournal : public std::enable_shared_from_this<SessionJournal> {
 public:
  using DoneCallback = absl::AnyInvocable<void(absl::Status) &&>;

  // SessionJournal::Append()
  //
  // Queues a framed record (EncodeTellRecord) and returns its sequence number
  // (1 for the first tell). REQUIRES: the caller serializes appends (the
  // session's lock), so records land in the order tells were applied.
  uint64_t Append(std::string record) ABSL_LOCKS_EXCLUDED(mu_);

  // SessionJournal::Checkpoint()
  //
  // Replaces the journal on disk, atomically, by its header carrying
  // `checkpoint` (a serialized v1::SessionCheckpoint of the session after
  // `tells` tells): the records before it are no longer needed and go.
  // Records appended later follow it. `tells` becomes durable once the new
  // file is in place. REQUIRES: serialized with Append (the session's lock).
  void Checkpoint(std::string checkpoint, uint64_t tells)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Bytes of tell records appended since the last checkpoint (or creation).
  uint64_t bytes_since_checkpoint() const ABSL_LOCKS_EXCLUDED(mu_);

  // SessionJournal::WhenDurable()
  //
  // Calls `done(OK)` once record `seq` is synced — at once if it already is —
  // or `done(error)` if the journal could not be written (the session then
  // refuses further tells until it is repaired; see health()). Runs on a
  // commit thread or here.
  void WhenDurable(uint64_t seq, DoneCallback done) ABSL_LOCKS_EXCLUDED(mu_);

  // SessionJournal::SyncNow()
  //
  // Writes and syncs everything appended, whatever the checkpoint interval,
  // and waits for it (export, shutdown).
  absl::Status SyncNow() ABSL_LOCKS_EXCLUDED(mu_);

  // SessionJournal::WriteRecovered()
  //
  // Recovery: appends records the write-ahead log held and the file lacked
  // (already counted in the tells it was opened with) and syncs the file. On
  // error the records stay pending and the journal unhealthy, for the
  // maintenance thread to repair.
  absl::Status WriteRecovered(absl::string_view records)
      ABSL_LOCKS_EXCLUDED(mu_, file_mu_);

  // Records synced (tells durable).
  uint64_t durable() const ABSL_LOCKS_EXCLUDED(mu_);
  // The tells of the last checkpoint this journal made durable (0: none
  // since it was opened).
  uint64_t durable_checkpoint() const ABSL_LOCKS_EXCLUDED(mu_);
  // OK, or UNAVAILABLE naming the write error that broke this journal.
  absl::Status health() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t checkpoint_interval() const { return checkpoint_interval_; }
  const std::string& path() const { return path_; }

  // Whether tells go through the shared write-ahead log (wal.h) (false
  // once the log failed for one of them: the file is synced instead).
  bool uses_wal() const ABSL_LOCKS_EXCLUDED(mu_);

  // Public for make_shared; use SessionStore::Create/Reopen.
  SessionJournal(SessionStore* store, JournalFile file, uint64_t records,
                 int64_t checkpoint_interval, Wal* wal, std::string session_id,
                 uint64_t incarnation);

 private:
  friend class SessionStore;
  friend class Wal;

  // From the log's committer: tell `tell` is durable / the log failed for
  // it (the journal then syncs its own file, now and from then on).
  void OnWalSynced(uint64_t tell) ABSL_LOCKS_EXCLUDED(mu_);
  void OnWalFailed(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // Writes what is pending to the file and syncs it, now, on this thread
  // (log rotation; export).
  absl::Status SyncFile() ABSL_LOCKS_EXCLUDED(mu_, file_mu_);
  // SessionJournal::Repair()
  //
  // From the maintenance thread, while unhealthy: the commit again (pending
  // records written and synced), the file first rewritten if its sync
  // failed. OK when the journal is healthy again.
  absl::Status Repair() ABSL_LOCKS_EXCLUDED(mu_, file_mu_);
  // The I/O of a commit: pending records (and checkpoint) to the file,
  // synced when due or `force`. From the pool (`from_pool`), SyncFile or
  // Repair (`repair`).
  absl::Status WriteOut(bool force, bool from_pool, bool repair = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(file_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // A new file in place of file_ holding the header with `checkpoint`.
  absl::Status WriteCheckpointFile(const std::string& checkpoint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(file_mu_);
  // A new file in place of the broken file_, holding its records read back.
  absl::Status RewriteFile() ABSL_EXCLUSIVE_LOCKS_REQUIRED(file_mu_);
  // Marks durable up to `durable`, collecting the waiters it releases.
  void ReleaseWaiters(
      std::vector<std::pair<uint64_t,
                            absl::AnyInvocable<void(absl::Status) &&>>>* ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The journal can no longer make tells durable: UNAVAILABLE naming
  // `error`, waiters failed, repair scheduled.
  void BreakLocked(const absl::Status& error,
                   std::vector<std::pair<uint64_t, DoneCallback>>* ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // On a commit thread: write what is pending, sync when due, run callbacks.
  void Commit() ABSL_LOCKS_EXCLUDED(mu_);
  // Stops all I/O, waiting for a write in progress; pending callbacks get
  // `why`. For DeleteSession: no file of this journal is written after it.
  void Close(absl::Status why) ABSL_LOCKS_EXCLUDED(mu_, file_mu_);
  bool SyncDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells go through the log, which has not failed: it reports their
  // durability (OnWalSynced / OnWalFailed), whatever the file does.
  bool LoggedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool closed() const ABSL_LOCKS_EXCLUDED(mu_);

  SessionStore* const store_;
  Env* const env_;
  const std::string path_;
  const int64_t checkpoint_interval_;
  // The shared log this journal's tells go through, or null (own fsyncs).
  Wal* const wal_;
  const std::string session_id_;
  const uint64_t incarnation_;
  // Held for the file's I/O (a pool commit, SyncFile, Repair, Close).
  absl::Mutex file_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  JournalFile file_ ABSL_GUARDED_BY(file_mu_);

  mutable absl::Mutex mu_;
  std::string pending_ ABSL_GUARDED_BY(mu_);
  // A checkpoint to write before pending_ (Checkpoint()), with its tells.
  std::optional<std::string> pending_checkpoint_ ABSL_GUARDED_BY(mu_);
  uint64_t pending_checkpoint_tells_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_since_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;
  // Records appended, and synced (or, through the log, durable there).
  uint64_t appended_ ABSL_GUARDED_BY(mu_);
  uint64_t durable_ ABSL_GUARDED_BY(mu_);
  uint64_t durable_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;
  // The log failed for a record: this journal syncs its own file.
  bool wal_failed_ ABSL_GUARDED_BY(mu_) = false;
  // Sync even if not due (SyncNow, shutdown, log failure).
  bool force_sync_ ABSL_GUARDED_BY(mu_) = false;
  // In the commit queue or being committed: at most one thread at a time.
  bool scheduled_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // What a tell waiting on a closed journal is answered.
  absl::Status closed_why_ ABSL_GUARDED_BY(mu_);
  absl::Status health_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, DoneCallback>> waiters_ ABSL_GUARDED_BY(mu_);
};

struct StoreOptions {
  // Created if missing.
  std::string data_dir;
  // Threads that write and fdatasync journals (--commit_threads). Range
  // [1, 256].
  int commit_threads = 8;
  // Size at which the write-ahead log starts a new file
  // (--wal_segment_bytes). Range [64 KiB, 2^40].
  int64_t wal_segment_bytes = int64_t{64} << 20;
  // How often a journal that could not be written is repaired, a log that
  // is down restarted, and retired log segments removed
  // (--storage_retry_seconds). Range (0, 3600] seconds.
  absl::Duration retry_interval = absl::Seconds(1);
  // The file system (env.h); null: the POSIX one.
  Env* env = nullptr;
};

class SessionStore {
 public:
  // SessionStore::Open()
  //
  // Creates <data_dir>/sessions if needed, takes the directory lock
  // (FAILED_PRECONDITION if another process holds it), removes leftover
  // *.tmp files, and starts the commit and maintenance threads.
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(
      const StoreOptions& options);

  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;
  // Syncs every open journal, then stops the threads.
  ~SessionStore();

  // Ids of the stored sessions, in id order (journal files present).
  absl::StatusOr<std::vector<std::string>> ListSessionIds() const;
  std::string JournalPath(absl::string_view session_id) const;

  // SessionStore::Create()
  //
  // Writes a new journal for `session_id` holding `records` (the framed
  // header, and tells for an import) and syncs it before returning; replaces
  // any file of that id atomically.
  // With `use_wal`, tells go through the shared log (wal.h), tagged with
  // `incarnation` (the header's).
  absl::StatusOr<std::shared_ptr<SessionJournal>> Create(
      absl::string_view session_id, absl::string_view records, uint64_t tells,
      int64_t checkpoint_interval, bool use_wal, uint64_t incarnation)
      ABSL_LOCKS_EXCLUDED(mu_);
  // SessionStore::Replace()
  //
  // Create() for a session whose journal is open: that journal is closed
  // first (a write in progress finishes; waiting answers get `why`), so that
  // nothing writes the old file after the new one took its place (a solver
  // switch, docs/durability.md). The rename keeps it atomic: a crash leaves
  // the old file or the new one whole. On error the old file stays as it
  // was, with its journal closed.
  absl::StatusOr<std::shared_ptr<SessionJournal>> Replace(
      absl::string_view session_id, absl::string_view records, uint64_t tells,
      int64_t checkpoint_interval, bool use_wal, uint64_t incarnation,
      absl::Status why) ABSL_LOCKS_EXCLUDED(mu_);
  // SessionStore::Reopen()
  //
  // The journal ReadJournal just read (`read`): appends go after its valid
  // bytes (a torn tail is cut off).
  absl::StatusOr<std::shared_ptr<SessionJournal>> Reopen(
      absl::string_view session_id, const RecordsRead& read, uint64_t tells,
      int64_t checkpoint_interval, bool use_wal, uint64_t incarnation)
      ABSL_LOCKS_EXCLUDED(mu_);

  // SessionStore::ReadWal(), FinishRecovery()
  //
  // Recovery: the records of the write-ahead log a previous run left (see
  // Wal::ReadSegments), then — once the journals hold them, synced — the old
  // log retired and a new one started. No tell may come before
  // FinishRecovery.
  absl::Status ReadWal(
      const std::function<absl::Status(
          absl::string_view session_id, uint64_t incarnation, uint64_t tell,
          int64_t offset, absl::string_view record)>& on_record,
      std::vector<Wal::DamagedRange>* damaged) const;
  // With `keep_log`, the old log files stay for good; with
  // `until_synced`, until every journal is synced (Wal::FinishRecovery).
  void FinishRecovery(bool keep_log, bool until_synced);
  // Tells made durable through the log, and the log's syncs.
  int64_t wal_records() const { return wal_->records_synced(); }
  int64_t wal_syncs() const { return wal_->syncs(); }
  const Wal& wal() const { return *wal_; }
  // SessionStore::Remove()
  //
  // Closes the journal (if open; its waiting answers get `why`; a write in
  // progress finishes first) and removes the file durably.
  absl::Status Remove(absl::string_view session_id, absl::Status why)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Syncs every open journal now (SIGTERM).
  void SyncAll() ABSL_LOCKS_EXCLUDED(mu_);

  // SessionStore::Maintain()
  //
  // What the maintenance thread does every retry interval: repairs the
  // journals that could not be written, restarts a log that is down, removes
  // retired log segments. Tests call it to skip the wait.
  void Maintain() ABSL_LOCKS_EXCLUDED(mu_, repair_mu_);
  // Journals waiting for a repair.
  int64_t unhealthy_journals() const ABSL_LOCKS_EXCLUDED(repair_mu_);

  const std::string& data_dir() const { return options_.data_dir; }
  Env* env() const { return env_; }

 private:
  friend class SessionJournal;

  SessionStore(StoreOptions options, Env* env, std::unique_ptr<FileLock> lock);
  void Schedule(std::shared_ptr<SessionJournal> journal)
      ABSL_LOCKS_EXCLUDED(queue_mu_);
  void CommitLoop() ABSL_LOCKS_EXCLUDED(queue_mu_);
  void MaintenanceLoop() ABSL_LOCKS_EXCLUDED(repair_mu_);
  // Closes and forgets the open journal of `session_id`, if any (Remove,
  // Replace); its waiting answers get `why`.
  void CloseJournal(absl::string_view session_id, absl::Status why)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A journal that needs Repair().
  void NeedsRepair(std::shared_ptr<SessionJournal> journal)
      ABSL_LOCKS_EXCLUDED(repair_mu_);
  std::shared_ptr<SessionJournal> Register(absl::string_view session_id,
                                           JournalFile file, uint64_t tells,
                                           int64_t checkpoint_interval,
                                           bool use_wal, uint64_t incarnation)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Every journal that uses the log synced to its file; true if all were.
  bool SyncWalJournals() ABSL_LOCKS_EXCLUDED(mu_);

  const StoreOptions options_;
  Env* const env_;
  const std::unique_ptr<FileLock> lock_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<SessionJournal>, std::less<>> journals_
      ABSL_GUARDED_BY(mu_);

  absl::Mutex queue_mu_;
  std::deque<std::shared_ptr<SessionJournal>> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::vector<std::thread> threads_;

  mutable absl::Mutex repair_mu_;
  std::vector<std::weak_ptr<SessionJournal>> unhealthy_
      ABSL_GUARDED_BY(repair_mu_);
  bool maintenance_stopping_ ABSL_GUARDED_BY(repair_mu_) = false;
  std::thread maintenance_;
  // After the threads: destroyed (drained) before they stop.
  std::unique_ptr<Wal> wal_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_STORAGE_SESSION_STORE_H_
