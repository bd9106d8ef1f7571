#include "server/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/proto_convert.h"
#include "solvers/status_macros.h"

namespace optd::server {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int e = errno;
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(e));
  if (e == ENOENT) return absl::NotFoundError(message);
  if (e == ENOSPC || e == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

uint32_t Crc32(absl::string_view bytes) {
  // zlib's crc32 takes uInt lengths; records are below 2^31 bytes.
  return static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
            static_cast<uInt>(bytes.size())));
}

absl::Status WriteAll(int fd, absl::string_view bytes,
                      const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads exactly `size` bytes unless the file ends first; returns how many.
absl::StatusOr<size_t> ReadUpTo(int fd, char* out, size_t size,
                                const std::string& path) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, out + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read", path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

absl::Status Damage(const std::string& path, int64_t record, int64_t offset,
                    absl::string_view what) {
  return absl::DataLossError(absl::StrCat("journal ", path,
                                          " is damaged: ", what, " (record ",
                                          record, " at byte ", offset, ")"));
}

// True when the next `size` bytes of `fd` are all zero.
absl::StatusOr<bool> RestIsZero(int fd, int64_t size, const std::string& path) {
  char buffer[4096];
  while (size > 0) {
    const size_t want = static_cast<size_t>(
        std::min<int64_t>(size, static_cast<int64_t>(sizeof(buffer))));
    OPTD_ASSIGN_OR_RETURN(size_t got, ReadUpTo(fd, buffer, want, path));
    if (got != want) return false;
    for (size_t i = 0; i < got; ++i) {
      if (buffer[i] != 0) return false;
    }
    size -= static_cast<int64_t>(got);
  }
  return true;
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
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
    const std::string& path, absl::string_view magic_bytes,
    bool first_record_required,
    const std::function<absl::Status(int64_t index, int64_t offset,
                                     absl::string_view payload)>& on_record,
    int64_t max_records) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError("cannot stat", path);
  const int64_t file_size = st.st_size;

  std::string magic(magic_bytes.size(), '\0');
  OPTD_ASSIGN_OR_RETURN(size_t got,
                        ReadUpTo(fd, magic.data(), magic.size(), path));
  if (got != magic.size() || magic != magic_bytes) {
    return Damage(
        path, 0, 0,
        absl::StrCat("the file does not start with \"", magic_bytes, "\""));
  }
  RecordsRead result;
  int64_t offset = static_cast<int64_t>(magic.size());
  std::string payload;
  for (int64_t record = 0; max_records < 0 || record < max_records; ++record) {
    // Only the final record may be spoiled, and only if it is not one that
    // must be there (a journal's header): see journal.h.
    const bool may_be_torn = record > 0 || !first_record_required;
    char head[kRecordHeaderBytes];
    OPTD_ASSIGN_OR_RETURN(got, ReadUpTo(fd, head, sizeof(head), path));
    if (got == 0) break;
    const uint32_t length = absl::little_endian::Load32(head);
    if (got < sizeof(head) ||
        (length <= kMaxRecordBytes &&
         offset + static_cast<int64_t>(kRecordHeaderBytes + length) >
             file_size)) {
      // The last write was cut short: never acknowledged.
      if (!may_be_torn) {
        return Damage(path, 0, offset, "the header record is incomplete");
      }
      result.torn_tail_bytes = file_size - offset;
      break;
    }
    if (length > kMaxRecordBytes) {
      return Damage(
          path, record, offset,
          absl::StrCat("record length ", length, " exceeds ", kMaxRecordBytes));
    }
    const bool last =
        offset + static_cast<int64_t>(kRecordHeaderBytes + length) == file_size;
    if (length == 0 && may_be_torn) {
      // No record is empty. Zeros from here to the end are a file extended
      // by a crash before its data reached the disk (power loss on a file
      // system that orders size before data): an unacknowledged tail.
      OPTD_ASSIGN_OR_RETURN(bool zeros,
                            RestIsZero(fd, file_size - offset - 8, path));
      if (zeros && absl::little_endian::Load32(head + 4) == 0) {
        result.torn_tail_bytes = file_size - offset;
        break;
      }
      return Damage(path, record, offset, "an empty record");
    }
    payload.resize(length);
    OPTD_ASSIGN_OR_RETURN(got, ReadUpTo(fd, payload.data(), length, path));
    if (got != length) {
      return Damage(path, record, offset, "the file shrank while being read");
    }
    if (Crc32(payload) != absl::little_endian::Load32(head + 4)) {
      if (last && may_be_torn) {
        // The final record, never acknowledged if a crash wrote it partly
        // (its fsync had not returned).
        result.torn_tail_bytes = file_size - offset;
        result.torn_tail_checksum = true;
        break;
      }
      return Damage(path, record, offset, "checksum mismatch");
    }
    OPTD_RETURN_IF_ERROR(on_record(record, offset, payload));
    ++result.records;
    offset += static_cast<int64_t>(kRecordHeaderBytes + length);
  }
  result.valid_bytes = offset;
  return result;
}

namespace {

// ReadJournal, or its first `max_records` records (-1: all).
absl::StatusOr<JournalHeader> ReadJournalRecords(
    const std::string& path,
    const std::function<absl::Status(const v1::SessionSnapshot&)>& on_header,
    const std::function<absl::Status(int64_t, const v1::SnapshotTell&)>&
        on_tell,
    int64_t max_records) {
  JournalHeader result;
  OPTD_ASSIGN_OR_RETURN(
      RecordsRead read,
      ReadRecords(
          path, kJournalMagic, /*first_record_required=*/true,
          [&](int64_t record, int64_t offset,
              absl::string_view payload) -> absl::Status {
            if (record == 0) {
              if (!result.header.ParseFromArray(payload.data(),
                                                payload.size())) {
                return Damage(path, 0, offset, "the header does not parse");
              }
              if (result.header.format_version() != 1) {
                return Damage(
                    path, 0, offset,
                    absl::StrCat("format_version ",
                                 result.header.format_version(), " is not 1"));
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
              return Damage(path, record, offset, "the tell does not parse");
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
  result.tells = read.records > 0 ? read.records - 1 : 0;
  result.valid_bytes = read.valid_bytes;
  result.torn_tail_bytes = read.torn_tail_bytes;
  result.torn_tail_checksum = read.torn_tail_checksum;
  return result;
}

}  // namespace

absl::StatusOr<JournalHeader> ReadJournal(
    const std::string& path,
    const std::function<absl::Status(const v1::SessionSnapshot&)>& on_header,
    const std::function<absl::Status(int64_t, const v1::SnapshotTell&)>&
        on_tell) {
  return ReadJournalRecords(path, on_header, on_tell, /*max_records=*/-1);
}

absl::StatusOr<v1::SessionSnapshot> ReadJournalHeader(const std::string& path) {
  OPTD_ASSIGN_OR_RETURN(
      JournalHeader read,
      ReadJournalRecords(
          path, [](const v1::SessionSnapshot&) { return absl::OkStatus(); },
          [](int64_t, const v1::SnapshotTell&) { return absl::OkStatus(); },
          /*max_records=*/1));
  return std::move(read.header);
}

absl::Status SyncParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open directory", dir);
  FdCloser closer(fd);
  if (::fsync(fd) != 0) return ErrnoError("cannot fsync directory", dir);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadRecordAt(const std::string& path,
                                         int64_t offset) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  FdCloser closer(fd);
  char head[kRecordHeaderBytes];
  if (::pread(fd, head, sizeof(head), offset) !=
      static_cast<ssize_t>(sizeof(head))) {
    return absl::DataLossError(
        absl::StrCat(path, ": no record header at byte ", offset));
  }
  const uint32_t length = absl::little_endian::Load32(head);
  if (length > kMaxRecordBytes) {
    return absl::DataLossError(absl::StrCat(path, ": record at byte ", offset,
                                            " claims ", length, " bytes"));
  }
  std::string payload(length, '\0');
  int64_t done = 0;
  while (done < length) {
    const ssize_t n = ::pread(fd, payload.data() + done, length - done,
                              offset + kRecordHeaderBytes + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::DataLossError(
          absl::StrCat(path, ": record at byte ", offset, " is cut short"));
    }
    done += n;
  }
  if (Crc32(payload) != absl::little_endian::Load32(head + 4)) {
    return absl::DataLossError(
        absl::StrCat(path, ": record at byte ", offset, " fails its checksum"));
  }
  return payload;
}

absl::Status RemoveFileDurably(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("cannot remove", path);
  }
  return SyncParentDirectory(path);
}

absl::StatusOr<JournalFile> JournalFile::Create(const std::string& path,
                                                absl::string_view records,
                                                absl::string_view magic) {
  const std::string temp = path + ".tmp";
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoError("cannot create", temp);
  FdCloser closer(fd);
  OPTD_RETURN_IF_ERROR(WriteAll(fd, magic, temp));
  OPTD_RETURN_IF_ERROR(WriteAll(fd, records, temp));
  if (::fdatasync(fd) != 0) return ErrnoError("cannot fdatasync", temp);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return ErrnoError("cannot rename to " + path + ":", temp);
  }
  OPTD_RETURN_IF_ERROR(SyncParentDirectory(path));
  // O_APPEND is not needed: this handle is the only writer and tracks size_.
  return JournalFile(path, closer.release(),
                     static_cast<int64_t>(magic.size() + records.size()));
}

absl::StatusOr<JournalFile> JournalFile::OpenForAppend(const std::string& path,
                                                       int64_t valid_bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError("cannot stat", path);
  if (st.st_size != valid_bytes) {
    if (::ftruncate(fd, valid_bytes) != 0) {
      return ErrnoError("cannot cut the torn tail of", path);
    }
    if (::fdatasync(fd) != 0) return ErrnoError("cannot fdatasync", path);
  }
  if (::lseek(fd, valid_bytes, SEEK_SET) < 0) {
    return ErrnoError("cannot seek in", path);
  }
  return JournalFile(path, closer.release(), valid_bytes);
}

JournalFile::JournalFile(JournalFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_) {}

JournalFile& JournalFile::operator=(JournalFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
  }
  return *this;
}

JournalFile::~JournalFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status JournalFile::Append(absl::string_view bytes) {
  absl::Status status = WriteAll(fd_, bytes, path_);
  if (!status.ok()) {
    // Leave no partial record behind for the next append to follow.
    if (::ftruncate(fd_, size_) != 0 || ::lseek(fd_, size_, SEEK_SET) < 0) {
      return absl::InternalError(absl::StrCat(
          status.message(), "; cutting the partial record also failed"));
    }
    return status;
  }
  size_ += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::Status JournalFile::Sync() {
  if (::fdatasync(fd_) != 0) return ErrnoError("cannot fdatasync", path_);
  return absl::OkStatus();
}

}  // namespace optd::server
