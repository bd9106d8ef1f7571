#include "server/session/session_manager.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/session/memory_release.h"
#include "server/session/solver_factory.h"
#include "server/storage/journal.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

// The dimension `request` asks for, or 0 when x0 does not decode (Build
// reports that).
int64_t Dimension(const v1::CreateSessionRequest& request) {
  absl::StatusOr<ConstVectorView> x0 = DecodeVector(request.x0(), "x0");
  return x0.ok() ? x0->size() : 0;
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

SessionManager::SessionManager(SessionLimits limits, SessionDefaults defaults,
                               SessionStore* store,
                               std::shared_ptr<const Replicas> replicas)
    : limits_(limits),
      store_(store),
      replicas_(replicas),
      factory_(limits, defaults, store, std::move(replicas)),
      registry_(limits) {}

TenantUsage SessionManager::Usage(absl::string_view scope) const {
  absl::ReaderMutexLock lock(&mu_);
  return registry_.Usage(scope);
}

std::map<std::string, TenantUsage> SessionManager::UsageByTenant() const {
  absl::ReaderMutexLock lock(&mu_);
  return registry_.UsageByTenant();
}

std::vector<std::shared_ptr<Session>> SessionManager::LocalSessions() const {
  std::vector<std::shared_ptr<Session>> sessions;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [id, entry] : registry_.entries()) {
    if (entry.residency == Residency::kLocal) sessions.push_back(entry.session);
  }
  return sessions;
}

std::map<v1::SessionState, int64_t> SessionManager::CountByState() const {
  std::vector<std::shared_ptr<Session>> sessions;
  std::map<v1::SessionState, int64_t> counts;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [id, entry] : registry_.entries()) {
      switch (entry.residency) {
        case Residency::kLocal:
          sessions.push_back(entry.session);
          break;
        case Residency::kDamaged:
          ++counts[v1::SESSION_STATE_DAMAGED];
          break;
        case Residency::kDormant:
          ++counts[v1::SESSION_STATE_RUNNING];
          break;
        case Residency::kReserved:
          break;
      }
    }
  }
  // Each session's state under its own lock, outside the map's.
  for (const auto& session : sessions) ++counts[session->state()];
  return counts;
}

absl::Status SessionManager::DamagedError(absl::string_view id,
                                          const std::string& damage) const {
  return absl::DataLossError(absl::StrCat(
      "session \"", id, "\" is damaged and was not loaded: ", damage,
      "; GetSession shows it, DeleteSession removes it"));
}

absl::StatusOr<std::string> SessionManager::Reserve(absl::string_view requested,
                                                    const SessionBytes& bytes) {
  absl::MutexLock lock(&mu_);
  return registry_.Reserve(requested, bytes);
}

uint64_t SessionManager::NewIncarnation() {
  absl::MutexLock lock(&mu_);
  return absl::Uniform<uint64_t>(bitgen_);
}

void SessionManager::Unreserve(const std::string& id) {
  absl::MutexLock lock(&mu_);
  registry_.Unreserve(id);
}

absl::Status SessionManager::Register(
    const std::shared_ptr<Session>& session,
    const v1::CreateSessionRequest& header, uint32_t solver_revision,
    uint64_t incarnation, const v1::SessionCheckpoint* checkpoint,
    const std::vector<const v1::SnapshotTell*>& tells) {
  OPTD_RETURN_IF_ERROR(factory_.WriteJournal(*session, header, solver_revision,
                                             incarnation, checkpoint, tells));
  absl::MutexLock lock(&mu_);
  registry_.SetLocal(session->id(), session);
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
    if (registry_.FindLocal(request.session_id()) != nullptr) {
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
  absl::StatusOr<std::shared_ptr<Session>> session = factory_.Build(
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
  OPTD_RETURN_IF_ERROR(SessionFactory::CheckSnapshot(snapshot));
  std::string requested = request.session_id().empty()
                              ? snapshot.create().session_id()
                              : request.session_id();
  OPTD_RETURN_IF_ERROR(ValidateStoredSessionId(requested, "session_id"));
  OPTD_ASSIGN_OR_RETURN(
      std::shared_ptr<Session> session,
      BuildFromSnapshot(snapshot, requested, request.shards()));
  spdlog::info("session \"{}\" imported: {} n={}, {} tells replayed",
               session->id(), session->solver_name(), session->dimension(),
               snapshot.tells_size());
  return session;
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::BuildFromSnapshot(
    const v1::SessionSnapshot& snapshot, const std::string& requested,
    int32_t shards) {
  SessionIdArbiter::Claim claim;
  if (arbiter_ != nullptr && !requested.empty()) {
    OPTD_ASSIGN_OR_RETURN(claim, arbiter_->ClaimId(requested));
  }
  OPTD_ASSIGN_OR_RETURN(
      std::string id,
      Reserve(requested, EstimateSessionBytes(snapshot.create(),
                                              Dimension(snapshot.create()))));
  v1::CreateSessionRequest named = snapshot.create();
  named.set_session_id(id);
  if (shards != 0) named.set_shards(shards);
  const uint64_t incarnation = NewIncarnation();
  std::vector<const v1::SnapshotTell*> tells;
  absl::StatusOr<std::shared_ptr<Session>> session =
      factory_.BuildImported(named, snapshot, incarnation, &tells);
  absl::Status status = session.status();
  if (status.ok()) {
    status = Register(
        *session, named, snapshot.solver_revision(), incarnation,
        snapshot.has_checkpoint() ? &snapshot.checkpoint() : nullptr, tells);
  }
  if (!status.ok()) {
    Unreserve(id);
    return status;
  }
  return session;
}

absl::Status SessionManager::Export(absl::string_view session_id,
                                    v1::SessionSnapshot* snapshot, bool compact,
                                    bool tells) {
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
    return registry_.CheckMemoryLeft(
        session->id(), 2 * bytes,
        absl::StrCat("exporting session \"", session->id(), "\" ", what, " of ",
                     bytes, " bytes into memory, about ", 2 * bytes,
                     " bytes with the answer's copy,"),
        "delete sessions first");
  };
  // The snapshot as the state now (OK), or UNIMPLEMENTED when the solver has
  // no portable state (then the journal is read as for any session).
  const auto export_state = [&]() -> absl::Status {
    OPTD_RETURN_IF_ERROR(
        fits(session->settings().state_bytes, "gathers its state"));
    v1::SessionCheckpoint checkpoint;
    OPTD_RETURN_IF_ERROR(session->PortableCheckpoint(&checkpoint));
    OPTD_ASSIGN_OR_RETURN(*snapshot,
                          ReadJournalHeader(store_->env(), journal->path()));
    *snapshot->mutable_checkpoint() = std::move(checkpoint);
    if (!snapshot->has_create_time()) {
      TimeToProto(session->settings().create_time,
                  snapshot->mutable_create_time());
    }
    return absl::OkStatus();
  };
  // A sharded session's checkpoints refer to files on its replicas: it is
  // exported as its state now, gathered, with no tells after it (unless
  // `tells` asks for them and its journal holds no checkpoint); so is any
  // session asked for compactly.
  const bool sharded_tells = session->shards() > 1 && tells && !compact;
  if ((session->shards() > 1 && !sharded_tells) || compact) {
    const absl::Status state = export_state();
    if (!absl::IsUnimplemented(state)) return state;
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
  // A sharded session's journal checkpoint names its slices' files: read
  // from the journal it would not replay elsewhere, so the state now goes.
  if (sharded_tells && snapshot->has_checkpoint()) {
    const absl::Status state = export_state();
    if (!absl::IsUnimplemented(state)) return state;
  }
  // A header without create_time (written before it was kept) recovers as
  // of the epoch; without this the import would start the clock anew.
  if (!snapshot->has_create_time()) {
    TimeToProto(session->settings().create_time,
                snapshot->mutable_create_time());
  }
  // Tells whose vectors went to the replicas directly get them back here:
  // n doubles each, which the journal's size did not count.
  int64_t sliced = 0;
  for (const v1::SnapshotTell& tell : snapshot->tells()) {
    sliced += tell.tell().sliced() ? 1 : 0;
  }
  if (sliced > 0) {
    absl::StatusOr<int64_t> bytes = store_->env()->FileSize(journal->path());
    OPTD_RETURN_IF_ERROR(
        fits((bytes.ok() ? *bytes : 0) + sliced * 8 * session->dimension(),
             "gathers the vectors its tells sent the replicas into its "
             "journal"));
  }
  for (v1::SnapshotTell& tell : *snapshot->mutable_tells()) {
    OPTD_RETURN_IF_ERROR(session->FillSlicedTell(tell.mutable_tell()));
  }
  return absl::OkStatus();
}

absl::StatusOr<SessionManager::RecoveryCounts> SessionManager::Recover() {
  if (store_ == nullptr) return RecoveryCounts{};
  OPTD_ASSIGN_OR_RETURN(RecoveredStore recovered,
                        RecoverStore(*store_, factory_));
  absl::MutexLock lock(&mu_);
  for (auto& [id, entry] : recovered.entries) {
    switch (entry.residency) {
      case Residency::kLocal:
        registry_.SetLocal(id, std::move(entry.session));
        break;
      case Residency::kDormant:
        registry_.SetDormant(id, std::move(entry.journal), entry.expires);
        break;
      case Residency::kDamaged:
        registry_.SetDamaged(id, std::move(entry.damage));
        break;
      case Residency::kReserved:
        break;
    }
  }
  return recovered.counts;
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Find(
    absl::string_view session_id) {
  if (session_id.empty()) {
    return absl::InvalidArgumentError("session_id is empty; name a session");
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    const SessionEntry* entry = registry_.Find(session_id);
    if (entry == nullptr) return registry_.NotFound(session_id);
    switch (entry->residency) {
      case Residency::kLocal:
        if (!entry->session->broken()) return entry->session;
        break;  // its group broke: rebuilt from its journal
      case Residency::kDormant:
        break;  // built from its journal on first use
      case Residency::kDamaged:
        return DamagedError(session_id, entry->damage);
      case Residency::kReserved:
        return registry_.NotFound(session_id);
    }
  }
  return Revive(session_id);
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Revive(
    absl::string_view session_id) {
  absl::MutexLock rebuild(&rebuild_mu_);
  std::shared_ptr<Session> old;
  std::shared_ptr<SessionJournal> journal;
  {
    absl::ReaderMutexLock lock(&mu_);
    const SessionEntry* entry = registry_.Find(session_id);
    if (entry != nullptr && entry->residency == Residency::kLocal) {
      if (!entry->session->broken())
        return entry->session;  // rebuilt meanwhile
      old = entry->session;
      journal = old->journal();
    } else if (entry != nullptr && entry->residency == Residency::kDormant) {
      journal = entry->journal;
    } else {
      return absl::NotFoundError(absl::StrCat(
          "session \"", absl::CHexEscape(session_id), "\" not found"));
    }
  }
  const absl::Time start = absl::Now();
  OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> fresh,
                        RebuildSession(store_, factory_, session_id, journal));
  {
    absl::MutexLock lock(&mu_);
    // Deleted while it was being rebuilt: the rebuild is thrown away (and
    // its slices with it), never put back.
    const SessionEntry* entry = registry_.Find(session_id);
    const bool current =
        old != nullptr
            ? entry != nullptr && entry->residency == Residency::kLocal &&
                  entry->session == old
            : entry != nullptr && entry->residency == Residency::kDormant;
    if (!current) {
      fresh->PurgeShardsOnDelete();
      fresh->Delete();
      return absl::NotFoundError(
          absl::StrCat("session \"", absl::CHexEscape(session_id),
                       "\" was deleted while it was being rebuilt"));
    }
    registry_.SetLocal(std::string(session_id), fresh);
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
    const SessionEntry* entry = registry_.Find(request.session_id());
    if (entry != nullptr && entry->residency == Residency::kDamaged) {
      out->set_session_id(request.session_id());
      out->set_state(v1::SESSION_STATE_DAMAGED);
      out->set_damage(entry->damage);
      return absl::OkStatus();
    }
  }
  OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session,
                        Find(request.session_id()));
  return session->Describe(request, out);
}

absl::Status SessionManager::Delete(absl::string_view session_id) {
  std::shared_ptr<Session> session;
  std::shared_ptr<SessionJournal> dormant;
  {
    absl::MutexLock lock(&mu_);
    const SessionEntry* entry = registry_.Find(session_id);
    if (entry == nullptr) return registry_.NotFound(session_id);
    switch (entry->residency) {
      case Residency::kReserved:
        return registry_.NotFound(session_id);
      case Residency::kLocal:
        session = entry->session;
        break;
      case Residency::kDormant:
        dormant = entry->journal;
        break;
      case Residency::kDamaged:
        break;
    }
    registry_.Erase(session_id);
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
  for (const auto& session : LocalSessions()) session->FlushCheckpoint();
}

int64_t SessionManager::ExpireIdle(absl::Time now) {
  std::vector<std::string> expired;
  {
    absl::ReaderMutexLock lock(&mu_);
    // Sessions first, then dormant ones, as the log has always listed them.
    for (const auto& [id, entry] : registry_.entries()) {
      if (entry.residency == Residency::kLocal && entry.session->Expired(now)) {
        expired.push_back(id);
      }
    }
    for (const auto& [id, entry] : registry_.entries()) {
      if (entry.residency == Residency::kDormant && now > entry.expires) {
        expired.push_back(id);
      }
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
  // A candidate is a session, or a damaged or dormant entry (no labels: it
  // matches only an unfiltered listing). Candidates are gathered a batch at
  // a time from where the last batch ended, so that a page costs what it
  // reads (about page_size entries unfiltered), not the whole registry.
  struct Candidate {
    std::string id;
    std::shared_ptr<Session> session;
    std::string damage;
  };
  const size_t batch = std::max<size_t>(page_size + 1, 256);
  std::vector<Candidate> candidates;
  std::string cursor = after;  // the last id read; "" before the first
  bool exhausted = false;
  std::string last_id;
  while (!exhausted) {
    candidates.clear();
    {
      absl::ReaderMutexLock lock(&mu_);
      // From the cursor on (or the scope's first id), while in the scope.
      const SessionRegistry::Entries& entries = registry_.entries();
      auto it = cursor.empty() || cursor < scope ? entries.lower_bound(scope)
                                                 : entries.upper_bound(cursor);
      size_t taken = 0;
      for (; it != entries.end() && absl::StartsWith(it->first, scope) &&
             taken < batch;
           ++it, ++taken) {
        cursor = it->first;
        const SessionEntry& entry = it->second;
        switch (entry.residency) {
          case Residency::kLocal:
            if (LabelsMatch(entry.session->labels(), request.labels())) {
              candidates.push_back({it->first, entry.session, ""});
            }
            break;
          case Residency::kDamaged:
            if (request.labels().empty()) {
              candidates.push_back({it->first, nullptr, entry.damage});
            }
            break;
          case Residency::kDormant:
            // Sharded sessions not built since the restart: listed as
            // running, with no detail until GetSession builds them.
            if (request.labels().empty()) {
              candidates.push_back({it->first, nullptr, ""});
            }
            break;
          case Residency::kReserved:
            break;
        }
      }
      exhausted = it == entries.end() || !absl::StartsWith(it->first, scope);
    }
    for (const Candidate& candidate : candidates) {
      const std::string& id = candidate.id;
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
        return absl::OkStatus();
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
  }
  return absl::OkStatus();
}

bool SessionManager::Holds(absl::string_view session_id) const {
  absl::ReaderMutexLock lock(&mu_);
  return registry_.Holds(session_id);
}

int64_t SessionManager::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return registry_.sessions();
}

}  // namespace optd::server
