// stored_session_fuzzer: decoding what a data directory holds, through the
// recovery path optd runs at start.
//
// Feeds: the input bytes, parsed as optd.fuzz.StoredSessions
// (fuzz_input.proto), written as files of a fresh data directory
// (stored_files.h builds them):
//   sessions/<id>.journal (journal.h: a header SessionSnapshot, maybe with an
//     Adam checkpoint, then SnapshotTell records),
//   wal/<seq>.wal (wal.h),
//   slices/<id>.<shard>.<incarnation>.staged (slice_host.h: the staged
//     vectors of the slice the input then creates), and
//   slices/<id>.<shard>.<incarnation>.<tells>.ckpt (slice_checkpoint.h: a
//     checkpoint of that slice, its identity and state).
// Files are either raw bytes or built from messages with good checksums, as
// version 1 (no salt, no marks) or version 2 (a salt and sync marks where
// the input puts them, claiming what it says: Sealing), and then damaged
// (flipped bytes, a cut), so that the fuzzer reaches the framing checks, the
// torn-tail-versus-damage decision the marks drive, and the decoders behind
// them. Then, as OptdServer::Create does: SessionStore::Open and
// SessionManager::Recover (journals replayed into sessions, the write-ahead
// log's tells appended, damaged log ranges stepped over, checkpoints
// restored), the recovered sessions listed, described and driven by the
// input's steps (fuzz/harness.h), optionally exported and imported into a
// second server; and SliceHost::Create over each staged file, then
// SLICE_OP_LOAD_CHECKPOINT of its checkpoint (optionally saved, loaded and
// saved again, with compaction of the staged file) and SLICE_OP_READ_STAGED
// of its staged vectors.
//
// Checks, besides the sanitizers and harness.h's: recovery either loads a
// session or reports it damaged (DATA_LOSS) — never a crash; a loaded
// session exports and imports into an identical session; recovering the
// same directory a second time (after a clean shutdown) gives the same
// sessions in the same states with the same outstanding trials, trial logs
// and gradient checks; every slice operation succeeds or is a clean refusal;
// and a slice state that loaded from a checkpoint saves as the bytes it
// loaded, and that checkpoint loads and saves again alike.
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
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fuzz/harness.h"
#include "fuzz/stored_files.h"
#include "fuzz_input.pb.h"
#include "server/session/session_manager.h"
#include "server/sharding/slice_host.h"
#include "server/storage/env.h"
#include "server/storage/journal.h"
#include "server/storage/session_store.h"
#include "server/storage/slice_checkpoint.h"

namespace optd::fuzz {
namespace {

namespace fs = std::filesystem;

std::string* data_dir = nullptr;

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
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

// Applies one operation to the slice of `create`, numbered as a home numbers
// them (the next seq; a refused operation takes none).
class SliceDriver {
 public:
  SliceDriver(server::SliceHost* host, const v1::CreateSliceRequest& create)
      : host_(host), create_(create) {}

  absl::Status Apply(const std::vector<v1::SliceOpRequest>& ops,
                     v1::SliceOpResponse* answer = nullptr) {
    v1::SliceOpBatch batch;
    *batch.mutable_key() = create_.key();
    uint64_t seq = seq_;
    for (v1::SliceOpRequest op : ops) {
      op.set_seq(++seq);
      *batch.add_ops() = std::move(op);
    }
    v1::SliceOpResponse ignored;
    absl::Status status =
        host_->Apply(batch, answer != nullptr ? answer : &ignored);
    CheckClean(status, "SliceHost::Apply");
    if (status.ok()) seq_ = seq;
    return status;
  }

 private:
  server::SliceHost* const host_;
  const v1::CreateSliceRequest create_;
  uint64_t seq_ = 0;
};

// The checkpoint after `tells` that is neither 0 (refused) nor `tells`.
uint64_t After(uint64_t tells) { return tells + 1 == 0 ? 1 : tells + 1; }

// The state record of checkpoint `tells` of `create`'s slice.
absl::StatusOr<std::string> SavedState(const v1::CreateSliceRequest& create,
                                       uint64_t tells) {
  return server::SliceCheckpoints(server::Env::Default(), *data_dir + "/slices")
      .Load(create, tells);
}

// SLICE_OP_LOAD_CHECKPOINT of the checkpoint file, and the round trip: a
// state that loaded saves as the same bytes (nothing of it is dropped or
// changed on the way), and that checkpoint loads and saves again alike.
void LoadCheckpoint(SliceDriver& slice, const v1::CreateSliceRequest& create,
                    const CheckpointFile& checkpoint) {
  // What the load will read (the file's state record), when it reads.
  const absl::StatusOr<std::string> loaded =
      SavedState(create, checkpoint.tells());
  v1::SliceOpRequest load = checkpoint.load();
  load.set_op(v1::SLICE_OP_LOAD_CHECKPOINT);
  load.set_checkpoint(checkpoint.tells());
  if (!slice.Apply({load}).ok() || !checkpoint.round_trip()) return;
  Require(loaded.ok(), absl::StrCat("checkpoint ", checkpoint.tells(),
                                    " loaded, but does not read: ",
                                    loaded.status().ToString()));
  v1::SliceOpRequest save = checkpoint.save();
  save.set_op(v1::SLICE_OP_SAVE_CHECKPOINT);
  if (save.checkpoint() == 0) save.set_checkpoint(After(checkpoint.tells()));
  if (!slice.Apply({save}).ok()) return;
  const uint64_t saved = save.checkpoint();
  // keep_checkpoints_from past it removes what was just saved.
  const absl::StatusOr<std::string> first = SavedState(create, saved);
  if (!first.ok()) return;
  Require(
      *first == *loaded,
      absl::StrCat("a slice state loaded from checkpoint ", checkpoint.tells(),
                   " saves as other bytes:\n", absl::CHexEscape(*loaded),
                   "\nvs\n", absl::CHexEscape(*first)));
  v1::SliceOpRequest again;
  again.set_op(v1::SLICE_OP_LOAD_CHECKPOINT);
  again.set_checkpoint(saved);
  absl::Status status = slice.Apply({again});
  Require(status.ok(), absl::StrCat("checkpoint ", saved,
                                    " that the slice saved does not load: ",
                                    status.ToString()));
  v1::SliceOpRequest resave;
  resave.set_op(v1::SLICE_OP_SAVE_CHECKPOINT);
  resave.set_checkpoint(After(saved));
  status = slice.Apply({resave});
  Require(status.ok(), absl::StrCat("a slice loaded from checkpoint ", saved,
                                    " does not save: ", status.ToString()));
  const absl::StatusOr<std::string> second =
      SavedState(create, resave.checkpoint());
  Require(second.ok() && *second == *first,
          absl::StrCat("checkpoint ", saved,
                       " loaded and saved again is not the same state: ",
                       second.ok() ? absl::CHexEscape(*second)
                                   : second.status().ToString()));
}

void Staged(const StagedFile& staged) {
  v1::CreateSliceRequest create = staged.create();
  // SliceHost allocates (end - begin) * (memory + 5) doubles: an internal
  // request from the session's home, whose size the home bounded.
  if (create.end() - create.begin() > 4096 || create.memory() > 16) return;
  create.set_journal_staged(true);
  if (!create.key().session_id().empty()) {
    WriteFile(StagedPath(*data_dir, create), StagedBytes(staged));
    if (staged.has_checkpoint()) {
      WriteFile(CheckpointPath(*data_dir, create, staged.checkpoint().tells()),
                CheckpointBytes(staged.checkpoint(), create));
    }
  }
  server::SliceHost host(/*replica_index=*/0, *data_dir);
  absl::Status status = host.Create(create);
  CheckClean(status, "SliceHost::Create");
  if (!status.ok()) return;
  SliceDriver slice(&host, create);
  if (staged.has_checkpoint()) {
    LoadCheckpoint(slice, create, staged.checkpoint());
  }
  std::vector<v1::SliceOpRequest> reads;
  for (v1::SliceOpRequest op : staged.ops()) {
    op.set_op(v1::SLICE_OP_READ_STAGED);
    reads.push_back(std::move(op));
  }
  if (!reads.empty()) slice.Apply(reads).IgnoreError();
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
