#include "server/session/session_manager.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/rpc/auth.h"
#include "server/storage/journal.h"
#include "server/session/memory_release.h"
#include "server/session/solver_factory.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

constexpr size_t kMaxIdLength = 63;
constexpr size_t kMaxLabels = 64;
constexpr size_t kMaxLabelKeyLength = 63;
constexpr size_t kMaxLabelValueLength = 256;

// The dimension `request` asks for, or 0 when x0 does not decode (Build
// reports that).
int64_t Dimension(const v1::CreateSessionRequest& request) {
  absl::StatusOr<ConstVectorView> x0 = DecodeVector(request.x0(), "x0");
  return x0.ok() ? x0->size() : 0;
}

bool IsIdChar(char c) {
  return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
}

bool IsLabelKeyChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
}

bool LabelsMatch(
    const Labels& labels,
    const google::protobuf::Map<std::string, std::string>& wanted) {
  for (const auto& [key, value] : wanted) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateSessionId(absl::string_view id, absl::string_view field) {
  bool ok = !id.empty() && id.size() <= kMaxIdLength && id[0] != '-';
  for (char c : id) ok = ok && IsIdChar(c);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " \"", absl::CHexEscape(id),
                     "\" is not a valid session id; use 1-63 characters of "
                     "[a-z0-9-] starting "
                     "with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidateStoredSessionId(absl::string_view id,
                                     absl::string_view field) {
  const size_t dot = id.find('.');
  if (dot == absl::string_view::npos) return ValidateSessionId(id, field);
  const absl::string_view tenant = id.substr(0, dot);
  if (!ValidateTenantName(tenant).ok() || tenant == kReplicaTenant) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " \"", absl::CHexEscape(id),
                     "\" is not a valid stored session id: \"",
                     absl::CHexEscape(tenant), "\" is not a tenant name"));
  }
  return ValidateSessionId(id.substr(dot + 1), field);
}

std::string NewSessionId() {
  uint64_t words[2];
  size_t filled = 0;
  while (filled < sizeof(words)) {
    const ssize_t got = getrandom(reinterpret_cast<char*>(words) + filled,
                                  sizeof(words) - filled, 0);
    if (got > 0) {
      filled += static_cast<size_t>(got);
    } else if (errno != EINTR) {
      // getrandom cannot fail after boot with flags 0 on Linux >= 3.17.
      spdlog::critical("getrandom failed: {}", std::strerror(errno));
      std::abort();
    }
  }
  return absl::StrFormat("%016x%016x", words[0], words[1]);
}

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

SessionManager::SessionManager(SessionLimits limits, SessionDefaults defaults,
                               SessionStore* store,
                               std::shared_ptr<const Replicas> replicas)
    : limits_(limits),
      defaults_(defaults),
      store_(store),
      replicas_(std::move(replicas)) {}

absl::Status SessionManager::CheckSessionLimit(size_t count) const {
  if (static_cast<int64_t>(count) >= limits_.max_sessions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this server holds ", count,
        " sessions, its limit (--max_sessions=", limits_.max_sessions,
        "); delete finished sessions or start the server with a larger "
        "--max_sessions"));
  }
  return absl::OkStatus();
}

TenantUsage SessionManager::UsageLocked(absl::string_view scope) const {
  TenantUsage usage;
  auto count = [&](const auto& map, auto bytes) {
    for (auto it = map.lower_bound(scope);
         it != map.end() && absl::StartsWith(it->first, scope); ++it) {
      ++usage.sessions;
      usage.state_bytes += bytes(it->second);
    }
  };
  count(sessions_, [&usage](const std::shared_ptr<Session>& session) {
    usage.trial_log_bytes += session->trial_log_memory();
    return session->settings().state_bytes;
  });
  count(reserved_, [](int64_t bytes) { return bytes; });
  count(damaged_, [](const std::string&) { return int64_t{0}; });
  count(dormant_, [](const Dormant&) { return int64_t{0}; });
  return usage;
}

TenantUsage SessionManager::Usage(absl::string_view scope) const {
  absl::ReaderMutexLock lock(&mu_);
  return UsageLocked(scope);
}

std::map<std::string, TenantUsage> SessionManager::UsageByTenant() const {
  std::map<std::string, TenantUsage> usage;
  auto tenant = [](absl::string_view id) {
    const size_t dot = id.find('.');
    return std::string(dot == absl::string_view::npos ? "" : id.substr(0, dot));
  };
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [id, session] : sessions_) {
    TenantUsage& u = usage[tenant(id)];
    ++u.sessions;
    u.state_bytes += session->settings().state_bytes;
    u.trial_log_bytes += session->trial_log_memory();
  }
  for (const auto& [id, bytes] : reserved_) {
    TenantUsage& u = usage[tenant(id)];
    ++u.sessions;
    u.state_bytes += bytes;
  }
  for (const auto& [id, damage] : damaged_) ++usage[tenant(id)].sessions;
  for (const auto& [id, dormant] : dormant_) ++usage[tenant(id)].sessions;
  return usage;
}

std::map<v1::SessionState, int64_t> SessionManager::CountByState() const {
  std::vector<std::shared_ptr<Session>> sessions;
  std::map<v1::SessionState, int64_t> counts;
  {
    absl::ReaderMutexLock lock(&mu_);
    sessions.reserve(sessions_.size());
    for (const auto& [id, session] : sessions_) sessions.push_back(session);
    counts[v1::SESSION_STATE_DAMAGED] += damaged_.size();
    counts[v1::SESSION_STATE_RUNNING] += dormant_.size();
  }
  // Each session's state under its own lock, outside the map's.
  for (const auto& session : sessions) ++counts[session->state()];
  return counts;
}

namespace {

// " holds 416 of its 1000 (--tenant_memory_bytes)", and how much of it is
// in trial logs.
std::string HoldsText(const TenantUsage& usage, int64_t limit,
                      absl::string_view flag) {
  std::string text = absl::StrCat(" holds ", usage.memory_bytes(), " of its ",
                                  limit, " (--", flag, ")");
  if (usage.trial_log_bytes > 0) {
    absl::StrAppend(&text, ", ", usage.trial_log_bytes,
                    " of them in the trial logs of its sessions");
  }
  return text;
}

}  // namespace

absl::Status SessionManager::CheckMemoryLeft(absl::string_view id,
                                             int64_t bytes,
                                             absl::string_view what,
                                             absl::string_view advice) const {
  const size_t dot = id.find('.');
  if (dot != absl::string_view::npos) {
    const TenantUsage usage = UsageLocked(id.substr(0, dot + 1));
    if (bytes > limits_.tenant_memory_bytes - usage.memory_bytes()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          what, " and tenant \"", id.substr(0, dot), "\"",
          HoldsText(usage, limits_.tenant_memory_bytes, "tenant_memory_bytes"),
          "; ", advice));
    }
  }
  if (limits_.server_memory_bytes > 0) {
    const TenantUsage usage = UsageLocked("");
    if (bytes > limits_.server_memory_bytes - usage.memory_bytes()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          what, " and this server",
          HoldsText(usage, limits_.server_memory_bytes, "server_memory_bytes"),
          "; ", advice, ", or start optd with a larger --server_memory_bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status SessionManager::CheckTenantLimits(
    absl::string_view id, const SessionBytes& bytes) const {
  const size_t dot = id.find('.');
  if (dot != absl::string_view::npos) {
    const absl::string_view tenant = id.substr(0, dot);
    const TenantUsage usage = UsageLocked(id.substr(0, dot + 1));
    if (usage.sessions >= limits_.max_sessions_per_tenant) {
      return absl::ResourceExhaustedError(
          absl::StrCat("tenant \"", tenant, "\" holds ", usage.sessions,
                       " sessions, its limit (--max_sessions_per_tenant=",
                       limits_.max_sessions_per_tenant,
                       "); delete finished sessions first"));
    }
  }
  // "this session's solver state needs about 832 bytes", and what its
  // layers add.
  std::string needs = absl::StrCat("this session's solver state needs about ",
                                   bytes.solver, " bytes");
  if (bytes.layers > 0) {
    absl::StrAppend(&needs, " and its ", bytes.layers_name);
    if (bytes.batch_trials > 1) {
      absl::StrAppend(&needs, " (batches of up to ", bytes.batch_trials,
                      " trials, each leased on its own)");
    }
    absl::StrAppend(&needs, " about ", bytes.layers, " more, ", bytes.total(),
                    " in all,");
  }
  return CheckMemoryLeft(
      id, bytes.total(), needs,
      "delete sessions, or use a smaller dimension or memory");
}

absl::Status SessionManager::DamagedError(absl::string_view id,
                                          const std::string& damage) const {
  return absl::DataLossError(absl::StrCat(
      "session \"", id, "\" is damaged and was not loaded: ", damage,
      "; GetSession shows it, DeleteSession removes it"));
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Build(
    const v1::CreateSessionRequest& request, absl::Time create_time,
    bool for_recovery, uint32_t solver_revision, uint64_t incarnation) const {
  const int replicas = replicas_ == nullptr ? 1 : replicas_->size();
  if (request.shards() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shards is ", request.shards(), "; it must be in [0, ",
                     replicas, "] (0 or 1: the state stays on one replica)"));
  }
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
  // A sharded session's slices live on `shards` replicas from this one on,
  // under a fresh epoch (solvers/sharding/shard_layout.h cuts the ranges).
  ShardMaker make_shards = [&](const v1::CreateSliceRequest& base)
      -> absl::StatusOr<std::shared_ptr<ShardGroup>> {
    OPTD_ASSIGN_OR_RETURN(ShardLayout layout,
                          ShardLayout::Make(x0.size(), request.shards()));
    v1::CreateSliceRequest with_ttl = base;
    // Vectors sent to the replicas directly are journaled there when the
    // session replays tells (per-tell durability).
    with_ttl.set_journal_staged(store_ != nullptr &&
                                settings.checkpoint_interval == 0);
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

bool SessionManager::UsesWal(const Session& session) const {
  // A sharded session is rebuilt from its journal file whenever a replica is
  // lost, so its records go straight there.
  return session.settings().checkpoint_interval == 0 &&
         session.dimension() <= defaults_.wal_max_dimension &&
         session.shards() == 1;
}

absl::StatusOr<std::string> SessionManager::Reserve(absl::string_view requested,
                                                    const SessionBytes& bytes) {
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckSessionLimit(sessions_.size() + reserved_.size() +
                                         damaged_.size() + dormant_.size()));
  std::string id(requested);
  if (id.empty()) {
    do {
      id = NewSessionId();
    } while (sessions_.count(id) > 0 || reserved_.count(id) > 0 ||
             damaged_.count(id) > 0 || dormant_.count(id) > 0);
  } else if (sessions_.count(id) > 0 || reserved_.count(id) > 0 ||
             damaged_.count(id) > 0 || dormant_.count(id) > 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "session \"", id,
        "\" already exists; pick another id or leave session_id empty"));
  }
  OPTD_RETURN_IF_ERROR(CheckTenantLimits(id, bytes));
  reserved_.emplace(id, bytes.total());
  return id;
}

uint64_t SessionManager::NewIncarnation() {
  absl::MutexLock lock(&mu_);
  return absl::Uniform<uint64_t>(bitgen_);
}

void SessionManager::Unreserve(const std::string& id) {
  absl::MutexLock lock(&mu_);
  reserved_.erase(id);
}

absl::Status SessionManager::Register(
    const std::shared_ptr<Session>& session,
    const v1::CreateSessionRequest& header, uint32_t solver_revision,
    uint64_t incarnation, const v1::SessionCheckpoint* checkpoint,
    const std::vector<const v1::SnapshotTell*>& tells) {
  if (store_ != nullptr) {
    // The header holds every resolved setting, so that a restart with other
    // server defaults resumes the session as it was.
    v1::SessionSnapshot record;
    record.set_format_version(1);
    record.set_solver_revision(solver_revision);
    v1::CreateSessionRequest* create = record.mutable_create();
    *create = header;
    create->set_session_id(session->id());
    create->mutable_durability()->set_checkpoint_interval(
        session->settings().checkpoint_interval);
    create->set_ttl_seconds(absl::ToDoubleSeconds(session->settings().ttl));
    create->set_lease_seconds(absl::ToDoubleSeconds(session->settings().lease));
    TimeToProto(session->settings().create_time, record.mutable_create_time());
    if (checkpoint != nullptr) *record.mutable_checkpoint() = *checkpoint;
    record.set_incarnation(incarnation);
    std::string records = FrameRecord(record.SerializeAsString());
    for (const v1::SnapshotTell* tell : tells) {
      records += FrameRecord(tell->SerializeAsString());
    }
    OPTD_ASSIGN_OR_RETURN(
        std::shared_ptr<SessionJournal> journal,
        store_->Create(session->id(), records, session->tells(),
                       session->settings().checkpoint_interval,
                       UsesWal(*session), record.incarnation()));
    session->AttachJournal(std::move(journal));
  }
  absl::MutexLock lock(&mu_);
  reserved_.erase(session->id());
  sessions_.emplace(session->id(), session);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Create(
    const v1::CreateSessionRequest& request) {
  // Everything that is cheap and needs no lock first, then the solver (which
  // allocates n-sized state), then the journal, then the insert.
  if (!request.session_id().empty()) {
    OPTD_RETURN_IF_ERROR(
        ValidateStoredSessionId(request.session_id(), "session_id"));
    absl::ReaderMutexLock lock(&mu_);
    if (sessions_.count(request.session_id()) > 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "session \"", request.session_id(),
          "\" already exists; pick another id or leave session_id empty"));
    }
  }
  // Another replica may hold or be creating the same named id.
  SessionIdArbiter::Claim claim;
  if (arbiter_ != nullptr && !request.session_id().empty()) {
    OPTD_ASSIGN_OR_RETURN(claim, arbiter_->ClaimId(request.session_id()));
  }
  OPTD_ASSIGN_OR_RETURN(
      std::string id,
      Reserve(request.session_id(),
              EstimateSessionBytes(request, Dimension(request))));
  v1::CreateSessionRequest named = request;
  named.set_session_id(id);
  const uint64_t incarnation = NewIncarnation();
  absl::StatusOr<std::shared_ptr<Session>> session = Build(
      named, absl::Now(), /*for_recovery=*/false, kSolverRevision, incarnation);
  absl::Status status = session.status();
  if (status.ok()) {
    status =
        Register(*session, named, kSolverRevision, incarnation, nullptr, {});
  }
  if (!status.ok()) {
    Unreserve(id);
    return status;
  }
  spdlog::info("session \"{}\" created: {} n={}", id, (*session)->solver_name(),
               (*session)->dimension());
  return session;
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Import(
    const v1::ImportSessionRequest& request) {
  const v1::SessionSnapshot& snapshot = request.snapshot();
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
  std::string requested = request.session_id().empty()
                              ? snapshot.create().session_id()
                              : request.session_id();
  OPTD_RETURN_IF_ERROR(ValidateStoredSessionId(requested, "session_id"));
  SessionIdArbiter::Claim claim;
  if (arbiter_ != nullptr) {
    OPTD_ASSIGN_OR_RETURN(claim, arbiter_->ClaimId(requested));
  }
  OPTD_ASSIGN_OR_RETURN(
      std::string id,
      Reserve(requested, EstimateSessionBytes(snapshot.create(),
                                              Dimension(snapshot.create()))));
  v1::CreateSessionRequest named = snapshot.create();
  named.set_session_id(id);
  if (request.shards() != 0) named.set_shards(request.shards());
  const uint64_t incarnation = NewIncarnation();
  absl::StatusOr<std::shared_ptr<Session>> session =
      Build(named,
            snapshot.has_create_time() ? TimeFromProto(snapshot.create_time())
                                       : absl::Now(),
            /*for_recovery=*/false, snapshot.solver_revision(), incarnation);
  absl::Status status = session.status();
  if (status.ok() && snapshot.has_checkpoint()) {
    status = (*session)->RestoreCheckpoint(snapshot.checkpoint());
    if (!status.ok()) {
      status = absl::InvalidArgumentError(absl::StrCat(
          "snapshot.checkpoint does not fit the session: ", status.message()));
    }
  }
  std::vector<const v1::SnapshotTell*> tells;
  for (int i = 0; status.ok() && i < snapshot.tells_size(); ++i) {
    status = (*session)->Replay(snapshot.tells(i));
    if (!status.ok()) {
      status = absl::InvalidArgumentError(absl::StrCat(
          "snapshot.tells[", i, "] (trial ",
          snapshot.tells(i).tell().trial_id(),
          ") does not replay: ", status.message(),
          "; the snapshot is not one ExportSession wrote, or was altered"));
    }
    tells.push_back(&snapshot.tells(i));
  }
  if (status.ok()) {
    status = Register(
        *session, named, snapshot.solver_revision(), incarnation,
        snapshot.has_checkpoint() ? &snapshot.checkpoint() : nullptr, tells);
  }
  if (!status.ok()) {
    Unreserve(id);
    return status;
  }
  spdlog::info("session \"{}\" imported: {} n={}, {} tells replayed", id,
               (*session)->solver_name(), (*session)->dimension(),
               snapshot.tells_size());
  return session;
}

absl::Status SessionManager::Export(absl::string_view session_id,
                                    v1::SessionSnapshot* snapshot) {
  OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session, Find(session_id));
  std::shared_ptr<SessionJournal> journal = session->journal();
  if (journal == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session \"", session->id(),
        "\" lives in memory only (optd runs without --data_dir) and keeps no "
        "tells to export; run optd with --data_dir"));
  }
  // An export holds its snapshot whole in memory, and serialized again for
  // the answer: twice its bytes, checked before anything is read (a refusal
  // changes nothing).
  const auto fits = [&](int64_t bytes, absl::string_view what) {
    absl::ReaderMutexLock lock(&mu_);
    return CheckMemoryLeft(
        session->id(), 2 * bytes,
        absl::StrCat("exporting session \"", session->id(), "\" ", what, " of ",
                     bytes, " bytes into memory, about ", 2 * bytes,
                     " bytes with the answer's copy,"),
        "delete sessions first");
  };
  // A sharded session's checkpoints refer to files on its replicas: it is
  // exported as its state now, gathered, with no tells after it.
  if (session->shards() > 1) {
    OPTD_RETURN_IF_ERROR(
        fits(session->settings().state_bytes, "gathers its state"));
    v1::SessionCheckpoint checkpoint;
    absl::Status portable = session->PortableCheckpoint(&checkpoint);
    if (portable.ok()) {
      OPTD_ASSIGN_OR_RETURN(*snapshot,
                            ReadJournalHeader(store_->env(), journal->path()));
      *snapshot->mutable_checkpoint() = std::move(checkpoint);
      if (!snapshot->has_create_time()) {
        TimeToProto(session->settings().create_time,
                    snapshot->mutable_create_time());
      }
      return absl::OkStatus();
    }
    if (!absl::IsUnimplemented(portable)) return portable;
  }
  const auto journal_fits = [&]() -> absl::Status {
    absl::StatusOr<int64_t> bytes = store_->env()->FileSize(journal->path());
    if (!bytes.ok()) return absl::OkStatus();  // ReadJournal says what is wrong
    return fits(*bytes, "reads its journal");
  };
  OPTD_RETURN_IF_ERROR(journal_fits());
  // A session that checkpoints instead of journaling tells is exported as of
  // now, not as of its last checkpoint.
  session->FlushCheckpoint();
  OPTD_RETURN_IF_ERROR(journal->SyncNow());
  OPTD_RETURN_IF_ERROR(journal_fits());
  // Tells appended while this reads are either read whole or cut off as a
  // torn tail: the snapshot is always a prefix of the session.
  OPTD_ASSIGN_OR_RETURN(JournalHeader header,
                        ReadJournal(
                            store_->env(), journal->path(),
                            [&](const v1::SessionSnapshot& head) {
                              *snapshot = head;
                              return absl::OkStatus();
                            },
                            [&](int64_t, const v1::SnapshotTell& tell) {
                              *snapshot->add_tells() = tell;
                              return absl::OkStatus();
                            }));
  (void)header;
  // A header without create_time (written before it was kept) recovers as
  // of the epoch; without this the import would start the clock anew.
  if (!snapshot->has_create_time()) {
    TimeToProto(session->settings().create_time,
                snapshot->mutable_create_time());
  }
  // Tells whose vectors went to the replicas directly get them back here.
  for (v1::SnapshotTell& tell : *snapshot->mutable_tells()) {
    OPTD_RETURN_IF_ERROR(session->FillSlicedTell(tell.mutable_tell()));
  }
  return absl::OkStatus();
}

absl::StatusOr<SessionManager::RecoveryCounts> SessionManager::Recover() {
  RecoveryCounts counts;
  if (store_ == nullptr) return counts;
  // 1. Every journal file, replayed into its session.
  struct Recovered {
    std::shared_ptr<Session> session;  // null: sharded, built by Find()
    JournalHeader read;
    // Records the log holds and the journal file lacks, to append to it.
    std::string missing;
    // The log holds records of it: its file must be synced before the log
    // goes (what it has of them may be in the page cache only).
    bool in_log = false;
    std::shared_ptr<SessionJournal> journal;  // of a deferred session
  };
  std::map<std::string, Recovered, std::less<>> recovered;
  std::map<std::string, std::string, std::less<>> damaged;
  OPTD_ASSIGN_OR_RETURN(std::vector<std::string> ids, store_->ListSessionIds());
  for (const std::string& id : ids) {
    const std::string path = store_->JournalPath(id);
    std::shared_ptr<Session> session;
    absl::StatusOr<JournalHeader> read =
        ReadSession(id, path, /*defer_sharded=*/true, &session);
    if (!read.ok()) {
      damaged[id] = std::string(read.status().message());
      continue;
    }
    if (read->torn_tail_bytes > 0) {
      spdlog::warn(
          "session \"{}\": dropped {} bytes at the end of {} ({}): a tell "
          "whose write a crash cut short, never acknowledged (its client "
          "retries)",
          id, read->torn_tail_bytes, path,
          read->torn_tail_checksum ? "a record failing its checksum"
                                   : "an incomplete record");
    }
    Recovered& r = recovered[id];
    r.session = std::move(session);
    r.read = *std::move(read);
  }
  // 2. The write-ahead log: the tells of small sessions whose journal files
  // were not synced yet. Records of deleted sessions (no journal, or another
  // incarnation) and records the journal already holds are skipped.
  int64_t from_log = 0;
  // A session the log damaged (a gap before its tells there, a tell that
  // does not replay) keeps the log: removed, the next start would load the
  // session without those acknowledged tells, as if nothing were wrong.
  bool log_damaged = false;
  std::vector<Wal::DamagedRange> log_damage;
  // Sessions with a gap in their tells there (named with the damage below).
  std::set<std::string> gapped;
  OPTD_RETURN_IF_ERROR(store_->ReadWal(
      [&](absl::string_view id, uint64_t incarnation, uint64_t tell, int64_t,
          absl::string_view record) -> absl::Status {
        auto it = recovered.find(id);
        if (it == recovered.end()) {
          // A session that did not load keeps the log: its records there may
          // be the only copy of acknowledged tells, which the session needs
          // when a repaired journal or a newer build (a solver revision this
          // one lacks) loads it.
          if (damaged.count(id) > 0) log_damaged = true;
          return absl::OkStatus();
        }
        if (it->second.read.header.incarnation() != incarnation) {
          return absl::OkStatus();
        }
        Recovered& r = it->second;
        if (r.session == nullptr) return absl::OkStatus();  // sharded
        r.in_log = true;
        const uint64_t tells = static_cast<uint64_t>(r.session->tells());
        if (tell <= tells) return absl::OkStatus();
        absl::Status status;
        v1::SnapshotTell snapshot_tell;
        if (tell != tells + 1) {
          gapped.insert(std::string(id));
          status = absl::DataLossError(
              absl::StrCat("the write-ahead log has tell ", tell,
                           " but the journal ends at ", tells));
        } else if (record.size() < kRecordHeaderBytes ||
                   !snapshot_tell.ParseFromArray(
                       record.data() + kRecordHeaderBytes,
                       record.size() - kRecordHeaderBytes)) {
          status = absl::DataLossError(absl::StrCat(
              "tell ", tell, " in the write-ahead log does not parse"));
        } else {
          status = r.session->Replay(snapshot_tell);
        }
        if (!status.ok()) {
          damaged[std::string(id)] = std::string(status.message());
          recovered.erase(it);
          log_damaged = true;
          return absl::OkStatus();
        }
        r.missing.append(record.data(), record.size());
        ++from_log;
        return absl::OkStatus();
      },
      &log_damage));
  // Damage to synced records of the log: the sessions it took tells from
  // show a gap above; the log stays, for whoever inspects it.
  if (!log_damage.empty()) {
    log_damaged = true;
    for (const std::string& id : gapped) {
      std::string& damage = damaged[id];
      absl::StrAppend(&damage, "; the write-ahead log is damaged in");
      for (size_t i = 0; i < log_damage.size(); ++i) {
        absl::StrAppend(&damage, i == 0 ? " " : ", ", log_damage[i].path,
                        " bytes [", log_damage[i].begin, ", ",
                        log_damage[i].end, ")");
      }
    }
  }
  // 3. The journals completed and synced, so the old log can go (unless it
  // damaged a session, or a journal could not be written yet: then it goes
  // once the maintenance thread has repaired it).
  bool unsynced = false;
  for (auto& [id, r] : recovered) {
    const v1::SessionSnapshot& header = r.read.header;
    // A deferred sharded session: its tells are the checkpoint's and the
    // records read; it never uses the log.
    const int64_t tells =
        r.session != nullptr
            ? r.session->tells()
            : (header.has_checkpoint() ? header.checkpoint().tells() : 0) +
                  r.read.tells;
    absl::StatusOr<std::shared_ptr<SessionJournal>> journal = store_->Reopen(
        id, r.read.read, tells,
        header.create().durability().checkpoint_interval(),
        r.session != nullptr && UsesWal(*r.session), header.incarnation());
    if (!journal.ok()) {
      // Its tells may be in the log only: the log stays.
      damaged[id] = std::string(journal.status().message());
      log_damaged = true;
      continue;
    }
    // On error the journal keeps the records and is repaired later; the
    // session refuses tells until then.
    if ((r.in_log || !r.missing.empty()) &&
        !(*journal)->WriteRecovered(r.missing).ok()) {
      unsynced = true;
    }
    if (r.session == nullptr) {
      r.journal = *std::move(journal);
    } else {
      r.session->AttachJournal(*std::move(journal));
    }
  }
  store_->FinishRecovery(/*keep_log=*/log_damaged, /*until_synced=*/unsynced);
  // 4. Registered.
  absl::MutexLock lock(&mu_);
  for (auto& [id, r] : recovered) {
    if (damaged.count(id) > 0) continue;
    counts.tells += r.read.tells;
    if (r.read.header.has_checkpoint()) ++counts.checkpoints;
    ++counts.loaded;
    if (r.session == nullptr) {
      // Idle since the journal was last written (its last tell).
      const absl::StatusOr<absl::Time> written =
          store_->env()->ModificationTime(r.journal->path());
      const absl::Time last = written.ok() ? *written : absl::Now();
      dormant_[id] = {
          std::move(r.journal),
          last + absl::Seconds(r.read.header.create().ttl_seconds())};
    } else {
      sessions_.emplace(id, std::move(r.session));
    }
  }
  for (auto& [id, damage] : damaged) {
    spdlog::error("session \"{}\" is damaged and was not loaded: {}", id,
                  damage);
    ++counts.damaged;
    damaged_[id] = std::move(damage);
  }
  counts.tells += from_log;
  return counts;
}

absl::StatusOr<JournalHeader> SessionManager::ReadSession(
    const std::string& id, const std::string& path, bool defer_sharded,
    std::shared_ptr<Session>* session) const {
  return ReadJournal(
      store_->env(), path,
      [&](const v1::SessionSnapshot& header) -> absl::Status {
        if (header.create().session_id() != id) {
          return absl::DataLossError(
              absl::StrCat("the header names session \"",
                           absl::CHexEscape(header.create().session_id()),
                           "\", not the file's"));
        }
        if (defer_sharded && header.create().shards() > 1) {
          return absl::OkStatus();
        }
        OPTD_ASSIGN_OR_RETURN(
            *session,
            Build(header.create(), TimeFromProto(header.create_time()),
                  /*for_recovery=*/true, header.solver_revision(),
                  header.incarnation()));
        if (header.has_checkpoint()) {
          return (*session)->RestoreCheckpoint(header.checkpoint());
        }
        return absl::OkStatus();
      },
      [&](int64_t, const v1::SnapshotTell& tell) {
        return *session == nullptr ? absl::OkStatus()
                                   : (*session)->Replay(tell);
      });
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Find(
    absl::string_view session_id) {
  if (session_id.empty()) {
    return absl::InvalidArgumentError("session_id is empty; name a session");
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    if (it != sessions_.end() && !it->second->broken()) return it->second;
    if (it == sessions_.end() && dormant_.count(session_id) == 0) {
      auto damaged = damaged_.find(session_id);
      if (damaged != damaged_.end()) {
        return DamagedError(session_id, damaged->second);
      }
      return NotFoundLocked(session_id);
    }
  }
  return Revive(session_id);
}

absl::Status SessionManager::NotFoundLocked(
    absl::string_view session_id) const {
  if (reserved_.count(session_id) > 0) {
    // A create (or import) of this id is writing its journal: the session is
    // about to exist. NOT_FOUND now would let a client that retries a timed
    // out create, then deletes, leave the session behind.
    return absl::UnavailableError(absl::StrCat(
        "session \"", session_id,
        "\" is being created (its journal is being written); retry"));
  }
  return absl::NotFoundError(
      absl::StrCat("session \"", absl::CHexEscape(session_id), "\" not found"));
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Revive(
    absl::string_view session_id) {
  absl::MutexLock rebuild(&rebuild_mu_);
  std::shared_ptr<Session> old;
  std::shared_ptr<SessionJournal> journal;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    if (it != sessions_.end()) {
      if (!it->second->broken()) return it->second;  // rebuilt meanwhile
      old = it->second;
      journal = old->journal();
    } else if (auto d = dormant_.find(session_id); d != dormant_.end()) {
      journal = d->second.journal;
    } else {
      return absl::NotFoundError(absl::StrCat(
          "session \"", absl::CHexEscape(session_id), "\" not found"));
    }
  }
  if (journal == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "session \"", session_id,
        "\" lost a shard and lives in memory only (optd runs without "
        "--data_dir), so it cannot be rebuilt; delete it and start again"));
  }
  const absl::Time start = absl::Now();
  OPTD_RETURN_IF_ERROR(journal->SyncNow());
  std::shared_ptr<Session> fresh;
  absl::StatusOr<JournalHeader> read =
      ReadSession(std::string(session_id), journal->path(),
                  /*defer_sharded=*/false, &fresh);
  if (!read.ok()) {
    if (absl::IsUnavailable(read.status()) ||
        absl::IsFailedPrecondition(read.status())) {
      return absl::UnavailableError(
          absl::StrCat("session \"", session_id,
                       "\" cannot be rebuilt yet: ", read.status().message()));
    }
    return read.status();
  }
  fresh->AttachJournal(journal);
  {
    absl::MutexLock lock(&mu_);
    // Deleted while it was being rebuilt: the rebuild is thrown away (and
    // its slices with it), never put back.
    auto it = sessions_.find(session_id);
    const bool current = old != nullptr
                             ? it != sessions_.end() && it->second == old
                             : dormant_.count(session_id) > 0;
    if (!current) {
      fresh->PurgeShardsOnDelete();
      fresh->Delete();
      return absl::NotFoundError(
          absl::StrCat("session \"", absl::CHexEscape(session_id),
                       "\" was deleted while it was being rebuilt"));
    }
    dormant_.erase(std::string(session_id));
    sessions_[std::string(session_id)] = fresh;
  }
  if (old != nullptr) old->Delete();
  spdlog::info(
      "session \"{}\" built on {} shards from its journal ({} tells) in {:.3f} "
      "s",
      std::string(session_id), fresh->shards(), fresh->tells(),
      absl::ToDoubleSeconds(absl::Now() - start));
  return fresh;
}

absl::Status SessionManager::Get(const v1::GetSessionRequest& request,
                                 v1::Session* out) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto damaged = damaged_.find(request.session_id());
    if (damaged != damaged_.end()) {
      out->set_session_id(damaged->first);
      out->set_state(v1::SESSION_STATE_DAMAGED);
      out->set_damage(damaged->second);
      return absl::OkStatus();
    }
  }
  OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        Find(request.session_id()));
  return session->Describe(request.include_x(), request.encoding(), out,
                           request.include_trials(), request.trials_after_id());
}

absl::Status SessionManager::Delete(absl::string_view session_id) {
  std::shared_ptr<Session> session;
  std::shared_ptr<SessionJournal> dormant;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) {
      auto damaged = damaged_.find(session_id);
      auto it_dormant = dormant_.find(session_id);
      if (damaged != damaged_.end()) {
        damaged_.erase(damaged);
      } else if (it_dormant != dormant_.end()) {
        dormant = std::move(it_dormant->second.journal);
        dormant_.erase(it_dormant);
      } else {
        return NotFoundLocked(session_id);
      }
    } else {
      session = std::move(it->second);
      sessions_.erase(it);
    }
  }
  // Outside the map's lock: this waits for a tell in progress on the session.
  if (session != nullptr) {
    session->PurgeShardsOnDelete();
    session->Delete();
    NoteFreedBytes(static_cast<size_t>(session->settings().state_bytes));
  } else if (dormant != nullptr && replicas_ != nullptr) {
    // Never built since the restart: its slices and staged vectors are
    // purged on every replica that may hold them.
    absl::StatusOr<v1::SessionSnapshot> header =
        ReadJournalHeader(store_->env(), dormant->path());
    if (header.ok() && header->create().shards() > 1) {
      ShardGroup::PurgeSlices(*replicas_, std::string(session_id),
                              header->create().shards());
    }
  }
  if (store_ != nullptr) {
    OPTD_RETURN_IF_ERROR(store_->Remove(
        session_id, absl::NotFoundError(absl::StrCat(
                        "session \"", session_id,
                        "\" was deleted before this tell became durable"))));
  }
  spdlog::info("session \"{}\" deleted", std::string(session_id));
  return absl::OkStatus();
}

void SessionManager::FlushCheckpoints() {
  std::vector<std::shared_ptr<Session>> sessions;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [id, session] : sessions_) sessions.push_back(session);
  }
  for (const auto& session : sessions) session->FlushCheckpoint();
}

int64_t SessionManager::ExpireIdle(absl::Time now) {
  std::vector<std::string> expired;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [id, session] : sessions_) {
      if (session->Expired(now)) expired.push_back(id);
    }
    for (const auto& [id, dormant] : dormant_) {
      if (now > dormant.expires) expired.push_back(id);
    }
  }
  int64_t count = 0;
  for (const std::string& id : expired) {
    spdlog::info("session \"{}\" expired (idle longer than its TTL)", id);
    absl::Status status = Delete(id);
    if (status.ok()) {
      ++count;
    } else if (!absl::IsNotFound(status)) {
      spdlog::error("session \"{}\": could not remove it: {}", id,
                    std::string(status.message()));
    }
  }
  return count;
}

absl::Status SessionManager::List(const v1::ListSessionsRequest& request,
                                  v1::ListSessionsResponse* response,
                                  absl::string_view scope) {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size is ", request.page_size(), "; it must be in [0, ",
        kMaxPageSize, "] (0: ", kDefaultPageSize, ")"));
  }
  if (!v1::SessionState_IsValid(request.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("state is ", static_cast<int>(request.state()),
                     "; use a SessionState value or SESSION_STATE_UNSPECIFIED "
                     "for every state"));
  }
  // The token is the last id of the previous page: stable under inserts and
  // deletes, and opaque to clients because it is base64.
  std::string after;
  if (!request.page_token().empty() &&
      (!absl::WebSafeBase64Unescape(request.page_token(), &after) ||
       !ValidateStoredSessionId(after, "page_token").ok())) {
    return absl::InvalidArgumentError(
        "page_token is not one that ListSessions returned; pass "
        "next_page_token "
        "unchanged, or an empty token for the first page");
  }
  const int page_size =
      request.page_size() == 0 ? kDefaultPageSize : request.page_size();

  // Labels are immutable, so they filter under the map's lock; the state needs
  // each session's own lock and is checked after the map's is released.
  // A candidate is a session, or a damaged entry (no labels: it matches
  // only an unfiltered listing).
  struct Candidate {
    std::string id;
    std::shared_ptr<Session> session;
    std::string damage;
  };
  std::map<std::string, Candidate> candidates;
  {
    absl::ReaderMutexLock lock(&mu_);
    // From the page token on (or the scope's first id), while in the scope.
    auto first = [&](const auto& map) {
      return after.empty() || after < scope ? map.lower_bound(scope)
                                            : map.upper_bound(after);
    };
    auto in_scope = [&](const std::string& id) {
      return absl::StartsWith(id, scope);
    };
    for (auto it = first(sessions_);
         it != sessions_.end() && in_scope(it->first); ++it) {
      if (LabelsMatch(it->second->labels(), request.labels())) {
        candidates[it->first] = {it->first, it->second, ""};
      }
    }
    if (request.labels().empty()) {
      for (auto d = first(damaged_); d != damaged_.end() && in_scope(d->first);
           ++d) {
        candidates[d->first] = {d->first, nullptr, d->second};
      }
    }
    // Sharded sessions not built since the restart: listed as running, with
    // no detail until GetSession builds them.
    if (request.labels().empty()) {
      for (auto d = first(dormant_); d != dormant_.end() && in_scope(d->first);
           ++d) {
        candidates[d->first] = {d->first, nullptr, ""};
      }
    }
  }
  std::string last_id;
  for (const auto& [id, candidate] : candidates) {
    const v1::SessionState state =
        candidate.session != nullptr ? candidate.session->state()
        : candidate.damage.empty()   ? v1::SESSION_STATE_RUNNING
                                     : v1::SESSION_STATE_DAMAGED;
    if (request.state() != v1::SESSION_STATE_UNSPECIFIED &&
        state != request.state()) {
      continue;
    }
    if (response->sessions_size() == page_size) {
      // One more match exists: the page is not the last.
      response->set_next_page_token(absl::WebSafeBase64Escape(last_id));
      break;
    }
    v1::Session brief;
    if (candidate.session == nullptr) {
      brief.set_session_id(id);
      brief.set_state(state);
      brief.set_damage(candidate.damage);
    } else if (!candidate.session->DescribeBrief(&brief)) {
      continue;  // deleted meanwhile
    }
    last_id = id;
    *response->add_sessions() = std::move(brief);
  }
  return absl::OkStatus();
}

bool SessionManager::Holds(absl::string_view session_id) const {
  absl::ReaderMutexLock lock(&mu_);
  return sessions_.count(session_id) > 0 || reserved_.count(session_id) > 0 ||
         damaged_.count(session_id) > 0 || dormant_.count(session_id) > 0;
}

int64_t SessionManager::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int64_t>(sessions_.size() + dormant_.size());
}

}  // namespace optd::server
