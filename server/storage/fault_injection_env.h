// FaultInjectionEnv: an Env (env.h) for tests that makes a data directory
// fail the way production storage fails, after LevelDB's
// FaultInjectionTestEnv and RocksDB's FaultInjectionTestFS:
//   - fail the k-th write, sync, create, rename, removal or directory sync
//     (with ENOSPC or EIO), once or from then on (a full disk);
//   - a space limit: writes past it fail with ENOSPC, writing what fits first,
//     as a full file system does;
//   - a failed sync loses what it was to make durable even if a later sync
//     succeeds (Linux marks the failed pages clean: "fsyncgate");
//   - power loss: what was never synced is dropped, torn (a prefix of the
//     unsynced bytes kept) or replaced by garbage in places, with the real
//     bytes of later unsynced writes after it; creations, renames and
//     removals not followed by a directory sync are undone. After it the
//     machine is off: every operation fails until PowerOn().
// Only files written through this Env are tracked; the rest count as synced.
//
//   FaultInjectionEnv env;
//   env.Fail(FaultInjectionEnv::Op::kAppend, ENOSPC, /*skip=*/9,
//            /*sticky=*/true);                      // the 10th write on
//   ... run a server on &env ...
//   env.PowerLoss(FaultInjectionEnv::Loss::kGarbage, /*seed=*/7);
//   ... destroy the server, env.PowerOn(), start it again ...
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_STORAGE_FAULT_INJECTION_ENV_H_
#define OPTD_SERVER_STORAGE_FAULT_INJECTION_ENV_H_

#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/storage/env.h"

namespace optd::server {

class FaultInjectionEnv : public Env {
 public:
  enum class Op {
    kAppend,
    kSync,
    kCreate,
    kRename,
    kRemove,
    kSyncDir,
    kRead,  // opening a file to read it, or listing a directory
  };
  // Called before every operation with its path (outside the Env's lock):
  // a test may block in it to hold an operation where a race needs it.
  using Hook = std::function<void(Op op, const std::string& path)>;

  // A fault armed for the operations `op` on paths containing
  // `path_contains`: the first `skip` of them succeed, the next fails with
  // `error`, and with `sticky` so does every later one until ClearFaults().
  // With `partial`, a failing append writes the first half of its bytes.
  struct Fault {
    Op op = Op::kAppend;
    std::string path_contains;
    int64_t skip = 0;
    int error = EIO;
    bool sticky = false;
    bool partial = false;
  };

  // What PowerLoss does to the bytes of each file that were not synced.
  enum class Loss {
    // The page cache survives (kill -9): nothing is lost.
    kKeep,
    // Every unsynced byte is gone.
    kDrop,
    // A random prefix of the unsynced bytes is kept (a torn write).
    kTear,
    // The unsynced bytes stay in place, but random runs of them become zeros
    // or random bytes (pages written out of order): garbage followed by
    // valid-looking records.
    kGarbage,
  };

  explicit FaultInjectionEnv(Env* base = Env::Default());
  ~FaultInjectionEnv() override;

  void AddFault(const Fault& fault) ABSL_LOCKS_EXCLUDED(mu_);
  // AddFault() with the fields in order.
  void Fail(Op op, int error, int64_t skip = 0, bool sticky = false,
            std::string path_contains = "", bool partial = false) {
    AddFault({op, std::move(path_contains), skip, error, sticky, partial});
  }
  void ClearFaults() ABSL_LOCKS_EXCLUDED(mu_);
  // Replaces the hook (null: none).
  void SetHook(Hook hook) ABSL_LOCKS_EXCLUDED(mu_);
  // Files under `root` may hold at most `bytes` in all (their sizes when
  // this is called, then what is written, cut and removed through this Env).
  // A negative `bytes` lifts the limit.
  void SetSpaceLimit(const std::string& root, int64_t bytes)
      ABSL_LOCKS_EXCLUDED(mu_);

  // FaultInjectionEnv::PowerLoss()
  //
  // Applies `loss` to every tracked file (the random choices from `seed`),
  // undoes the directory changes not synced, and turns the machine off.
  void PowerLoss(Loss loss, uint64_t seed) ABSL_LOCKS_EXCLUDED(mu_);
  // Turns the machine on again: operations work, everything on disk now
  // counts as synced, faults are cleared.
  void PowerOn() ABSL_LOCKS_EXCLUDED(mu_);
  bool powered() const ABSL_LOCKS_EXCLUDED(mu_);

  // Operations seen so far (for sweeps over k).
  int64_t appends() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t syncs() const ABSL_LOCKS_EXCLUDED(mu_);
  // Faults fired so far.
  int64_t faults_fired() const ABSL_LOCKS_EXCLUDED(mu_);

  // Env.
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> ReopenWritableFile(
      const std::string& path, int64_t size) override;
  absl::StatusOr<std::unique_ptr<ReadableFile>> NewReadableFile(
      const std::string& path) override;
  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override;
  absl::Status RemoveFile(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::Status CreateDir(const std::string& dir) override;
  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override;
  absl::StatusOr<int64_t> FileSize(const std::string& path) override;
  absl::StatusOr<absl::Time> ModificationTime(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) override;

 private:
  class File;
  friend class File;

  // What is known of one file written through this Env.
  struct FileState {
    int64_t size = 0;
    // Bytes durable: a sync that returned OK covered them.
    int64_t synced = 0;
    // Ranges a failed sync was to make durable: lost at power loss even if a
    // later sync returned OK.
    std::vector<std::pair<int64_t, int64_t>> lost;
  };
  // A directory change not yet made durable by SyncDir, undone at power
  // loss: `path` was created (no old contents), or replaced / removed (its
  // old contents, as far as they were synced, in `old`).
  struct DirChange {
    std::string path;
    std::optional<std::string> old;
    // A rename's source, which comes back (with `moved` contents) on undo.
    std::string renamed_from;
    std::optional<std::string> moved;
  };

  // OK, or the error the next `op` on `path` fails with (counting it).
  absl::Status Check(Op op, const std::string& path, bool* partial = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Off() const;
  // Runs the hook, if any, for `op` on `path`.
  void RunHook(Op op, const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);
  // The synced contents of `path` (for undoing a change to it).
  std::optional<std::string> SyncedContents(const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Track(const std::string& path, int64_t size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool UnderLimit(const std::string& path) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Append(const std::string& path, WritableFile& base,
                      absl::string_view data) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Sync(const std::string& path, WritableFile& base)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Truncate(const std::string& path, WritableFile& base,
                        int64_t size) ABSL_LOCKS_EXCLUDED(mu_);

  Env* const base_;
  mutable absl::Mutex mu_;
  bool powered_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<Fault> faults_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Hook> hook_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<DirChange>> dir_changes_
      ABSL_GUARDED_BY(mu_);
  std::string space_root_ ABSL_GUARDED_BY(mu_);
  int64_t space_limit_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t space_used_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t appends_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t fired_ ABSL_GUARDED_BY(mu_) = 0;
};

// Overwrites `length` bytes of `path` at `offset` with `byte` (damage to
// synced data, as a bad disk or an operator does it).
absl::Status CorruptFile(const std::string& path, int64_t offset,
                         int64_t length, char byte = 0);

}  // namespace optd::server

#endif  // OPTD_SERVER_STORAGE_FAULT_INJECTION_ENV_H_
