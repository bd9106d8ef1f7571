#include "server/session/session_recovery.h"

#include <set>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/codec/time.h"
#include "server/codec/vectors.h"
#include "server/session/codecs.h"
#include "server/session/solver_factory.h"
#include "spdlog/spdlog.h"

namespace optd::server {

absl::StatusOr<RecoveredStore> RecoverStore(SessionStore& store,
                                            const SessionFactory& factory) {
  RecoveredStore result;
  RecoveryCounts& counts = result.counts;
  // 1. Every journal file, replayed into its session.
  struct Recovered {
    // kLocal: `session` loaded; kDormant: sharded, built by
    // SessionManager::Find() (RebuildSession).
    Residency residency = Residency::kLocal;
    std::shared_ptr<Session> session;
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
  OPTD_ASSIGN_OR_RETURN(std::vector<std::string> ids, store.ListSessionIds());
  for (const std::string& id : ids) {
    const std::string path = store.JournalPath(id);
    std::shared_ptr<Session> session;
    absl::StatusOr<JournalHeader> read = ReadStoredSession(
        store, factory, id, path, /*defer_sharded=*/true, &session);
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
    if (session == nullptr) r.residency = Residency::kDormant;
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
  OPTD_RETURN_IF_ERROR(store.ReadWal(
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
        if (r.residency == Residency::kDormant) return absl::OkStatus();
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
        r.residency == Residency::kLocal
            ? r.session->tells()
            : (header.has_checkpoint() ? header.checkpoint().tells() : 0) +
                  r.read.tells;
    absl::StatusOr<std::shared_ptr<SessionJournal>> journal = store.Reopen(
        id, r.read.read, tells,
        header.create().durability().checkpoint_interval(),
        r.residency == Residency::kLocal && factory.UsesWal(*r.session),
        header.incarnation());
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
    if (r.residency == Residency::kDormant) {
      r.journal = *std::move(journal);
    } else {
      r.session->AttachJournal(*std::move(journal));
    }
  }
  store.FinishRecovery(/*keep_log=*/log_damaged, /*until_synced=*/unsynced);
  // 4. What the registry takes.
  for (auto& [id, r] : recovered) {
    if (damaged.count(id) > 0) continue;
    counts.tells += r.read.tells;
    if (r.read.header.has_checkpoint()) ++counts.checkpoints;
    ++counts.loaded;
    SessionEntry& entry = result.entries[id];
    entry.residency = r.residency;
    if (r.residency == Residency::kDormant) {
      // Idle since the journal was last written (its last tell).
      const absl::StatusOr<absl::Time> written =
          store.env()->ModificationTime(r.journal->path());
      const absl::Time last = written.ok() ? *written : absl::Now();
      entry.journal = std::move(r.journal);
      entry.expires =
          last + absl::Seconds(r.read.header.create().ttl_seconds());
    } else {
      entry.session = std::move(r.session);
    }
  }
  for (auto& [id, damage] : damaged) {
    spdlog::error("session \"{}\" is damaged and was not loaded: {}", id,
                  damage);
    ++counts.damaged;
    SessionEntry& entry = result.entries[id];
    entry.residency = Residency::kDamaged;
    entry.damage = std::move(damage);
  }
  counts.tells += from_log;
  return result;
}

absl::StatusOr<JournalHeader> ReadStoredSession(
    SessionStore& store, const SessionFactory& factory, const std::string& id,
    const std::string& path, bool defer_sharded,
    std::shared_ptr<Session>* session) {
  return ReadJournal(
      store.env(), path,
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
            factory.Build(header.create(), TimeFromProto(header.create_time()),
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

absl::StatusOr<std::shared_ptr<Session>> RebuildSession(
    SessionStore* store, const SessionFactory& factory, absl::string_view id,
    const std::shared_ptr<SessionJournal>& journal) {
  if (journal == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "session \"", id,
        "\" lost a shard and lives in memory only (optd runs without "
        "--data_dir), so it cannot be rebuilt; delete it and start again"));
  }
  OPTD_RETURN_IF_ERROR(journal->SyncNow());
  std::shared_ptr<Session> fresh;
  absl::StatusOr<JournalHeader> read =
      ReadStoredSession(*store, factory, std::string(id), journal->path(),
                        /*defer_sharded=*/false, &fresh);
  if (!read.ok()) {
    if (absl::IsUnavailable(read.status()) ||
        absl::IsFailedPrecondition(read.status())) {
      return absl::UnavailableError(
          absl::StrCat("session \"", id,
                       "\" cannot be rebuilt yet: ", read.status().message()));
    }
    return read.status();
  }
  fresh->AttachJournal(journal);
  return fresh;
}

}  // namespace optd::server
