#include "server/session/session_registry.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/session/session_id.h"

namespace optd::server {
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

// What `entry` counts against the memory quotas: a session's estimated state
// and its trial log, a reservation's estimate; damaged and dormant entries
// nothing.
void Count(const SessionEntry& entry, TenantUsage* usage) {
  ++usage->sessions;
  switch (entry.residency) {
    case Residency::kLocal:
      usage->trial_log_bytes += entry.session->trial_log_memory();
      usage->state_bytes += entry.session->settings().state_bytes;
      break;
    case Residency::kReserved:
      usage->state_bytes += entry.reserved_bytes;
      break;
    case Residency::kDormant:
    case Residency::kDamaged:
      break;
  }
}

// Whether `residency` is one sessions() counts.
bool IsSession(Residency residency) {
  return residency == Residency::kLocal || residency == Residency::kDormant;
}

}  // namespace

const SessionEntry* SessionRegistry::Find(absl::string_view id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

std::shared_ptr<Session> SessionRegistry::FindLocal(
    absl::string_view id) const {
  const SessionEntry* entry = Find(id);
  if (entry == nullptr || entry->residency != Residency::kLocal) return nullptr;
  return entry->session;
}

void SessionRegistry::Put(const std::string& id, SessionEntry entry) {
  auto [it, inserted] = entries_.try_emplace(id);
  if (!inserted && IsSession(it->second.residency)) --sessions_;
  if (IsSession(entry.residency)) ++sessions_;
  it->second = std::move(entry);
}

void SessionRegistry::EraseEntry(Entries::iterator it) {
  if (IsSession(it->second.residency)) --sessions_;
  entries_.erase(it);
}

absl::Status SessionRegistry::CheckSessionLimit(size_t count) const {
  if (static_cast<int64_t>(count) >= limits_.max_sessions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this server holds ", count,
        " sessions, its limit (--max_sessions=", limits_.max_sessions,
        "); delete finished sessions or start the server with a larger "
        "--max_sessions"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SessionRegistry::Reserve(
    absl::string_view requested, const SessionBytes& bytes) {
  OPTD_RETURN_IF_ERROR(CheckSessionLimit(entries_.size()));
  std::string id(requested);
  if (id.empty()) {
    do {
      id = NewSessionId();
    } while (entries_.count(id) > 0);
  } else if (entries_.count(id) > 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "session \"", id,
        "\" already exists; pick another id or leave session_id empty"));
  }
  OPTD_RETURN_IF_ERROR(CheckTenantLimits(id, bytes));
  SessionEntry entry;
  entry.residency = Residency::kReserved;
  entry.reserved_bytes = bytes.total();
  Put(id, std::move(entry));
  return id;
}

void SessionRegistry::SetLocal(const std::string& id,
                               std::shared_ptr<Session> session) {
  SessionEntry entry;
  entry.residency = Residency::kLocal;
  entry.session = std::move(session);
  Put(id, std::move(entry));
}

void SessionRegistry::SetDormant(const std::string& id,
                                 std::shared_ptr<SessionJournal> journal,
                                 absl::Time expires) {
  SessionEntry entry;
  entry.residency = Residency::kDormant;
  entry.journal = std::move(journal);
  entry.expires = expires;
  Put(id, std::move(entry));
}

void SessionRegistry::SetDamaged(const std::string& id, std::string damage) {
  SessionEntry entry;
  entry.residency = Residency::kDamaged;
  entry.damage = std::move(damage);
  Put(id, std::move(entry));
}

void SessionRegistry::Erase(absl::string_view id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) EraseEntry(it);
}

void SessionRegistry::Unreserve(absl::string_view id) {
  auto it = entries_.find(id);
  if (it != entries_.end() && it->second.residency == Residency::kReserved) {
    EraseEntry(it);
  }
}

absl::Status SessionRegistry::NotFound(absl::string_view id) const {
  const SessionEntry* entry = Find(id);
  if (entry != nullptr && entry->residency == Residency::kReserved) {
    // A create (or import) of this id is writing its journal: the session is
    // about to exist. NOT_FOUND now would let a client that retries a timed
    // out create, then deletes, leave the session behind.
    return absl::UnavailableError(absl::StrCat(
        "session \"", id,
        "\" is being created (its journal is being written); retry"));
  }
  return absl::NotFoundError(
      absl::StrCat("session \"", absl::CHexEscape(id), "\" not found"));
}

TenantUsage SessionRegistry::Usage(absl::string_view scope) const {
  TenantUsage usage;
  for (auto it = entries_.lower_bound(scope);
       it != entries_.end() && absl::StartsWith(it->first, scope); ++it) {
    Count(it->second, &usage);
  }
  return usage;
}

std::map<std::string, TenantUsage> SessionRegistry::UsageByTenant() const {
  std::map<std::string, TenantUsage> usage;
  for (const auto& [id, entry] : entries_) {
    const size_t dot = id.find('.');
    Count(entry, &usage[dot == std::string::npos ? "" : id.substr(0, dot)]);
  }
  return usage;
}

absl::Status SessionRegistry::CheckMemoryLeft(absl::string_view id,
                                              int64_t bytes,
                                              absl::string_view what,
                                              absl::string_view advice) const {
  const size_t dot = id.find('.');
  if (dot != absl::string_view::npos) {
    const TenantUsage usage = Usage(id.substr(0, dot + 1));
    if (bytes > limits_.tenant_memory_bytes - usage.memory_bytes()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          what, " and tenant \"", id.substr(0, dot), "\"",
          HoldsText(usage, limits_.tenant_memory_bytes, "tenant_memory_bytes"),
          "; ", advice));
    }
  }
  if (limits_.server_memory_bytes > 0) {
    const TenantUsage usage = Usage("");
    if (bytes > limits_.server_memory_bytes - usage.memory_bytes()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          what, " and this server",
          HoldsText(usage, limits_.server_memory_bytes, "server_memory_bytes"),
          "; ", advice, ", or start optd with a larger --server_memory_bytes"));
    }
  }
  return absl::OkStatus();
}

absl::Status SessionRegistry::CheckTenantLimits(
    absl::string_view id, const SessionBytes& bytes) const {
  const size_t dot = id.find('.');
  if (dot != absl::string_view::npos) {
    const absl::string_view tenant = id.substr(0, dot);
    const TenantUsage usage = Usage(id.substr(0, dot + 1));
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

}  // namespace optd::server
