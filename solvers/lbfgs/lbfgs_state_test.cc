// Lbfgs::SaveState / RestoreState (lbfgs.h): bitwise continuation after a
// restore at every tell, with another number of slices, and every refusal.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/lbfgsb/lbfgsb.h"
#include "solvers/sharding/slice_state.h"
#include "solvers/core/state_bytes.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/state_round_trip.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::ExpectRestoresBitwiseAtEveryTell;
using ::optd::testing::Objective;
using ::optd::testing::RoundTripOptions;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// Where the controller section's words start: tag and length word.
constexpr size_t kController = 13 + 8;

std::unique_ptr<Lbfgs> MakeLbfgs(const LbfgsOptions& options,
                                 const Eigen::VectorXd& x0, int shards) {
  auto solver = Lbfgs::Create(
      options, ConstVectorView::Float64(x0.data(), x0.size()), shards);
  EXPECT_OK(solver);
  return solver.ok() ? *std::move(solver) : nullptr;
}

problems::TestProblem Problem(const char* name) {
  absl::StatusOr<problems::TestProblem> p = problems::FindProblem(name);
  EXPECT_OK(p);
  return *p;
}

// Restores at every tell, from 1 slice into 3 and from 3 into 1.
void ExpectRoundTrips(const LbfgsOptions& options, const Eigen::VectorXd& x0,
                      const Objective& objective,
                      std::function<bool(int64_t)> fail_at = nullptr) {
  for (const auto& [from, to] : {std::pair{1, 3}, std::pair{3, 1}}) {
    SCOPED_TRACE("shards " + std::to_string(from) + " -> " +
                 std::to_string(to));
    RoundTripOptions round_trip;
    round_trip.save_shards = from;
    round_trip.restore_shards = to;
    round_trip.fail_at = fail_at;
    ExpectRestoresBitwiseAtEveryTell<Lbfgs>(
        [&](int shards) { return MakeLbfgs(options, x0, shards); }, objective,
        round_trip, kLbfgsStateTag);
  }
}

Objective Of(const problems::TestProblem& p) { return {p.evaluate, nullptr}; }

TEST(LbfgsState, RestoresBitwiseAtEveryTellOnRosenbrock) {
  const problems::TestProblem p = Problem("rosenbrock");
  ExpectRoundTrips(LbfgsOptions(), p.x0, Of(p));
}

TEST(LbfgsState, RestoresBitwiseThroughFailedEvaluations) {
  // Failures inside line searches (bisection backtracks) and at accepted
  // points alike.
  const problems::TestProblem p = Problem("rosenbrock");
  ExpectRoundTrips(LbfgsOptions(), p.x0, Of(p),
                   [](int64_t i) { return i > 0 && i % 5 == 0; });
}

TEST(LbfgsState, RestoresBitwiseThroughFailedLineSearches) {
  // A gradient of the wrong sign: searches fail, the memory is dropped and
  // the run ends in ABNORMAL_TERMINATION_IN_LNSRCH.
  const problems::TestProblem p = Problem("beale");
  Objective wrong{[&](const Eigen::VectorXd& x, Eigen::VectorXd* g) {
                    const double f = p.evaluate(x, g);
                    *g = -*g;
                    return f;
                  },
                  nullptr};
  ExpectRoundTrips(LbfgsOptions(), p.x0, wrong);
}

TEST(LbfgsState, RestoresBitwiseWithAFullMemory) {
  // Memory 2 on a 4-variable problem: the ring drops its oldest pair.
  LbfgsOptions options;
  options.memory = 2;
  const problems::TestProblem p = Problem("wood");
  ExpectRoundTrips(options, p.x0, Of(p));
}

TEST(LbfgsState, RestoresBitwiseAtEveryFinish) {
  const problems::TestProblem p = Problem("helical_valley");
  LbfgsOptions iterations;
  iterations.max_iterations = 6;
  ExpectRoundTrips(iterations, p.x0, Of(p));
  LbfgsOptions evaluations;
  evaluations.max_evaluations = 9;
  ExpectRoundTrips(evaluations, p.x0, Of(p));
  LbfgsOptions function;
  function.ftol = 1e-3;
  ExpectRoundTrips(function, p.x0, Of(p));
  // The starting point fails: the state of a session with no iterate.
  ExpectRoundTrips(LbfgsOptions(), p.x0, Of(p),
                   [](int64_t i) { return i == 0; });
}

TEST(LbfgsState, RestoresBitwiseAcrossBlocksAndShardCounts) {
  // Three reduction blocks: every slice holds a part for K = 1..3, and K = 4
  // has an empty one.
  absl::StatusOr<problems::TestProblem> p =
      problems::ScalableProblem("extended_rosenbrock", 2 * 4096 + 10);
  ASSERT_OK(p);
  LbfgsOptions options;
  options.memory = 4;
  options.max_iterations = 12;
  for (const auto& [from, to] : {std::pair{3, 2}, std::pair{1, 4}}) {
    RoundTripOptions round_trip;
    round_trip.save_shards = from;
    round_trip.restore_shards = to;
    ExpectRestoresBitwiseAtEveryTell<Lbfgs>(
        [&](int shards) { return MakeLbfgs(options, p->x0, shards); }, Of(*p),
        round_trip, kLbfgsStateTag);
  }
}

TEST(LbfgsState, RestoresAStoppedSession) {
  const problems::TestProblem p = Problem("rosenbrock");
  std::unique_ptr<Lbfgs> solver = MakeLbfgs(LbfgsOptions(), p.x0, 1);
  testing::DriveOptions some;
  some.max_tells = 7;
  testing::Drive(*solver, Of(p), some);
  solver->Stop();
  std::string state;
  ASSERT_OK(solver->SaveState(&state));
  std::unique_ptr<Lbfgs> restored = MakeLbfgs(LbfgsOptions(), p.x0, 2);
  ASSERT_OK(restored->RestoreState(state));
  ASSERT_TRUE(restored->finished());
  EXPECT_EQ(testing::CompareSummaries(solver->summary(), restored->summary()),
            "");
  EXPECT_EQ(restored->summary().message, "STOP: REQUESTED BY CLIENT");
}

// A state saved after a few tells of Rosenbrock (in a line search, with
// pairs), and the solver that saved it.
std::string SavedState(int tells, std::unique_ptr<Lbfgs>* saved = nullptr) {
  const problems::TestProblem p = Problem("rosenbrock");
  std::unique_ptr<Lbfgs> solver = MakeLbfgs(LbfgsOptions(), p.x0, 1);
  testing::DriveOptions some;
  some.max_tells = tells;
  testing::Drive(*solver, Of(p), some);
  std::string state;
  EXPECT_OK(solver->SaveState(&state));
  if (saved != nullptr) *saved = std::move(solver);
  return state;
}

std::unique_ptr<Lbfgs> Fresh(const LbfgsOptions& options = LbfgsOptions()) {
  return MakeLbfgs(options, Problem("rosenbrock").x0, 1);
}

void PutWord(std::string* state, size_t at, int64_t value) {
  std::memcpy(state->data() + at, &value, 8);
}

TEST(LbfgsState, RefusesBytesOfAnotherKind) {
  const std::string state = SavedState(10);
  EXPECT_THAT(Fresh()->RestoreState(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tag")));
  std::string adam = state;
  adam.replace(0, 13, "optd.adam.v1.");
  EXPECT_THAT(Fresh()->RestoreState(adam),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not start with the tag")));
  for (size_t length : {size_t{5}, size_t{13}, size_t{20}, kController + 50,
                        state.size() / 2, state.size() - 8, state.size() - 1}) {
    EXPECT_THAT(Fresh()->RestoreState(state.substr(0, length)),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << length;
  }
  EXPECT_THAT(Fresh()->RestoreState(state + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("vectors of dimension 2 need")));
  // A controller length that runs past the end.
  std::string long_controller = state;
  PutWord(&long_controller, 13, int64_t{1} << 40);
  EXPECT_THAT(
      Fresh()->RestoreState(long_controller),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("past its end")));
}

TEST(LbfgsState, RefusesAnotherSessionsOptions) {
  const std::string state = SavedState(10);
  LbfgsOptions memory;
  memory.memory = 5;
  EXPECT_THAT(Fresh(memory)->RestoreState(state),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("saved with lbfgs.memory = 10; this session "
                                 "has 5")));
  LbfgsOptions gtol;
  gtol.gtol = 1e-6;
  EXPECT_THAT(
      Fresh(gtol)->RestoreState(state),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lbfgs.gtol")));
  LbfgsOptions step;
  step.line_search.stpmax = 10;
  EXPECT_THAT(Fresh(step)->RestoreState(state),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lbfgs.max_step")));
  const Eigen::VectorXd x3 = Eigen::VectorXd::Ones(3);
  EXPECT_THAT(MakeLbfgs(LbfgsOptions(), x3, 1)->RestoreState(state),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("saved with dimension = 2")));
}

TEST(LbfgsState, RefusesASolverAlreadyTold) {
  std::unique_ptr<Lbfgs> saved;
  const std::string state = SavedState(10, &saved);
  EXPECT_THAT(saved->RestoreState(state),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("told nothing")));
  std::unique_ptr<Lbfgs> stopped = Fresh();
  stopped->Stop();
  EXPECT_THAT(stopped->RestoreState(state),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(LbfgsState, RefusesFieldsOutOfRangeOrInconsistent) {
  const std::string state = SavedState(10);
  const size_t phase = kController + 12 * 8, pairs = phase + 8;
  int64_t k;
  std::memcpy(&k, state.data() + pairs, 8);
  ASSERT_GT(k, 0);
  std::string bad = state;
  PutWord(&bad, phase, 3);
  EXPECT_THAT(Fresh()->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("phase = 3 at byte 117; it must be in [0, "
                                 "2]")));
  bad = state;
  PutWord(&bad, pairs, 11);
  EXPECT_THAT(Fresh()->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("pairs = 11 at byte 125; it must be in [0, "
                                 "10]")));
  // The finished phase with no reason, and the running one with a reason.
  bad = state;
  PutWord(&bad, phase, 2);
  EXPECT_THAT(Fresh()->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("inconsistent: phase 2")));
  // The vectors' pair count against the controller's, and above the memory.
  absl::StatusOr<StateSections> sections =
      SplitStateSections(state, kLbfgsStateTag);
  ASSERT_OK(sections);
  const size_t vector_pairs = sections->vectors_offset + 19;
  bad = state;
  PutWord(&bad, vector_pairs, k - 1);
  EXPECT_THAT(Fresh()->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a controller of")));
  bad = state;
  PutWord(&bad, vector_pairs, 12);
  EXPECT_THAT(Fresh()->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("L-BFGS slice state has pairs = 12")));
  // A flag that is neither 0 nor 1 (have_iterate, after the Gram blocks).
  const size_t have_iterate = pairs + 8 + 8 * (3 * k * k + 2 * k + 1);
  bad = state;
  PutWord(&bad, have_iterate, 2);
  EXPECT_THAT(Fresh()->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("have_iterate = 2")));
  // A line search state of an unknown task (its sixth word).
  const size_t search = have_iterate + 5 * 8;
  bad = state;
  PutWord(&bad, search + 5 * 8, 99);
  EXPECT_THAT(
      Fresh()->RestoreState(bad),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task = 99")));
}

// Word i of the controller section, for a state whose Gram blocks hold k
// pairs when i is past them (13 + 3k^2 + 2k words after the phase).
size_t Word(int i, int64_t k = 0) {
  return kController + 8 * (i + (i > 13 ? 3 * k * k + 2 * k : 0));
}

TEST(LbfgsState, RefusesEachInconsistency) {
  // Saved in a line search, with pairs and no trial reduction beyond the
  // 7 + 6k of the last accepted step.
  const std::string state = SavedState(10);
  int64_t k, q;
  std::memcpy(&k, state.data() + Word(13), 8);
  std::memcpy(&q, state.data() + Word(49, k), 8);
  // Words after the trial's sums.
  const auto after = [&](int i) { return Word(i, k) + 8 * q; };
  struct Case {
    size_t at;
    int64_t value;
    const char* message;
  };
  const Case cases[] = {
      {Word(12), 0, "the initial phase after an evaluation"},
      {Word(15, k), 0, "a line search without an iterate"},
      {Word(20 + 5, k), 2, "a line search phase whose search wants no step"},
      {after(55), 1, "phase 1 with summary.reason 1"},
      {after(53), 1000, "1000 iterations and 0 failed evaluations in"},
      {after(61), 1000, "1000 failed evaluations in"},
      {Word(49, k), 100, "trial reduction length = 100"},
  };
  for (const Case& c : cases) {
    std::string bad = state;
    PutWord(&bad, c.at, c.value);
    EXPECT_THAT(
        Fresh()->RestoreState(bad),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.message;
  }
  // Bytes after the controller's fields (the length word counts them).
  absl::StatusOr<StateSections> sections =
      SplitStateSections(state, kLbfgsStateTag);
  ASSERT_OK(sections);
  std::string longer = state;
  longer.insert(sections->vectors_offset, 8, '\0');
  PutWord(&longer, 13, static_cast<int64_t>(sections->controller.size() + 8));
  EXPECT_THAT(Fresh()->RestoreState(longer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("8 bytes after the controller's fields")));
}

TEST(LbfgsState, ARefusedRestoreChangesNothing) {
  const problems::TestProblem p = Problem("rosenbrock");
  std::string state = SavedState(10);
  std::unique_ptr<Lbfgs> solver = Fresh();
  PutWord(&state, state.size() - 8 * 3, 0);  // fine; now break the options:
  PutWord(&state, kController + 8, 9);       // memory
  ASSERT_FALSE(solver->RestoreState(state).ok());
  state = SavedState(10);
  ASSERT_FALSE(solver->RestoreState(state.substr(0, state.size() - 1)).ok());
  std::unique_ptr<Lbfgs> untouched = Fresh();
  const testing::RunTrace a =
      testing::RunFrom(*solver, Of(p), 0, nullptr, 1000);
  const testing::RunTrace b =
      testing::RunFrom(*untouched, Of(p), 0, nullptr, 1000);
  EXPECT_EQ(testing::CompareContinuation(b, 0, a), "");
}

TEST(LbfgsState, GarbageNeverCrashes) {
  // Every prefix of a state, and the state with each controller word and
  // some vector words replaced by garbage: refused, or restored into a
  // solver that then runs (bounded) without crashing.
  const problems::TestProblem p = Problem("rosenbrock");
  const std::string state = SavedState(12);
  for (size_t length = 0; length < state.size(); ++length) {
    ASSERT_FALSE(Fresh()->RestoreState(state.substr(0, length)).ok()) << length;
  }
  std::mt19937_64 random(20240607);
  const int64_t garbage[] = {
      0, 1, 2, -1, int64_t{1} << 62, std::numeric_limits<int64_t>::min()};
  const double garbage_doubles[] = {kNaN, kInf, -kInf, 1e308, -0.0, 5e-324};
  int restored = 0;
  for (size_t at = 13; at + 8 <= state.size(); at += 8) {
    for (int variant = 0; variant < 13; ++variant) {
      std::string bad = state;
      if (variant < 6) {
        PutWord(&bad, at, garbage[variant]);
      } else if (variant < 12) {
        std::memcpy(bad.data() + at, &garbage_doubles[variant - 6], 8);
      } else {
        PutWord(&bad, at, static_cast<int64_t>(random()));
      }
      std::unique_ptr<Lbfgs> solver = Fresh();
      if (!solver->RestoreState(bad).ok()) continue;
      ++restored;
      testing::RunFrom(*solver, Of(p), 0, nullptr, 200);
    }
  }
  EXPECT_GT(restored, 0);
}

TEST(LbfgsState, SolversWithoutStateKeepTheDefault) {
  const Eigen::VectorXd x0 = Problem("rosenbrock").x0;
  auto bounded =
      LbfgsB::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2),
                     Bounds::Unbounded(2));
  ASSERT_OK(bounded);
  EXPECT_EQ((*bounded)->StateBytes(), 0);
  std::string state;
  EXPECT_THAT((*bounded)->SaveState(&state),
              StatusIs(absl::StatusCode::kUnimplemented));
}

}  // namespace
}  // namespace optd
