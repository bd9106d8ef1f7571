#include "server/storage/wal.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "server/storage/journal.h"
#include "server/storage/session_store.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

constexpr absl::string_view kWalSuffix = ".wal";
// u16 id length, id, u64 incarnation, u64 tell number, then the record.
constexpr size_t kFixedBytes = 2 + 8 + 8;
// How often a log that is down tries to start a segment.
constexpr absl::Duration kRestartInterval = absl::Seconds(1);

std::string SegmentName(uint64_t sequence) {
  return absl::StrFormat("%020d%s", sequence, kWalSuffix);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Wal>> Wal::Open(Env* env,
                                               const std::string& data_dir,
                                               int64_t segment_bytes,
                                               SyncJournals sync_journals) {
  const std::string dir = data_dir + "/wal";
  OPTD_RETURN_IF_ERROR(env->CreateDir(dir));
  OPTD_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(dir));
  std::vector<std::pair<uint64_t, std::string>> found;
  for (const std::string& entry : names) {
    absl::string_view name = entry;
    uint64_t sequence = 0;
    if (absl::EndsWith(name, ".tmp")) {
      env->RemoveFile(absl::StrCat(dir, "/", name)).IgnoreError();
    } else if (absl::ConsumeSuffix(&name, kWalSuffix) &&
               absl::SimpleAtoi(name, &sequence)) {
      found.emplace_back(sequence, absl::StrCat(dir, "/", entry));
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> old;
  for (auto& [sequence, path] : found) old.push_back(std::move(path));
  const uint64_t next = found.empty() ? 1 : found.back().first + 1;
  return std::unique_ptr<Wal>(new Wal(
      env, dir, segment_bytes, std::move(sync_journals), std::move(old), next));
}

Wal::Wal(Env* env, std::string dir, int64_t segment_bytes,
         SyncJournals sync_journals, std::vector<std::string> old_segments,
         uint64_t next_sequence)
    : env_(env),
      dir_(std::move(dir)),
      segment_bytes_(segment_bytes),
      sync_journals_(std::move(sync_journals)),
      old_segments_(std::move(old_segments)),
      next_sequence_(next_sequence) {}

Wal::~Wal() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status Wal::ReadSegments(
    const std::function<absl::Status(absl::string_view, uint64_t, uint64_t,
                                     int64_t, absl::string_view)>& on_record,
    std::vector<DamagedRange>* damaged) const {
  for (const std::string& path : old_segments_) {
    absl::StatusOr<RecordsRead> read = ReadRecords(
        env_, path, kWalFamily, /*first_record_required=*/false,
        [&](int64_t index, int64_t offset,
            absl::string_view payload) -> absl::Status {
          const uint16_t id_length =
              payload.size() >= 2 ? absl::little_endian::Load16(payload.data())
                                  : 0;
          if (payload.size() < kFixedBytes + id_length) {
            // Whole and checksummed, yet not what the log writes: damage
            // that only this record's bytes hold.
            damaged->push_back(
                {path, offset,
                 offset + static_cast<int64_t>(kRecordHeaderBytes +
                                               payload.size())});
            return absl::OkStatus();
          }
          const absl::string_view id = payload.substr(2, id_length);
          const char* p = payload.data() + 2 + id_length;
          return on_record(id, absl::little_endian::Load64(p),
                           absl::little_endian::Load64(p + 8), offset,
                           payload.substr(kFixedBytes + id_length));
        },
        /*max_records=*/-1, /*skip_damage=*/true);
    if (!read.ok()) {
      if (!absl::IsDataLoss(read.status())) {
        // Unreadable (an I/O error): every record of it is in doubt.
        spdlog::error("write-ahead log {}: {}", path, read.status().ToString());
        absl::StatusOr<int64_t> size = env_->FileSize(path);
        damaged->push_back({path, 0, size.ok() ? *size : 0});
        continue;
      }
      // A bad magic: the file is not a log at all.
      spdlog::error("{}", std::string(read.status().message()));
      absl::StatusOr<int64_t> size = env_->FileSize(path);
      damaged->push_back({path, 0, size.ok() ? *size : 0});
      continue;
    }
    for (const auto& [begin, end] : read->damaged) {
      spdlog::error(
          "write-ahead log {}: bytes [{}, {}) of synced records are "
          "unreadable; the sessions whose tells were there are damaged",
          path, begin, end);
      damaged->push_back({path, begin, end});
    }
    if (read->torn_tail_bytes > 0) {
      spdlog::warn(
          "write-ahead log {}: dropped {} bytes at its end, written by a "
          "crash after its last sync and never acknowledged",
          path, read->torn_tail_bytes);
    }
  }
  return absl::OkStatus();
}

absl::Status Wal::StartSegment() {
  last_start_attempt_ = absl::Now();
  const std::string path = absl::StrCat(dir_, "/", SegmentName(next_sequence_));
  absl::StatusOr<JournalFile> file =
      JournalFile::Create(env_, path, "", kWalFamily);
  if (!file.ok()) {
    spdlog::error(
        "write-ahead log: cannot start {}: {}; tells of small sessions are "
        "made durable in their own journal files until it can",
        path, file.status().ToString());
    return file.status();
  }
  file_.emplace(*std::move(file));
  ++next_sequence_;
  return absl::OkStatus();
}

void Wal::RetireSegment() {
  if (!file_.has_value()) return;
  retired_.push_back(file_->path());
  file_.reset();
}

void Wal::RemoveRetiredIfJournalsSynced() {
  {
    absl::MutexLock io(&io_mu_);
    if (retired_.empty()) return;
  }
  // Outside the log's locks: syncing a journal takes its own.
  if (!sync_journals_()) return;
  std::vector<std::string> retired;
  {
    absl::MutexLock io(&io_mu_);
    retired.swap(retired_);
  }
  for (size_t i = 0; i < retired.size(); ++i) {
    absl::Status removed = RemoveFileDurably(env_, retired[i]);
    if (!removed.ok()) {
      spdlog::error("write-ahead log: cannot remove {}: {}", retired[i],
                    removed.ToString());
      absl::MutexLock io(&io_mu_);
      retired_.insert(retired_.begin(), retired.begin() + i, retired.end());
      return;
    }
  }
}

void Wal::FinishRecovery(bool keep_old_segments, bool until_journals_synced) {
  {
    absl::MutexLock io(&io_mu_);
    StartSegment().IgnoreError();  // down until Maintain starts one
    if (!keep_old_segments) {
      if (until_journals_synced) {
        retired_.insert(retired_.end(), old_segments_.begin(),
                        old_segments_.end());
      }
    }
  }
  if (!keep_old_segments && !until_journals_synced) {
    for (const std::string& path : old_segments_) {
      absl::Status removed = RemoveFileDurably(env_, path);
      if (!removed.ok()) {
        spdlog::error("write-ahead log: cannot remove {}: {}", path,
                      removed.ToString());
        absl::MutexLock io(&io_mu_);
        retired_.push_back(path);
      }
    }
  }
  absl::MutexLock lock(&mu_);
  started_ = true;
  thread_ = std::thread([this] { CommitLoop(); });
}

void Wal::Submit(std::shared_ptr<SessionJournal> journal, absl::string_view id,
                 uint64_t incarnation, uint64_t tell,
                 absl::string_view record) {
  std::string payload(kFixedBytes + id.size(), '\0');
  absl::little_endian::Store16(payload.data(),
                               static_cast<uint16_t>(id.size()));
  std::memcpy(payload.data() + 2, id.data(), id.size());
  absl::little_endian::Store64(payload.data() + 2 + id.size(), incarnation);
  absl::little_endian::Store64(payload.data() + 10 + id.size(), tell);
  payload.append(record.data(), record.size());
  const std::string framed = FrameRecord(payload);
  absl::MutexLock lock(&mu_);
  buffer_ += framed;
  pending_.push_back({std::move(journal), tell});
}

void Wal::CommitLoop() {
  for (;;) {
    std::string bytes;
    std::vector<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Wal* wal) ABSL_EXCLUSIVE_LOCKS_REQUIRED(wal->mu_) {
            return !wal->pending_.empty() || wal->stopping_;
          },
          this));
      if (pending_.empty()) return;  // stopping, nothing left
      bytes.swap(buffer_);
      batch.swap(pending_);
    }
    // Everything submitted while the previous sync ran goes out together.
    absl::Status status;
    bool rotated = false;
    {
      absl::MutexLock io(&io_mu_);
      if (!file_.has_value() &&
          absl::Now() - last_start_attempt_ >= kRestartInterval) {
        StartSegment().IgnoreError();
      }
      if (!file_.has_value()) {
        status = absl::UnavailableError(
            "the write-ahead log is down (no segment could be started)");
      } else {
        status = file_->Append(bytes);
        if (status.ok()) status = file_->Sync();
        if (!status.ok()) {
          // Never written again: a failed sync cannot be trusted, and what
          // it holds stays until the journals have it.
          spdlog::error(
              "write-ahead log: {}; the segment is retired and the batch's "
              "tells are made durable in their journal files",
              status.ToString());
          RetireSegment();
          StartSegment().IgnoreError();
        } else if (file_->size() >= segment_bytes_) {
          RetireSegment();
          StartSegment().IgnoreError();
          rotated = true;
        }
      }
    }
    {
      absl::MutexLock lock(&mu_);
      if (status.ok()) {
        records_synced_ += static_cast<int64_t>(batch.size());
        ++syncs_;
      }
    }
    for (Pending& p : batch) {
      if (status.ok()) {
        p.journal->OnWalSynced(p.tell);
      } else {
        p.journal->OnWalFailed(status);
      }
    }
    // The journals synced (they hold what the old segment does), then the
    // old segment goes.
    if (rotated) RemoveRetiredIfJournalsSynced();
  }
}

void Wal::Maintain() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_) return;
  }
  {
    absl::MutexLock io(&io_mu_);
    if (!file_.has_value() && StartSegment().ok()) {
      spdlog::info("write-ahead log: logging again in a new segment");
    }
  }
  RemoveRetiredIfJournalsSynced();
}

int64_t Wal::records_synced() const {
  absl::MutexLock lock(&mu_);
  return records_synced_;
}

int64_t Wal::syncs() const {
  absl::MutexLock lock(&mu_);
  return syncs_;
}

bool Wal::down() const {
  absl::MutexLock io(&io_mu_);
  return !file_.has_value();
}

int64_t Wal::retired_segments() const {
  absl::MutexLock io(&io_mu_);
  return static_cast<int64_t>(retired_.size());
}

}  // namespace optd::server
