// gen_corpus's seeds of stored_session_fuzzer: data directories written by
// real sessions and slices, read back as written and rebuilt from their
// records (gen_corpus.cc's header says which forms).
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fuzz/gen_corpus.h"
#include "fuzz/harness.h"
#include "fuzz/stored_files.h"
#include "server/session/session_manager.h"
#include "server/sharding/slice_host.h"
#include "server/storage/env.h"
#include "server/storage/journal.h"
#include "server/storage/session_store.h"
#include "server/storage/slice_checkpoint.h"

namespace optd::fuzz::corpus {
namespace {

namespace fs = std::filesystem;

// Runs `create` and `steps` with a store in `dir`, then stops.
void RunStored(const std::string& dir, const v1::CreateSessionRequest& create,
               const std::vector<Step>& steps) {
  absl::StatusOr<std::unique_ptr<server::SessionStore>> store =
      server::SessionStore::Open({.data_dir = dir, .commit_threads = 1});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  server::SessionManager manager({}, {}, store->get());
  if (!manager.Recover().ok()) std::exit(1);
  ScriptRunner runner(&manager);
  runner.Run(CreateStep(create));
  for (const Step& step : steps) runner.Run(step);
  manager.FlushCheckpoints();
  (*store)->SyncAll();
}

// The journal at `path` as a structured JournalFile (header and tells).
JournalFile Structured(const fs::path& path, int max_tells) {
  JournalFile file;
  absl::StatusOr<server::JournalHeader> read = server::ReadJournal(
      server::Env::Default(), path.string(),
      [&](const v1::SessionSnapshot& header) {
        *file.mutable_header() = header;
        return absl::OkStatus();
      },
      [&](int64_t i, const v1::SnapshotTell& tell) {
        if (i < max_tells) *file.add_tells() = tell;
        return absl::OkStatus();
      });
  if (!read.ok()) std::exit(1);
  return file;
}

// Seeds `name`_raw, _structured and _torn: `create` run through `steps`
// with a store in `dir`, its files read back, then `after` on the recovered
// session.
void StoredSeeds(const std::string& dir, const std::string& name,
                 const v1::CreateSessionRequest& create,
                 const std::vector<Step>& steps, const Step& after) {
  RunStored(dir, create, steps);
  const fs::path journal =
      fs::path(dir) / "sessions" / (create.session_id() + ".journal");
  StoredSessions raw;  // the files as written
  JournalFile* raw_journal = raw.add_journals();
  raw_journal->set_name(create.session_id());
  raw_journal->set_raw(ReadFile(journal));
  for (const auto& entry : fs::directory_iterator(fs::path(dir) / "wal")) {
    WalFile* wal = raw.add_wal();
    wal->set_raw(ReadFile(entry.path()));
  }
  *raw.add_steps() = after;
  raw.set_export_import(true);
  Write("stored_session", absl::StrCat(name, "_raw"), raw);
  // Structured: the first 3 tells in the journal, tells 3.. in the log.
  StoredSessions structured;
  JournalFile all = Structured(journal, 1000);
  JournalFile* file = structured.add_journals();
  *file = Structured(journal, 3);
  WalFile* wal = structured.add_wal();
  wal->set_sequence(7);
  for (int i = 2; i < all.tells_size(); ++i) {
    WalRecord* r = wal->add_records();
    r->set_session_id(create.session_id());
    r->set_incarnation(all.header().incarnation());
    r->set_tell(i + 1);
    *r->mutable_record() = all.tells(i);
  }
  *structured.add_steps() = after;
  Write("stored_session", absl::StrCat(name, "_structured"), structured);
  // The journal's last record cut short: a torn tail the log covers.
  StoredSessions torn = structured;
  size_t size = server::kJournalMagic.size() +
                server::FrameRecord(file->header().SerializeAsString()).size();
  for (const v1::SnapshotTell& tell : file->tells()) {
    size += server::FrameRecord(tell.SerializeAsString()).size();
  }
  Corruption* cut = torn.mutable_journals(0)->add_damage();
  cut->set_truncate(true);
  cut->set_offset(size - 5);
  Write("stored_session", absl::StrCat(name, "_torn"), torn);
  // Version 2, as this build writes it: the journal sealed when created and
  // marked after each synced tell but the last, which a crash spoiled (a
  // flipped byte after the last mark: a torn tail, the log has the tell);
  // the log sealed when created and marked after each record but the last,
  // spoiled too.
  StoredSessions sealed = structured;
  JournalFile* sealed_journal = sealed.mutable_journals(0);
  Sealing* journal_seal = sealed_journal->mutable_sealing();
  journal_seal->set_v2(true);
  journal_seal->set_salt("jnl-salt");
  for (int records = 1; records <= sealed_journal->tells_size(); ++records) {
    journal_seal->add_mark_after(records);
  }
  WalFile* sealed_wal = sealed.mutable_wal(0);
  Sealing* wal_seal = sealed_wal->mutable_sealing();
  wal_seal->set_v2(true);
  wal_seal->set_salt("wal-salt");
  for (int records = 0; records < sealed_wal->records_size(); ++records) {
    wal_seal->add_mark_after(records);
  }
  Corruption* spoiled = sealed_journal->add_damage();
  spoiled->set_offset(JournalBytes(*sealed_journal).size() - 3);
  spoiled->set_flip(0x20);
  spoiled = sealed_wal->add_damage();
  spoiled->set_offset(WalBytes(*sealed_wal).size() - 3);
  spoiled->set_flip(0x20);
  Write("stored_session", absl::StrCat(name, "_sealed"), sealed);
  // Damage before a mark, in synced records: the journal's first tell
  // (DATA_LOSS, the session damaged) and the log's second record (a range
  // stepped over).
  StoredSessions damaged = sealed;
  JournalFile* damaged_journal = damaged.mutable_journals(0);
  damaged_journal->clear_damage();
  damaged_journal->mutable_sealing()->add_mark_after(
      damaged_journal->tells_size() + 1);
  JournalFile header_only = *damaged_journal;
  header_only.clear_tells();
  Corruption* flipped = damaged_journal->add_damage();
  flipped->set_offset(JournalBytes(header_only).size() + 12);
  flipped->set_flip(0x01);
  WalFile* damaged_wal = damaged.mutable_wal(0);
  damaged_wal->clear_damage();
  damaged_wal->mutable_sealing()->add_mark_after(damaged_wal->records_size());
  WalFile first_record = *damaged_wal;
  while (first_record.records_size() > 1)
    first_record.mutable_records()->RemoveLast();
  flipped = damaged_wal->add_damage();
  flipped->set_offset(WalBytes(first_record).size() + 12);
  flipped->set_flip(0x80);
  Write("stored_session", absl::StrCat(name, "_damaged"), damaged);
}

// Exits with `what` and `status` unless `status` is OK.
void OrDie(const absl::Status& status, const std::string& what) {
  if (status.ok()) return;
  std::fprintf(stderr, "gen_corpus: %s: %s\n", what.c_str(),
               status.ToString().c_str());
  std::exit(1);
}

// Seeds slice_checkpoint_<kind>: a real slice with a data directory (a
// staged gradient, operations, SLICE_OP_SAVE_CHECKPOINT), its staged file
// and checkpoint read back as written, then the same files built from
// their records (version 2, round trip and compaction on); for L-BFGS also
// a checkpoint damaged before its seal and one whose seal was never
// written, cut short.
void SliceCheckpointSeeds(const std::string& dir) {
  constexpr uint64_t kTells = 5;
  for (const SliceKindOps& kind : SliceKinds()) {
    // Rebuilt by replaying its tells: an L-BFGS-B slice has no checkpoint.
    if (kind.kind == v1::SLICE_KIND_LBFGSB) continue;
    const std::string data_dir = absl::StrCat(dir, "/", kind.name);
    fs::create_directories(data_dir);
    v1::CreateSliceRequest create;
    create.mutable_key()->set_session_id("s1");
    create.mutable_key()->set_epoch(2);
    create.mutable_key()->set_shard(1);
    create.set_kind(kind.kind);
    create.set_dimension(kSliceElements);
    create.set_begin(0);
    create.set_end(kSliceElements);
    create.set_memory(3);
    create.set_cg_vectors(true);
    create.set_journal_staged(true);
    create.set_incarnation(0x5eed);
    v1::PutSliceRequest put;
    put.set_session_id("s1");
    put.set_shard(1);
    put.set_trial_id(1);
    put.set_field(v1::SLICE_FIELD_GRADIENT);
    for (int i = 0; i < kSliceElements; ++i) {
      put.mutable_values()->add_values(0.25 * (i - 3));
    }
    {
      server::SliceHost host(/*replica_index=*/0, data_dir);
      OrDie(host.Create(create), "SliceHost::Create");
      v1::PutSliceRequest staged = put;
      OrDie(host.Stage(staged).status(), "SliceHost::Stage");
      uint64_t seq = 0;
      for (v1::SliceOpRequest op : kind.ops) {
        // Memory is what a checkpoint keeps.
        if (op.op() == v1::SLICE_OP_CLEAR_MEMORY) continue;
        v1::SliceOpBatch batch;
        *batch.mutable_key() = create.key();
        op.set_seq(++seq);
        *batch.add_ops() = op;
        v1::SliceOpResponse answer;
        if (!host.Apply(batch, &answer).ok()) --seq;
      }
      v1::SliceOpBatch save;
      *save.mutable_key() = create.key();
      save.add_ops()->set_op(v1::SLICE_OP_SAVE_CHECKPOINT);
      save.mutable_ops(0)->set_seq(++seq);
      save.mutable_ops(0)->set_checkpoint(kTells);
      v1::SliceOpResponse answer;
      OrDie(host.Apply(save, &answer), "SLICE_OP_SAVE_CHECKPOINT");
    }
    v1::SliceOpRequest read;
    read.set_staged_trial(1);
    StoredSessions raw;
    StagedFile* file = raw.add_staged();
    file->set_raw(ReadFile(StagedPath(data_dir, create)));
    *file->mutable_create() = create;
    *file->add_ops() = read;
    CheckpointFile* checkpoint = file->mutable_checkpoint();
    checkpoint->set_tells(kTells);
    checkpoint->set_raw(ReadFile(CheckpointPath(data_dir, create, kTells)));
    checkpoint->set_round_trip(true);
    if (file->raw().empty() || checkpoint->raw().empty()) {
      OrDie(absl::NotFoundError(StagedPath(data_dir, create)), "read back");
    }
    Write("stored_session", absl::StrCat("slice_checkpoint_", kind.name), raw);
    // The same built: the staged file sealed when created and marked after
    // the put; the checkpoint sealed. The round trip's save compacts the
    // staged trial away (read back after: refused) and keeps only itself.
    absl::StatusOr<std::string> state =
        server::SliceCheckpoints(server::Env::Default(), data_dir + "/slices")
            .Load(create, kTells);
    OrDie(state.status(), "SliceCheckpoints::Load");
    StoredSessions built;
    file = built.add_staged();
    *file->mutable_header() = create;
    *file->add_puts() = put;
    file->mutable_sealing()->set_v2(true);
    file->mutable_sealing()->set_salt("stg-salt");
    file->mutable_sealing()->add_mark_after(1);
    file->mutable_sealing()->add_mark_after(2);
    *file->mutable_create() = create;
    *file->add_ops() = read;
    checkpoint = file->mutable_checkpoint();
    checkpoint->set_tells(kTells);
    checkpoint->set_state(*state);
    checkpoint->mutable_sealing()->set_v2(true);
    checkpoint->mutable_sealing()->set_salt("ckp-salt");
    checkpoint->mutable_sealing()->set_mark_at_end(true);
    checkpoint->set_round_trip(true);
    checkpoint->mutable_save()->set_staged_told_through(1);
    checkpoint->mutable_save()->set_keep_checkpoints_from(kTells + 1);
    Write("stored_session",
          absl::StrCat("slice_checkpoint_", kind.name, "_built"), built);
    if (kind.kind != v1::SLICE_KIND_LBFGS) continue;
    // A flipped byte in the state, which the seal after it vouches for:
    // DATA_LOSS.
    StoredSessions damaged = built;
    checkpoint = damaged.mutable_staged(0)->mutable_checkpoint();
    Corruption* flip = checkpoint->add_damage();
    flip->set_offset(
        CheckpointBytes(*checkpoint, create).size() -
        server::FrameSyncMark(std::string(server::kSaltBytes, '\0'), 0).size() -
        4);
    flip->set_flip(0x10);
    Write("stored_session", "slice_checkpoint_damaged", damaged);
    // No seal and the state cut short: a torn tail, and a checkpoint
    // without its state is damage all the same.
    StoredSessions torn = built;
    checkpoint = torn.mutable_staged(0)->mutable_checkpoint();
    checkpoint->mutable_sealing()->set_mark_at_end(false);
    Corruption* cut = checkpoint->add_damage();
    cut->set_offset(CheckpointBytes(*checkpoint, create).size() - 4);
    cut->set_truncate(true);
    Write("stored_session", "slice_checkpoint_torn", torn);
  }
}

}  // namespace

void StoredSession() {
  char pattern[] = "/tmp/optd-gen-corpus-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) std::exit(1);
  const std::string tmp = pattern;
  const std::vector<double> x0 = {-1.2, 1.0};
  int n = 0;
  for (const std::string solver : {"lbfgs", "tr_exact", "adam"}) {
    v1::CreateSessionRequest create = Create(solver, x0);
    create.set_session_id(
        absl::StrCat(solver == "tr_exact" ? "tr" : solver, "-1"));
    StoredSeeds(absl::StrCat(tmp, "/", n++), solver, create, {Evaluate(6)},
                Evaluate(3));
  }
  {  // L-BFGS-B, x0 outside the box.
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.set_session_id("lbfgsb-1");
    SetBounds(&create, {-1, -INFINITY}, {INFINITY, 0.5});
    StoredSeeds(absl::StrCat(tmp, "/", n++), "lbfgsb", create, {Evaluate(6)},
                Evaluate(3));
  }
  {  // Central differences stopped mid-stencil (7 tells, stencils of 4),
     // told by workers with notes; the trial log comes back with them.
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.set_session_id("fd-1");
    SetBounds(&create, {-1.2, -2}, {2, 2});
    create.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
    Step worker = WorkerEvaluate(7, "w1", 2, 1);
    worker.mutable_evaluate()->set_note("fd");
    Step after = WorkerEvaluate(5, "w2", 1, 0);
    StoredSeeds(absl::StrCat(tmp, "/", n++), "fd_midstencil", create, {worker},
                after);
  }
  {  // A gradient check stopped inside its stencil.
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.set_session_id("check-1");
    create.mutable_gradient_check()->set_every_iterations(1);
    Step jittered = Evaluate(6);
    jittered.mutable_evaluate()->set_jitter(1e-3);
    StoredSeeds(absl::StrCat(tmp, "/", n++), "gradient_check", create,
                {jittered}, Evaluate(4));
  }
  {  // Data-parallel Adam checkpointing mid-step, with weights.
    v1::CreateSessionRequest create = Create("adam", x0);
    create.set_session_id("dp-1");
    create.mutable_data_parallel()->set_workers(3);
    create.mutable_durability()->set_checkpoint_interval(2);
    Step heavy = WorkerEvaluate(4, "w1", 2);
    heavy.mutable_evaluate()->set_weight(3);
    heavy.mutable_evaluate()->set_jitter(0.1);
    Step light = WorkerEvaluate(3, "w2");
    light.mutable_evaluate()->set_weight(0.25);
    light.mutable_evaluate()->set_jitter(0.1);
    Step after = WorkerEvaluate(4, "w3", 3);
    after.mutable_evaluate()->set_weight(1.5);
    StoredSeeds(absl::StrCat(tmp, "/", n++), "data_parallel_adam", create,
                {heavy, light}, after);
  }
  {  // Data-parallel L-BFGS-B journaling every tell, mid-step.
    v1::CreateSessionRequest create = Create("lbfgs", x0);
    create.set_session_id("dp-2");
    SetBounds(&create, {-1, -1}, {1, 0.5});
    create.mutable_data_parallel()->set_workers(2);
    Step weighted = Evaluate(7);
    weighted.mutable_evaluate()->set_weight(2);
    weighted.mutable_evaluate()->set_jitter(0.01);
    StoredSeeds(absl::StrCat(tmp, "/", n++), "data_parallel_lbfgsb", create,
                {weighted}, GetWithTrials());
  }
  {  // An Adam session that checkpoints (its journal header holds the state).
    const std::string dir = absl::StrCat(tmp, "/ckpt");
    v1::CreateSessionRequest create = Create("adam", x0);
    create.set_session_id("ckpt-1");
    create.mutable_durability()->set_checkpoint_interval(2);
    RunStored(dir, create, {Evaluate(5)});
    StoredSessions checkpointed;
    *checkpointed.add_journals() =
        Structured(fs::path(dir) / "sessions" / "ckpt-1.journal", 1000);
    *checkpointed.add_steps() = Evaluate(2);
    checkpointed.set_export_import(true);
    Write("stored_session", "adam_checkpoint", checkpointed);
  }
  {  // A staged-slice file read back by a slice.
    StoredSessions staged;
    StagedFile* file = staged.add_staged();
    v1::CreateSliceRequest create;
    create.mutable_key()->set_session_id("s1");
    create.mutable_key()->set_epoch(3);
    create.mutable_key()->set_shard(1);
    create.set_incarnation(42);
    create.set_kind(v1::SLICE_KIND_LBFGS);
    create.set_dimension(8);
    create.set_begin(0);
    create.set_end(8);
    create.set_memory(2);
    *file->mutable_header() = create;
    *file->mutable_create() = create;
    v1::PutSliceRequest* put = file->add_puts();
    put->set_session_id("s1");
    put->set_trial_id(4);
    put->set_shard(1);
    put->set_field(v1::SLICE_FIELD_GRADIENT);
    for (int i = 0; i < 8; ++i) put->mutable_values()->add_values(i);
    v1::SliceOpRequest* read = file->add_ops();
    read->set_staged_trial(4);
    v1::SliceOpRequest* set = file->add_ops();
    set->set_op(v1::SLICE_OP_SET_TRIAL_GRADIENT);
    set->set_staged_trial(4);
    Write("stored_session", "staged", staged);
  }
  SliceCheckpointSeeds(absl::StrCat(tmp, "/slices"));
  std::error_code ignored;
  fs::remove_all(tmp, ignored);
}

}  // namespace optd::fuzz::corpus
