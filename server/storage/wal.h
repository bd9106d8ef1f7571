// Wal: the write-ahead log that small sessions of a data directory share, so
// that concurrent tells are made durable by one write and one fdatasync
// (group commit), whatever the file system does with concurrent fsyncs.
//
// A tell of a small session (per-tell durability, dimension up to
// --wal_max_dimension) is submitted here *and* appended to its session's
// journal file without a sync; its answer leaves once the log is synced. The
// log is <data_dir>/wal/<sequence>.wal, a record file (journal.h) of family
// OPTDWAL:
//
//   record payload: u16 id length | session id | u64 incarnation |
//                   u64 tell number | the tell's journal record (framed)
//
// The incarnation (a random number in the journal's header) tells a session
// from an earlier one of the same id that was deleted. One committer thread
// takes every submitted record, writes them in one append and syncs once:
// the more sessions tell at once, the more records share a sync.
//
// Segments. When a log file passes --wal_segment_bytes it is retired and a
// new one started. A retired segment is removed only once every journal that
// uses the log is synced (its file then holds what the segment does); until
// then it stays, however many rotations pass: nothing deletes the last
// durable copy of an acknowledged tell.
//
// Faults. A write or sync of the log that fails is never retried on the same
// file (a failed fdatasync cannot be retried into success): the segment is
// retired as it is, the records of the failed batch are handed back to their
// journals (SessionJournal::OnWalFailed), which make them durable in their
// own files instead, and the log starts a new segment. Should that fail too
// (a full disk), the log is *down*: every batch fails over the same way; the
// committer tries to start a segment at most once a second, and Maintain()
// (the store's maintenance thread) every time it runs.
//
// Recovery. On start, SessionManager::Recover reads the segments a previous
// run left (ReadSegments) after the journals, appends what the journals lack
// and syncs them; FinishRecovery then removes the segments (unless told to
// keep them) and starts logging. Damage inside synced records of a segment is
// stepped over and reported; a torn tail (never acknowledged) is cut.
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_STORAGE_WAL_H_
#define OPTD_SERVER_STORAGE_WAL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/storage/env.h"
#include "server/storage/journal.h"

namespace optd::server {

class SessionJournal;

class Wal {
 public:
  // Called after a rotation and by Maintain() while segments are retired:
  // must make every journal file that uses the log durable up to what was
  // submitted so far, and say whether every one succeeded.
  using SyncJournals = std::function<bool()>;

  // One damaged range of a segment (ReadSegments).
  struct DamagedRange {
    std::string path;
    int64_t begin = 0;
    int64_t end = 0;
  };

  // Wal::Open()
  //
  // Creates <data_dir>/wal if needed and lists the log files a previous run
  // left (read them with ReadSegments, then call FinishRecovery). Nothing is
  // written until FinishRecovery.
  static absl::StatusOr<std::unique_ptr<Wal>> Open(Env* env,
                                                   const std::string& data_dir,
                                                   int64_t segment_bytes,
                                                   SyncJournals sync_journals);
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;
  // Syncs what was submitted, then stops.
  ~Wal();

  // Wal::ReadSegments()
  //
  // Every record of the log files found by Open, oldest first. Damage to
  // synced records is stepped over and listed in `damaged`; a segment that
  // cannot be read at all is listed whole. A torn tail ends its file.
  absl::Status ReadSegments(
      const std::function<absl::Status(
          absl::string_view session_id, uint64_t incarnation, uint64_t tell,
          int64_t offset, absl::string_view record)>& on_record,
      std::vector<DamagedRange>* damaged) const;

  // Wal::FinishRecovery()
  //
  // Retires the old log files — removed at once, or with `keep_old_segments`
  // kept for good (a session they hold acknowledged tells of could not take
  // them and is damaged, and must stay so) — and starts logging into a new
  // one. With `until_journals_synced` they are removed once SyncJournals
  // succeeds (recovery could not sync every journal). Never fails: when no
  // segment can be started the log is down (see above).
  void FinishRecovery(bool keep_old_segments, bool until_journals_synced)
      ABSL_LOCKS_EXCLUDED(mu_, io_mu_);

  // Wal::Submit()
  //
  // Logs `record` (a framed journal record) as tell number `tell` of the
  // journal; calls journal->OnWalSynced(tell) or OnWalFailed once synced.
  void Submit(std::shared_ptr<SessionJournal> journal, absl::string_view id,
              uint64_t incarnation, uint64_t tell, absl::string_view record)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Wal::Maintain()
  //
  // From the store's maintenance thread: starts a segment if the log is down
  // and removes retired segments once SyncJournals succeeds.
  void Maintain() ABSL_LOCKS_EXCLUDED(mu_, io_mu_);

  // Records synced so far, and syncs done (their ratio is the grouping).
  int64_t records_synced() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t syncs() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether no segment is open (the log failed over), and how many retired
  // segments wait for the journals.
  bool down() const ABSL_LOCKS_EXCLUDED(io_mu_);
  int64_t retired_segments() const ABSL_LOCKS_EXCLUDED(io_mu_);

 private:
  struct Pending {
    std::shared_ptr<SessionJournal> journal;
    uint64_t tell;
  };

  Wal(Env* env, std::string dir, int64_t segment_bytes,
      SyncJournals sync_journals, std::vector<std::string> old_segments,
      uint64_t next_sequence);
  void CommitLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Opens <dir>/<next_sequence_>.wal as the current log; on failure the log
  // is down.
  absl::Status StartSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  // The current segment goes to the retired ones (kept until the journals
  // are synced).
  void RetireSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  // Removes the retired segments if every journal could be synced.
  void RemoveRetiredIfJournalsSynced() ABSL_LOCKS_EXCLUDED(io_mu_);

  Env* const env_;
  const std::string dir_;
  const int64_t segment_bytes_;
  const SyncJournals sync_journals_;
  const std::vector<std::string> old_segments_;

  // The current log file; only the committer thread (or FinishRecovery and
  // Maintain) touch it.
  mutable absl::Mutex io_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::optional<JournalFile> file_ ABSL_GUARDED_BY(io_mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(io_mu_);
  // Segments written and left, oldest first, and those kept for good.
  std::vector<std::string> retired_ ABSL_GUARDED_BY(io_mu_);
  absl::Time last_start_attempt_ ABSL_GUARDED_BY(io_mu_) = absl::InfinitePast();

  mutable absl::Mutex mu_;
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  int64_t records_synced_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_STORAGE_WAL_H_
