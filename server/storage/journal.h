// Record files: how sessions live on disk (DESIGN §4).
//
// A session is the request that created it plus the tells applied to it, in
// order; solvers are deterministic, so replaying the tells reproduces the
// session bit for bit. Its journal is exactly that, framed for crash safety.
// The write-ahead log (wal.h), the staged slices and the slice checkpoints of
// sharded sessions (slice_host.h) use the same framing:
//
//   version 2 (written by this build):
//     "OPTDJNL2" (or OPTDWAL2, OPTDSLC2, OPTDCKP2)  8-byte magic
//     salt                                          8 random bytes
//     record: u32 length | u32 crc32(payload) | payload     (little-endian)
//   version 1 (still read): the magic ("OPTDJNL1", ...) and records, no salt
//   journal record 0: a v1::SessionSnapshot with no tells (the header)
//   journal record i>0: a v1::SnapshotTell
//
// crc32 is zlib's (ISO 3309 / ITU-T V.42 polynomial).
//
// Torn tails and damage. A file is written by appends and made durable by
// syncs; an acknowledgement waits for the sync. A crash or a power loss can
// spoil only what was written after the last sync, which nobody was told
// about: cut short, zeros, or garbage followed by valid-looking records (the
// page cache writes pages out of order). Damage to synced records is another
// matter: a bad disk, an operator. Version 2 tells them apart with *sync
// marks*: every sync that returns OK is followed by a mark record (a seal),
// payload "OPTDSYNC" | salt | u64 synced_through, saying the file was durable
// up to that byte; a file is created sealed. A read that meets a bad record at
// byte X looks for a later mark with synced_through > X: if there is one, byte
// X was synced and the damage is real (DATA_LOSS naming the file, record and
// byte range, or, for the log, a damaged range stepped over); if there is
// none, everything from X on was never acknowledged and is cut as a torn tail
// (RocksDB's kTolerateCorruptedTailRecords, made exact). The salt keeps a
// gradient whose bytes imitate a mark from counting as one. Version 1 files
// have no marks: only a spoiled final record is a torn tail there.
//
//   OPTD_ASSIGN_OR_RETURN(JournalHeader header,
//                         ReadJournal(env, path, on_header, on_tell));
//
// Thread-safety: the functions are thread-compatible; JournalFile is not
// thread-safe (its owner serializes access).
#ifndef OPTD_SERVER_STORAGE_JOURNAL_H_
#define OPTD_SERVER_STORAGE_JOURNAL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "optd/v1/optimizer.pb.h"
#include "server/storage/env.h"

namespace optd::server {

// The families of record files: a 7-byte magic prefix, then the version
// digit.
inline constexpr absl::string_view kJournalFamily = "OPTDJNL";
inline constexpr absl::string_view kWalFamily = "OPTDWAL";
inline constexpr absl::string_view kStagedFamily = "OPTDSLC";
inline constexpr absl::string_view kSliceCheckpointFamily = "OPTDCKP";
// The version-1 journal magic (files written before sync marks).
inline constexpr absl::string_view kJournalMagic = "OPTDJNL1";
// Bytes of a version-2 file's salt, after its magic.
inline constexpr size_t kSaltBytes = 8;
// Bytes before each record's payload: length and checksum.
inline constexpr size_t kRecordHeaderBytes = 8;
// The largest payload accepted: a tell of a 2^27-element vector with room to
// spare (the default message limit is 1 GiB + 1 MiB).
inline constexpr uint32_t kMaxRecordBytes = (uint32_t{1} << 31) - 1;

// Frames `payload` as one record (length, crc32, payload).
std::string FrameRecord(absl::string_view payload);

// The start of a version-2 file of `family` (kJournalFamily, ...): the magic
// ("OPTDJNL2", ...) and the file's `salt` (kSaltBytes bytes).
std::string RecordFileHead(absl::string_view family, absl::string_view salt);

// A sync mark of a version-2 file with `salt`, framed as a record: the file
// is durable through byte `synced_through` (JournalFile writes the mark's
// own offset; a reader trusts no mark claiming bytes past itself). The one
// definition of the mark's format, for JournalFile and for tools and tests
// that build record files.
std::string FrameSyncMark(absl::string_view salt, int64_t synced_through);

// A SnapshotTell record for `request` applied at `time`, serialized without
// copying the request into a new message.
std::string EncodeTellRecord(const v1::TellRequest& request, absl::Time time);

// What ReadRecords found.
struct RecordsRead {
  // 1 or 2, and the file's salt (version 2).
  int version = 2;
  std::string salt;
  // Records read (sync marks not counted).
  int64_t records = 0;
  // Bytes up to the end of the last good record: where appends continue.
  int64_t valid_bytes = 0;
  // Bytes from the first spoiled byte of the unsynced tail to the end, cut:
  // never acknowledged.
  int64_t torn_tail_bytes = 0;
  bool torn_tail_checksum = false;
  // Byte ranges [begin, end) of synced records that were unreadable and
  // stepped over (only with `skip_damage`).
  std::vector<std::pair<int64_t, int64_t>> damaged;
};

// ReadRecords()
//
// The records of the file at `path` of `family` (kJournalFamily, ...):
// on_record(index, byte offset, payload) for each, in order (sync marks are
// not passed on); an error from it stops the read and is returned. A torn
// tail ends the read (see above) unless it starts in record 0 and
// `first_record_required`. Damage to synced records is DATA_LOSS naming the
// file, the record, the byte offset and the damaged range — or, with
// `skip_damage` (the write-ahead log), noted in `damaged` and stepped over
// to the next sync mark. NOT_FOUND / INTERNAL for I/O errors. With
// `max_records` >= 0 only that many records are read.
absl::StatusOr<RecordsRead> ReadRecords(
    Env* env, const std::string& path, absl::string_view family,
    bool first_record_required,
    const std::function<absl::Status(int64_t index, int64_t offset,
                                     absl::string_view payload)>& on_record,
    int64_t max_records = -1, bool skip_damage = false);

// What ReadJournal found besides the tells.
struct JournalHeader {
  // Record 0, tells empty.
  v1::SessionSnapshot header;
  // Records after the header (tells), and the bytes they end at.
  int64_t tells = 0;
  int64_t valid_bytes = 0;
  // Bytes of an unsynced tail that a crash spoiled; they are not part of the
  // session.
  int64_t torn_tail_bytes = 0;
  // The tail had a whole-length record failing its checksum.
  bool torn_tail_checksum = false;
  // The file's format, for appending to it (JournalFile::OpenForAppend).
  RecordsRead read;
};

// ReadJournal()
//
// Reads the journal at `path`, calling `on_header(header)` for record 0 and
// then `on_tell(index, tell)` (index from 0) for each tell in order; an error
// from a callback stops the read and is returned with the record named.
// DATA_LOSS for damage as described above; NOT_FOUND / INTERNAL for I/O
// errors.
absl::StatusOr<JournalHeader> ReadJournal(
    Env* env, const std::string& path,
    const std::function<absl::Status(const v1::SessionSnapshot&)>& on_header,
    const std::function<absl::Status(int64_t, const v1::SnapshotTell&)>&
        on_tell);

// ReadJournalHeader()
//
// Record 0 of the journal at `path` only (the rest is not read), checked as
// ReadJournal checks it.
absl::StatusOr<v1::SessionSnapshot> ReadJournalHeader(Env* env,
                                                      const std::string& path);

// A record file open for appending.
class JournalFile {
 public:
  // JournalFile::Create()
  //
  // Creates `path` of `family` (version 2, a new salt) holding `records`
  // (already framed), durably and atomically: written beside it under a
  // temporary name, synced, renamed over `path`, the directory synced. A
  // crash leaves the old file or the whole new one.
  static absl::StatusOr<JournalFile> Create(
      Env* env, const std::string& path, absl::string_view records,
      absl::string_view family = kJournalFamily);
  // JournalFile::CreateWith()
  //
  // Create() with the records streamed: `write_records` passes them (framed,
  // in pieces) to the sink it is given. An error from either is returned and
  // `path` is left as it was.
  using RecordSink = std::function<absl::Status(absl::string_view framed)>;
  static absl::StatusOr<JournalFile> CreateWith(
      Env* env, const std::string& path, absl::string_view family,
      const std::function<absl::Status(const RecordSink&)>& write_records);
  // JournalFile::OpenForAppend()
  //
  // Opens the file ReadRecords just read (`read`) for appending after its
  // valid bytes; a torn tail beyond them is cut and the cut synced. Appends
  // keep the file's version (a version-1 file gets no marks).
  static absl::StatusOr<JournalFile> OpenForAppend(Env* env,
                                                   const std::string& path,
                                                   const RecordsRead& read);

  JournalFile(JournalFile&& other) noexcept = default;
  JournalFile& operator=(JournalFile&& other) noexcept = default;

  // JournalFile::Append()
  //
  // Appends framed records (no sync). On error nothing of it stays in the
  // file (the partial write is cut), or the file is broken().
  absl::Status Append(absl::string_view bytes);
  // JournalFile::Sync()
  //
  // fdatasync: everything appended is durable when it returns OK; a version 2
  // file then gets a sync mark (unsynced) saying so. After an
  // error the file is broken(): a failed fdatasync cannot be retried into
  // success (the kernel may have dropped the failed pages), so nothing is
  // written to it again; its owner rewrites it (Create) from what it holds.
  absl::Status Sync();
  // True after a failed Sync (or a failed write whose cut failed too): every
  // later Append and Sync fails.
  bool broken() const { return !broken_.ok(); }
  const absl::Status& broken_status() const { return broken_; }
  int64_t size() const { return size_; }
  // Bytes durable (synced).
  int64_t synced() const { return synced_; }
  const std::string& path() const { return path_; }

 private:
  JournalFile(std::string path, std::unique_ptr<WritableFile> file,
              int64_t size, int version, std::string salt)
      : path_(std::move(path)),
        file_(std::move(file)),
        size_(size),
        synced_(size),
        marked_(size),
        version_(version),
        salt_(std::move(salt)) {}

  std::string path_;
  std::unique_ptr<WritableFile> file_;
  int64_t size_ = 0;
  int64_t synced_ = 0;
  // The size right after the last sync mark (Create seals the new file).
  int64_t marked_ = 0;
  int version_ = 2;
  std::string salt_;
  absl::Status broken_;
};

// ReadRecordAt()
//
// The payload of the record at byte `offset` of the file at `path` (an
// offset ReadRecords reported), checksum verified: DATA_LOSS if it is
// damaged, INTERNAL for I/O errors.
absl::StatusOr<std::string> ReadRecordAt(Env* env, const std::string& path,
                                         int64_t offset);

}  // namespace optd::server

#endif  // OPTD_SERVER_STORAGE_JOURNAL_H_
