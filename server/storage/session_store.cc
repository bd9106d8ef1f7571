#include "server/storage/session_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

constexpr absl::string_view kJournalSuffix = ".journal";

}  // namespace

// ---------------------------------------------------------------------------
// SessionJournal

SessionJournal::SessionJournal(SessionStore* store, JournalFile file,
                               uint64_t records, int64_t checkpoint_interval,
                               Wal* wal, std::string session_id,
                               uint64_t incarnation)
    : store_(store),
      env_(store->env()),
      path_(file.path()),
      checkpoint_interval_(checkpoint_interval),
      wal_(wal),
      session_id_(std::move(session_id)),
      incarnation_(incarnation),
      file_(std::move(file)),
      appended_(records),
      durable_(records) {}

uint64_t SessionJournal::Append(std::string record) {
  bool schedule = false;
  uint64_t seq;
  {
    absl::MutexLock lock(&mu_);
    seq = ++appended_;
    if (closed_) return seq;
    if (wal_ != nullptr && !wal_failed_) {
      // Durable through the log. The file gets the record too, unsynced,
      // from a commit thread: a second copy that survives a kill -9.
      wal_->Submit(shared_from_this(), session_id_, incarnation_, seq, record);
    }
    bytes_since_checkpoint_ += record.size();
    pending_.append(record);
    if (!scheduled_) schedule = scheduled_ = true;
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
    pending_checkpoint_tells_ = tells;
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
  if (wal_ != nullptr && !wal_failed_) return force_sync_;
  return force_sync_ || checkpoint_interval_ == 0 ||
         appended_ - durable_ >= static_cast<uint64_t>(checkpoint_interval_);
}

void SessionJournal::WhenDurable(uint64_t seq, DoneCallback done) {
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (closed_ && seq > durable_) {
      status = closed_why_;
    } else if (seq > durable_) {
      // Through a working log, the log decides, whatever the file does.
      if (health_.ok() || LoggedLocked()) {
        waiters_.emplace_back(seq, std::move(done));
        return;
      }
      status = health_;
    }
  }
  std::move(done)(status);
}

absl::Status SessionJournal::SyncNow() {
  uint64_t target;
  bool schedule = false;
  bool logged;
  {
    absl::MutexLock lock(&mu_);
    if (!health_.ok() || closed_) return health_;
    target = appended_;
    logged = wal_ != nullptr && !wal_failed_;
    if (!logged) {
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
  if (result.ok() && logged) result = SyncFile();
  return result;
}

uint64_t SessionJournal::durable() const {
  absl::MutexLock lock(&mu_);
  return durable_;
}

uint64_t SessionJournal::durable_checkpoint() const {
  absl::MutexLock lock(&mu_);
  return durable_checkpoint_;
}

absl::Status SessionJournal::health() const {
  absl::MutexLock lock(&mu_);
  return health_;
}

bool SessionJournal::uses_wal() const {
  absl::MutexLock lock(&mu_);
  return wal_ != nullptr && !wal_failed_;
}

bool SessionJournal::LoggedLocked() const {
  return wal_ != nullptr && !wal_failed_;
}

bool SessionJournal::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
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

void SessionJournal::BreakLocked(
    const absl::Status& error,
    std::vector<std::pair<uint64_t, DoneCallback>>* ready) {
  const double seconds = absl::ToDoubleSeconds(store_->options_.retry_interval);
  if (health_.ok()) {
    spdlog::error(
        "journal {}: {}; the session refuses tells until the journal can be "
        "written again (tried every {} s)",
        path_, error.ToString(), seconds);
    store_->NeedsRepair(shared_from_this());
  }
  health_ = absl::UnavailableError(absl::StrCat(
      "the session's journal cannot be written (", error.message(),
      "); its last tells are not durable. optd tries again every ", seconds,
      " s and the session takes tells again once that succeeds (free space "
      "or fix the disk), with nothing acknowledged lost; retry the tell"));
  // Records the log still has in hand keep waiting for its verdict.
  if (LoggedLocked()) return;
  for (auto& waiter : waiters_) ready->push_back(std::move(waiter));
  waiters_.clear();
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
  bool schedule = false;
  std::vector<std::pair<uint64_t, DoneCallback>> ready;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    if (!health_.ok()) {
      // The file cannot take them either.
      wal_failed_ = true;
      ready.swap(waiters_);
    }
    if (!wal_failed_) {
      spdlog::warn(
          "journal {}: the write-ahead log failed ({}); this session's tells "
          "are synced in its own file from now on",
          path_, std::string(status.message()));
    }
    wal_failed_ = true;
    force_sync_ = true;
    if (health_.ok() && !scheduled_) schedule = scheduled_ = true;
  }
  for (auto& [seq, done] : ready) std::move(done)(health());
  if (schedule) store_->Schedule(shared_from_this());
}

void SessionJournal::Commit() {
  absl::MutexLock file_lock(&file_mu_);
  WriteOut(/*force=*/false, /*from_pool=*/true).IgnoreError();  // in health_
}

absl::Status SessionJournal::WriteRecovered(absl::string_view records) {
  absl::MutexLock file_lock(&file_mu_);
  absl::Status status = file_.Append(records);
  if (status.ok()) status = file_.Sync();
  if (!status.ok()) {
    // The log keeps them (it is retired only once this journal is synced).
    std::vector<std::pair<uint64_t, DoneCallback>> ready;
    absl::MutexLock lock(&mu_);
    pending_.insert(0, records.data(), records.size());
    BreakLocked(status, &ready);
  }
  return status;
}

absl::Status SessionJournal::SyncFile() {
  absl::MutexLock file_lock(&file_mu_);
  return WriteOut(/*force=*/true, /*from_pool=*/false);
}

absl::Status SessionJournal::Repair() {
  absl::MutexLock file_lock(&file_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || health_.ok()) return absl::OkStatus();
  }
  return WriteOut(/*force=*/true, /*from_pool=*/false, /*repair=*/true);
}

absl::Status SessionJournal::WriteCheckpointFile(
    const std::string& checkpoint) {
  OPTD_ASSIGN_OR_RETURN(v1::SessionSnapshot header,
                        ReadJournalHeader(env_, path_));
  if (!header.mutable_checkpoint()->ParseFromString(checkpoint)) {
    return absl::InternalError("a checkpoint does not parse");
  }
  header.clear_tells();
  // The new file is written aside, synced and renamed over the old one: a
  // crash leaves one or the other, whole.
  OPTD_ASSIGN_OR_RETURN(
      JournalFile file,
      JournalFile::Create(env_, path_,
                          FrameRecord(header.SerializeAsString())));
  file_ = std::move(file);
  return absl::OkStatus();
}

absl::Status SessionJournal::RewriteFile() {
  // What was written to the broken file is read back (every record's
  // checksum verified, every byte accounted for) into a new file; the
  // kernel's copy is trusted only as far as that check goes.
  const int64_t expected = file_.size();
  OPTD_ASSIGN_OR_RETURN(
      JournalFile fresh,
      JournalFile::CreateWith(
          env_, path_, kJournalFamily,
          [&](const JournalFile::RecordSink& sink) -> absl::Status {
            OPTD_ASSIGN_OR_RETURN(
                RecordsRead read,
                ReadRecords(env_, path_, kJournalFamily,
                            /*first_record_required=*/true,
                            [&](int64_t, int64_t, absl::string_view payload) {
                              return sink(FrameRecord(payload));
                            }));
            if (read.valid_bytes != expected || read.torn_tail_bytes != 0) {
              return absl::DataLossError(absl::StrCat(
                  "what was written to ", path_, " (", expected,
                  " bytes) reads back as ", read.valid_bytes,
                  " good bytes; restart optd to resume the session from "
                  "what was synced"));
            }
            return absl::OkStatus();
          }));
  file_ = std::move(fresh);
  return absl::OkStatus();
}

absl::Status SessionJournal::WriteOut(bool force, bool from_pool, bool repair) {
  std::string bytes;
  std::optional<std::string> checkpoint;
  uint64_t checkpoint_tells;
  uint64_t target;
  bool sync;
  bool durable_path;
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || (!health_.ok() && !repair)) {
      if (from_pool) scheduled_ = false;
      return health_;
    }
    bytes.swap(pending_);
    checkpoint.swap(pending_checkpoint_);
    checkpoint_tells = pending_checkpoint_tells_;
    target = appended_;
    sync = force || SyncDue();
    force_sync_ = false;
    durable_path = wal_ == nullptr || wal_failed_;
  }
  absl::Status status;
  const bool checkpointing = checkpoint.has_value();
  bool checkpoint_written = false;
  if (checkpointing) {
    status = WriteCheckpointFile(*checkpoint);
    checkpoint_written = status.ok();
  } else if (file_.broken()) {
    status = RewriteFile();
  }
  bool bytes_written = bytes.empty();
  if (status.ok() && !bytes.empty()) {
    status = file_.Append(bytes);
    bytes_written = status.ok();
  }
  // A checkpoint is durable once renamed (Create synced it); what follows it
  // is synced as usual, and with it when the checkpoint is due.
  if (checkpointing && !bytes.empty() && durable_path) sync = true;
  if (status.ok() && sync && !(checkpointing && bytes.empty())) {
    status = file_.Sync();
  }
  if (checkpointing) sync = true;
  std::vector<std::pair<uint64_t, DoneCallback>> ready;
  bool again = false;
  {
    absl::MutexLock lock(&mu_);
    if (checkpoint_written) {
      durable_checkpoint_ = std::max(durable_checkpoint_, checkpoint_tells);
    }
    if (!status.ok()) {
      // Nothing taken is dropped: what did not reach the file goes back in
      // front of what came meanwhile, unless a newer checkpoint came, which
      // holds it all. (What reached it is read back if the file must be
      // rewritten: RewriteFile.)
      if (!pending_checkpoint_.has_value()) {
        if (checkpointing && !checkpoint_written) {
          pending_checkpoint_ = std::move(checkpoint);
        }
        if (!bytes_written) pending_.insert(0, bytes);
      }
      if (checkpoint_written) durable_ = std::max(durable_, checkpoint_tells);
      BreakLocked(status, &ready);
    } else {
      if (sync) durable_ = std::max(durable_, target);
      if (repair && !health_.ok()) {
        spdlog::info("journal {}: written again; the session takes tells",
                     path_);
        health_ = absl::OkStatus();
      }
      ReleaseWaiters(&ready);
    }
    if (from_pool || repair) {
      again = health_.ok() && !closed_ &&
              (!pending_.empty() || pending_checkpoint_.has_value() ||
               (force_sync_ && durable_ < appended_));
      if (from_pool) {
        scheduled_ = again;
      } else if (again && !scheduled_) {
        scheduled_ = true;
      } else {
        again = false;
      }
    }
  }
  const absl::Status result = status.ok() ? absl::OkStatus() : health();
  for (auto& [seq, done] : ready) std::move(done)(result);
  if (again) store_->Schedule(shared_from_this());
  return result;
}

void SessionJournal::Close(absl::Status why) {
  // A write in progress (a checkpoint's rename included) finishes first:
  // after this, no file of this journal is written again.
  absl::MutexLock file_lock(&file_mu_);
  std::vector<std::pair<uint64_t, DoneCallback>> ready;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    closed_why_ = why;
    pending_.clear();
    pending_checkpoint_.reset();
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
  if (options.wal_segment_bytes < (int64_t{1} << 16) ||
      options.wal_segment_bytes > (int64_t{1} << 40)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--wal_segment_bytes is ", options.wal_segment_bytes,
                     "; it must be in [2^16, 2^40]"));
  }
  if (!(options.retry_interval > absl::ZeroDuration() &&
        options.retry_interval <= absl::Hours(1))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--storage_retry_seconds is ",
                     absl::ToDoubleSeconds(options.retry_interval),
                     "; it must be in (0, 3600]"));
  }
  Env* env = options.env != nullptr ? options.env : Env::Default();
  OPTD_RETURN_IF_ERROR(env->CreateDir(options.data_dir));
  OPTD_RETURN_IF_ERROR(env->CreateDir(options.data_dir + "/sessions"));
  const std::string lock_path = options.data_dir + "/LOCK";
  absl::StatusOr<std::unique_ptr<FileLock>> lock = env->LockFile(lock_path);
  if (!lock.ok()) {
    if (!absl::IsFailedPrecondition(lock.status())) return lock.status();
    return absl::FailedPreconditionError(absl::StrCat(
        "--data_dir ", options.data_dir, " is in use by another optd process (",
        lock_path, " is locked); give each server its own data directory"));
  }
  auto store = std::unique_ptr<SessionStore>(
      new SessionStore(options, env, *std::move(lock)));
  OPTD_ASSIGN_OR_RETURN(
      store->wal_,
      Wal::Open(env, options.data_dir, options.wal_segment_bytes,
                [s = store.get()] { return s->SyncWalJournals(); }));
  // Leftovers of a Create or an import that crashed before its rename.
  const std::string sessions = options.data_dir + "/sessions";
  OPTD_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(sessions));
  for (const std::string& name : names) {
    if (absl::EndsWith(name, ".tmp")) {
      const std::string path = absl::StrCat(sessions, "/", name);
      spdlog::warn("removing {}, left by a write that a crash cut short", path);
      env->RemoveFile(path).IgnoreError();
    }
  }
  // Only now: the maintenance pass uses wal_, which Open has just set (a
  // thread started in the constructor raced with that assignment, and with a
  // Wal::Open slower than --storage_retry_seconds met a null wal_).
  store->maintenance_ =
      std::thread([s = store.get()] { s->MaintenanceLoop(); });
  return store;
}

SessionStore::SessionStore(StoreOptions options, Env* env,
                           std::unique_ptr<FileLock> lock)
    : options_(std::move(options)), env_(env), lock_(std::move(lock)) {
  for (int i = 0; i < options_.commit_threads; ++i) {
    threads_.emplace_back([this] { CommitLoop(); });
  }
}

SessionStore::~SessionStore() {
  SyncAll();
  {
    absl::MutexLock lock(&repair_mu_);
    maintenance_stopping_ = true;
  }
  // Not started when Open failed before the end.
  if (maintenance_.joinable()) maintenance_.join();
  wal_.reset();  // drains what is still submitted
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
}

std::string SessionStore::JournalPath(absl::string_view session_id) const {
  return absl::StrCat(options_.data_dir, "/sessions/", session_id,
                      kJournalSuffix);
}

absl::StatusOr<std::vector<std::string>> SessionStore::ListSessionIds() const {
  OPTD_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        env_->ListDir(options_.data_dir + "/sessions"));
  std::vector<std::string> ids;
  for (const std::string& entry : names) {
    absl::string_view name = entry;
    if (absl::ConsumeSuffix(&name, kJournalSuffix)) ids.emplace_back(name);
  }
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
  OPTD_ASSIGN_OR_RETURN(
      JournalFile file,
      JournalFile::Create(env_, JournalPath(session_id), records));
  return Register(session_id, std::move(file), tells, checkpoint_interval,
                  use_wal, incarnation);
}

absl::StatusOr<std::shared_ptr<SessionJournal>> SessionStore::Replace(
    absl::string_view session_id, absl::string_view records, uint64_t tells,
    int64_t checkpoint_interval, bool use_wal, uint64_t incarnation,
    absl::Status why) {
  CloseJournal(session_id, std::move(why));
  return Create(session_id, records, tells, checkpoint_interval, use_wal,
                incarnation);
}

absl::StatusOr<std::shared_ptr<SessionJournal>> SessionStore::Reopen(
    absl::string_view session_id, const RecordsRead& read, uint64_t tells,
    int64_t checkpoint_interval, bool use_wal, uint64_t incarnation) {
  OPTD_ASSIGN_OR_RETURN(
      JournalFile file,
      JournalFile::OpenForAppend(env_, JournalPath(session_id), read));
  return Register(session_id, std::move(file), tells, checkpoint_interval,
                  use_wal, incarnation);
}

absl::Status SessionStore::ReadWal(
    const std::function<absl::Status(absl::string_view, uint64_t, uint64_t,
                                     int64_t, absl::string_view)>& on_record,
    std::vector<Wal::DamagedRange>* damaged) const {
  return wal_->ReadSegments(on_record, damaged);
}

void SessionStore::FinishRecovery(bool keep_log, bool until_synced) {
  wal_->FinishRecovery(keep_log, until_synced);
}

bool SessionStore::SyncWalJournals() {
  std::vector<std::shared_ptr<SessionJournal>> journals;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, journal] : journals_) {
      if (journal->wal_ != nullptr) journals.push_back(journal);
    }
  }
  bool all = true;
  for (const auto& journal : journals) {
    absl::Status status = journal->SyncFile();
    if (!status.ok() && !journal->closed()) {
      spdlog::debug("journal {}: {}", journal->path(), status.ToString());
      all = false;
    }
  }
  return all;
}

void SessionStore::CloseJournal(absl::string_view session_id,
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
}

absl::Status SessionStore::Remove(absl::string_view session_id,
                                  absl::Status why) {
  CloseJournal(session_id, std::move(why));
  return RemoveFileDurably(env_, JournalPath(session_id));
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

void SessionStore::NeedsRepair(std::shared_ptr<SessionJournal> journal) {
  absl::MutexLock lock(&repair_mu_);
  unhealthy_.push_back(std::move(journal));
}

int64_t SessionStore::unhealthy_journals() const {
  absl::MutexLock lock(&repair_mu_);
  int64_t count = 0;
  for (const auto& weak : unhealthy_) count += weak.expired() ? 0 : 1;
  return count;
}

void SessionStore::Maintain() {
  std::vector<std::shared_ptr<SessionJournal>> journals;
  {
    absl::MutexLock lock(&repair_mu_);
    for (const auto& weak : unhealthy_) {
      if (std::shared_ptr<SessionJournal> journal = weak.lock()) {
        journals.push_back(std::move(journal));
      }
    }
    unhealthy_.clear();
  }
  std::vector<std::weak_ptr<SessionJournal>> still;
  for (const auto& journal : journals) {
    absl::Status status = journal->Repair();
    if (!status.ok() && !journal->closed()) {
      spdlog::debug("journal {}: not yet: {}", journal->path(),
                    status.ToString());
      still.push_back(journal);
    }
  }
  {
    absl::MutexLock lock(&repair_mu_);
    unhealthy_.insert(unhealthy_.end(), still.begin(), still.end());
  }
  wal_->Maintain();
}

void SessionStore::MaintenanceLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&repair_mu_);
      repair_mu_.AwaitWithTimeout(absl::Condition(&maintenance_stopping_),
                                  options_.retry_interval);
      if (maintenance_stopping_) return;
    }
    Maintain();
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
