#include "server/session_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "solvers/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

constexpr absl::string_view kJournalSuffix = ".journal";

absl::Status MakeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create directory ", path,
                                            ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------
// SessionJournal

SessionJournal::SessionJournal(SessionStore* store, JournalFile file,
                               uint64_t records, int64_t checkpoint_interval,
                               Wal* wal, std::string session_id,
                               uint64_t incarnation)
    : store_(store),
      path_(file.path()),
      checkpoint_interval_(checkpoint_interval),
      wal_(wal),
      session_id_(std::move(session_id)),
      incarnation_(incarnation),
      file_(std::move(file)),
      appended_(records),
      written_(records),
      durable_(records) {}

uint64_t SessionJournal::Append(std::string record) {
  bool schedule = false;
  uint64_t seq;
  {
    absl::MutexLock lock(&mu_);
    seq = ++appended_;
    if (closed_) return seq;
    pending_.append(record);
    bytes_since_checkpoint_ += record.size();
    if (wal_ != nullptr) {
      // Durable through the log. The file gets the records too, unsynced,
      // a megabyte at a time (and all of them when the log rotates).
      wal_->Submit(shared_from_this(), session_id_, incarnation_, seq, record);
      constexpr size_t kFileBatchBytes = size_t{1} << 20;
      if (pending_.size() >= kFileBatchBytes && !scheduled_) {
        schedule = scheduled_ = true;
      }
    } else if (!scheduled_) {
      schedule = scheduled_ = true;
    }
  }
  if (schedule) store_->Schedule(shared_from_this());
  return seq;
}

void SessionJournal::Checkpoint(std::string checkpoint, uint64_t tells) {
  bool schedule = false;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    // Records still pending are older than the checkpoint, which holds them.
    pending_.clear();
    pending_checkpoint_ = std::move(checkpoint);
    appended_ = std::max(appended_, tells);
    bytes_since_checkpoint_ = 0;
    if (!scheduled_) schedule = scheduled_ = true;
  }
  if (schedule) store_->Schedule(shared_from_this());
}

uint64_t SessionJournal::bytes_since_checkpoint() const {
  absl::MutexLock lock(&mu_);
  return bytes_since_checkpoint_;
}

bool SessionJournal::SyncDue() const {
  // Through the log, the file is synced only when asked (rotation, export).
  if (wal_ != nullptr) return force_sync_;
  return force_sync_ || checkpoint_interval_ == 0 ||
         written_ - durable_ >= static_cast<uint64_t>(checkpoint_interval_);
}

void SessionJournal::WhenDurable(uint64_t seq, DoneCallback done) {
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (!health_.ok()) {
      status = health_;
    } else if (seq > durable_) {
      waiters_.emplace_back(seq, std::move(done));
      return;
    }
  }
  std::move(done)(status);
}

absl::Status SessionJournal::SyncNow() {
  uint64_t target;
  bool schedule = false;
  {
    absl::MutexLock lock(&mu_);
    if (!health_.ok() || closed_) return health_;
    target = appended_;
    if (wal_ == nullptr) {
      if (durable_ >= target) return absl::OkStatus();
      force_sync_ = true;
      if (!scheduled_) schedule = scheduled_ = true;
    }
  }
  if (schedule) store_->Schedule(shared_from_this());
  absl::Notification synced;
  absl::Status result;
  WhenDurable(target, [&](absl::Status status) {
    result = std::move(status);
    synced.Notify();
  });
  synced.WaitForNotification();
  // Through the log, the tells are durable now; the file gets them too, so
  // that it can be read back whole (export).
  if (result.ok() && wal_ != nullptr) result = SyncFile();
  return result;
}

uint64_t SessionJournal::durable() const {
  absl::MutexLock lock(&mu_);
  return durable_;
}

absl::Status SessionJournal::health() const {
  absl::MutexLock lock(&mu_);
  return health_;
}

void SessionJournal::ReleaseWaiters(
    std::vector<std::pair<uint64_t, DoneCallback>>* ready) {
  auto split =
      std::stable_partition(waiters_.begin(), waiters_.end(),
                            [&](const auto& w) { return w.first > durable_; });
  for (auto it = split; it != waiters_.end(); ++it) {
    ready->push_back(std::move(*it));
  }
  waiters_.erase(split, waiters_.end());
}

void SessionJournal::OnWalSynced(uint64_t tell) {
  std::vector<std::pair<uint64_t, DoneCallback>> ready;
  {
    absl::MutexLock lock(&mu_);
    durable_ = std::max(durable_, tell);
    ReleaseWaiters(&ready);
  }
  for (auto& [seq, done] : ready) std::move(done)(absl::OkStatus());
}

void SessionJournal::OnWalFailed(const absl::Status& status) {
  std::vector<std::pair<uint64_t, DoneCallback>> ready;
  absl::Status health;
  {
    absl::MutexLock lock(&mu_);
    if (health_.ok()) {
      health_ = absl::UnavailableError(absl::StrCat(
          "the write-ahead log cannot be written (", status.message(),
          "); the last tells are not durable. Fix the disk and restart optd: "
          "the session resumes from its last durable tell"));
    }
    health = health_;
    ready.swap(waiters_);
  }
  for (auto& [seq, done] : ready) std::move(done)(health);
}

void SessionJournal::Commit() {
  absl::MutexLock file_lock(&file_mu_);
  WriteOut(/*force=*/false, /*from_pool=*/true).IgnoreError();  // in health_
}

absl::Status SessionJournal::WriteRecovered(absl::string_view records) {
  absl::MutexLock file_lock(&file_mu_);
  OPTD_RETURN_IF_ERROR(file_.Append(records));
  return file_.Sync();
}

absl::Status SessionJournal::SyncFile() {
  absl::MutexLock file_lock(&file_mu_);
  return WriteOut(/*force=*/true, /*from_pool=*/false);
}

absl::Status SessionJournal::WriteOut(bool force, bool from_pool) {
  std::string bytes;
  std::optional<std::string> checkpoint;
  uint64_t target;
  bool sync;
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || !health_.ok()) {
      if (from_pool) scheduled_ = false;
      return health_;
    }
    bytes.swap(pending_);
    checkpoint.swap(pending_checkpoint_);
    target = appended_;
    written_ = target;
    sync = force || SyncDue();
    force_sync_ = false;
  }
  absl::Status status;
  const bool checkpointing = checkpoint.has_value();
  if (checkpointing) {
    // The new file is written aside, synced and renamed over the old one
    // (JournalFile::Create): a crash leaves one or the other, whole.
    absl::StatusOr<v1::SessionSnapshot> header = ReadJournalHeader(path_);
    status = header.status();
    if (status.ok() &&
        !header->mutable_checkpoint()->ParseFromString(*checkpoint)) {
      status = absl::InternalError("a checkpoint does not parse");
    }
    if (status.ok()) {
      header->clear_tells();
      checkpoint.reset();
      absl::StatusOr<JournalFile> file =
          JournalFile::Create(path_, FrameRecord(header->SerializeAsString()));
      status = file.status();
      if (status.ok()) file_ = *std::move(file);
    }
  }
  if (status.ok() && !bytes.empty()) status = file_.Append(bytes);
  // A checkpoint is durable once renamed (Create synced it); what follows it
  // is synced as usual, and with it when the checkpoint is due.
  if (checkpointing && !bytes.empty() && wal_ == nullptr) sync = true;
  if (status.ok() && sync && !(checkpointing && bytes.empty())) {
    status = file_.Sync();
  }
  if (checkpointing) sync = true;
  std::vector<std::pair<uint64_t, DoneCallback>> ready;
  bool again = false;
  {
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      spdlog::error(
          "journal {}: {}; the session refuses tells until optd "
          "restarts and recovers it from what was synced",
          path_, status.ToString());
      health_ = absl::UnavailableError(absl::StrCat(
          "the session's journal cannot be written (", status.message(),
          "); its last tells are not durable. Fix the disk and restart optd: "
          "the session resumes from its last durable tell"));
      ready.swap(waiters_);
    } else {
      // Through the log, durability is the log's to report.
      if (sync && wal_ == nullptr) durable_ = std::max(durable_, target);
      ReleaseWaiters(&ready);
    }
    if (from_pool) {
      again = health_.ok() && !closed_ &&
              ((!pending_.empty() && wal_ == nullptr) ||
               pending_checkpoint_.has_value() ||
               (force_sync_ && durable_ < appended_));
      scheduled_ = again;
    }
  }
  const absl::Status result = status.ok() ? absl::OkStatus() : health();
  for (auto& [seq, done] : ready) std::move(done)(result);
  if (again) store_->Schedule(shared_from_this());
  return result;
}

void SessionJournal::Close(absl::Status why) {
  std::vector<std::pair<uint64_t, DoneCallback>> ready;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    pending_.clear();
    ready.swap(waiters_);
  }
  for (auto& [seq, done] : ready) std::move(done)(why);
}

// ---------------------------------------------------------------------------
// SessionStore

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::Open(
    const StoreOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir is empty");
  }
  if (options.commit_threads < 1 || options.commit_threads > 256) {
    return absl::InvalidArgumentError(absl::StrCat("--commit_threads is ",
                                                   options.commit_threads,
                                                   "; it must be in [1, 256]"));
  }
  OPTD_RETURN_IF_ERROR(MakeDirectory(options.data_dir));
  OPTD_RETURN_IF_ERROR(MakeDirectory(options.data_dir + "/sessions"));
  const std::string lock_path = options.data_dir + "/LOCK";
  const int lock_fd =
      ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", lock_path, ": ", std::strerror(errno)));
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "--data_dir ", options.data_dir, " is in use by another optd process (",
        lock_path, " is locked); give each server its own data directory"));
  }
  if (options.wal_segment_bytes < (int64_t{1} << 16) ||
      options.wal_segment_bytes > (int64_t{1} << 40)) {
    ::close(lock_fd);
    return absl::InvalidArgumentError(
        absl::StrCat("--wal_segment_bytes is ", options.wal_segment_bytes,
                     "; it must be in [2^16, 2^40]"));
  }
  auto store =
      std::unique_ptr<SessionStore>(new SessionStore(options, lock_fd));
  OPTD_ASSIGN_OR_RETURN(store->wal_,
                        Wal::Open(options.data_dir, options.wal_segment_bytes,
                                  [s = store.get()] { s->SyncWalJournals(); }));
  // Leftovers of a Create or an import that crashed before its rename.
  DIR* dir = ::opendir((options.data_dir + "/sessions").c_str());
  if (dir != nullptr) {
    while (const dirent* entry = ::readdir(dir)) {
      if (absl::EndsWith(entry->d_name, ".tmp")) {
        const std::string path =
            absl::StrCat(options.data_dir, "/sessions/", entry->d_name);
        spdlog::warn("removing {}, left by a write that a crash cut short",
                     path);
        ::unlink(path.c_str());
      }
    }
    ::closedir(dir);
  }
  return store;
}

SessionStore::SessionStore(StoreOptions options, int lock_fd)
    : options_(std::move(options)), lock_fd_(lock_fd) {
  for (int i = 0; i < options_.commit_threads; ++i) {
    threads_.emplace_back([this] { CommitLoop(); });
  }
}

SessionStore::~SessionStore() {
  SyncAll();
  wal_.reset();  // drains what is still submitted
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
  ::close(lock_fd_);
}

std::string SessionStore::JournalPath(absl::string_view session_id) const {
  return absl::StrCat(options_.data_dir, "/sessions/", session_id,
                      kJournalSuffix);
}

absl::StatusOr<std::vector<std::string>> SessionStore::ListSessionIds() const {
  const std::string path = options_.data_dir + "/sessions";
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot list ", path, ": ", std::strerror(errno)));
  }
  std::vector<std::string> ids;
  while (const dirent* entry = ::readdir(dir)) {
    absl::string_view name = entry->d_name;
    if (absl::ConsumeSuffix(&name, kJournalSuffix)) ids.emplace_back(name);
  }
  ::closedir(dir);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::shared_ptr<SessionJournal> SessionStore::Register(
    absl::string_view session_id, JournalFile file, uint64_t tells,
    int64_t checkpoint_interval, bool use_wal, uint64_t incarnation) {
  auto journal = std::make_shared<SessionJournal>(
      this, std::move(file), tells, checkpoint_interval,
      use_wal ? wal_.get() : nullptr, std::string(session_id), incarnation);
  absl::MutexLock lock(&mu_);
  journals_[std::string(session_id)] = journal;
  return journal;
}

absl::StatusOr<std::shared_ptr<SessionJournal>> SessionStore::Create(
    absl::string_view session_id, absl::string_view records, uint64_t tells,
    int64_t checkpoint_interval, bool use_wal, uint64_t incarnation) {
  OPTD_ASSIGN_OR_RETURN(JournalFile file,
                        JournalFile::Create(JournalPath(session_id), records));
  return Register(session_id, std::move(file), tells, checkpoint_interval,
                  use_wal, incarnation);
}

absl::StatusOr<std::shared_ptr<SessionJournal>> SessionStore::Reopen(
    absl::string_view session_id, int64_t valid_bytes, uint64_t tells,
    int64_t checkpoint_interval, bool use_wal, uint64_t incarnation) {
  OPTD_ASSIGN_OR_RETURN(
      JournalFile file,
      JournalFile::OpenForAppend(JournalPath(session_id), valid_bytes));
  return Register(session_id, std::move(file), tells, checkpoint_interval,
                  use_wal, incarnation);
}

absl::Status SessionStore::ReadWal(
    const std::function<absl::Status(absl::string_view, uint64_t, uint64_t,
                                     absl::string_view)>& on_record) const {
  return wal_->ReadSegments(on_record);
}

absl::Status SessionStore::FinishRecovery(bool keep_log) {
  return wal_->FinishRecovery(keep_log);
}

void SessionStore::SyncWalJournals() {
  std::vector<std::shared_ptr<SessionJournal>> journals;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, journal] : journals_) {
      if (journal->uses_wal()) journals.push_back(journal);
    }
  }
  for (const auto& journal : journals) {
    absl::Status status = journal->SyncFile();
    if (!status.ok()) {
      spdlog::error("journal {}: {}", journal->path(), status.ToString());
    }
  }
}

absl::Status SessionStore::Remove(absl::string_view session_id,
                                  absl::Status why) {
  std::shared_ptr<SessionJournal> journal;
  {
    absl::MutexLock lock(&mu_);
    auto it = journals_.find(session_id);
    if (it != journals_.end()) {
      journal = std::move(it->second);
      journals_.erase(it);
    }
  }
  if (journal != nullptr) journal->Close(std::move(why));
  return RemoveFileDurably(JournalPath(session_id));
}

void SessionStore::SyncAll() {
  std::vector<std::shared_ptr<SessionJournal>> journals;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, journal] : journals_) journals.push_back(journal);
  }
  for (const auto& journal : journals) {
    absl::Status status = journal->SyncNow();
    if (!status.ok()) {
      spdlog::error("journal {}: {}", journal->path(), status.ToString());
    }
  }
}

void SessionStore::Schedule(std::shared_ptr<SessionJournal> journal) {
  absl::MutexLock lock(&queue_mu_);
  queue_.push_back(std::move(journal));
}

void SessionStore::CommitLoop() {
  for (;;) {
    std::shared_ptr<SessionJournal> journal;
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](SessionStore* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->queue_mu_) {
            return !s->queue_.empty() || s->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping, nothing left
      journal = std::move(queue_.front());
      queue_.pop_front();
    }
    journal->Commit();
  }
}

}  // namespace optd::server
