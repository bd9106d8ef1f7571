// Env: the file-system seam of the data directory (DESIGN §4). Every write,
// sync, rename, truncate, unlink, directory sync and read of the journals,
// the write-ahead log, the staged slices and the slice checkpoints goes
// through one Env, after LevelDB's and RocksDB's `Env`: PosixEnv is the
// default, and FaultInjectionEnv (fault_injection_env.h) wraps it in tests to
// fail the k-th write or sync, to drop what was never synced (power loss), to
// tear the last write and to put garbage where unsynced data was.
//
//   Env* env = Env::Default();
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
//                         env->NewWritableFile(path));
//   OPTD_RETURN_IF_ERROR(file->Append(bytes));
//   OPTD_RETURN_IF_ERROR(file->Sync());
//
// Errors are absl::Status: NOT_FOUND for a missing file, RESOURCE_EXHAUSTED
// for a full disk or quota (ENOSPC, EDQUOT), INTERNAL for other I/O errors;
// the message names the operation, the path and the system's reason.
//
// Thread-safety: Env and its files are thread-safe in the sense of the
// system calls they make; one WritableFile is used by one thread at a time.
#ifndef OPTD_SERVER_STORAGE_ENV_H_
#define OPTD_SERVER_STORAGE_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace optd::server {

// A file written sequentially from an offset on.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of `data` at the current end (a write loop; no sync).
  virtual absl::Status Append(absl::string_view data) = 0;
  // fdatasync: what was appended is durable when it returns OK. After an
  // error nothing appended since the last good Sync may be counted on, even
  // if a later Sync returns OK (Linux may drop the failed pages).
  virtual absl::Status Sync() = 0;
  // Cuts the file to `size` bytes and continues writing there.
  virtual absl::Status Truncate(int64_t size) = 0;
  virtual const std::string& path() const = 0;
};

// A file read at any offset.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to `n` bytes at `offset` into `out`; fewer only at the end of
  // the file. Returns how many.
  virtual absl::StatusOr<size_t> ReadAt(int64_t offset, size_t n,
                                        char* out) const = 0;
  // The size when the file was opened.
  virtual int64_t size() const = 0;
  virtual const std::string& path() const = 0;
};

// An exclusive lock on a file, held until destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX implementation (never destroyed).
  static Env* Default();

  // Env::NewWritableFile()
  //
  // Creates `path`, or empties it if it exists, for writing from offset 0.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  // Env::ReopenWritableFile()
  //
  // Opens the existing `path` for writing from offset `size` (bytes past it
  // are cut off first and the cut is synced).
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> ReopenWritableFile(
      const std::string& path, int64_t size) = 0;
  virtual absl::StatusOr<std::unique_ptr<ReadableFile>> NewReadableFile(
      const std::string& path) = 0;

  // Renames `from` over `to` (atomically replacing it).
  virtual absl::Status RenameFile(const std::string& from,
                                  const std::string& to) = 0;
  // Removes `path`; NOT_FOUND if it is not there.
  virtual absl::Status RemoveFile(const std::string& path) = 0;
  // fsync of the directory `dir`: creations, renames and removals in it are
  // durable when it returns OK.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  // Creates the directory `dir` (OK if it exists).
  virtual absl::Status CreateDir(const std::string& dir) = 0;
  // Names of the entries of `dir` ("." and ".." left out), in no order.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) = 0;
  virtual absl::StatusOr<int64_t> FileSize(const std::string& path) = 0;
  virtual absl::StatusOr<absl::Time> ModificationTime(
      const std::string& path) = 0;
  // An exclusive advisory lock (flock) on `path`, created if missing;
  // FAILED_PRECONDITION when another process holds it.
  virtual absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) = 0;
};

// The directory part of `path` ("." when it has none).
std::string DirectoryOf(const std::string& path);

// Removes `path` (if present) and syncs its directory.
absl::Status RemoveFileDurably(Env* env, const std::string& path);

// Writes `contents` to `path` atomically and durably: into a temporary file
// beside it (a name no other writer uses), synced, renamed over `path`, and
// the directory synced. A crash leaves the old file or the whole new one,
// and the temporary file (ending in ".tmp") at worst.
absl::Status WriteFileAtomically(Env* env, const std::string& path,
                                 absl::string_view contents);

// Reads the whole file at `path`.
absl::StatusOr<std::string> ReadFileToString(Env* env, const std::string& path);

// A fresh temporary name beside `path` ("<path>.<unique>.tmp"): concurrent
// writers of the same path never share one.
std::string TemporaryPathFor(const std::string& path);

}  // namespace optd::server

#endif  // OPTD_SERVER_STORAGE_ENV_H_
