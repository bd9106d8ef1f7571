#include "server/storage/fault_injection_env.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optd::server {
namespace {

const char* OpName(FaultInjectionEnv::Op op) {
  switch (op) {
    case FaultInjectionEnv::Op::kAppend:
      return "cannot write";
    case FaultInjectionEnv::Op::kSync:
      return "cannot fdatasync";
    case FaultInjectionEnv::Op::kCreate:
      return "cannot create";
    case FaultInjectionEnv::Op::kRename:
      return "cannot rename";
    case FaultInjectionEnv::Op::kRemove:
      return "cannot remove";
    case FaultInjectionEnv::Op::kSyncDir:
      return "cannot fsync directory";
    case FaultInjectionEnv::Op::kRead:
      return "cannot read";
  }
  return "cannot";
}

absl::Status InjectedError(FaultInjectionEnv::Op op, const std::string& path,
                           int error) {
  std::string message =
      absl::StrCat(OpName(op), " ", path, ": ", std::strerror(error));
  if (error == ENOSPC || error == EDQUOT) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

bool IsUnder(const std::string& path, const std::string& root) {
  return !root.empty() && absl::StartsWith(path, root) &&
         (path.size() == root.size() || path[root.size()] == '/' ||
          root.back() == '/');
}

}  // namespace

class FaultInjectionEnv::File : public WritableFile {
 public:
  File(FaultInjectionEnv* env, std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}
  absl::Status Append(absl::string_view data) override {
    return env_->Append(path(), *base_, data);
  }
  absl::Status Sync() override { return env_->Sync(path(), *base_); }
  absl::Status Truncate(int64_t size) override {
    return env_->Truncate(path(), *base_, size);
  }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionEnv* const env_;
  const std::unique_ptr<WritableFile> base_;
};

FaultInjectionEnv::FaultInjectionEnv(Env* base) : base_(base) {}
FaultInjectionEnv::~FaultInjectionEnv() = default;

void FaultInjectionEnv::AddFault(const Fault& fault) {
  absl::MutexLock lock(&mu_);
  faults_.push_back(fault);
}

void FaultInjectionEnv::SetHook(Hook hook) {
  absl::MutexLock lock(&mu_);
  hook_ = hook ? std::make_shared<const Hook>(std::move(hook)) : nullptr;
}

void FaultInjectionEnv::RunHook(Op op, const std::string& path) {
  std::shared_ptr<const Hook> hook;
  {
    absl::MutexLock lock(&mu_);
    hook = hook_;
  }
  if (hook != nullptr) (*hook)(op, path);
}

void FaultInjectionEnv::ClearFaults() {
  absl::MutexLock lock(&mu_);
  faults_.clear();
  space_limit_ = -1;
}

void FaultInjectionEnv::SetSpaceLimit(const std::string& root, int64_t bytes) {
  // The sizes of what is there now, outside the lock (a directory walk).
  int64_t used = 0;
  std::vector<std::string> dirs = {root};
  while (!dirs.empty()) {
    const std::string dir = dirs.back();
    dirs.pop_back();
    absl::StatusOr<std::vector<std::string>> names = base_->ListDir(dir);
    if (!names.ok()) continue;
    for (const std::string& name : *names) {
      const std::string path = absl::StrCat(dir, "/", name);
      absl::StatusOr<std::vector<std::string>> sub = base_->ListDir(path);
      if (sub.ok()) {
        dirs.push_back(path);
      } else if (absl::StatusOr<int64_t> size = base_->FileSize(path);
                 size.ok()) {
        used += *size;
      }
    }
  }
  absl::MutexLock lock(&mu_);
  space_root_ = root;
  space_limit_ = bytes;
  space_used_ = used;
}

absl::Status FaultInjectionEnv::Off() const {
  return absl::InternalError(
      "I/O error: the machine lost power (FaultInjectionEnv::PowerLoss)");
}

absl::Status FaultInjectionEnv::Check(Op op, const std::string& path,
                                      bool* partial) {
  if (!powered_) return Off();
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->op != op || !absl::StrContains(path, it->path_contains)) continue;
    if (it->skip > 0) {
      --it->skip;
      continue;
    }
    ++fired_;
    const int error = it->error;
    if (partial != nullptr) *partial = it->partial;
    if (!it->sticky) faults_.erase(it);
    return InjectedError(op, path, error);
  }
  return absl::OkStatus();
}

void FaultInjectionEnv::Track(const std::string& path, int64_t size) {
  FileState& state = files_[path];
  state.size = size;
  state.synced = size;
  state.lost.clear();
}

bool FaultInjectionEnv::UnderLimit(const std::string& path) const {
  return space_limit_ >= 0 && IsUnder(path, space_root_);
}

absl::Status FaultInjectionEnv::Append(const std::string& path,
                                       WritableFile& base,
                                       absl::string_view data) {
  RunHook(Op::kAppend, path);
  absl::MutexLock lock(&mu_);
  ++appends_;
  bool partial = false;
  absl::Status status = Check(Op::kAppend, path, &partial);
  absl::string_view written = data;
  if (!status.ok()) {
    if (!powered_) return status;
    written = partial ? data.substr(0, data.size() / 2) : absl::string_view();
  } else if (UnderLimit(path) &&
             space_used_ + static_cast<int64_t>(data.size()) > space_limit_) {
    // A full disk takes what fits, then refuses.
    ++fired_;
    written = data.substr(0, static_cast<size_t>(std::max<int64_t>(
                                 0, space_limit_ - space_used_)));
    status = InjectedError(Op::kAppend, path, ENOSPC);
  }
  if (!written.empty()) {
    OPTD_RETURN_IF_ERROR(base.Append(written));
    FileState& state = files_[path];
    state.size += static_cast<int64_t>(written.size());
    if (UnderLimit(path)) space_used_ += static_cast<int64_t>(written.size());
  }
  return status;
}

absl::Status FaultInjectionEnv::Sync(const std::string& path,
                                     WritableFile& base) {
  RunHook(Op::kSync, path);
  absl::MutexLock lock(&mu_);
  ++syncs_;
  FileState& state = files_[path];
  absl::Status status = Check(Op::kSync, path);
  if (!status.ok()) {
    // The pages it was to write are marked clean: they are gone at the next
    // power loss, whatever a later sync says.
    if (powered_ && state.size > state.synced) {
      state.lost.emplace_back(state.synced, state.size);
    }
    return status;
  }
  // No real fdatasync: durability is simulated, and tests run faster.
  state.synced = state.size;
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::Truncate(const std::string& path,
                                         WritableFile& base, int64_t size) {
  absl::MutexLock lock(&mu_);
  if (!powered_) return Off();
  OPTD_RETURN_IF_ERROR(base.Truncate(size));
  FileState& state = files_[path];
  if (UnderLimit(path)) space_used_ += size - state.size;
  state.size = size;
  state.synced = std::min(state.synced, size);
  return absl::OkStatus();
}

std::optional<std::string> FaultInjectionEnv::SyncedContents(
    const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFileToString(base_, path);
  if (!contents.ok()) return std::nullopt;
  auto it = files_.find(path);
  if (it != files_.end()) {
    contents->resize(static_cast<size_t>(std::min<int64_t>(
        it->second.synced, static_cast<int64_t>(contents->size()))));
    for (const auto& [begin, end] : it->second.lost) {
      for (int64_t i = begin;
           i < end && i < static_cast<int64_t>(contents->size()); ++i) {
        (*contents)[static_cast<size_t>(i)] = '\0';
      }
    }
  }
  return *std::move(contents);
}

absl::StatusOr<std::unique_ptr<WritableFile>>
FaultInjectionEnv::NewWritableFile(const std::string& path) {
  RunHook(Op::kCreate, path);
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(Check(Op::kCreate, path));
  const absl::StatusOr<int64_t> old_size = base_->FileSize(path);
  std::optional<std::string> old;
  if (old_size.ok()) old = SyncedContents(path);
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                        base_->NewWritableFile(path));
  if (!old_size.ok()) {
    dir_changes_[DirectoryOf(path)].push_back({path, std::nullopt, "", {}});
  } else if (UnderLimit(path)) {
    space_used_ -= *old_size;
  }
  Track(path, 0);
  return std::make_unique<File>(this, std::move(file));
}

absl::StatusOr<std::unique_ptr<WritableFile>>
FaultInjectionEnv::ReopenWritableFile(const std::string& path, int64_t size) {
  absl::MutexLock lock(&mu_);
  if (!powered_) return Off();
  const absl::StatusOr<int64_t> old_size = base_->FileSize(path);
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                        base_->ReopenWritableFile(path, size));
  auto it = files_.find(path);
  if (it == files_.end()) {
    Track(path, size);
  } else if (old_size.ok() && *old_size != size) {
    // The cut is synced, and with it the whole file.
    it->second.size = size;
    it->second.synced = size;
  }
  if (old_size.ok() && UnderLimit(path)) space_used_ += size - *old_size;
  return std::make_unique<File>(this, std::move(file));
}

absl::StatusOr<std::unique_ptr<ReadableFile>>
FaultInjectionEnv::NewReadableFile(const std::string& path) {
  RunHook(Op::kRead, path);
  {
    absl::MutexLock lock(&mu_);
    OPTD_RETURN_IF_ERROR(Check(Op::kRead, path));
  }
  return base_->NewReadableFile(path);
}

absl::Status FaultInjectionEnv::RenameFile(const std::string& from,
                                           const std::string& to) {
  RunHook(Op::kRename, to);
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(Check(Op::kRename, to));
  DirChange change{to, SyncedContents(to), from, SyncedContents(from)};
  const absl::StatusOr<int64_t> replaced = base_->FileSize(to);
  OPTD_RETURN_IF_ERROR(base_->RenameFile(from, to));
  dir_changes_[DirectoryOf(to)].push_back(std::move(change));
  if (replaced.ok() && UnderLimit(to)) space_used_ -= *replaced;
  auto it = files_.find(from);
  if (it != files_.end()) {
    files_[to] = it->second;
    files_.erase(from);
  } else {
    files_.erase(to);
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  RunHook(Op::kRemove, path);
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(Check(Op::kRemove, path));
  std::optional<std::string> old = SyncedContents(path);
  const absl::StatusOr<int64_t> size = base_->FileSize(path);
  OPTD_RETURN_IF_ERROR(base_->RemoveFile(path));
  dir_changes_[DirectoryOf(path)].push_back({path, std::move(old), "", {}});
  if (size.ok() && UnderLimit(path)) space_used_ -= *size;
  files_.erase(path);
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  RunHook(Op::kSyncDir, dir);
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(Check(Op::kSyncDir, dir));
  dir_changes_.erase(dir);
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::CreateDir(const std::string& dir) {
  {
    absl::MutexLock lock(&mu_);
    if (!powered_) return Off();
  }
  return base_->CreateDir(dir);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionEnv::ListDir(
    const std::string& dir) {
  RunHook(Op::kRead, dir);  // a listing is a read of the directory
  {
    absl::MutexLock lock(&mu_);
    OPTD_RETURN_IF_ERROR(Check(Op::kRead, dir));
  }
  return base_->ListDir(dir);
}

absl::StatusOr<int64_t> FaultInjectionEnv::FileSize(const std::string& path) {
  {
    absl::MutexLock lock(&mu_);
    if (!powered_) return Off();
  }
  return base_->FileSize(path);
}

absl::StatusOr<absl::Time> FaultInjectionEnv::ModificationTime(
    const std::string& path) {
  {
    absl::MutexLock lock(&mu_);
    if (!powered_) return Off();
  }
  return base_->ModificationTime(path);
}

absl::StatusOr<std::unique_ptr<FileLock>> FaultInjectionEnv::LockFile(
    const std::string& path) {
  {
    absl::MutexLock lock(&mu_);
    if (!powered_) return Off();
  }
  return base_->LockFile(path);
}

void FaultInjectionEnv::PowerLoss(Loss loss, uint64_t seed) {
  absl::MutexLock lock(&mu_);
  if (!powered_) return;
  std::mt19937_64 random(seed);
  auto uniform = [&](int64_t low, int64_t high) {  // [low, high]
    return std::uniform_int_distribution<int64_t>(low, high)(random);
  };
  for (const auto& [path, state] : files_) {
    if (loss == Loss::kKeep) break;
    absl::StatusOr<std::string> contents = ReadFileToString(base_, path);
    if (!contents.ok()) continue;  // removed since
    std::string& bytes = *contents;
    const int64_t size = static_cast<int64_t>(bytes.size());
    const int64_t synced = std::min(state.synced, size);
    for (const auto& [begin, end] : state.lost) {
      for (int64_t i = begin; i < std::min(end, size); ++i) {
        bytes[static_cast<size_t>(i)] = '\0';
      }
    }
    if (loss == Loss::kDrop) {
      bytes.resize(static_cast<size_t>(synced));
    } else if (loss == Loss::kTear) {
      bytes.resize(static_cast<size_t>(uniform(synced, size)));
    } else if (loss == Loss::kGarbage && size > synced) {
      // A few runs of zeros or noise in the unsynced part; the bytes between
      // and after them are the real ones, as pages written out of order.
      const int runs = static_cast<int>(uniform(1, 3));
      for (int r = 0; r < runs; ++r) {
        const int64_t begin = uniform(synced, size - 1);
        const int64_t end = std::min(size, begin + uniform(1, 4096));
        const bool zeros = uniform(0, 1) == 0;
        for (int64_t i = begin; i < end; ++i) {
          bytes[static_cast<size_t>(i)] =
              zeros ? '\0' : static_cast<char>(uniform(0, 255));
        }
      }
    }
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        base_->NewWritableFile(path);
    if (file.ok()) (*file)->Append(bytes).IgnoreError();
  }
  // Directory changes never synced are undone, newest first.
  for (auto& [dir, changes] : dir_changes_) {
    if (loss == Loss::kKeep) break;
    for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
      if (it->old.has_value()) {
        absl::StatusOr<std::unique_ptr<WritableFile>> file =
            base_->NewWritableFile(it->path);
        if (file.ok()) (*file)->Append(*it->old).IgnoreError();
      } else {
        base_->RemoveFile(it->path).IgnoreError();
      }
      if (!it->renamed_from.empty() && it->moved.has_value()) {
        absl::StatusOr<std::unique_ptr<WritableFile>> file =
            base_->NewWritableFile(it->renamed_from);
        if (file.ok()) (*file)->Append(*it->moved).IgnoreError();
      }
    }
  }
  files_.clear();
  dir_changes_.clear();
  powered_ = false;
}

void FaultInjectionEnv::PowerOn() {
  absl::MutexLock lock(&mu_);
  powered_ = true;
  faults_.clear();
  space_limit_ = -1;
  files_.clear();
  dir_changes_.clear();
}

bool FaultInjectionEnv::powered() const {
  absl::MutexLock lock(&mu_);
  return powered_;
}

int64_t FaultInjectionEnv::appends() const {
  absl::MutexLock lock(&mu_);
  return appends_;
}

int64_t FaultInjectionEnv::syncs() const {
  absl::MutexLock lock(&mu_);
  return syncs_;
}

int64_t FaultInjectionEnv::faults_fired() const {
  absl::MutexLock lock(&mu_);
  return fired_;
}

absl::Status CorruptFile(const std::string& path, int64_t offset,
                         int64_t length, char byte) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  const std::string bytes(static_cast<size_t>(length), byte);
  const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), offset);
  ::close(fd);
  if (n != static_cast<ssize_t>(bytes.size())) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace optd::server
