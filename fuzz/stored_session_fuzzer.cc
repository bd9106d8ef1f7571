// stored_session_fuzzer: decoding what a data directory holds, through the
// recovery path optd runs at start.
//
// Feeds: the input bytes, parsed as optd.fuzz.StoredSessions
// (fuzz_input.proto), written as files of a fresh data directory:
// sessions/<id>.journal (journal.h: a header SessionSnapshot, maybe with an
// Adam checkpoint, then SnapshotTell records), wal/<seq>.wal (wal.h) and
// slices/<id>.<shard>.staged (slice_host.h). Files are either raw bytes or
// built from messages with good checksums and then damaged (flipped bytes, a
// cut), so the fuzzer reaches both the framing checks and the decoders
// behind them. Then, as OptdServer::Create does: SessionStore::Open and
// SessionManager::Recover (journals replayed into sessions, the write-ahead
// log's tells appended, checkpoints restored), the recovered sessions listed,
// described and driven by the input's steps (fuzz/harness.h), optionally
// exported and imported into a second server; and SliceHost::Create over each
// staged file, with its staged vectors read back.
//
// Checks, besides the sanitizers and harness.h's: recovery either loads a
// session or reports it damaged (DATA_LOSS) — never a crash; a loaded
// session exports and imports into an identical session; and recovering
// the same directory a second time (after a clean shutdown) gives the same
// sessions in the same states with the same outstanding trials, trial logs
// and gradient checks.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "absl/base/internal/endian.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fuzz/harness.h"
#include "fuzz_input.pb.h"
#include "server/storage/journal.h"
#include "server/session/session_manager.h"
#include "server/storage/session_store.h"
#include "server/sharding/slice_host.h"

namespace optd::fuzz {
namespace {

namespace fs = std::filesystem;

std::string* data_dir = nullptr;

// The file names the input may pick stay inside their directory.
std::string SafeName(std::string name) {
  if (name.empty()) name = "x";
  if (name.size() > 100) name.resize(100);
  for (char& c : name) {
    if (c == '/' || c == '\0') c = '_';
  }
  if (name == "." || name == "..") name = "x";
  return name;
}

void Damage(const google::protobuf::RepeatedPtrField<Corruption>& damage,
            std::string* file) {
  for (const Corruption& c : damage) {
    if (file->empty()) return;
    const size_t at = c.offset() % file->size();
    if (c.truncate()) {
      file->resize(at);
    } else {
      const uint8_t flip = c.flip() & 0xff;
      (*file)[at] = static_cast<char>((*file)[at] ^ (flip == 0 ? 0xff : flip));
    }
  }
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string JournalBytes(const JournalFile& journal) {
  if (!journal.raw().empty()) return journal.raw();
  std::string file(server::kJournalMagic);
  file += server::FrameRecord(journal.header().SerializeAsString());
  for (const v1::SnapshotTell& tell : journal.tells()) {
    file += server::FrameRecord(tell.SerializeAsString());
  }
  for (const std::string& raw : journal.raw_records()) {
    file += server::FrameRecord(raw);
  }
  Damage(journal.damage(), &file);
  return file;
}

std::string WalBytes(const WalFile& wal) {
  if (!wal.raw().empty()) return wal.raw();
  std::string file = "OPTDWAL1";  // wal.cc's kWalMagic
  for (const WalRecord& r : wal.records()) {
    const std::string id = r.session_id().substr(0, 0xffff);
    std::string payload(2, '\0');
    absl::little_endian::Store16(payload.data(),
                                 static_cast<uint16_t>(id.size()));
    payload += id;
    char numbers[16];
    absl::little_endian::Store64(numbers, r.incarnation());
    absl::little_endian::Store64(numbers + 8, r.tell());
    payload.append(numbers, sizeof(numbers));
    payload += r.raw().empty()
                   ? server::FrameRecord(r.record().SerializeAsString())
                   : r.raw();
    file += server::FrameRecord(payload);
  }
  Damage(wal.damage(), &file);
  return file;
}

std::string StagedBytes(const StagedFile& staged) {
  if (!staged.raw().empty()) return staged.raw();
  std::string file = "OPTDSLC1";  // slice_host.cc's kStagedMagic
  file += server::FrameRecord(staged.header().SerializeAsString());
  for (const v1::PutSliceRequest& put : staged.puts()) {
    file += server::FrameRecord(put.SerializeAsString());
  }
  Damage(staged.damage(), &file);
  return file;
}

// What a second recovery must find again: id -> state, Ask answer and
// GetSession (the trial log and gradient checks included).
using Fingerprints = std::map<std::string, std::string>;

std::string Fingerprint(server::SessionManager& manager,
                        const std::string& id) {
  v1::GetSessionRequest get;
  get.set_session_id(id);
  v1::Session described;
  absl::Status status = manager.Get(get, &described);
  CheckClean(status, "GetSession");
  if (!status.ok()) return absl::StrCat("error ", status.code());
  if (described.state() == v1::SESSION_STATE_DAMAGED) return "damaged";
  absl::StatusOr<std::shared_ptr<server::Session>> session = manager.Find(id);
  CheckClean(session.status(), "Find");
  if (!session.ok()) return absl::StrCat("error ", session.status().code());
  // Leases are not journaled: after a restart every trial is free again.
  return absl::StrCat(described.state(), " ", described.tells(), " ",
                      SessionFingerprint(**session, /*with_leases=*/false));
}

Fingerprints AllFingerprints(server::SessionManager& manager) {
  Fingerprints out;
  v1::ListSessionsRequest list;
  list.set_page_size(1000);
  v1::ListSessionsResponse listed;
  CheckClean(manager.List(list, &listed), "ListSessions");
  for (const v1::Session& s : listed.sessions()) {
    out[s.session_id()] = Fingerprint(manager, s.session_id());
  }
  return out;
}

// A loaded session, exported, imports into an identical session.
void ExportImport(server::SessionManager& manager, const std::string& id) {
  v1::SessionSnapshot snapshot;
  absl::Status status = manager.Export(id, &snapshot);
  CheckClean(status, "ExportSession");
  if (!status.ok()) return;
  server::SessionManager other;
  v1::ImportSessionRequest request;
  *request.mutable_snapshot() = snapshot;
  absl::StatusOr<std::shared_ptr<server::Session>> imported =
      other.Import(request);
  Require(imported.ok(), absl::StrCat("session \"", id,
                                      "\" exports a snapshot that does not "
                                      "import: ",
                                      imported.status().ToString()));
  const std::string imported_print = Fingerprint(other, id);
  const std::string print = Fingerprint(manager, id);
  Require(imported_print == print,
          absl::StrCat("session \"", id, "\" imports as another session:\n",
                       absl::CHexEscape(print), "\nvs\n",
                       absl::CHexEscape(imported_print)));
}

// One server start on the directory: recovery, the steps, a clean stop.
// Returns false when recovery refused the directory.
bool StartAndStop(const StoredSessions& input, bool with_steps,
                  Fingerprints* fingerprints) {
  absl::StatusOr<std::unique_ptr<server::SessionStore>> store =
      server::SessionStore::Open({.data_dir = *data_dir,
                                  .commit_threads = 1,
                                  .wal_segment_bytes = int64_t{64} << 10});
  CheckClean(store.status(), "SessionStore::Open");
  if (!store.ok()) return false;
  server::SessionLimits limits;
  limits.max_sessions = 16;
  limits.max_dimension = 64;
  server::SessionManager manager(limits, {}, store->get());
  absl::StatusOr<server::SessionManager::RecoveryCounts> counts =
      manager.Recover();
  CheckClean(counts.status(), "Recover");
  if (!counts.ok()) return false;
  if (with_steps) {
    ScriptRunner runner(&manager);
    v1::ListSessionsRequest list;
    list.set_page_size(1000);
    v1::ListSessionsResponse listed;
    CheckClean(manager.List(list, &listed), "ListSessions");
    for (const v1::Session& s : listed.sessions()) {
      absl::StatusOr<std::shared_ptr<server::Session>> session =
          manager.Find(s.session_id());
      if (session.ok()) runner.Adopt(*session);
      if (session.ok() && input.export_import()) {
        ExportImport(manager, s.session_id());
      }
    }
    for (const Step& step : input.steps()) runner.Run(step);
  }
  *fingerprints = AllFingerprints(manager);
  manager.FlushCheckpoints();
  (*store)->SyncAll();
  return true;
}

void Staged(const StagedFile& staged) {
  v1::CreateSliceRequest create = staged.create();
  // SliceHost allocates (end - begin) * (memory + 5) doubles: an internal
  // request from the session's home, whose size the home bounded.
  if (create.end() - create.begin() > 4096 || create.memory() > 16) return;
  create.set_journal_staged(true);
  const v1::SliceKey& key = create.key();
  if (!key.session_id().empty()) {
    WriteFile(absl::StrCat(*data_dir, "/slices/", SafeName(key.session_id()),
                           ".", key.shard(), ".staged"),
              StagedBytes(staged));
  }
  server::SliceHost host(/*replica_index=*/0, *data_dir);
  absl::Status status = host.Create(create);
  CheckClean(status, "SliceHost::Create");
  if (!status.ok()) return;
  v1::SliceOpBatch batch;
  *batch.mutable_key() = create.key();
  uint64_t seq = 0;
  for (v1::SliceOpRequest op : staged.ops()) {
    op.set_seq(++seq);
    op.set_op(v1::SLICE_OP_READ_STAGED);
    *batch.add_ops() = op;
  }
  v1::SliceOpResponse answer;
  CheckClean(host.Apply(batch, &answer), "SliceHost::Apply");
}

}  // namespace
}  // namespace optd::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  optd::fuzz::QuietLogs();
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/optd-fuzz-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  optd::fuzz::data_dir = new std::string(pattern + "/data");
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(
        std::filesystem::path(*optd::fuzz::data_dir).parent_path(), ignored);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace optd::fuzz;
  StoredSessions input;
  if (!input.ParseFromArray(data, static_cast<int>(size))) return -1;
  std::error_code ignored;
  fs::remove_all(*data_dir, ignored);
  fs::create_directories(*data_dir + "/sessions");
  fs::create_directories(*data_dir + "/wal");
  fs::create_directories(*data_dir + "/slices");
  for (const JournalFile& journal : input.journals()) {
    const std::string name =
        SafeName(journal.name().empty() ? journal.header().create().session_id()
                                        : journal.name());
    WriteFile(absl::StrCat(*data_dir, "/sessions/", name, ".journal"),
              JournalBytes(journal));
  }
  for (const WalFile& wal : input.wal()) {
    WriteFile(absl::StrFormat("%s/wal/%020d.wal", *data_dir, wal.sequence()),
              WalBytes(wal));
  }
  Fingerprints first, second;
  if (StartAndStop(input, /*with_steps=*/true, &first)) {
    Require(StartAndStop(input, /*with_steps=*/false, &second),
            "a directory recovered once does not recover again");
    for (const auto& [id, print] : first) {
      auto it = second.find(id);
      Require(it != second.end(),
              absl::StrCat("session \"", id, "\" is gone after a restart"));
      Require(it->second == print,
              absl::StrCat("session \"", id, "\" differs after a restart:\n",
                           print, "\nvs\n", it->second));
    }
    Require(first.size() == second.size(), "a restart adds sessions");
  }
  for (const StagedFile& staged : input.staged()) Staged(staged);
  return 0;
}
