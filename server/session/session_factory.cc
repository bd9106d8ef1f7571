#include "server/session/session_factory.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/codec/time.h"
#include "server/codec/vectors.h"
#include "server/session/codecs.h"
#include "server/session/session_id.h"
#include "server/session/solver_factory.h"
#include "server/storage/journal.h"

namespace optd::server {
namespace {

constexpr size_t kMaxLabels = 64;
constexpr size_t kMaxLabelKeyLength = 63;
constexpr size_t kMaxLabelValueLength = 256;

bool IsLabelKeyChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
}

}  // namespace

absl::Status ValidateLabels(
    const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.size() > kMaxLabels) {
    return absl::InvalidArgumentError(absl::StrCat("labels has ", labels.size(),
                                                   " entries; at most ",
                                                   kMaxLabels, " are allowed"));
  }
  for (const auto& [key, value] : labels) {
    bool ok = !key.empty() && key.size() <= kMaxLabelKeyLength;
    for (char c : key) ok = ok && IsLabelKeyChar(c);
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels key \"", absl::CHexEscape(key),
          "\" is not valid; keys are 1-63 characters of [a-zA-Z0-9_.-]"));
    }
    if (value.size() > kMaxLabelValueLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels[\"", key, "\"] has ", value.size(), " characters; at most ",
          kMaxLabelValueLength, " are allowed"));
    }
  }
  return absl::OkStatus();
}

SessionFactory::SessionFactory(const SessionLimits& limits,
                               const SessionDefaults& defaults,
                               SessionStore* store,
                               std::shared_ptr<const Replicas> replicas)
    : limits_(limits),
      defaults_(defaults),
      store_(store),
      replicas_(std::move(replicas)) {}

absl::StatusOr<std::shared_ptr<Session>> SessionFactory::Build(
    const v1::CreateSessionRequest& request, absl::Time create_time,
    bool for_recovery, uint32_t solver_revision, uint64_t incarnation) const {
  const int replicas = replicas_ == nullptr ? 1 : replicas_->size();
  if (request.shards() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shards is ", request.shards(), "; it must be in [0, ",
                     replicas, "] (0 or 1: the state stays on one replica)"));
  }
  OPTD_RETURN_IF_ERROR(CheckSolverLayers(request));
  if (request.shards() > replicas) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shards is ", request.shards(), " but this server has ",
        replicas == 1 ? std::string("one replica; use shards 0 or 1, or a "
                                    "deployment with --peers")
                      : absl::StrCat(replicas,
                                     " replicas (--peers); use at "
                                     "most ",
                                     replicas)));
  }
  if (!request.session_id().empty() || for_recovery) {
    OPTD_RETURN_IF_ERROR(
        ValidateStoredSessionId(request.session_id(), "session_id"));
  }
  OPTD_RETURN_IF_ERROR(ValidateLabels(request.labels()));
  OPTD_RETURN_IF_ERROR(
      ValidateEncoding(request.vector_encoding(), "vector_encoding"));
  constexpr double kMaxSeconds = 3.2e8;  // ten years
  for (const auto& [field, value] :
       {std::pair<const char*, double>{"ttl_seconds", request.ttl_seconds()},
        {"lease_seconds", request.lease_seconds()}}) {
    if (!(value >= 0 && value <= kMaxSeconds)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " is ", value, "; it must be in [0, ",
                       kMaxSeconds, "] (0: the server's default)"));
    }
  }
  const int64_t interval = request.durability().checkpoint_interval();
  if (interval < 0 || interval > int64_t{0x7fffffff}) {
    return absl::InvalidArgumentError(absl::StrCat(
        "durability.checkpoint_interval is ", interval,
        "; it must be in [0, 2^31) (0: every tell durable before its answer)"));
  }
  OPTD_ASSIGN_OR_RETURN(ConstVectorView x0, DecodeVector(request.x0(), "x0"));
  if (x0.size() == 0) {
    return absl::InvalidArgumentError(
        "x0 is empty; it is the starting point and sets the dimension (at "
        "least 1)");
  }
  if (!for_recovery && x0.size() > limits_.max_dimension) {
    return absl::ResourceExhaustedError(
        absl::StrCat("x0 has ", x0.size(), " elements; this server's limit is ",
                     limits_.max_dimension, " (--max_dimension)"));
  }
  SessionSettings settings;
  settings.create_time = create_time;
  settings.ttl = request.ttl_seconds() > 0
                     ? absl::Seconds(request.ttl_seconds())
                     : defaults_.ttl;
  settings.lease = request.lease_seconds() > 0
                       ? absl::Seconds(request.lease_seconds())
                       : defaults_.lease;
  settings.checkpoint_interval =
      request.has_durability() ? interval
      : x0.size() <= defaults_.durable_tell_max_dimension
          ? 0
          : defaults_.checkpoint_interval;
  settings.state_bytes = EstimateStateBytes(request, x0.size());
  SetCreationEcho(request, &settings.creation_echo);
  if (request.has_warm_start()) {
    const v1::WarmStart& warm = request.warm_start();
    if (warm.last_trial_id() >= (uint64_t{1} << 62)) {
      return absl::InvalidArgumentError(
          absl::StrCat("warm_start.last_trial_id is ", warm.last_trial_id(),
                       "; it must be below 2^62"));
    }
    settings.first_trial_id = warm.last_trial_id() + 1;
    settings.creation_echo.set_switched_from(warm.from_solver());
    settings.creation_echo.set_switched_at_step(warm.from_step());
  }
  // A sharded session's slices live on `shards` replicas from this one on,
  // under a fresh epoch (solvers/sharding/shard_layout.h cuts the ranges).
  ShardMaker make_shards = [&](const v1::CreateSliceRequest& base)
      -> absl::StatusOr<std::shared_ptr<ShardGroup>> {
    OPTD_ASSIGN_OR_RETURN(ShardLayout layout,
                          ShardLayout::Make(x0.size(), request.shards()));
    v1::CreateSliceRequest with_ttl = base;
    // Vectors sent to the replicas directly are journaled there when the
    // session replays tells (per-tell durability), and always for
    // data-parallel sessions: a step's told gradients wait there for its
    // mean, and a checkpoint in the middle of a step names them.
    with_ttl.set_journal_staged(store_ != nullptr &&
                                (settings.checkpoint_interval == 0 ||
                                 request.data_parallel().workers() > 1));
    // Orphaned slices (the home lost while their replica was down) go an
    // hour after the session itself would have expired.
    with_ttl.set_ttl_seconds(absl::ToDoubleSeconds(settings.ttl) + 3600);
    absl::BitGen bitgen;
    return ShardGroup::Create(replicas_, request.session_id(),
                              absl::Uniform<uint64_t>(bitgen), incarnation,
                              layout, with_ttl);
  };
  OPTD_ASSIGN_OR_RETURN(
      SolverSetup setup,
      CreateSolver(request, x0, request.shards() > 1 ? &make_shards : nullptr,
                   solver_revision));
  Labels labels(request.labels().begin(), request.labels().end());
  return std::make_shared<Session>(request.session_id(), std::move(setup),
                                   std::move(labels), request.vector_encoding(),
                                   settings);
}

absl::Status SessionFactory::CheckSnapshot(
    const v1::SessionSnapshot& snapshot) {
  if (snapshot.format_version() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "snapshot.format_version is ", snapshot.format_version(),
        "; this server reads version 1 (export it from a server of the same "
        "major version)"));
  }
  if (snapshot.solver_revision() > kSolverRevision) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshot.solver_revision is ", snapshot.solver_revision(),
                     "; this server has revision ", kSolverRevision,
                     " (import it into a server of its revision or newer)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Session>> SessionFactory::BuildImported(
    const v1::CreateSessionRequest& named, const v1::SessionSnapshot& snapshot,
    uint64_t incarnation, std::vector<const v1::SnapshotTell*>* tells) const {
  OPTD_ASSIGN_OR_RETURN(
      std::shared_ptr<Session> session,
      Build(named,
            snapshot.has_create_time() ? TimeFromProto(snapshot.create_time())
                                       : absl::Now(),
            /*for_recovery=*/false, snapshot.solver_revision(), incarnation));
  if (snapshot.has_checkpoint()) {
    absl::Status status = session->RestoreCheckpoint(snapshot.checkpoint());
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "snapshot.checkpoint does not fit the session: ", status.message()));
    }
  }
  for (int i = 0; i < snapshot.tells_size(); ++i) {
    absl::Status status = session->Replay(snapshot.tells(i));
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "snapshot.tells[", i, "] (trial ",
          snapshot.tells(i).tell().trial_id(),
          ") does not replay: ", status.message(),
          "; the snapshot is not one ExportSession wrote, or was altered"));
    }
    tells->push_back(&snapshot.tells(i));
  }
  return session;
}

absl::Status SessionFactory::WriteJournal(
    Session& session, const v1::CreateSessionRequest& header,
    uint32_t solver_revision, uint64_t incarnation,
    const v1::SessionCheckpoint* checkpoint,
    const std::vector<const v1::SnapshotTell*>& tells, bool replace) const {
  if (store_ == nullptr) return absl::OkStatus();
  // The header holds every resolved setting, so that a restart with other
  // server defaults resumes the session as it was.
  v1::SessionSnapshot record;
  record.set_format_version(1);
  record.set_solver_revision(solver_revision);
  v1::CreateSessionRequest* create = record.mutable_create();
  *create = header;
  create->set_session_id(session.id());
  create->mutable_durability()->set_checkpoint_interval(
      session.settings().checkpoint_interval);
  create->set_ttl_seconds(absl::ToDoubleSeconds(session.settings().ttl));
  create->set_lease_seconds(absl::ToDoubleSeconds(session.settings().lease));
  TimeToProto(session.settings().create_time, record.mutable_create_time());
  if (checkpoint != nullptr) *record.mutable_checkpoint() = *checkpoint;
  record.set_incarnation(incarnation);
  std::string records = FrameRecord(record.SerializeAsString());
  for (const v1::SnapshotTell* tell : tells) {
    records += FrameRecord(tell->SerializeAsString());
  }
  OPTD_ASSIGN_OR_RETURN(
      std::shared_ptr<SessionJournal> journal,
      replace ? store_->Replace(
                    session.id(), records, session.tells(),
                    session.settings().checkpoint_interval, UsesWal(session),
                    record.incarnation(),
                    absl::FailedPreconditionError(absl::StrCat(
                        "session \"", session.id(),
                        "\" switched solvers before this tell became "
                        "durable; ask again for the new solver's trials")))
              : store_->Create(session.id(), records, session.tells(),
                               session.settings().checkpoint_interval,
                               UsesWal(session), record.incarnation()));
  session.AttachJournal(std::move(journal));
  return absl::OkStatus();
}

bool SessionFactory::UsesWal(const Session& session) const {
  // A sharded session is rebuilt from its journal file whenever a replica is
  // lost, so its records go straight there.
  return session.settings().checkpoint_interval == 0 &&
         session.dimension() <= defaults_.wal_max_dimension &&
         session.shards() == 1;
}

}  // namespace optd::server
