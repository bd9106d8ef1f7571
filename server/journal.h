// Journal files: how one session lives on disk (DESIGN §4).
//
// A session is the request that created it plus the tells applied to it, in
// order; solvers are deterministic, so replaying the tells reproduces the
// session bit for bit. Its journal is exactly that, framed for crash safety:
//
//   "OPTDJNL1"                                  8-byte magic
//   record: u32 length | u32 crc32(payload) | payload     (little-endian)
//   record 0: a v1::SessionSnapshot with no tells (the header)
//   record i>0: a v1::SnapshotTell
//
// crc32 is zlib's (ISO 3309 / ITU-T V.42 polynomial). A record is appended
// and fdatasync'ed before the tell it holds is acknowledged, so a crash can
// spoil only the final record, which nobody was told about: cut short (kill
// -9 during the write), or whole-length with a bad checksum or zeros (power
// loss on a file system that may extend a file before its data is on disk).
// ReadJournal drops such a tail and says so (torn_tail_bytes), as RocksDB's
// WAL recovery tolerates a corrupted tail. Anything else — a bad magic, a
// damaged header, a checksum mismatch before the final record, a length past
// the limit, a payload that does not parse — is damage, reported as DATA_LOSS
// naming the file, the record and the byte offset, and never loaded.
//
//   OPTD_ASSIGN_OR_RETURN(JournalHeader header, ReadJournal(path, on_tell));
//
// Thread-safety: the functions are thread-compatible; JournalFile is not
// thread-safe (its owner, SessionJournal, serializes access).
#ifndef OPTD_SERVER_JOURNAL_H_
#define OPTD_SERVER_JOURNAL_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "optd/v1/optimizer.pb.h"

namespace optd::server {

inline constexpr absl::string_view kJournalMagic = "OPTDJNL1";
// Bytes before each record's payload: length and checksum.
inline constexpr size_t kRecordHeaderBytes = 8;
// The largest payload accepted: a tell of a 2^27-element vector with room to
// spare (the default message limit is 1 GiB + 1 MiB).
inline constexpr uint32_t kMaxRecordBytes = (uint32_t{1} << 31) - 1;

// Frames `payload` as one record (length, crc32, payload).
std::string FrameRecord(absl::string_view payload);

// A SnapshotTell record for `request` applied at `time`, serialized without
// copying the request into a new message.
std::string EncodeTellRecord(const v1::TellRequest& request, absl::Time time);

// What ReadJournal found besides the tells.
struct JournalHeader {
  // Record 0, tells empty.
  v1::SessionSnapshot header;
  // Records after the header (tells), and the bytes they end at.
  int64_t tells = 0;
  int64_t valid_bytes = 0;
  // Bytes of an incomplete or unreadable final record (a write cut short by
  // a crash); they are not part of the session.
  int64_t torn_tail_bytes = 0;
  // The tail was whole-length but failed its checksum.
  bool torn_tail_checksum = false;
};

// What ReadRecords found.
struct RecordsRead {
  int64_t records = 0;
  // Bytes up to the end of the last good record.
  int64_t valid_bytes = 0;
  // Bytes of a spoiled final record (cut short, failing its checksum, or
  // zeros), which a crash leaves and nobody was told about.
  int64_t torn_tail_bytes = 0;
  bool torn_tail_checksum = false;
};

// ReadRecords()
//
// The framed records of the file at `path`, which starts with `magic`:
// on_record(index, byte offset, payload) for each, in order; an error from it
// stops the read and is returned. A spoiled final record ends the read (see
// above) unless it is record 0 and `first_record_required`. DATA_LOSS naming
// the file, record and offset for damage; NOT_FOUND / INTERNAL for I/O. With
// `max_records` >= 0 only that many records are read.
absl::StatusOr<RecordsRead> ReadRecords(
    const std::string& path, absl::string_view magic,
    bool first_record_required,
    const std::function<absl::Status(int64_t index, int64_t offset,
                                     absl::string_view payload)>& on_record,
    int64_t max_records = -1);

// ReadJournal()
//
// Reads the journal at `path`, calling `on_header(header)` for record 0 and
// then `on_tell(index, tell)` (index from 0) for each tell in order; an error
// from a callback stops the read and is returned with the record named.
// DATA_LOSS for damage as described above; NOT_FOUND / INTERNAL for I/O
// errors.
absl::StatusOr<JournalHeader> ReadJournal(
    const std::string& path,
    const std::function<absl::Status(const v1::SessionSnapshot&)>& on_header,
    const std::function<absl::Status(int64_t, const v1::SnapshotTell&)>&
        on_tell);

// ReadJournalHeader()
//
// Record 0 of the journal at `path` only (the rest is not read), checked as
// ReadJournal checks it.
absl::StatusOr<v1::SessionSnapshot> ReadJournalHeader(const std::string& path);

// An open journal for appending.
class JournalFile {
 public:
  // Creates `path` holding `magic` and `records` (already framed), fsyncs
  // it and its directory, atomically: written as path + ".tmp" and renamed,
  // so a crash leaves the old file or the whole new one.
  static absl::StatusOr<JournalFile> Create(
      const std::string& path, absl::string_view records,
      absl::string_view magic = kJournalMagic);
  // Opens an existing journal for appending after its first `valid_bytes`
  // (a torn tail beyond them is cut off and synced first).
  static absl::StatusOr<JournalFile> OpenForAppend(const std::string& path,
                                                   int64_t valid_bytes);

  JournalFile(JournalFile&& other) noexcept;
  JournalFile& operator=(JournalFile&& other) noexcept;
  JournalFile(const JournalFile&) = delete;
  JournalFile& operator=(const JournalFile&) = delete;
  ~JournalFile();

  // Appends framed records (write loop; no sync).
  absl::Status Append(absl::string_view bytes);
  // fdatasync: everything appended is durable when it returns OK.
  absl::Status Sync();
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  JournalFile(std::string path, int fd, int64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;
};

// ReadRecordAt()
//
// The payload of the record at byte `offset` of the file at `path` (an
// offset ReadRecords reported), checksum verified: DATA_LOSS if it is
// damaged, INTERNAL for I/O errors.
absl::StatusOr<std::string> ReadRecordAt(const std::string& path,
                                         int64_t offset);

// Removes `path` (if present) and fsyncs its directory.
absl::Status RemoveFileDurably(const std::string& path);
// fsync of the directory holding `path`.
absl::Status SyncParentDirectory(const std::string& path);

}  // namespace optd::server

#endif  // OPTD_SERVER_JOURNAL_H_
