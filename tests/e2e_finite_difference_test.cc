// End to end: finite-difference sessions on a real optd process through the
// C++ client, whose trials come as deltas from the batch's first trial
// (trials.proto Trial.delta). The client rebuilds every point bit for bit:
// the runs end where they ended when the server sent each point whole.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/minimize.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"
#include "tests/test_objectives.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Result;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::Trial;

using FiniteDifferenceEndToEnd = OptdServerTest;

// The extended Rosenbrock function in n = 4 from (-1.2, 1, -1.2, 1) in the
// box [-2, 0.5] x [-2, 2]^3, by L-BFGS-B on values only: what optd answered
// before compact trials (the same run against the server of commit 20e5036,
// whose answers carried every stencil point whole).
struct Golden {
  v1::FiniteDifferenceOptions::Scheme scheme;
  int64_t evaluations;
  int64_t iterations;
  std::vector<double> x;
};
const Golden kCentral = {v1::FiniteDifferenceOptions::SCHEME_CENTRAL,
                         468,
                         41,
                         {0x1.0000000000000p-1, 0x1.fffffcaa0f0d9p-3,
                          0x1.ffffee2354b95p-1, 0x1.ffffe1b807987p-1}};
const Golden kForward = {v1::FiniteDifferenceOptions::SCHEME_FORWARD,
                         270,
                         42,
                         {0x1.0000000000000p-1, 0x1.0000144268c1dp-2,
                          0x1.ffff9686e8240p-1, 0x1.ffff30a168cd3p-1}};

v1::CreateSessionRequest BoxedRequest(const std::string& id,
                                      v1::FiniteDifferenceOptions::Scheme s) {
  SessionOptions options;
  options.session_id = id;
  options.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
  options.lower = {-2.0, -2.0, -2.0, -2.0};
  options.upper = {0.5, 2.0, 2.0, 2.0};
  v1::CreateSessionRequest request = client::MakeCreateSessionRequest(
      {-1.2, 1.0, -1.2, 1.0}, SolverSpec::Lbfgs(), options);
  request.mutable_finite_difference()->set_scheme(s);
  return request;
}

std::vector<uint64_t> Bits(const std::vector<double>& x) {
  std::vector<uint64_t> bits(x.size());
  std::memcpy(bits.data(), x.data(), 8 * x.size());
  return bits;
}

TEST_F(FiniteDifferenceEndToEnd, RunStreamEndsBitwiseWhereWholePointsDid) {
  for (const Golden& golden : {kCentral, kForward}) {
    v1::OptimizeRequest open;
    *open.mutable_create() = BoxedRequest(
        absl::StrCat("stream-", golden.evaluations), golden.scheme);
    absl::StatusOr<Result> result =
        client::RunStream(client(), open, client::Objective(Rosenbrock));
    ASSERT_OK(result);
    EXPECT_TRUE(result->success) << result->brief_report;
    EXPECT_EQ(result->evaluations, golden.evaluations);
    EXPECT_EQ(result->iterations, golden.iterations);
    EXPECT_EQ(Bits(result->x), Bits(golden.x));
  }
}

TEST_F(FiniteDifferenceEndToEnd, WorkersLeasingStencilPointsEndBitwise) {
  // Three workers take two trials each in turn: all but the first hold
  // stencil points only, whose base point comes apart (base_points). The
  // tell order differs from the stream's; the iterates do not.
  absl::StatusOr<Session> session =
      Session::Create(client(), BoxedRequest("workers", kCentral.scheme));
  ASSERT_OK(session);
  ASSERT_EQ(session->first_trials().size(), 9u);
  int64_t tells = 0;
  bool finished = false;
  for (int round = 0; round < 10000 && !finished; ++round) {
    for (const char* worker : {"w0", "w1", "w2"}) {
      absl::StatusOr<Answer> held = session->AskAsWorker(worker, 2);
      ASSERT_OK(held);
      if (held->finished()) {
        finished = true;
        EXPECT_EQ(held->summary->evaluations, kCentral.evaluations);
        EXPECT_EQ(Bits(held->summary->x), Bits(kCentral.x));
        break;
      }
      for (const Trial& trial : held->trials) {
        ASSERT_EQ(trial.x.size(), 4u);
        v1::TellRequest tell =
            client::MakeTellRequest(trial.id, Rosenbrock(trial.x, trial.wants),
                                    v1::VECTOR_ENCODING_F64);
        tell.set_worker_id(worker);
        ASSERT_OK(session->Tell(tell));
        ++tells;
      }
    }
  }
  EXPECT_TRUE(finished);
  EXPECT_EQ(tells, kCentral.evaluations);
}

// Peak resident memory of process `pid` in bytes (VmHWM).
int64_t PeakResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    long long kib = 0;
    if (std::sscanf(line.c_str(), "VmHWM: %lld kB", &kib) == 1) {
      return kib * 1024;
    }
  }
  return -1;
}

TEST_F(FiniteDifferenceEndToEnd, AStencilOfEightThousandCoordinatesIsLinear) {
  // n = 8000: with every stencil point whole, CreateSession answered 1 GB and
  // optd peaked at 2 GB. Compact, the answer is x once and 16000 deltas.
  const int64_t n = 8000;
  SessionOptions options;
  options.session_id = "big";
  options.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
  std::vector<double> x0(n);
  for (int64_t i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  absl::StatusOr<Session> session =
      Session::Create(client(), x0, SolverSpec::Lbfgs(), options);
  ASSERT_OK(session);
  // A worker asking for 1024 trials after another took trial 1: stencil
  // points only, each x0 with one coordinate moved.
  absl::StatusOr<Answer> center = session->AskAsWorker("center");
  ASSERT_OK(center);
  ASSERT_EQ(center->trials.size(), 1u);
  EXPECT_EQ(Bits(center->trials[0].x), Bits(x0));
  absl::StatusOr<Answer> many = session->AskAsWorker("many", 1024);
  ASSERT_OK(many);
  ASSERT_EQ(many->trials.size(), 1024u);
  for (const Trial& trial : many->trials) {
    // Trial 2 + 2i is x - h e_i, trial 3 + 2i is x + h e_i.
    const int64_t i = static_cast<int64_t>(trial.id - 2) / 2;
    std::vector<double> expected = x0;
    expected[i] = trial.x[i];
    ASSERT_EQ(Bits(trial.x), Bits(expected)) << trial.id;
    EXPECT_EQ(trial.x[i] < x0[i], trial.id % 2 == 0) << trial.id;
  }
  const int64_t peak = PeakResidentBytes(optd().pid());
  ASSERT_GT(peak, 0);
  EXPECT_LT(peak, int64_t{256} << 20);
}

TEST(ServerMemoryEndToEnd, StencilsAndExportsBeyondTheLimitAreRefused) {
  // n = 1000: L-BFGS holds 208,000 bytes; with central differences the
  // stencil and a lease per trial of its 2001 add about 560,000. The
  // journal of x0 is about 8 KB, which an export reads and copies.
  OptdProcess optd;
  ASSERT_OK(optd.Start({"--server_memory_bytes=220000"}));
  {
    absl::StatusOr<client::Client> client =
        client::Client::Connect(optd.address());
    ASSERT_OK(client);
    SessionOptions options;
    options.session_id = "fd";
    options.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
    const std::vector<double> x0(1000, 0.5);
    EXPECT_THAT(
        Session::Create(*client, x0, SolverSpec::Lbfgs(), options).status(),
        StatusIs(absl::StatusCode::kResourceExhausted,
                 ::testing::AllOf(
                     ::testing::HasSubstr("finite-difference stencil (batches "
                                          "of up to 2001 trials"),
                     ::testing::HasSubstr("this server holds 0 of its 220000 "
                                          "(--server_memory_bytes)"))));
    EXPECT_THAT(client->ListSessions(), IsOkAndHolds(::testing::IsEmpty()));
    options.session_id = "plain";
    options.gradient_source = v1::GRADIENT_SOURCE_CLIENT;
    ASSERT_OK(Session::Create(*client, x0, SolverSpec::Lbfgs(), options));
    EXPECT_THAT(client->ExportSession("plain").status(),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         ::testing::AllOf(
                             ::testing::HasSubstr("exporting session \"plain\" "
                                                  "reads its journal of"),
                             ::testing::HasSubstr("(--server_memory_bytes)"))));
    EXPECT_THAT(client->ListSessions(), IsOkAndHolds(::testing::SizeIs(1)));
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), 0) << optd.Log();
}

}  // namespace
}  // namespace optd::testing
