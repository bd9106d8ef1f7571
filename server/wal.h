// Wal: the write-ahead log that small sessions of a data directory share, so
// that concurrent tells are made durable by one write and one fdatasync
// (group commit), whatever the file system does with concurrent fsyncs.
//
// A tell of a small session (per-tell durability, dimension up to
// --wal_max_dimension) is appended to its session's journal file without a
// sync *and* submitted here; its answer leaves once the log is synced. The
// log is <data_dir>/wal/<sequence>.wal:
//
//   "OPTDWAL1"
//   record: u32 length | u32 crc32(payload) | payload   (as journal.h frames)
//   payload: u16 id length | session id | u64 incarnation | u64 tell number |
//            the tell's journal record (framed)
//
// The incarnation (a random number in the journal's header) tells a session
// from an earlier one of the same id that was deleted. One committer thread
// takes every submitted record, writes them in one write() and syncs once:
// the more sessions tell at once, the more records share a sync.
//
// When a log file passes --wal_segment_bytes a new one is started, the
// sessions' journal files are synced (they now hold everything the old log
// does) and the old log is removed. On start, SessionManager::Recover reads
// the logs left by a crash (ReadSegments) after the journals, appends what the
// journals lack, syncs them, and only then the logs are removed
// (FinishRecovery).
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_WAL_H_
#define OPTD_SERVER_WAL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/journal.h"

namespace optd::server {

class SessionJournal;

class Wal {
 public:
  // Called after each rotation, before the old log file is removed: must
  // make every journal file durable up to what was submitted so far.
  using SyncJournals = std::function<void()>;

  // Wal::Open()
  //
  // Creates <data_dir>/wal if needed and lists the log files a previous run
  // left (read them with ReadSegments, then call FinishRecovery). Nothing is
  // written until FinishRecovery.
  static absl::StatusOr<std::unique_ptr<Wal>> Open(const std::string& data_dir,
                                                   int64_t segment_bytes,
                                                   SyncJournals sync_journals);
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;
  // Syncs what was submitted, then stops.
  ~Wal();

  // Wal::ReadSegments()
  //
  // Every record of the log files found by Open, oldest first. A torn or
  // unreadable tail of a file ends that file (it was never acknowledged);
  // damage before it is DATA_LOSS.
  absl::Status ReadSegments(
      const std::function<absl::Status(
          absl::string_view session_id, uint64_t incarnation, uint64_t tell,
          absl::string_view record)>& on_record) const;

  // Wal::FinishRecovery()
  //
  // Removes the old log files (the journals hold their records now, synced)
  // and starts logging into a new one. With `keep_old_segments` they stay
  // (and the next Open finds them again): a session they hold acknowledged
  // tells of could not take them and is damaged, and must stay so.
  absl::Status FinishRecovery(bool keep_old_segments = false)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Wal::Submit()
  //
  // Logs `record` (a framed journal record) as tell number `tell` of the
  // journal; calls journal->OnWalSynced(tell) or OnWalFailed once synced.
  void Submit(std::shared_ptr<SessionJournal> journal, absl::string_view id,
              uint64_t incarnation, uint64_t tell, absl::string_view record)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Records synced so far, and syncs done (their ratio is the grouping).
  int64_t records_synced() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t syncs() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pending {
    std::shared_ptr<SessionJournal> journal;
    uint64_t tell;
  };

  Wal(std::string dir, int64_t segment_bytes, SyncJournals sync_journals,
      std::vector<std::string> old_segments, uint64_t next_sequence);
  void CommitLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Opens <dir>/<next_sequence_>.wal as the current log.
  absl::Status StartSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);

  const std::string dir_;
  const int64_t segment_bytes_;
  const SyncJournals sync_journals_;
  const std::vector<std::string> old_segments_;

  // The current log file; only the committer thread (or FinishRecovery,
  // before it starts) touches it.
  absl::Mutex io_mu_;
  std::optional<JournalFile> file_ ABSL_GUARDED_BY(io_mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(io_mu_);

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

#endif  // OPTD_SERVER_WAL_H_
