#include "server/sharding/staged_store.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

// Consumed vectors of an unjournaled slice whose digests are kept (retried
// PutSlice calls are recognized for this many trials).
constexpr size_t kKeptDigests = 1024;
// Vectors a slice keeps, per field, for trials not told yet (PutSlice),
// besides one per worker of a data-parallel step.
constexpr int kMaxUntoldStaged = 4;

int MaxUntoldStaged(const v1::CreateSliceRequest& spec) {
  return kMaxUntoldStaged + std::max(0, spec.data_parallel_workers());
}

size_t Digest(absl::string_view bytes, bool float32) {
  return absl::Hash<std::pair<absl::string_view, bool>>{}({bytes, float32});
}

// Empties `s` and frees its buffer (assigning an empty string keeps the
// capacity in libstdc++).
void FreeString(std::string& s) { std::string().swap(s); }

// The f64 or f32 bytes of `view` (raw, as sent).
std::string RawBytes(const ConstVectorView& view) {
  const size_t width = view.type() == ScalarType::kFloat32 ? 4 : 8;
  return std::string(static_cast<const char*>(view.data()),
                     width * static_cast<size_t>(view.size()));
}

}  // namespace

std::string SliceMapKey(absl::string_view session_id, int shard) {
  return absl::StrCat(session_id, "/", shard);
}

StagedStore::StagedStore(std::string data_dir, Env* env)
    : data_dir_(std::move(data_dir)), env_(env) {}

std::string StagedStore::StagedPath(const v1::CreateSliceRequest& spec) const {
  return absl::StrFormat("%s/slices/%s.%d.%016x.staged", data_dir_,
                         spec.key().session_id(), spec.key().shard(),
                         spec.incarnation());
}

void StagedStore::RemoveStagedFiles(absl::string_view session_id, int shard,
                                    absl::string_view keep) const {
  if (data_dir_.empty()) return;
  const std::string dir = data_dir_ + "/slices";
  absl::StatusOr<std::vector<std::string>> names = env_->ListDir(dir);
  if (!names.ok()) return;
  const std::string prefix = absl::StrCat(session_id, ".", shard, ".");
  for (const std::string& name : *names) {
    absl::string_view rest = name;
    if (!absl::ConsumePrefix(&rest, prefix) ||
        !absl::ConsumeSuffix(&rest, ".staged") ||
        rest.find('.') != absl::string_view::npos) {
      continue;
    }
    const std::string path = absl::StrCat(dir, "/", name);
    if (path == keep) continue;
    if (absl::Status s = RemoveFileDurably(env_, path); !s.ok()) {
      spdlog::warn("{}", std::string(s.message()));
    }
  }
}

absl::StatusOr<std::shared_ptr<StagedVectors>> StagedStore::Open(
    const v1::CreateSliceRequest& request) {
  const std::string key =
      SliceMapKey(request.key().session_id(), request.key().shard());
  const ShardRange range{request.begin(), request.end()};
  std::shared_ptr<StagedVectors> stale;
  {
    absl::MutexLock lock(&mu_);
    auto it = staged_.find(key);
    if (it != staged_.end()) {
      if (it->second->range == range &&
          it->second->incarnation == request.incarnation()) {
        return it->second;
      }
      // The session was resharded, or deleted and created again.
      stale = std::move(it->second);
      staged_.erase(it);
    }
  }
  auto staged = std::make_shared<StagedVectors>();
  staged->range = range;
  staged->incarnation = request.incarnation();
  const bool journaled = !data_dir_.empty() && request.journal_staged();
  if (stale != nullptr && !stale->path.empty()) {
    OPTD_RETURN_IF_ERROR(RemoveFileDurably(env_, stale->path));
  }
  if (journaled) {
    staged->path = StagedPath(request);
    // Files of another incarnation (a deleted session whose purge did not
    // reach this replica) are never read: they go.
    RemoveStagedFiles(request.key().session_id(), request.key().shard(),
                      staged->path);
    absl::MutexLock lock(&staged->mu);
    bool reuse = false;
    absl::StatusOr<RecordsRead> read = ReadRecords(
        env_, staged->path, kStagedFamily, /*first_record_required=*/true,
        [&](int64_t index, int64_t offset,
            absl::string_view payload) -> absl::Status {
          if (index == 0) {
            v1::CreateSliceRequest header;
            if (!header.ParseFromArray(payload.data(), payload.size())) {
              return absl::DataLossError("header does not parse");
            }
            reuse = header.begin() == range.begin && header.end() == range.end;
            return reuse ? absl::OkStatus()
                         : absl::CancelledError("another range");
          }
          v1::PutSliceRequest put;
          if (!put.ParseFromArray(payload.data(), payload.size())) {
            return absl::DataLossError("record does not parse");
          }
          const bool f32 = !put.values().f32().empty();
          StagedVectors::Vector& v = staged->vectors[{
              put.field() == v1::SLICE_FIELD_HESSIAN_VECTOR ? 1 : 0,
              put.trial_id()}];
          v.float32 = f32;
          v.digest = Digest(f32 ? put.values().f32() : put.values().f64(), f32);
          v.offset = offset;
          v.consumed = true;  // or not yet: either way it is read back
          return absl::OkStatus();
        });
    if (read.ok() && reuse) {
      OPTD_ASSIGN_OR_RETURN(JournalFile file, JournalFile::OpenForAppend(
                                                  env_, staged->path, *read));
      staged->file.emplace(std::move(file));
      spdlog::info("slice {} of session \"{}\": {} staged vectors on disk",
                   request.key().shard(), request.key().session_id(),
                   staged->vectors.size());
    } else {
      if (!read.ok() && !absl::IsNotFound(read.status()) &&
          !absl::IsCancelled(read.status())) {
        spdlog::warn("{}: {}; starting it anew", staged->path,
                     std::string(read.status().message()));
      }
      staged->vectors.clear();
      v1::CreateSliceRequest header = request;
      OPTD_ASSIGN_OR_RETURN(
          JournalFile file,
          JournalFile::Create(env_, staged->path,
                              FrameRecord(header.SerializeAsString()),
                              kStagedFamily));
      staged->file.emplace(std::move(file));
    }
  }
  absl::MutexLock lock(&mu_);
  std::shared_ptr<StagedVectors>& entry = staged_[key];
  if (entry == nullptr) entry = staged;
  return entry;
}

absl::Status StagedStore::Put(StagedVectors& staged,
                              const v1::CreateSliceRequest& spec,
                              v1::PutSliceRequest& request,
                              const ConstVectorView& values,
                              int replica_index) {
  const bool product = request.field() == v1::SLICE_FIELD_HESSIAN_VECTOR;
  const char* what = product ? "hessian_vector" : "gradient";
  const bool f32 = values.type() == ScalarType::kFloat32;
  // Raw bytes are taken over from the request, not copied: a replica then
  // holds one copy of a slice, not two, while it waits for the tell.
  std::string bytes;
  if (!request.values().f32().empty()) {
    bytes.swap(*request.mutable_values()->mutable_f32());
  } else if (!request.values().f64().empty()) {
    bytes.swap(*request.mutable_values()->mutable_f64());
  } else {
    bytes = RawBytes(values);
  }
  const size_t digest = Digest(bytes, f32);
  absl::MutexLock lock(&staged.mu);
  const std::pair<int, uint64_t> key{product ? 1 : 0, request.trial_id()};
  auto it = staged.vectors.find(key);
  if (it != staged.vectors.end() && it->second.digest == digest &&
      it->second.float32 == f32) {
    // A retry. Its bytes come back if they were let go (told, and not
    // journaled): the trial may be told again after a rebuild.
    if (it->second.bytes.empty() && it->second.offset < 0) {
      it->second.bytes = std::move(bytes);
    }
    return absl::OkStatus();
  }
  if (it != staged.vectors.end() && it->second.consumed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", request.trial_id(), " of session \"", request.session_id(),
        "\" was told with another ", what, " slice on shard ", request.shard(),
        "; a retry must send the same values"));
  }
  if (it == staged.vectors.end()) {
    // A sharded session has one trial outstanding: vectors for more trials
    // than a few are never told, and would only hold this replica's memory.
    int untold = 0;
    for (const auto& [k, v] : staged.vectors) {
      if (k.first == key.first && !v.consumed) ++untold;
    }
    if (untold >= MaxUntoldStaged(spec)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "replica ", replica_index, " holds ", untold, " ", what,
          " slices of shard ", request.shard(), " of session \"",
          request.session_id(), "\" for trials not told yet, its limit (",
          MaxUntoldStaged(spec),
          "); send slices only for the outstanding trials, and tell them"));
    }
  }
  StagedVectors::Vector v;
  v.float32 = f32;
  v.digest = digest;
  if (staged.file.has_value()) {
    v1::PutSliceRequest record;
    record.set_trial_id(request.trial_id());
    record.set_shard(request.shard());
    record.set_field(request.field());
    if (f32) {
      record.mutable_values()->set_f32(bytes);
    } else {
      record.mutable_values()->set_f64(bytes);
    }
    // A failed sync left the file broken for good: a new one first.
    if (staged.file->broken()) {
      OPTD_RETURN_IF_ERROR(RewriteLocked(staged, spec));
    }
    v.offset = staged.file->size();
    OPTD_RETURN_IF_ERROR(
        staged.file->Append(FrameRecord(record.SerializeAsString())));
    OPTD_RETURN_IF_ERROR(staged.file->Sync());
  }
  v.bytes = std::move(bytes);
  staged.vectors[key] = std::move(v);
  return absl::OkStatus();
}

absl::StatusOr<std::string> StagedStore::Take(StagedVectors& staged,
                                              const ShardRange& range,
                                              const v1::SliceOpRequest& op,
                                              bool* float32, bool* missing) {
  *missing = false;
  *float32 = false;
  // An empty slice (fewer blocks than shards) needs nothing from the client.
  if (range.size() == 0) return std::string();
  const int field = op.op() == v1::SLICE_OP_SET_PRODUCT ? 1 : 0;
  absl::MutexLock lock(&staged.mu);
  auto it = staged.vectors.find({field, op.staged_trial()});
  if (it == staged.vectors.end() ||
      (it->second.bytes.empty() && it->second.offset < 0)) {
    *missing = true;
    return std::string();
  }
  StagedVectors::Vector& v = it->second;
  *float32 = v.float32;
  std::string bytes;
  if (!v.bytes.empty()) {
    // Lent to the operation and given back (RestoreStaged): kept until the
    // trial's answer is published or a later trial is told, since a tell
    // refused for another shard's missing slice is retried.
    bytes = std::move(v.bytes);
    FreeString(v.bytes);
  } else {
    OPTD_ASSIGN_OR_RETURN(std::string payload,
                          ReadRecordAt(env_, staged.path, v.offset));
    v1::PutSliceRequest record;
    if (!record.ParseFromString(payload)) {
      return absl::DataLossError(absl::StrCat(
          staged.path, ": the record at byte ", v.offset, " does not parse"));
    }
    bytes = v.float32 ? record.values().f32() : record.values().f64();
  }
  v.consumed = true;
  // Vectors sent for earlier trials that were never told are dropped, those
  // told give their bytes up, and an unjournaled slice keeps only recent
  // digests.
  for (auto old = staged.vectors.begin(); old != it;) {
    if (old->first.first == field && !old->second.consumed) {
      old = staged.vectors.erase(old);
    } else {
      if (old->first.first == field) FreeString(old->second.bytes);
      ++old;
    }
  }
  if (staged.path.empty() && staged.vectors.size() > kKeptDigests) {
    staged.vectors.erase(staged.vectors.begin());
  }
  return bytes;
}

void StagedStore::Restore(StagedVectors& staged, const v1::SliceOpRequest& op,
                          std::string bytes) {
  absl::MutexLock lock(&staged.mu);
  auto it = staged.vectors.find(
      {op.op() == v1::SLICE_OP_SET_PRODUCT ? 1 : 0, op.staged_trial()});
  if (it != staged.vectors.end() && it->second.bytes.empty()) {
    it->second.bytes = std::move(bytes);
  }
}

absl::Status StagedStore::Read(StagedVectors& staged,
                               const v1::CreateSliceRequest& spec,
                               const ShardRange& range,
                               const v1::SliceOpRequest& op,
                               v1::SliceOpResponse* answer) {
  if (range.size() == 0) return absl::OkStatus();
  absl::MutexLock lock(&staged.mu);
  auto it = staged.vectors.find({op.flag() ? 1 : 0, op.staged_trial()});
  if (it == staged.vectors.end() ||
      (it->second.bytes.empty() && it->second.offset < 0)) {
    return absl::FailedPreconditionError(
        absl::StrCat("shard ", spec.key().shard(), " no longer keeps the ",
                     op.flag() ? "hessian_vector" : "gradient", " of trial ",
                     op.staged_trial(),
                     " (it is journaled only for per-tell durable sessions)"));
  }
  answer->set_data_float32(it->second.float32);
  if (!it->second.bytes.empty()) {
    answer->set_data(it->second.bytes);
    return absl::OkStatus();
  }
  OPTD_ASSIGN_OR_RETURN(std::string payload,
                        ReadRecordAt(env_, staged.path, it->second.offset));
  v1::PutSliceRequest record;
  if (!record.ParseFromString(payload)) {
    return absl::DataLossError(
        absl::StrCat(staged.path, ": the record at byte ", it->second.offset,
                     " does not parse"));
  }
  answer->set_data(it->second.float32 ? record.values().f32()
                                      : record.values().f64());
  return absl::OkStatus();
}

absl::Status StagedStore::Stage(StagedVectors& staged,
                                const v1::CreateSliceRequest& spec,
                                const ShardRange& range,
                                const v1::SliceOpRequest& op,
                                int replica_index) {
  if (range.size() == 0) return absl::OkStatus();
  const int64_t width = op.data_float32() ? 4 : 8;
  if (static_cast<int64_t>(op.data().size()) != width * range.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SLICE_OP_STAGE_GRADIENT carries ", op.data().size(),
                     " bytes for ", range.size(), " elements"));
  }
  v1::PutSliceRequest put;
  put.set_session_id(spec.key().session_id());
  put.set_shard(spec.key().shard());
  put.set_trial_id(op.staged_trial());
  put.set_field(v1::SLICE_FIELD_GRADIENT);
  const ConstVectorView values =
      op.data_float32()
          ? ConstVectorView::Float32(
                reinterpret_cast<const float*>(op.data().data()), range.size())
          : ConstVectorView::Float64(
                reinterpret_cast<const double*>(op.data().data()),
                range.size());
  if (op.data_float32()) {
    put.mutable_values()->set_f32(op.data());
  } else {
    put.mutable_values()->set_f64(op.data());
  }
  return Put(staged, spec, put, values, replica_index);
}

absl::StatusOr<std::string> StagedStore::ReadGradient(StagedVectors& staged,
                                                      uint64_t trial,
                                                      bool* float32,
                                                      bool* missing) {
  *missing = false;
  absl::MutexLock lock(&staged.mu);
  auto it = staged.vectors.find({0, trial});
  if (it == staged.vectors.end() ||
      (it->second.bytes.empty() && it->second.offset < 0)) {
    *missing = true;
    return std::string();
  }
  *float32 = it->second.float32;
  if (!it->second.bytes.empty()) return it->second.bytes;
  OPTD_ASSIGN_OR_RETURN(std::string payload,
                        ReadRecordAt(env_, staged.path, it->second.offset));
  v1::PutSliceRequest record;
  if (!record.ParseFromString(payload)) {
    return absl::DataLossError(
        absl::StrCat(staged.path, ": the record at byte ", it->second.offset,
                     " does not parse"));
  }
  return it->second.float32 ? record.values().f32() : record.values().f64();
}

void StagedStore::ConsumeGradients(StagedVectors& staged,
                                   absl::Span<const uint64_t> trials,
                                   bool drop_unused) {
  if (trials.empty()) return;
  const uint64_t last = *std::max_element(trials.begin(), trials.end());
  absl::MutexLock lock(&staged.mu);
  for (uint64_t trial : trials) {
    auto it = staged.vectors.find({0, trial});
    if (it != staged.vectors.end()) it->second.consumed = true;
  }
  if (!drop_unused) return;
  // As Take: gradients sent for earlier trials that were never used (failed
  // workers, trials never told) are dropped.
  for (auto it = staged.vectors.begin(); it != staged.vectors.end();) {
    if (it->first.first == 0 && it->first.second < last &&
        !it->second.consumed) {
      it = staged.vectors.erase(it);
    } else {
      ++it;
    }
  }
  if (staged.path.empty()) {
    while (staged.vectors.size() > kKeptDigests) {
      staged.vectors.erase(staged.vectors.begin());
    }
  }
}

void StagedStore::FreeToldBefore(StagedVectors& staged, uint64_t trial) {
  absl::MutexLock staged_lock(&staged.mu);
  for (auto& [key, v] : staged.vectors) {
    if (key.second < trial && v.consumed) FreeString(v.bytes);
  }
}

void StagedStore::DropAfter(StagedVectors& staged, uint64_t trial) {
  absl::MutexLock lock(&staged.mu);
  for (auto it = staged.vectors.begin(); it != staged.vectors.end();) {
    it = it->first.second > trial ? staged.vectors.erase(it) : std::next(it);
  }
}

absl::Status StagedStore::Compact(StagedVectors& staged,
                                  const v1::CreateSliceRequest& spec,
                                  uint64_t told_through) {
  absl::MutexLock lock(&staged.mu);
  bool dropped = false;
  for (auto it = staged.vectors.begin(); it != staged.vectors.end();) {
    if (it->first.second <= told_through) {
      it = staged.vectors.erase(it);
      dropped = true;
    } else {
      ++it;
    }
  }
  if (!dropped || !staged.file.has_value()) return absl::OkStatus();
  return RewriteLocked(staged, spec);
}

absl::Status StagedStore::RewriteLocked(StagedVectors& staged,
                                        const v1::CreateSliceRequest& spec) {
  // A new file with the vectors still referenced, read back from the old
  // one (checksums verified) and renamed over it: a crash leaves one or the
  // other.
  std::vector<std::pair<StagedVectors::Vector*, std::string>> kept;
  for (auto& [key, v] : staged.vectors) {
    if (v.offset < 0) continue;
    OPTD_ASSIGN_OR_RETURN(std::string payload,
                          ReadRecordAt(env_, staged.path, v.offset));
    kept.emplace_back(&v, FrameRecord(payload));
  }
  int64_t offset = 16;  // the magic and the salt
  std::vector<int64_t> offsets;
  OPTD_ASSIGN_OR_RETURN(
      JournalFile file,
      JournalFile::CreateWith(
          env_, staged.path, kStagedFamily,
          [&](const JournalFile::RecordSink& sink) -> absl::Status {
            const std::string head = FrameRecord(spec.SerializeAsString());
            OPTD_RETURN_IF_ERROR(sink(head));
            offset += static_cast<int64_t>(head.size());
            for (const auto& [v, record] : kept) {
              offsets.push_back(offset);
              OPTD_RETURN_IF_ERROR(sink(record));
              offset += static_cast<int64_t>(record.size());
            }
            return absl::OkStatus();
          }));
  for (size_t i = 0; i < kept.size(); ++i) kept[i].first->offset = offsets[i];
  staged.file.emplace(std::move(file));
  return absl::OkStatus();
}

int64_t StagedStore::BytesHeld(StagedVectors& staged) {
  absl::MutexLock staged_lock(&staged.mu);
  int64_t bytes = 0;
  for (const auto& [key, v] : staged.vectors) bytes += v.bytes.size();
  return bytes;
}

void StagedStore::Purge(absl::string_view session_id, int shard) {
  std::shared_ptr<StagedVectors> purged;
  {
    absl::MutexLock lock(&mu_);
    auto s = staged_.find(SliceMapKey(session_id, shard));
    if (s != staged_.end()) {
      purged = std::move(s->second);
      staged_.erase(s);
    }
  }
  // Every incarnation's files: the session is gone.
  RemoveStagedFiles(session_id, shard, "");
}

void StagedStore::Expire(absl::string_view session_id, int shard) {
  std::string path;
  {
    absl::MutexLock lock(&mu_);
    auto staged = staged_.find(SliceMapKey(session_id, shard));
    if (staged == staged_.end()) return;
    path = staged->second->path;
    staged_.erase(staged);
  }
  if (path.empty()) return;
  if (absl::Status s = RemoveFileDurably(env_, path); !s.ok()) {
    spdlog::warn("{}", std::string(s.message()));
  }
}

}  // namespace optd::server
