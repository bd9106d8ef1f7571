// The slice side of data parallelism on sharded sessions (data_parallel_sum.h)
// through SliceHost: staging through the home, the tell's check, the mean in
// tell order, and what a slice serves and keeps for a step's workers.
#include "server/sharding/data_parallel_sum.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sharding/slice_host.h"
#include "solvers/sharding/lbfgs_slice.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kN = 5000;  // the slice holds [4096, 5000)
constexpr int64_t kBegin = 4096;
constexpr int kWorkers = 3;

v1::SliceKey Key(int shard = 1) {
  v1::SliceKey key;
  key.set_session_id("dp");
  key.set_epoch(1);
  key.set_shard(shard);
  return key;
}

v1::CreateSliceRequest SliceRequest(v1::SliceKind kind, bool float32 = false) {
  v1::CreateSliceRequest request;
  *request.mutable_key() = Key();
  request.set_kind(kind);
  request.set_dimension(kN);
  request.set_begin(kBegin);
  request.set_end(kN);
  request.set_memory(3);
  request.set_float32(float32);
  request.set_data_parallel_workers(kWorkers);
  return request;
}

// A worker's gradient slice: elements that round differently in each order.
std::vector<double> Part(double scale) {
  std::vector<double> v(kN - kBegin);
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * (0.1 + i % 7) / 3.0;
  return v;
}

v1::PutSliceRequest Put(uint64_t trial, const std::vector<double>& values) {
  v1::PutSliceRequest request;
  request.set_session_id("dp");
  request.set_trial_id(trial);
  request.set_shard(1);
  request.set_field(v1::SLICE_FIELD_GRADIENT);
  request.mutable_values()->set_f64(
      reinterpret_cast<const char*>(values.data()), 8 * values.size());
  return request;
}

v1::SliceOpRequest StageOp(uint64_t seq, uint64_t trial,
                           const std::vector<double>& values) {
  v1::SliceOpRequest op;
  op.set_seq(seq);
  op.set_op(v1::SLICE_OP_STAGE_GRADIENT);
  op.set_staged_trial(trial);
  op.set_data(reinterpret_cast<const char*>(values.data()), 8 * values.size());
  return op;
}

v1::SliceOpRequest Step(v1::SliceOp op, uint64_t seq,
                        const std::vector<uint64_t>& trials,
                        const std::vector<double>& weights) {
  v1::SliceOpRequest request;
  request.set_seq(seq);
  request.set_op(op);
  for (uint64_t t : trials) request.add_data_parallel_trials(t);
  for (double w : weights) request.add_data_parallel_weights(w);
  return request;
}

v1::SliceOpRequest Add(const std::vector<uint64_t>& trials,
                       const std::vector<double>& weights) {
  return Step(v1::SLICE_OP_DATA_PARALLEL_ADD, 0, trials, weights);
}

v1::SliceOpRequest Mean(uint64_t seq, const std::vector<uint64_t>& trials,
                        const std::vector<double>& weights) {
  v1::SliceOpRequest request =
      Step(v1::SLICE_OP_SET_TRIAL_GRADIENT, seq, trials, weights);
  request.set_data_parallel_mean(true);
  return request;
}

absl::Status Apply(SliceHost& host, std::vector<v1::SliceOpRequest> ops,
                   v1::SliceOpResponse* answer) {
  v1::SliceOpBatch batch;
  *batch.mutable_key() = Key();
  for (v1::SliceOpRequest& op : ops) *batch.add_ops() = std::move(op);
  return host.Apply(batch, answer);
}

// The in-process adapter's mean (solvers/adapters/data_parallel.cc): sum =
// w_0 g_0, sum += w_k g_k in tell order, divided by the weights' sum.
std::vector<double> InProcessMean(const std::vector<std::vector<double>>& g,
                                  const std::vector<double>& w) {
  std::vector<double> sum(g[0].size());
  double total = 0.0;
  for (size_t k = 0; k < g.size(); ++k) {
    for (size_t i = 0; i < sum.size(); ++i) {
      if (k == 0) {
        sum[i] = w[k] * g[k][i];
      } else {
        sum[i] += w[k] * g[k][i];
      }
    }
    total += w[k];
  }
  for (double& s : sum) s /= total;
  return sum;
}

// The slice's trial gradient, read back through its g.g partial against an
// LbfgsSlice given `expected`.
void ExpectTrialGradient(SliceHost& host, uint64_t seq,
                         const std::vector<double>& expected) {
  LbfgsSlice slice({kBegin, kN}, 3);
  std::vector<double> full(kN, 0.0);
  std::copy(expected.begin(), expected.end(), full.begin() + kBegin);
  slice.SetTrialGradient(ConstVectorView::Float64(full.data(), kN));
  const TrialDotLayout layout{0, false};
  const double gg = slice.ReduceTrial(0.0, false).at(0, layout.gg());
  v1::SliceOpRequest reduce;
  reduce.set_seq(seq);
  reduce.set_op(v1::SLICE_OP_REDUCE_TRIAL);
  reduce.add_scalars(0.0);
  v1::SliceOpResponse answer;
  ASSERT_OK(Apply(host, {reduce}, &answer));
  EXPECT_EQ(answer.partials(layout.gg()), gg);
}

TEST(DataParallelSum, TheMeanIsTheInProcessAdaptersInTellOrder) {
  SliceHost host(1);
  ASSERT_OK(host.Create(SliceRequest(v1::SLICE_KIND_LBFGS)));
  const std::vector<double> g11 = Part(1.0), g12 = Part(-3.0), g13 = Part(7.0);
  // Two workers sent their slices (direct path), one came through the home.
  ASSERT_OK(host.Stage(Put(11, g11)).status());
  ASSERT_OK(host.Stage(Put(13, g13)).status());
  v1::SliceOpResponse answer;
  ASSERT_OK(Apply(host, {StageOp(1, 12, g12)}, &answer));
  // Told 13, 11, 12 with weights 3.5, 1.5, 2.5.
  const std::vector<uint64_t> order = {13, 11, 12};
  const std::vector<double> weights = {3.5, 1.5, 2.5};
  for (size_t told = 1; told <= order.size(); ++told) {
    answer.Clear();
    ASSERT_OK(Apply(host,
                    {Add({order.begin(), order.begin() + told},
                         {weights.begin(), weights.begin() + told})},
                    &answer));
    EXPECT_FALSE(answer.missing());
    EXPECT_EQ(answer.bad_index(), -1);
    EXPECT_EQ(answer.overflow_index(), -1);
  }
  ASSERT_OK(Apply(host, {Mean(2, order, weights)}, &answer));
  EXPECT_FALSE(answer.missing());
  const std::vector<double> mean = InProcessMean({g13, g11, g12}, weights);
  ExpectTrialGradient(host, 3, mean);
  // Another order rounds differently: the slice sums in the order named.
  const std::vector<double> other =
      InProcessMean({g11, g12, g13}, {1.5, 2.5, 3.5});
  EXPECT_NE(std::memcmp(mean.data(), other.data(), 8 * mean.size()), 0);
}

TEST(DataParallelSum, ASumNotCachedIsFormedAgainFromTheStagedGradients) {
  SliceHost host(1);
  ASSERT_OK(host.Create(SliceRequest(v1::SLICE_KIND_LBFGS)));
  const std::vector<double> g1 = Part(2.0), g2 = Part(-5.0);
  ASSERT_OK(host.Stage(Put(1, g1)).status());
  ASSERT_OK(host.Stage(Put(2, g2)).status());
  v1::SliceOpResponse answer;
  // The cache holds trial 1 first; the mean names 2 first (a replay in
  // another process would have no cache at all).
  ASSERT_OK(Apply(host, {Add({1}, {1.25})}, &answer));
  ASSERT_OK(Apply(host, {Mean(1, {2, 1}, {0.75, 1.25})}, &answer));
  ExpectTrialGradient(host, 2, InProcessMean({g2, g1}, {0.75, 1.25}));
}

TEST(DataParallelSum, AnOverflowingTellIsReportedAndNothingKept) {
  SliceHost host(1);
  ASSERT_OK(host.Create(SliceRequest(v1::SLICE_KIND_LBFGS)));
  std::vector<double> big = Part(1.0);
  big[100] = 1e10;
  ASSERT_OK(host.Stage(Put(1, Part(1.0))).status());
  ASSERT_OK(host.Stage(Put(2, big)).status());
  ASSERT_OK(host.Stage(Put(3, Part(1.0))).status());
  v1::SliceOpResponse answer;
  ASSERT_OK(Apply(host, {Add({1}, {1e300})}, &answer));
  ASSERT_OK(Apply(host, {Add({1, 2}, {1e300, 1e300})}, &answer));
  EXPECT_EQ(answer.overflow_index(), kBegin + 100);
  EXPECT_EQ(answer.overflow_element(), 1e10);
  // Trial 2 was refused: not told, so its client may send other values.
  EXPECT_OK(host.Stage(Put(2, Part(1.0))).status());
  answer.Clear();
  ASSERT_OK(Apply(host, {Add({1, 3}, {1e300, 1.0})}, &answer));
  EXPECT_EQ(answer.overflow_index(), -1);
  // Trial 3 was told: a retry must send the same values.
  EXPECT_OK(host.Stage(Put(3, Part(1.0))).status());
  EXPECT_THAT(host.Stage(Put(3, Part(2.0))),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trial 3 of session \"dp\" was told with "
                                 "another gradient slice on shard 1")));
}

TEST(DataParallelSum, AFloat32SliceNamesAnElementBeyondFloat) {
  SliceHost host(1);
  ASSERT_OK(host.Create(SliceRequest(v1::SLICE_KIND_ADAM, /*float32=*/true)));
  std::vector<double> g = Part(1.0);
  g[7] = 1e39;
  ASSERT_OK(host.Stage(Put(4, g)).status());
  v1::SliceOpResponse answer;
  ASSERT_OK(Apply(host, {Add({4}, {1.0})}, &answer));
  EXPECT_EQ(answer.bad_index(), kBegin + 7);
  EXPECT_EQ(answer.overflow_element(), 1e39);
}

TEST(DataParallelSum, MissingGradientsAndMalformedStepsAreAnswered) {
  SliceHost host(1);
  ASSERT_OK(host.Create(SliceRequest(v1::SLICE_KIND_LBFGS)));
  ASSERT_OK(host.Stage(Put(1, Part(1.0))).status());
  v1::SliceOpResponse answer;
  ASSERT_OK(Apply(host, {Add({1, 9}, {1.0, 1.0})}, &answer));
  EXPECT_TRUE(answer.missing());
  answer.Clear();
  ASSERT_OK(Apply(host, {Mean(1, {9}, {1.0})}, &answer));
  EXPECT_TRUE(answer.missing());
  EXPECT_THAT(Apply(host, {Add({1}, {})}, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "data_parallel_trials has 1 trials and "
                       "data_parallel_weights 0 weights; a data-parallel "
                       "step names at least one trial, each with its "
                       "weight"));
  v1::SliceOpRequest stage = StageOp(2, 5, std::vector<double>(3, 1.0));
  EXPECT_THAT(Apply(host, {stage}, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "SLICE_OP_STAGE_GRADIENT carries 24 bytes for 904 "
                       "elements"));
}

TEST(DataParallelSum, AStepsWorkersShareOnePointAndTheStagingLimit) {
  SliceHost host(1);
  ASSERT_OK(host.Create(SliceRequest(v1::SLICE_KIND_LBFGS)));
  // 4 + W untold gradients fit.
  for (uint64_t trial = 1; trial <= 4 + kWorkers; ++trial) {
    ASSERT_OK(host.Stage(Put(trial, Part(1.0))).status());
  }
  EXPECT_THAT(host.Stage(Put(8, Part(1.0))),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("for trials not told yet, its limit (7)")));
  // The point published for a step's first trial serves its W trials.
  v1::SliceOpRequest publish;
  publish.set_op(v1::SLICE_OP_READ_TRIAL_POINT);
  publish.set_publish_trial(20);
  v1::SliceOpResponse answer;
  ASSERT_OK(Apply(host, {publish}, &answer));
  v1::GetSliceRequest get;
  get.set_session_id("dp");
  get.set_shard(1);
  get.set_field(v1::SLICE_FIELD_POINT);
  v1::GetSliceResponse slice;
  for (uint64_t trial : {20, 21, 22}) {
    get.set_trial_id(trial);
    EXPECT_OK(host.ReadPublished(get, &slice)) << trial;
  }
  for (uint64_t trial : {19, 23}) {
    get.set_trial_id(trial);
    EXPECT_THAT(host.ReadPublished(get, &slice),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("serves the point of trial 20")))
        << trial;
  }
}

}  // namespace
}  // namespace optd::server
