#include "server/sharding/slice_host.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/journal.h"
#include "solvers/sharding/lbfgs_slice.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int64_t kN = 5000;  // two blocks: [0, 4096) and [4096, 5000)

v1::SliceKey Key(uint64_t epoch, int shard = 1) {
  v1::SliceKey key;
  key.set_session_id("s1");
  key.set_epoch(epoch);
  key.set_shard(shard);
  return key;
}

v1::CreateSliceRequest LbfgsSliceRequest(uint64_t epoch, bool journal = false) {
  v1::CreateSliceRequest request;
  *request.mutable_key() = Key(epoch);
  request.set_kind(v1::SLICE_KIND_LBFGS);
  request.set_dimension(kN);
  request.set_begin(4096);
  request.set_end(kN);
  request.set_memory(3);
  request.set_journal_staged(journal);
  return request;
}

std::vector<double> Part(double scale) {
  std::vector<double> v(kN - 4096);
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * (1.0 + i % 7);
  return v;
}

v1::SliceOpRequest Op(uint64_t seq, v1::SliceOp op) {
  v1::SliceOpRequest request;
  request.set_seq(seq);
  request.set_op(op);
  return request;
}

v1::SliceOpRequest SetGradient(uint64_t seq, const std::vector<double>& g) {
  v1::SliceOpRequest request = Op(seq, v1::SLICE_OP_SET_TRIAL_GRADIENT);
  request.set_data(reinterpret_cast<const char*>(g.data()), 8 * g.size());
  return request;
}

v1::SliceOpRequest Reduce(uint64_t seq) {
  v1::SliceOpRequest request = Op(seq, v1::SLICE_OP_REDUCE_TRIAL);
  request.add_scalars(0.0);
  return request;
}

v1::SliceOpBatch Batch(uint64_t epoch, std::vector<v1::SliceOpRequest> ops) {
  v1::SliceOpBatch batch;
  *batch.mutable_key() = Key(epoch);
  for (v1::SliceOpRequest& op : ops) *batch.add_ops() = std::move(op);
  return batch;
}

// g.g of this slice, as LbfgsSlice computes it.
double ExpectedGg(const std::vector<double>& g) {
  LbfgsSlice slice({4096, kN}, 3);
  std::vector<double> full(kN, 0.0);
  std::copy(g.begin(), g.end(), full.begin() + 4096);
  slice.SetTrialGradient(ConstVectorView::Float64(full.data(), kN));
  const BlockPartials p = slice.ReduceTrial(0.0, false);
  const TrialDotLayout layout{0, false};
  return p.at(0, layout.gg());
}

TEST(SliceHostTest, AppliesOperationsInSequenceAndAnswersRetries) {
  SliceHost host(1);
  ASSERT_OK(host.Create(LbfgsSliceRequest(7)));
  const std::vector<double> g = Part(0.5);
  v1::SliceOpResponse answer;
  ASSERT_OK(host.Apply(Batch(7, {SetGradient(1, g), Reduce(2)}), &answer));
  EXPECT_EQ(answer.first_block(), 1);
  EXPECT_EQ(answer.num_blocks(), 1);
  const TrialDotLayout layout{0, false};
  EXPECT_EQ(answer.partials(layout.gg()), ExpectedGg(g));
  EXPECT_EQ(answer.max_abs(), 3.5);

  // The same batch again (its answer was lost): both are skipped and the
  // cached answer comes back.
  v1::SliceOpResponse again;
  ASSERT_OK(host.Apply(Batch(7, {SetGradient(1, g), Reduce(2)}), &again));
  EXPECT_EQ(again.SerializeAsString(), answer.SerializeAsString());

  // A gap is refused: the home's view of the slice is not this one.
  EXPECT_THAT(host.Apply(Batch(7, {Reduce(4)}), &again),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("operation 4 out of order")));
  // Another epoch is another slice.
  EXPECT_THAT(host.Apply(Batch(8, {Reduce(3)}), &again),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("holds no slice 1 of session \"s1\"")));
}

TEST(SliceHostTest, RefusesMalformedSlicesAndOperations) {
  SliceHost host(0);
  v1::CreateSliceRequest bad = LbfgsSliceRequest(1);
  bad.set_begin(100);  // not on a block boundary
  EXPECT_THAT(host.Create(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("whole blocks of 4096")));
  bad = LbfgsSliceRequest(1);
  bad.set_kind(v1::SLICE_KIND_UNSPECIFIED);
  EXPECT_THAT(host.Create(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("kind is 0")));
  ASSERT_OK(host.Create(LbfgsSliceRequest(1)));
  v1::SliceOpResponse answer;
  std::vector<double> short_part(10, 1.0);
  EXPECT_THAT(host.Apply(Batch(1, {SetGradient(1, short_part)}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data has 80 bytes; the slice [4096, 5000) "
                                 "needs 7232")));
  EXPECT_THAT(host.Apply(Batch(1, {Op(1, v1::SLICE_OP_ADAM_STEP)}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not an L-BFGS operation")));
}

// Found by fuzz/slice_ops_fuzzer: an Adam step with amsgrad on a slice created
// without it read max v through a null pointer (a segfault of the replica).
TEST(SliceHostTest, RefusesAStepWhoseSlotsAreNotTheSlices) {
  SliceHost host(0);
  v1::CreateSliceRequest adam = LbfgsSliceRequest(1);
  adam.set_kind(v1::SLICE_KIND_ADAM);
  adam.set_amsgrad(false);
  ASSERT_OK(host.Create(adam));
  AdamStepScalars scalars;
  scalars.amsgrad = true;
  v1::SliceOpRequest step = Op(1, v1::SLICE_OP_ADAM_STEP);
  AdamScalarsToProto(scalars, step.mutable_scalars());
  v1::SliceOpResponse answer;
  EXPECT_THAT(host.Apply(Batch(1, {step}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("SLICE_OP_ADAM_STEP: segment 0's step uses "
                                 "the state slots s0, s1, s2 but the slice "
                                 "was created with s0, s1")));
  // The operation was refused, so its sequence number is still free.
  scalars.amsgrad = false;
  step.clear_scalars();
  AdamScalarsToProto(scalars, step.mutable_scalars());
  EXPECT_OK(host.Apply(Batch(1, {step}), &answer));
  // SGD with momentum on a slice of plain SGD (no slots).
  v1::CreateSliceRequest sgd = LbfgsSliceRequest(1);
  sgd.set_kind(v1::SLICE_KIND_ADAM);
  sgd.set_slots(0);
  SliceHost other(0);
  ASSERT_OK(other.Create(sgd));
  AdamStepScalars momentum;
  momentum.method = ElementwiseMethod::kSgd;
  momentum.momentum = 0.9;
  v1::SliceOpRequest sgd_step = Op(1, v1::SLICE_OP_ADAM_STEP);
  AdamScalarsToProto(momentum, sgd_step.mutable_scalars());
  EXPECT_THAT(other.Apply(Batch(1, {sgd_step}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("uses the state slots s0 but the slice was "
                                 "created with none")));
  // A method number out of range.
  sgd_step.set_scalars(11, 8);
  EXPECT_THAT(other.Apply(Batch(1, {sgd_step}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("scalars[11] (the method) is 8")));
}

// Found by fuzz/stored_session_fuzzer: the session id of a slice names its
// staged-vector file, and any bytes were taken ("\0", "../x").
TEST(SliceHostTest, RefusesASliceKeyThatIsNotASessionId) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/slice_key_", getpid());
  SliceHost host(0, dir);
  for (const std::string& id : {std::string("../escape"), std::string("a/b"),
                                std::string("\0\x11", 2), std::string()}) {
    v1::CreateSliceRequest request = LbfgsSliceRequest(1, /*journal=*/true);
    request.mutable_key()->set_session_id(id);
    EXPECT_THAT(host.Create(request),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("is not a valid")))
        << id;
  }
  // A tenant's session (tenant.h) is stored as "<tenant>.<id>".
  v1::CreateSliceRequest scoped = LbfgsSliceRequest(1, /*journal=*/true);
  scoped.mutable_key()->set_session_id("alice.exp1");
  EXPECT_OK(host.Create(scoped));
  v1::CreateSliceRequest negative = LbfgsSliceRequest(1);
  negative.mutable_key()->set_shard(-1);
  EXPECT_THAT(host.Create(negative),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key.shard is -1; it must be >= 0")));
  EXPECT_FALSE(std::filesystem::exists(dir + "/escape.1.staged"));
  std::filesystem::remove_all(dir);
}

TEST(SliceHostTest, RefusesASliceOfADimensionAboveTheLimit) {
  SliceHost host(0, "", /*max_dimension=*/8192);
  v1::CreateSliceRequest request = LbfgsSliceRequest(1);
  request.set_dimension(8193);
  request.set_begin(0);
  request.set_end(4096);
  EXPECT_THAT(host.Create(request),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("dimension is 8193; this replica's limit is "
                                 "8192 (--max_dimension)")));
  v1::GetReplicaStatusResponse status;
  host.Describe(&status);
  EXPECT_EQ(status.slices_size(), 0);
  request.set_dimension(8192);
  EXPECT_OK(host.Create(request));
}

// Found by fuzz/slice_ops_fuzzer: a CG operation on a trust-region slice
// created without the CG vectors wrote through their null data.
TEST(SliceHostTest, RefusesCgOperationsOnASliceWithoutCgVectors) {
  SliceHost host(0);
  v1::CreateSliceRequest tr = LbfgsSliceRequest(1);
  tr.set_kind(v1::SLICE_KIND_TRUST_REGION);
  tr.set_cg_vectors(false);
  ASSERT_OK(host.Create(tr));
  v1::SliceOpResponse answer;
  EXPECT_THAT(host.Apply(Batch(1, {Op(1, v1::SLICE_OP_CG_START)}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("SLICE_OP_CG_START: needs the CG vectors, "
                                 "and the slice was created with cg_vectors "
                                 "false")));
  EXPECT_THAT(host.Apply(Batch(1, {SetGradient(1, Part(1.0)),
                                   Op(2, v1::SLICE_OP_READ_DIRECTION)}),
                         &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("SLICE_OP_READ_DIRECTION: needs the CG")));
  // With them, the same operations run.
  tr.set_cg_vectors(true);
  tr.mutable_key()->set_epoch(2);
  ASSERT_OK(host.Create(tr));
  EXPECT_OK(host.Apply(
      Batch(2, {SetGradient(1, Part(1.0)), Op(2, v1::SLICE_OP_CG_START),
                Op(3, v1::SLICE_OP_READ_DIRECTION)}),
      &answer));
}

v1::PutSliceRequest Put(uint64_t trial, const std::vector<double>& values) {
  v1::PutSliceRequest request;
  request.set_session_id("s1");
  request.set_trial_id(trial);
  request.set_shard(1);
  request.set_field(v1::SLICE_FIELD_GRADIENT);
  request.mutable_values()->set_f64(
      reinterpret_cast<const char*>(values.data()), 8 * values.size());
  return request;
}

TEST(SliceHostTest, StagedGradientsAreCheckedAndConsumedByTheirTrial) {
  SliceHost host(1);
  ASSERT_OK(host.Create(LbfgsSliceRequest(3)));
  std::vector<double> g = Part(0.25);
  // Checked when they arrive: the field, the length, finiteness.
  v1::PutSliceRequest put = Put(5, g);
  put.set_field(v1::SLICE_FIELD_POINT);
  EXPECT_THAT(host.Stage(put),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field is SLICE_FIELD_POINT")));
  EXPECT_THAT(host.Stage(Put(5, std::vector<double>(3, 1.0))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("values has 3 elements; shard 1 of session "
                                 "\"s1\" holds elements [4096, 5000) (904)")));
  std::vector<double> bad = g;
  bad[10] = std::numeric_limits<double>::infinity();
  EXPECT_THAT(host.Stage(Put(5, bad)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient[4106] is inf")));
  put = Put(5, g);
  put.set_shard(0);
  EXPECT_THAT(host.Stage(put), StatusIs(absl::StatusCode::kNotFound,
                                        HasSubstr("holds no shard 0")));

  ASSERT_OK(host.Stage(Put(5, g)).status());
  {
    v1::GetReplicaStatusResponse status;
    host.Describe(&status);
    EXPECT_EQ(status.slices(0).staged_bytes(), 8 * g.size());
  }
  // The home's operation names the trial instead of carrying the data.
  v1::SliceOpRequest set = Op(1, v1::SLICE_OP_SET_TRIAL_GRADIENT);
  set.set_staged_trial(5);
  v1::SliceOpResponse answer;
  ASSERT_OK(host.Apply(Batch(3, {set, Reduce(2)}), &answer));
  EXPECT_FALSE(answer.missing());
  EXPECT_EQ(answer.partials(TrialDotLayout{0, false}.gg()), ExpectedGg(g));

  // The tell may have been refused for another shard's missing slice: the
  // retry finds this one still here.
  set.set_seq(3);
  ASSERT_OK(host.Apply(Batch(3, {set, Reduce(4)}), &answer));
  EXPECT_FALSE(answer.missing());
  EXPECT_EQ(answer.partials(TrialDotLayout{0, false}.gg()), ExpectedGg(g));
  // Once the next trial's point is published the bytes go (this slice is
  // not journaled: a replay could not find them).
  v1::SliceOpRequest publish = Op(0, v1::SLICE_OP_READ_TRIAL_POINT);
  publish.set_publish_trial(6);
  ASSERT_OK(host.Apply(Batch(3, {publish}), &answer));
  v1::GetReplicaStatusResponse status;
  host.Describe(&status);
  EXPECT_EQ(status.slices(0).staged_bytes(), 0);
  set.set_seq(5);
  ASSERT_OK(host.Apply(Batch(3, {set}), &answer));
  EXPECT_TRUE(answer.missing());

  // A retry with the same values is fine; other values for a told trial are
  // refused.
  EXPECT_OK(host.Stage(Put(5, g)).status());
  EXPECT_THAT(host.Stage(Put(5, Part(2.0))),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trial 5 of session \"s1\" was told with "
                                 "another gradient slice on shard 1")));
  // A trial nothing was sent for answers `missing`.
  set = Op(6, v1::SLICE_OP_SET_TRIAL_GRADIENT);
  set.set_staged_trial(6);
  ASSERT_OK(host.Apply(Batch(3, {set}), &answer));
  EXPECT_TRUE(answer.missing());
}

TEST(SliceHostTest, PublishedPointsAreServedForTheirTrialOnly) {
  SliceHost host(1);
  ASSERT_OK(host.Create(LbfgsSliceRequest(2)));
  const std::vector<double> x = Part(3.0);
  v1::SliceOpRequest point = Op(1, v1::SLICE_OP_SET_TRIAL_POINT);
  point.set_data(reinterpret_cast<const char*>(x.data()), 8 * x.size());
  v1::SliceOpRequest publish = Op(0, v1::SLICE_OP_READ_TRIAL_POINT);
  publish.set_publish_trial(9);
  v1::SliceOpResponse answer;
  ASSERT_OK(host.Apply(Batch(2, {point, publish}), &answer));
  EXPECT_TRUE(answer.data().empty());

  v1::GetSliceRequest get;
  get.set_session_id("s1");
  get.set_shard(1);
  get.set_trial_id(9);
  get.set_field(v1::SLICE_FIELD_POINT);
  v1::GetSliceResponse slice;
  ASSERT_OK(host.ReadPublished(get, &slice));
  EXPECT_EQ(slice.begin(), 4096);
  EXPECT_EQ(slice.end(), kN);
  ASSERT_EQ(slice.values().f64().size(), 8 * x.size());
  EXPECT_EQ(std::memcmp(slice.values().f64().data(), x.data(), 8 * x.size()),
            0);
  get.set_encoding(v1::VECTOR_ENCODING_VALUES);
  slice.Clear();
  ASSERT_OK(host.ReadPublished(get, &slice));
  EXPECT_EQ(slice.values().values(0), x[0]);

  get.set_trial_id(8);
  EXPECT_THAT(
      host.ReadPublished(get, &slice),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("serves the point of trial 9, not of trial 8")));
}

TEST(SliceHostTest, JournaledStagedVectorsOutliveARestartAndGoWithPurge) {
  const std::string dir =
      ::testing::TempDir() + "/slice_host_test_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  const std::vector<double> g = Part(0.75);
  {
    SliceHost host(1, dir);
    ASSERT_OK(host.Create(LbfgsSliceRequest(1, /*journal=*/true)));
    ASSERT_OK(host.Stage(Put(4, g)).status());
    v1::SliceOpRequest set = Op(1, v1::SLICE_OP_SET_TRIAL_GRADIENT);
    set.set_staged_trial(4);
    v1::SliceOpResponse answer;
    ASSERT_OK(host.Apply(Batch(1, {set}), &answer));
  }
  // A new process on the same directory; the home rebuilds the slice in a
  // new epoch and replays trial 4, whose gradient comes back from disk.
  SliceHost restarted(1, dir);
  ASSERT_OK(restarted.Create(LbfgsSliceRequest(2, /*journal=*/true)));
  v1::SliceOpRequest set = Op(1, v1::SLICE_OP_SET_TRIAL_GRADIENT);
  set.set_staged_trial(4);
  v1::SliceOpResponse answer;
  ASSERT_OK(restarted.Apply(Batch(2, {set, Reduce(2)}), &answer));
  EXPECT_FALSE(answer.missing());
  EXPECT_EQ(answer.partials(TrialDotLayout{0, false}.gg()), ExpectedGg(g));
  // Export reads it without consuming it.
  v1::SliceOpRequest read = Op(0, v1::SLICE_OP_READ_STAGED);
  read.set_staged_trial(4);
  ASSERT_OK(restarted.Apply(Batch(2, {read}), &answer));
  EXPECT_EQ(answer.data().size(), 8 * g.size());

  // Named with the session's incarnation (0 here).
  const std::string file = dir + "/slices/s1.1.0000000000000000.staged";
  EXPECT_TRUE(std::filesystem::exists(file));
  restarted.Delete(Key(0), /*purge=*/true);
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_THAT(restarted.Apply(Batch(2, {Reduce(3)}), &answer),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  std::filesystem::remove_all(dir);
}

TEST(SliceHostTest, IdleSlicesExpire) {
  SliceHost host(1);
  v1::CreateSliceRequest request = LbfgsSliceRequest(1);
  request.set_ttl_seconds(10);
  ASSERT_OK(host.Create(request));
  EXPECT_EQ(host.ExpireIdle(absl::Now() + absl::Seconds(5)), 0);
  v1::GetReplicaStatusResponse status;
  host.Describe(&status);
  ASSERT_EQ(status.slices_size(), 1);
  EXPECT_EQ(status.slices(0).bytes(), 8 * 904 * (5 + 2 * 3));
  EXPECT_EQ(host.ExpireIdle(absl::Now() + absl::Seconds(11)), 1);
  status.Clear();
  host.Describe(&status);
  EXPECT_EQ(status.slices_size(), 0);
}

// Files of `dir`/slices, by name.
std::vector<std::string> SliceFiles(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry :
       std::filesystem::directory_iterator(dir + "/slices")) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string TestDir(const std::string& name) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/slice_host_", getpid(), "_", name);
  std::filesystem::remove_all(dir);
  return dir;
}

v1::SliceOpRequest Checkpoint(v1::SliceOp op, uint64_t tells,
                              uint64_t keep_from = 0,
                              uint64_t staged_told_through = 0) {
  v1::SliceOpRequest request = Op(0, op);
  request.set_checkpoint(tells);
  request.set_keep_checkpoints_from(keep_from);
  request.set_staged_told_through(staged_told_through);
  return request;
}

// A slice saves its state with the home's checkpoint, on its replica's disk,
// and a later slice (a restart, a rebuild in a new epoch) loads it: the same
// state, bit for bit. Older checkpoints go when the home says its newer one is
// durable; a load drops every other.
TEST(SliceHostTest, CheckpointsSaveAndLoadTheSliceState) {
  const std::string dir = TestDir("checkpoints");
  v1::CreateSliceRequest request = LbfgsSliceRequest(1);
  request.set_incarnation(0xabc);
  const std::vector<double> g = Part(0.5);
  v1::SliceOpResponse answer, reduced;
  {
    SliceHost host(1, dir);
    ASSERT_OK(host.Create(request));
    ASSERT_OK(host.Apply(Batch(1, {SetGradient(1, g), Reduce(2)}), &reduced));
    ASSERT_OK(host.Apply(
        Batch(1, {Checkpoint(v1::SLICE_OP_SAVE_CHECKPOINT, 5)}), &answer));
    ASSERT_OK(host.Apply(Batch(1, {Checkpoint(v1::SLICE_OP_SAVE_CHECKPOINT, 9,
                                              /*keep_from=*/5)}),
                         &answer));
    EXPECT_EQ(SliceFiles(dir),
              (std::vector<std::string>{
                  "s1.1.0000000000000abc.00000000000000000005.ckpt",
                  "s1.1.0000000000000abc.00000000000000000009.ckpt"}));
    // The home's checkpoint 9 is durable: 5 goes.
    ASSERT_OK(host.Apply(Batch(1, {Checkpoint(v1::SLICE_OP_SAVE_CHECKPOINT, 12,
                                              /*keep_from=*/9)}),
                         &answer));
    EXPECT_EQ(SliceFiles(dir).size(), 2u);
  }
  SliceHost restarted(1, dir);
  request.mutable_key()->set_epoch(2);
  ASSERT_OK(restarted.Create(request));
  EXPECT_THAT(
      restarted.Apply(Batch(2, {Checkpoint(v1::SLICE_OP_LOAD_CHECKPOINT, 5)}),
                      &answer),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("has no checkpoint 5 of shard 1 of session \"s1\"")));
  v1::SliceOpRequest load = Checkpoint(v1::SLICE_OP_LOAD_CHECKPOINT, 9);
  load.set_seq(1);
  ASSERT_OK(restarted.Apply(Batch(2, {load}), &answer));
  EXPECT_EQ(SliceFiles(dir),
            std::vector<std::string>{
                "s1.1.0000000000000abc.00000000000000000009.ckpt"});
  // The restored slice reduces its trial gradient as the saved one did.
  v1::SliceOpResponse again;
  ASSERT_OK(restarted.Apply(Batch(2, {Reduce(2)}), &again));
  EXPECT_EQ(again.partials(TrialDotLayout{0, false}.gg()), ExpectedGg(g));
  // A checkpoint saved for another slice (other memory) is refused.
  SliceHost other(1, dir);
  v1::CreateSliceRequest wider = request;
  wider.set_memory(4);
  wider.mutable_key()->set_epoch(3);
  ASSERT_OK(other.Create(wider));
  load.set_seq(1);
  EXPECT_THAT(other.Apply(Batch(3, {load}), &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was saved for another slice")));
  // A purge (the session deleted) takes them all.
  restarted.Delete(Key(0), /*purge=*/true);
  EXPECT_TRUE(SliceFiles(dir).empty());
  std::filesystem::remove_all(dir);
}

// A checkpoint is written whole, sealed, then renamed: one with fewer
// records, or with bytes after its records that do not read (its seal
// damaged), is DATA_LOSS saying so. For a damaged seal the message used to
// read "holds 2 whole records, not 2" (seen while writing the
// stored_session fuzzer's checkpoint seeds).
TEST(SliceHostTest, ACheckpointNotWholeIsDataLossSayingWhatItHolds) {
  const std::string dir = TestDir("checkpoint_damage");
  v1::CreateSliceRequest request = LbfgsSliceRequest(1);
  SliceHost host(1, dir);
  ASSERT_OK(host.Create(request));
  v1::SliceOpResponse answer;
  ASSERT_OK(host.Apply(Batch(1, {SetGradient(1, Part(0.5))}), &answer));
  ASSERT_OK(host.Apply(Batch(1, {Checkpoint(v1::SLICE_OP_SAVE_CHECKPOINT, 5)}),
                       &answer));
  const std::string path =
      dir + "/slices/s1.1.0000000000000000.00000000000000000005.ckpt";
  std::string whole;
  {
    std::ifstream in(path, std::ios::binary);
    whole.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto write = [&](const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  };
  const size_t seal = FrameSyncMark(std::string(kSaltBytes, 's'), 0).size();
  std::string damaged_seal = whole;
  damaged_seal[whole.size() - 3] ^= 0x40;
  write(damaged_seal);
  EXPECT_THAT(
      host.Apply(Batch(1, {Checkpoint(v1::SLICE_OP_LOAD_CHECKPOINT, 5)}),
                 &answer),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr(path),
                     HasSubstr(absl::StrCat("holds 2 whole records and ", seal,
                                            " bytes after them that do not "
                                            "read as one")),
                     HasSubstr("written whole"))));
  // Cut inside the state, the seal gone with it: one record and a torn
  // tail.
  write(whole.substr(0, whole.size() - seal - 4));
  EXPECT_THAT(
      host.Apply(Batch(1, {Checkpoint(v1::SLICE_OP_LOAD_CHECKPOINT, 5)}),
                 &answer),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("holds 1 whole records and ")));
  // Whole again: it loads.
  write(whole);
  ASSERT_OK(host.Apply(Batch(1, {Checkpoint(v1::SLICE_OP_LOAD_CHECKPOINT, 5)}),
                       &answer));
  std::filesystem::remove_all(dir);
}

// Staged vectors of trials a durable checkpoint holds go, from memory and
// from the journaled file (rewritten without them); a session re-created
// under the same id (another incarnation) never sees a deleted one's.
TEST(SliceHostTest, CheckpointsCompactStagedVectorsPerIncarnation) {
  const std::string dir = TestDir("staged");
  v1::CreateSliceRequest request = LbfgsSliceRequest(1, /*journal=*/true);
  request.set_incarnation(7);
  SliceHost host(1, dir);
  ASSERT_OK(host.Create(request));
  uint64_t seq = 0;
  for (uint64_t trial = 1; trial <= 6; ++trial) {
    ASSERT_OK(host.Stage(Put(trial, Part(trial))).status());
    v1::SliceOpRequest set = Op(++seq, v1::SLICE_OP_SET_TRIAL_GRADIENT);
    set.set_staged_trial(trial);
    v1::SliceOpResponse answer;
    ASSERT_OK(host.Apply(Batch(1, {set}), &answer));
  }
  const std::string staged = dir + "/slices/s1.1.0000000000000007.staged";
  const auto size_before = std::filesystem::file_size(staged);
  v1::SliceOpResponse answer;
  ASSERT_OK(host.Apply(Batch(1, {Checkpoint(v1::SLICE_OP_SAVE_CHECKPOINT, 4,
                                            /*keep_from=*/4,
                                            /*staged_told_through=*/4)}),
                       &answer));
  EXPECT_LT(std::filesystem::file_size(staged), size_before / 2);
  // Trials 5 and 6 are still there for a replay, from the rewritten file.
  v1::SliceOpRequest read = Op(0, v1::SLICE_OP_READ_STAGED);
  read.set_staged_trial(5);
  ASSERT_OK(host.Apply(Batch(1, {read}), &answer));
  EXPECT_EQ(answer.data(),
            std::string(reinterpret_cast<const char*>(Part(5).data()),
                        8 * Part(5).size()));
  read.set_staged_trial(3);
  EXPECT_THAT(host.Apply(Batch(1, {read}), &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no longer keeps the gradient of trial 3")));
  // Deleted (its purge lost), then created again: another incarnation.
  SliceHost restarted(1, dir);
  request.set_incarnation(8);
  request.mutable_key()->set_epoch(2);
  ASSERT_OK(restarted.Create(request));
  EXPECT_FALSE(std::filesystem::exists(staged));
  read.set_staged_trial(5);
  EXPECT_THAT(restarted.Apply(Batch(2, {read}), &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  std::filesystem::remove_all(dir);
}

// A client may stage vectors for a few trials ahead, not without bound.
TEST(SliceHostTest, StagingForTrialsNotToldIsBounded) {
  SliceHost host(1);
  ASSERT_OK(host.Create(LbfgsSliceRequest(1)));
  for (uint64_t trial = 1; trial <= 4; ++trial) {
    ASSERT_OK(host.Stage(Put(trial, Part(1))).status());
  }
  EXPECT_THAT(host.Stage(Put(5, Part(1))),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("holds 4 gradient slices of shard 1 of "
                                 "session \"s1\" for trials not told yet, its "
                                 "limit (4)")));
  // A retry of one of them is no new vector.
  EXPECT_OK(host.Stage(Put(4, Part(1))).status());
  v1::GetReplicaStatusResponse status;
  host.Describe(&status);
  EXPECT_EQ(status.slices(0).staged_bytes(), 4 * 8 * (kN - 4096));
  // Told, they make room.
  v1::SliceOpRequest set = Op(1, v1::SLICE_OP_SET_TRIAL_GRADIENT);
  set.set_staged_trial(4);
  v1::SliceOpResponse answer;
  ASSERT_OK(host.Apply(Batch(1, {set}), &answer));
  EXPECT_OK(host.Stage(Put(5, Part(1))).status());
}

}  // namespace
}  // namespace optd::server
