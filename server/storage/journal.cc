#include "server/storage/journal.h"

#include <sys/random.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/codec/time.h"

namespace optd::server {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

constexpr size_t kMagicBytes = 8;
// A sync mark's payload: tag, the file's salt, u64 synced_through.
constexpr absl::string_view kSyncTag = "OPTDSYNC";
constexpr size_t kMarkPayloadBytes = 8 + kSaltBytes + 8;

uint32_t Crc32(absl::string_view bytes) {
  // zlib's crc32 takes uInt lengths; records are below 2^31 bytes.
  return static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
            static_cast<uInt>(bytes.size())));
}

std::string NewSalt() {
  std::string salt(kSaltBytes, '\0');
  size_t filled = 0;
  while (filled < salt.size()) {
    const ssize_t got =
        getrandom(salt.data() + filled, salt.size() - filled, 0);
    if (got > 0) filled += static_cast<size_t>(got);
  }
  return salt;
}

std::string MarkPayload(absl::string_view salt, int64_t synced_through) {
  std::string payload(kSyncTag);
  payload.append(salt.data(), salt.size());
  char word[8];
  absl::little_endian::Store64(word, static_cast<uint64_t>(synced_through));
  payload.append(word, sizeof(word));
  return payload;
}

// What to call a file of `family` in messages.
std::string Kind(absl::string_view family) {
  if (family == kWalFamily) return "write-ahead log";
  if (family == kStagedFamily) return "staged-slice file";
  if (family == kSliceCheckpointFamily) return "slice checkpoint";
  return "journal";
}

absl::Status Damage(absl::string_view family, const std::string& path,
                    int64_t record, int64_t offset, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(Kind(family), " ", path,
                                          " is damaged: ", what, " (record ",
                                          record, " at byte ", offset, ")"));
}

// Reads records of one file (ReadRecords' state).
class RecordReader {
 public:
  RecordReader(const ReadableFile& file, absl::string_view family)
      : file_(file), family_(family), size_(file.size()) {}

  // The bad record at `offset`, or why it is bad.
  struct Parsed {
    std::string problem;  // empty: a good record
    bool checksum = false;
    uint32_t length = 0;
  };
  absl::Status Parse(int64_t offset, std::string* payload, Parsed* parsed) {
    *parsed = Parsed();
    char head[kRecordHeaderBytes];
    OPTD_ASSIGN_OR_RETURN(size_t got, file_.ReadAt(offset, sizeof(head), head));
    if (got < sizeof(head)) {
      parsed->problem = "an incomplete record header";
      return absl::OkStatus();
    }
    const uint32_t length = absl::little_endian::Load32(head);
    parsed->length = length;
    if (length > kMaxRecordBytes) {
      parsed->problem =
          absl::StrCat("record length ", length, " exceeds ", kMaxRecordBytes);
      return absl::OkStatus();
    }
    if (offset + static_cast<int64_t>(kRecordHeaderBytes + length) > size_) {
      parsed->problem = "an incomplete record";
      return absl::OkStatus();
    }
    if (length == 0) {
      parsed->problem = "an empty record";
      return absl::OkStatus();
    }
    payload->resize(length);
    OPTD_ASSIGN_OR_RETURN(got, file_.ReadAt(offset + kRecordHeaderBytes, length,
                                            payload->data()));
    if (got != length) {
      parsed->problem = "the file shrank while being read";
      return absl::OkStatus();
    }
    if (Crc32(*payload) != absl::little_endian::Load32(head + 4)) {
      parsed->problem = "checksum mismatch";
      parsed->checksum = true;
    }
    return absl::OkStatus();
  }

  // Whether `payload` is a sync mark of this file (version 2, `salt`), and
  // the byte it says the file was synced through.
  static bool IsMark(absl::string_view payload, absl::string_view salt,
                     int64_t* synced_through) {
    if (payload.size() != kMarkPayloadBytes ||
        payload.substr(0, kSyncTag.size()) != kSyncTag ||
        payload.substr(kSyncTag.size(), kSaltBytes) != salt) {
      return false;
    }
    *synced_through = static_cast<int64_t>(absl::little_endian::Load64(
        payload.data() + kSyncTag.size() + kSaltBytes));
    return true;
  }

  // The first sync mark after byte `damage` that says byte `damage` was
  // synced (synced_through > damage), or -1: then the damage is in the
  // unsynced tail. Scans the bytes for the mark's tag and salt.
  absl::StatusOr<int64_t> MarkVouchingFor(int64_t damage,
                                          absl::string_view salt) {
    const std::string pattern = absl::StrCat(kSyncTag, salt);
    constexpr size_t kChunk = size_t{1} << 20;
    std::string buffer;
    for (int64_t start = damage + 1; start < size_;
         start += static_cast<int64_t>(kChunk)) {
      const size_t want = static_cast<size_t>(std::min<int64_t>(
          size_ - start, static_cast<int64_t>(kChunk + pattern.size())));
      buffer.resize(want);
      OPTD_ASSIGN_OR_RETURN(size_t got,
                            file_.ReadAt(start, want, buffer.data()));
      buffer.resize(got);
      for (size_t at = buffer.find(pattern); at != std::string::npos;
           at = buffer.find(pattern, at + 1)) {
        const int64_t frame = start + static_cast<int64_t>(at) -
                              static_cast<int64_t>(kRecordHeaderBytes);
        if (frame <= damage) continue;
        std::string payload;
        Parsed parsed;
        OPTD_RETURN_IF_ERROR(Parse(frame, &payload, &parsed));
        int64_t synced_through = 0;
        // A real mark never vouches for bytes past itself.
        if (parsed.problem.empty() && IsMark(payload, salt, &synced_through) &&
            synced_through > damage && synced_through <= frame) {
          return frame;
        }
      }
    }
    return -1;
  }

  int64_t size() const { return size_; }

 private:
  const ReadableFile& file_;
  const absl::string_view family_;
  const int64_t size_;
};

}  // namespace

std::string FrameRecord(absl::string_view payload) {
  std::string out(kRecordHeaderBytes, '\0');
  absl::little_endian::Store32(out.data(),
                               static_cast<uint32_t>(payload.size()));
  absl::little_endian::Store32(out.data() + 4, Crc32(payload));
  out.append(payload.data(), payload.size());
  return out;
}

std::string RecordFileHead(absl::string_view family, absl::string_view salt) {
  return absl::StrCat(family, "2", salt);
}

std::string FrameSyncMark(absl::string_view salt, int64_t synced_through) {
  return FrameRecord(MarkPayload(salt, synced_through));
}

std::string EncodeTellRecord(const v1::TellRequest& request, absl::Time time) {
  google::protobuf::Timestamp stamp;
  TimeToProto(time, &stamp);
  // SnapshotTell { tell = 1; time = 2; } written field by field, so that a
  // 10^7-element gradient is serialized once, straight into the record.
  const size_t tell_size = request.ByteSizeLong();
  const size_t stamp_size = stamp.ByteSizeLong();
  std::string payload;
  payload.reserve(tell_size + stamp_size + 16);
  {
    StringOutputStream raw(&payload);
    CodedOutputStream out(&raw);
    out.WriteTag(
        WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint32(static_cast<uint32_t>(tell_size));
    request.SerializeWithCachedSizes(&out);
    out.WriteTag(
        WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint32(static_cast<uint32_t>(stamp_size));
    stamp.SerializeWithCachedSizes(&out);
  }
  return FrameRecord(payload);
}

absl::StatusOr<RecordsRead> ReadRecords(
    Env* env, const std::string& path, absl::string_view family,
    bool first_record_required,
    const std::function<absl::Status(int64_t index, int64_t offset,
                                     absl::string_view payload)>& on_record,
    int64_t max_records, bool skip_damage) {
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file,
                        env->NewReadableFile(path));
  RecordReader reader(*file, family);
  RecordsRead result;
  char magic[kMagicBytes + kSaltBytes];
  OPTD_ASSIGN_OR_RETURN(size_t got, file->ReadAt(0, sizeof(magic), magic));
  const absl::string_view head(magic, got);
  if (got < kMagicBytes || head.substr(0, family.size()) != family ||
      (magic[kMagicBytes - 1] != '1' && magic[kMagicBytes - 1] != '2')) {
    return Damage(family, path, 0, 0,
                  absl::StrCat("the file does not start with \"", family,
                               "1\" or \"", family, "2\""));
  }
  result.version = magic[kMagicBytes - 1] - '0';
  int64_t offset = static_cast<int64_t>(kMagicBytes);
  if (result.version == 2) {
    if (got < sizeof(magic)) {
      return Damage(family, path, 0, static_cast<int64_t>(kMagicBytes),
                    "the file's salt is incomplete");
    }
    result.salt = std::string(magic + kMagicBytes, kSaltBytes);
    offset += static_cast<int64_t>(kSaltBytes);
  }
  const int64_t size = reader.size();
  std::string payload;
  int64_t index = 0;
  while (offset < size && (max_records < 0 || index < max_records)) {
    RecordReader::Parsed parsed;
    OPTD_RETURN_IF_ERROR(reader.Parse(offset, &payload, &parsed));
    if (parsed.problem.empty()) {
      int64_t synced_through = 0;
      if (result.version == 2 &&
          RecordReader::IsMark(payload, result.salt, &synced_through)) {
        offset += static_cast<int64_t>(kRecordHeaderBytes + parsed.length);
        continue;
      }
      OPTD_RETURN_IF_ERROR(on_record(index, offset, payload));
      ++index;
      ++result.records;
      offset += static_cast<int64_t>(kRecordHeaderBytes + parsed.length);
      continue;
    }
    // A bad record at `offset`: a torn, never acknowledged tail, or damage.
    const bool may_be_torn = index > 0 || !first_record_required;
    if (!may_be_torn) {
      return Damage(family, path, 0, offset,
                    absl::StrCat("the header record is bad: ", parsed.problem));
    }
    if (result.version == 1) {
      // No marks: only a spoiled final record is a torn tail (cut short,
      // failing its checksum, or zeros to the end).
      const bool last =
          offset + static_cast<int64_t>(kRecordHeaderBytes + parsed.length) ==
          size;
      bool torn = parsed.problem == "an incomplete record header" ||
                  parsed.problem == "an incomplete record" ||
                  (parsed.checksum && last);
      if (parsed.problem == "an empty record") {
        std::string rest(static_cast<size_t>(size - offset), '\0');
        OPTD_ASSIGN_OR_RETURN(size_t n,
                              file->ReadAt(offset, rest.size(), rest.data()));
        torn = n == rest.size() && std::all_of(rest.begin(), rest.end(),
                                               [](char c) { return c == 0; });
      }
      if (!torn) return Damage(family, path, index, offset, parsed.problem);
      result.torn_tail_bytes = size - offset;
      result.torn_tail_checksum = parsed.checksum;
      break;
    }
    OPTD_ASSIGN_OR_RETURN(const int64_t mark,
                          reader.MarkVouchingFor(offset, result.salt));
    if (mark < 0) {
      result.torn_tail_bytes = size - offset;
      result.torn_tail_checksum = parsed.checksum;
      break;
    }
    if (!skip_damage) {
      return Damage(
          family, path, index, offset,
          absl::StrCat(parsed.problem, "; bytes [", offset, ", ", mark,
                       ") of records that were synced are unreadable"));
    }
    result.damaged.emplace_back(offset, mark);
    offset = mark;
  }
  result.valid_bytes = offset;
  return result;
}

namespace {

// ReadJournal, or its first `max_records` records (-1: all).
absl::StatusOr<JournalHeader> ReadJournalRecords(
    Env* env, const std::string& path,
    const std::function<absl::Status(const v1::SessionSnapshot&)>& on_header,
    const std::function<absl::Status(int64_t, const v1::SnapshotTell&)>&
        on_tell,
    int64_t max_records) {
  JournalHeader result;
  OPTD_ASSIGN_OR_RETURN(
      RecordsRead read,
      ReadRecords(
          env, path, kJournalFamily, /*first_record_required=*/true,
          [&](int64_t record, int64_t offset,
              absl::string_view payload) -> absl::Status {
            if (record == 0) {
              if (!result.header.ParseFromArray(payload.data(),
                                                payload.size())) {
                return Damage(kJournalFamily, path, 0, offset,
                              "the header does not parse");
              }
              if (result.header.format_version() != 1) {
                return Damage(
                    kJournalFamily, path, 0, offset,
                    absl::StrCat("format_version ",
                                 result.header.format_version(), " is not 1"));
              }
              // The tells are the records after the header; one that holds
              // tells too was not written by optd, and an export would
              // pass them on as tells the session never replayed.
              if (result.header.tells_size() > 0) {
                return Damage(
                    kJournalFamily, path, 0, offset,
                    absl::StrCat("the header holds ",
                                 result.header.tells_size(),
                                 " tells; a journal's tells are the records "
                                 "after it"));
              }
              absl::Status status = on_header(result.header);
              if (!status.ok()) {
                return absl::Status(
                    status.code(),
                    absl::StrCat("journal ", path,
                                 ": the header does not create a session: ",
                                 status.message()));
              }
              return absl::OkStatus();
            }
            v1::SnapshotTell tell;
            if (!tell.ParseFromArray(payload.data(), payload.size())) {
              return Damage(kJournalFamily, path, record, offset,
                            "the tell does not parse");
            }
            absl::Status status = on_tell(record - 1, tell);
            if (!status.ok()) {
              return absl::Status(
                  status.code(),
                  absl::StrCat("journal ", path, ": tell ", record, " at byte ",
                               offset, " (trial ", tell.tell().trial_id(),
                               ") does not replay: ", status.message()));
            }
            return absl::OkStatus();
          },
          max_records));
  if (read.records == 0) {
    return Damage(kJournalFamily, path, 0, static_cast<int64_t>(kMagicBytes),
                  "the header record is missing");
  }
  result.tells = read.records - 1;
  result.valid_bytes = read.valid_bytes;
  result.torn_tail_bytes = read.torn_tail_bytes;
  result.torn_tail_checksum = read.torn_tail_checksum;
  result.read = std::move(read);
  return result;
}

}  // namespace

absl::StatusOr<JournalHeader> ReadJournal(
    Env* env, const std::string& path,
    const std::function<absl::Status(const v1::SessionSnapshot&)>& on_header,
    const std::function<absl::Status(int64_t, const v1::SnapshotTell&)>&
        on_tell) {
  return ReadJournalRecords(env, path, on_header, on_tell, /*max_records=*/-1);
}

absl::StatusOr<v1::SessionSnapshot> ReadJournalHeader(Env* env,
                                                      const std::string& path) {
  OPTD_ASSIGN_OR_RETURN(
      JournalHeader read,
      ReadJournalRecords(
          env, path,
          [](const v1::SessionSnapshot&) { return absl::OkStatus(); },
          [](int64_t, const v1::SnapshotTell&) { return absl::OkStatus(); },
          /*max_records=*/1));
  return std::move(read.header);
}

absl::StatusOr<std::string> ReadRecordAt(Env* env, const std::string& path,
                                         int64_t offset) {
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file,
                        env->NewReadableFile(path));
  char head[kRecordHeaderBytes];
  OPTD_ASSIGN_OR_RETURN(size_t got, file->ReadAt(offset, sizeof(head), head));
  if (got != sizeof(head)) {
    return absl::DataLossError(
        absl::StrCat(path, ": no record header at byte ", offset));
  }
  const uint32_t length = absl::little_endian::Load32(head);
  if (length > kMaxRecordBytes) {
    return absl::DataLossError(absl::StrCat(path, ": record at byte ", offset,
                                            " claims ", length, " bytes"));
  }
  std::string payload(length, '\0');
  OPTD_ASSIGN_OR_RETURN(
      got, file->ReadAt(offset + kRecordHeaderBytes, length, payload.data()));
  if (got != length) {
    return absl::DataLossError(
        absl::StrCat(path, ": record at byte ", offset, " is cut short"));
  }
  if (Crc32(payload) != absl::little_endian::Load32(head + 4)) {
    return absl::DataLossError(
        absl::StrCat(path, ": record at byte ", offset, " fails its checksum"));
  }
  return payload;
}

absl::StatusOr<JournalFile> JournalFile::Create(Env* env,
                                                const std::string& path,
                                                absl::string_view records,
                                                absl::string_view family) {
  return CreateWith(env, path, family,
                    [&](const RecordSink& sink) { return sink(records); });
}

absl::StatusOr<JournalFile> JournalFile::CreateWith(
    Env* env, const std::string& path, absl::string_view family,
    const std::function<absl::Status(const RecordSink&)>& write_records) {
  std::string salt = NewSalt();
  const std::string temp = TemporaryPathFor(path);
  int64_t size = 0;
  absl::Status status;
  {
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        env->NewWritableFile(temp);
    if (!file.ok()) return file.status();
    const RecordSink sink = [&](absl::string_view framed) {
      OPTD_RETURN_IF_ERROR((*file)->Append(framed));
      size += static_cast<int64_t>(framed.size());
      return absl::OkStatus();
    };
    status = sink(RecordFileHead(family, salt));
    if (status.ok()) status = write_records(sink);
    // Sealed: every record of the new file is vouched for as synced.
    if (status.ok()) status = sink(FrameSyncMark(salt, size));
    if (status.ok()) status = (*file)->Sync();
  }
  if (status.ok()) status = env->RenameFile(temp, path);
  if (!status.ok()) {
    env->RemoveFile(temp).IgnoreError();
    return status;
  }
  OPTD_RETURN_IF_ERROR(env->SyncDir(DirectoryOf(path)));
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                        env->ReopenWritableFile(path, size));
  return JournalFile(path, std::move(file), size, 2, std::move(salt));
}

absl::StatusOr<JournalFile> JournalFile::OpenForAppend(
    Env* env, const std::string& path, const RecordsRead& read) {
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                        env->ReopenWritableFile(path, read.valid_bytes));
  return JournalFile(path, std::move(file), read.valid_bytes, read.version,
                     read.salt);
}

absl::Status JournalFile::Append(absl::string_view bytes) {
  if (broken()) return broken_;
  absl::Status status = file_->Append(bytes);
  if (status.ok()) {
    size_ += static_cast<int64_t>(bytes.size());
    return absl::OkStatus();
  }
  // Leave no partial record behind for the next append to follow.
  if (absl::Status cut = file_->Truncate(size_); !cut.ok()) {
    broken_ = absl::Status(
        status.code(),
        absl::StrCat(
            status.message(),
            "; cutting the partial record also failed: ", cut.message()));
    return broken_;
  }
  return status;
}

absl::Status JournalFile::Sync() {
  if (broken()) return broken_;
  absl::Status status = file_->Sync();
  if (!status.ok()) {
    broken_ = status;
    return status;
  }
  synced_ = size_;
  if (version_ == 2 && synced_ > marked_) {
    // The seal: what precedes it is synced. Unsynced itself, it is made
    // durable by the next sync (or the kernel's writeback); should it be
    // lost, only damage that also hits the records it vouched for is taken
    // for a torn tail.
    const std::string mark = FrameSyncMark(salt_, synced_);
    if (file_->Append(mark).ok()) {
      size_ += static_cast<int64_t>(mark.size());
      marked_ = size_;
    } else if (absl::Status cut = file_->Truncate(size_); !cut.ok()) {
      broken_ = cut;
    }
  }
  return absl::OkStatus();
}

}  // namespace optd::server
