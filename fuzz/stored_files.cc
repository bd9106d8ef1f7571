#include "fuzz/stored_files.h"

#include <cstddef>
#include <cstdint>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "server/storage/journal.h"
#include "server/storage/slice_checkpoint.h"

namespace optd::fuzz {
namespace {

void Damage(const google::protobuf::RepeatedPtrField<Corruption>& damage,
            std::string* file) {
  for (const Corruption& c : damage) {
    if (file->empty()) return;
    const size_t at = c.offset() % file->size();
    if (c.truncate()) {
      file->resize(at);
    } else {
      const uint8_t flip = c.flip() & 0xff;
      (*file)[at] = static_cast<char>((*file)[at] ^ (flip == 0 ? 0xff : flip));
    }
  }
}

// A record file of `family` being built as `sealing` says.
class RecordFileBuilder {
 public:
  RecordFileBuilder(absl::string_view family, const Sealing& sealing)
      : sealing_(sealing) {
    if (sealing.v2()) {
      salt_ = sealing.salt().substr(0, server::kSaltBytes);
      salt_.resize(server::kSaltBytes, '\0');
      file_ = server::RecordFileHead(family, salt_);
      MarksAfter(0);
    } else {
      file_ = absl::StrCat(family, "1");
    }
  }

  // Appends `payload` as one record, and the marks that follow it.
  void Add(absl::string_view payload) {
    file_ += server::FrameRecord(payload);
    ++records_;
    if (sealing_.v2()) MarksAfter(records_);
  }

  std::string Finish(
      const google::protobuf::RepeatedPtrField<Corruption>& damage) && {
    if (sealing_.v2() && sealing_.mark_at_end()) Mark();
    Damage(damage, &file_);
    return std::move(file_);
  }

 private:
  void MarksAfter(uint32_t records) {
    for (uint32_t after : sealing_.mark_after()) {
      if (after == records) Mark();
    }
  }

  void Mark() {
    const int64_t claim = marks_ < sealing_.mark_claims_size()
                              ? sealing_.mark_claims(marks_)
                              : static_cast<int64_t>(file_.size());
    ++marks_;
    file_ += server::FrameSyncMark(salt_, claim);
  }

  const Sealing& sealing_;
  std::string salt_;
  std::string file_;
  uint32_t records_ = 0;
  int marks_ = 0;
};

}  // namespace

std::string JournalBytes(const JournalFile& journal) {
  if (!journal.raw().empty()) return journal.raw();
  RecordFileBuilder file(server::kJournalFamily, journal.sealing());
  file.Add(journal.header().SerializeAsString());
  for (const v1::SnapshotTell& tell : journal.tells()) {
    file.Add(tell.SerializeAsString());
  }
  for (const std::string& raw : journal.raw_records()) file.Add(raw);
  return std::move(file).Finish(journal.damage());
}

std::string WalBytes(const WalFile& wal) {
  if (!wal.raw().empty()) return wal.raw();
  RecordFileBuilder file(server::kWalFamily, wal.sealing());
  for (const WalRecord& r : wal.records()) {
    // wal.h: u16 id length | id | u64 incarnation | u64 tell | the framed
    // SnapshotTell.
    const std::string id = r.session_id().substr(0, 0xffff);
    std::string payload(2, '\0');
    absl::little_endian::Store16(payload.data(),
                                 static_cast<uint16_t>(id.size()));
    payload += id;
    char numbers[16];
    absl::little_endian::Store64(numbers, r.incarnation());
    absl::little_endian::Store64(numbers + 8, r.tell());
    payload.append(numbers, sizeof(numbers));
    payload += r.raw().empty()
                   ? server::FrameRecord(r.record().SerializeAsString())
                   : r.raw();
    file.Add(payload);
  }
  return std::move(file).Finish(wal.damage());
}

std::string StagedBytes(const StagedFile& staged) {
  if (!staged.raw().empty()) return staged.raw();
  RecordFileBuilder file(server::kStagedFamily, staged.sealing());
  file.Add(staged.header().SerializeAsString());
  for (const v1::PutSliceRequest& put : staged.puts()) {
    file.Add(put.SerializeAsString());
  }
  return std::move(file).Finish(staged.damage());
}

std::string CheckpointBytes(const CheckpointFile& checkpoint,
                            const v1::CreateSliceRequest& create) {
  if (!checkpoint.raw().empty()) return checkpoint.raw();
  RecordFileBuilder file(server::kSliceCheckpointFamily, checkpoint.sealing());
  file.Add(
      checkpoint.has_header()
          ? checkpoint.header().SerializeAsString()
          : server::SliceCheckpoints::Identity(create).SerializeAsString());
  file.Add(checkpoint.state());
  for (const std::string& raw : checkpoint.raw_records()) file.Add(raw);
  return std::move(file).Finish(checkpoint.damage());
}

std::string SafeName(std::string name) {
  if (name.empty()) name = "x";
  if (name.size() > 100) name.resize(100);
  for (char& c : name) {
    if (c == '/' || c == '\0') c = '_';
  }
  if (name == "." || name == "..") name = "x";
  return name;
}

std::string StagedPath(const std::string& data_dir,
                       const v1::CreateSliceRequest& create) {
  return absl::StrFormat("%s/slices/%s.%d.%016x.staged", data_dir,
                         SafeName(create.key().session_id()),
                         create.key().shard(), create.incarnation());
}

std::string CheckpointPath(const std::string& data_dir,
                           const v1::CreateSliceRequest& create,
                           uint64_t tells) {
  return absl::StrFormat("%s/slices/%s.%d.%016x.%020d.ckpt", data_dir,
                         SafeName(create.key().session_id()),
                         create.key().shard(), create.incarnation(), tells);
}

}  // namespace optd::fuzz
