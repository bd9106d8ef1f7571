#include "server/wal.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "server/journal.h"
#include "server/session_store.h"
#include "solvers/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

constexpr absl::string_view kWalMagic = "OPTDWAL1";
constexpr absl::string_view kWalSuffix = ".wal";
// u16 id length, id, u64 incarnation, u64 tell number, then the record.
constexpr size_t kFixedBytes = 2 + 8 + 8;

std::string SegmentName(uint64_t sequence) {
  return absl::StrFormat("%020d%s", sequence, kWalSuffix);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Wal>> Wal::Open(const std::string& data_dir,
                                               int64_t segment_bytes,
                                               SyncJournals sync_journals) {
  const std::string dir = data_dir + "/wal";
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create directory ", dir,
                                            ": ", std::strerror(errno)));
  }
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot list ", dir, ": ", std::strerror(errno)));
  }
  std::vector<std::pair<uint64_t, std::string>> found;
  while (const dirent* entry = ::readdir(listing)) {
    absl::string_view name = entry->d_name;
    uint64_t sequence = 0;
    if (absl::EndsWith(name, ".tmp")) {
      ::unlink(absl::StrCat(dir, "/", name).c_str());
    } else if (absl::ConsumeSuffix(&name, kWalSuffix) &&
               absl::SimpleAtoi(name, &sequence)) {
      found.emplace_back(sequence, absl::StrCat(dir, "/", entry->d_name));
    }
  }
  ::closedir(listing);
  std::sort(found.begin(), found.end());
  std::vector<std::string> old;
  for (auto& [sequence, path] : found) old.push_back(std::move(path));
  const uint64_t next = found.empty() ? 1 : found.back().first + 1;
  return std::unique_ptr<Wal>(new Wal(
      dir, segment_bytes, std::move(sync_journals), std::move(old), next));
}

Wal::Wal(std::string dir, int64_t segment_bytes, SyncJournals sync_journals,
         std::vector<std::string> old_segments, uint64_t next_sequence)
    : dir_(std::move(dir)),
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
                                     absl::string_view)>& on_record) const {
  for (const std::string& path : old_segments_) {
    OPTD_ASSIGN_OR_RETURN(
        RecordsRead read,
        ReadRecords(path, kWalMagic, /*first_record_required=*/false,
                    [&](int64_t index, int64_t offset,
                        absl::string_view payload) -> absl::Status {
                      const uint16_t id_length =
                          payload.size() >= 2
                              ? absl::little_endian::Load16(payload.data())
                              : 0;
                      if (payload.size() < kFixedBytes + id_length) {
                        return absl::DataLossError(absl::StrCat(
                            "log ", path, " is damaged: record ", index,
                            " at byte ", offset, " is too short"));
                      }
                      const absl::string_view id = payload.substr(2, id_length);
                      const char* p = payload.data() + 2 + id_length;
                      return on_record(id, absl::little_endian::Load64(p),
                                       absl::little_endian::Load64(p + 8),
                                       payload.substr(kFixedBytes + id_length));
                    }));
    if (read.torn_tail_bytes > 0) {
      spdlog::warn(
          "log {}: dropped {} bytes at its end, written by a crash "
          "and never acknowledged",
          path, read.torn_tail_bytes);
    }
  }
  return absl::OkStatus();
}

absl::Status Wal::StartSegment() {
  const std::string path = absl::StrCat(dir_, "/", SegmentName(next_sequence_));
  OPTD_ASSIGN_OR_RETURN(JournalFile file,
                        JournalFile::Create(path, "", kWalMagic));
  file_ = std::move(file);
  ++next_sequence_;
  return absl::OkStatus();
}

absl::Status Wal::FinishRecovery(bool keep_old_segments) {
  {
    absl::MutexLock lock(&io_mu_);
    OPTD_RETURN_IF_ERROR(StartSegment());
  }
  for (const std::string& path : old_segments_) {
    if (keep_old_segments) break;
    OPTD_RETURN_IF_ERROR(RemoveFileDurably(path));
  }
  absl::MutexLock lock(&mu_);
  started_ = true;
  thread_ = std::thread([this] { CommitLoop(); });
  return absl::OkStatus();
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
    bool rotate = false;
    {
      absl::MutexLock io(&io_mu_);
      status = file_->Append(bytes);
      if (status.ok()) status = file_->Sync();
      rotate = status.ok() && file_->size() >= segment_bytes_;
    }
    {
      absl::MutexLock lock(&mu_);
      if (status.ok()) {
        records_synced_ += static_cast<int64_t>(batch.size());
        ++syncs_;
      }
    }
    if (!status.ok()) spdlog::error("write-ahead log: {}", status.ToString());
    for (Pending& p : batch) {
      if (status.ok()) {
        p.journal->OnWalSynced(p.tell);
      } else {
        p.journal->OnWalFailed(status);
      }
    }
    if (rotate) {
      // A new log first, then the journals synced (they hold what the old
      // log holds), then the old log goes.
      std::string old_path;
      absl::Status rotated;
      {
        absl::MutexLock io(&io_mu_);
        old_path = file_->path();
        rotated = StartSegment();
      }
      if (rotated.ok()) {
        sync_journals_();
        rotated = RemoveFileDurably(old_path);
      }
      if (!rotated.ok()) {
        spdlog::error("write-ahead log rotation: {}", rotated.ToString());
      }
    }
  }
}

int64_t Wal::records_synced() const {
  absl::MutexLock lock(&mu_);
  return records_synced_;
}

int64_t Wal::syncs() const {
  absl::MutexLock lock(&mu_);
  return syncs_;
}

}  // namespace optd::server
