#include "server/storage/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optd::server {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path,
                        int error) {
  std::string message =
      absl::StrCat(what, " ", path, ": ", std::strerror(error));
  if (error == ENOENT) return absl::NotFoundError(message);
  if (error == ENOSPC || error == EDQUOT) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return ErrnoError(what, path, errno);
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override { ::close(fd_); }

  absl::Status Append(absl::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot write", path_);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoError("cannot fdatasync", path_);
    return absl::OkStatus();
  }

  absl::Status Truncate(int64_t size) override {
    if (::ftruncate(fd_, size) != 0)
      return ErrnoError("cannot truncate", path_);
    if (::lseek(fd_, size, SEEK_SET) < 0) {
      return ErrnoError("cannot seek in", path_);
    }
    return absl::OkStatus();
  }

  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  const int fd_;
};

class PosixReadableFile : public ReadableFile {
 public:
  PosixReadableFile(std::string path, int fd, int64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixReadableFile() override { ::close(fd_); }

  absl::StatusOr<size_t> ReadAt(int64_t offset, size_t n,
                                char* out) const override {
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, out + done, n - done,
                                  offset + static_cast<int64_t>(done));
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot read", path_);
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

  int64_t size() const override { return size_; }
  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  const int fd_;
  const int64_t size_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }

 private:
  const int fd_;
};

class PosixEnv : public Env {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return ErrnoError("cannot create", path);
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> ReopenWritableFile(
      const std::string& path, int64_t size) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open", path);
    auto file = std::make_unique<PosixWritableFile>(path, fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) return ErrnoError("cannot stat", path);
    if (st.st_size != size) {
      OPTD_RETURN_IF_ERROR(file->Truncate(size));
      OPTD_RETURN_IF_ERROR(file->Sync());
    } else if (::lseek(fd, size, SEEK_SET) < 0) {
      return ErrnoError("cannot seek in", path);
    }
    return file;
  }

  absl::StatusOr<std::unique_ptr<ReadableFile>> NewReadableFile(
      const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      return ErrnoError("cannot stat", path, error);
    }
    return std::make_unique<PosixReadableFile>(path, fd, st.st_size);
  }

  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoError(absl::StrCat("cannot rename to ", to, ":"), from);
    }
    return absl::OkStatus();
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoError("cannot remove", path);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open directory", dir);
    const bool ok = ::fsync(fd) == 0;
    const int error = errno;
    ::close(fd);
    if (!ok) return ErrnoError("cannot fsync directory", dir, error);
    return absl::OkStatus();
  }

  absl::Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
      return ErrnoError("cannot create directory", dir);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override {
    DIR* listing = ::opendir(dir.c_str());
    if (listing == nullptr) return ErrnoError("cannot list", dir);
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(listing)) {
      const absl::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(listing);
    return names;
  }

  absl::StatusOr<int64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoError("cannot stat", path);
    return static_cast<int64_t>(st.st_size);
  }

  absl::StatusOr<absl::Time> ModificationTime(
      const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoError("cannot stat", path);
    return absl::TimeFromTimespec(st.st_mtim);
  }

  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return ErrnoError("cannot open", path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is locked by another process"));
    }
    return std::make_unique<PosixFileLock>(fd);
  }
};

}  // namespace

Env* Env::Default() {
  static Env* const env = new PosixEnv();
  return env;
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status RemoveFileDurably(Env* env, const std::string& path) {
  absl::Status removed = env->RemoveFile(path);
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  return env->SyncDir(DirectoryOf(path));
}

std::string TemporaryPathFor(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(path, ".", ::getpid(), "-", counter.fetch_add(1), ".tmp");
}

absl::Status WriteFileAtomically(Env* env, const std::string& path,
                                 absl::string_view contents) {
  const std::string temp = TemporaryPathFor(path);
  absl::Status status;
  {
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        env->NewWritableFile(temp);
    if (!file.ok()) return file.status();
    status = (*file)->Append(contents);
    if (status.ok()) status = (*file)->Sync();
  }
  if (status.ok()) status = env->RenameFile(temp, path);
  if (!status.ok()) {
    env->RemoveFile(temp).IgnoreError();
    return status;
  }
  return env->SyncDir(DirectoryOf(path));
}

absl::StatusOr<std::string> ReadFileToString(Env* env,
                                             const std::string& path) {
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file,
                        env->NewReadableFile(path));
  std::string contents(static_cast<size_t>(file->size()), '\0');
  OPTD_ASSIGN_OR_RETURN(size_t got,
                        file->ReadAt(0, contents.size(), contents.data()));
  contents.resize(got);
  return contents;
}

}  // namespace optd::server
