#include "server/storage/slice_checkpoint.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "server/storage/journal.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

constexpr absl::string_view kSuffix = ".ckpt";

}  // namespace

v1::CreateSliceRequest SliceCheckpoints::Identity(
    const v1::CreateSliceRequest& spec) {
  v1::CreateSliceRequest identity = spec;
  identity.mutable_key()->set_epoch(0);
  identity.clear_ttl_seconds();
  identity.clear_journal_staged();
  return identity;
}

std::string SliceCheckpoints::Path(const v1::CreateSliceRequest& spec,
                                   uint64_t tells) const {
  return absl::StrFormat("%s/%s.%d.%016x.%020d%s", dir_,
                         spec.key().session_id(), spec.key().shard(),
                         spec.incarnation(), tells, kSuffix);
}

std::vector<SliceCheckpoints::Found> SliceCheckpoints::List(
    absl::string_view session_id, int shard) const {
  std::vector<Found> found;
  if (!enabled()) return found;
  absl::StatusOr<std::vector<std::string>> names = env_->ListDir(dir_);
  if (!names.ok()) return found;
  const std::string prefix = absl::StrCat(session_id, ".", shard, ".");
  for (const std::string& name : *names) {
    absl::string_view rest = name;
    if (!absl::ConsumePrefix(&rest, prefix) ||
        !absl::ConsumeSuffix(&rest, kSuffix)) {
      continue;
    }
    const std::vector<absl::string_view> parts = absl::StrSplit(rest, '.');
    uint64_t incarnation = 0, tells = 0;
    if (parts.size() != 2 || !absl::SimpleHexAtoi(parts[0], &incarnation) ||
        !absl::SimpleAtoi(parts[1], &tells)) {
      continue;
    }
    found.push_back({absl::StrCat(dir_, "/", name), incarnation, tells});
  }
  return found;
}

absl::Status SliceCheckpoints::Save(const v1::CreateSliceRequest& spec,
                                    uint64_t tells,
                                    absl::string_view state) const {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "this replica runs without --data_dir and cannot checkpoint the "
        "slices of sharded sessions; give every replica a data directory");
  }
  const std::string header = FrameRecord(Identity(spec).SerializeAsString());
  return JournalFile::CreateWith(
             env_, Path(spec, tells), kSliceCheckpointFamily,
             [&](const JournalFile::RecordSink& sink) -> absl::Status {
               OPTD_RETURN_IF_ERROR(sink(header));
               return sink(FrameRecord(state));
             })
      .status();
}

absl::StatusOr<std::string> SliceCheckpoints::Load(
    const v1::CreateSliceRequest& spec, uint64_t tells) const {
  const std::string path = Path(spec, tells);
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "this replica runs without --data_dir and holds no slice "
        "checkpoints");
  }
  v1::CreateSliceRequest saved;
  std::string state;
  absl::StatusOr<RecordsRead> read = ReadRecords(
      env_, path, kSliceCheckpointFamily, /*first_record_required=*/true,
      [&](int64_t index, int64_t, absl::string_view payload) -> absl::Status {
        if (index == 0) {
          if (!saved.ParseFromArray(payload.data(), payload.size())) {
            return absl::DataLossError(
                absl::StrCat(path, ": the header does not parse"));
          }
        } else if (index == 1) {
          state = std::string(payload);
        }
        return absl::OkStatus();
      });
  if (!read.ok()) {
    if (absl::IsNotFound(read.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this replica has no checkpoint ", tells, " of shard ",
          spec.key().shard(), " of session \"", spec.key().session_id(), "\" (",
          path, "); was its data directory lost?"));
    }
    return read.status();
  }
  // Written whole before the rename: anything less is damage.
  if (read->records != 2 || read->torn_tail_bytes != 0) {
    return absl::DataLossError(absl::StrCat(
        path, " holds ", read->records, " whole records",
        read->torn_tail_bytes > 0
            ? absl::StrCat(" and ", read->torn_tail_bytes,
                           " bytes after them that do not read as one")
            : "",
        "; a checkpoint is written whole, 2 records and the seal after "
        "them"));
  }
  if (Identity(saved).SerializeAsString() !=
      Identity(spec).SerializeAsString()) {
    return absl::FailedPreconditionError(absl::StrCat(
        path,
        " was saved for another slice: ", Identity(saved).ShortDebugString()));
  }
  return state;
}

void SliceCheckpoints::Remove(const v1::CreateSliceRequest& spec,
                              const std::function<bool(uint64_t)>& drop) const {
  for (const Found& f : List(spec.key().session_id(), spec.key().shard())) {
    if (f.incarnation != spec.incarnation() || !drop(f.tells)) continue;
    if (absl::Status s = RemoveFileDurably(env_, f.path); !s.ok()) {
      spdlog::warn("{}", std::string(s.message()));
    }
  }
}

void SliceCheckpoints::RemoveAll(absl::string_view session_id,
                                 int shard) const {
  for (const Found& f : List(session_id, shard)) {
    if (absl::Status s = RemoveFileDurably(env_, f.path); !s.ok()) {
      spdlog::warn("{}", std::string(s.message()));
    }
  }
}

}  // namespace optd::server
