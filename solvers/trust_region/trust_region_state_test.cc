// TrustRegion::SaveState / RestoreState (trust_region.h): bitwise
// continuation after a restore at every tell, for every subproblem and
// memory kind, with another number of slices; and every refusal.
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
#include "solvers/sharding/slice_state.h"
#include "solvers/core/state_bytes.h"
#include "solvers/testing/bounded_problems.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/state_round_trip.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/testing/trust_region_fixtures.h"
#include "solvers/trust_region/trust_region.h"

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
constexpr size_t kController = 20 + 8;

struct Variant {
  const char* name;
  TrustRegionSubproblem subproblem;
  QuasiNewtonUpdate update;
};

constexpr Variant kVariants[] = {
    {"exact", TrustRegionSubproblem::kExact, QuasiNewtonUpdate::kLsr1},
    {"newton_cg", TrustRegionSubproblem::kNewtonCg, QuasiNewtonUpdate::kLsr1},
    {"newton_cg_fd", TrustRegionSubproblem::kNewtonCgFiniteDifference,
     QuasiNewtonUpdate::kLsr1},
    {"lsr1", TrustRegionSubproblem::kQuasiNewton, QuasiNewtonUpdate::kLsr1},
    {"lbfgs", TrustRegionSubproblem::kQuasiNewton, QuasiNewtonUpdate::kLbfgs},
};

TrustRegionOptions OptionsOf(const Variant& v) {
  return testing::WithSubproblem(v.subproblem, v.update);
}

Objective ObjectiveOf(const problems::TestProblem& p) {
  absl::StatusOr<problems::HessianFunction> hessian =
      problems::HessianOf(p.name);
  EXPECT_OK(hessian);
  return {p.evaluate, *hessian};
}

problems::TestProblem Problem(const char* name) {
  absl::StatusOr<problems::TestProblem> p = problems::FindProblem(name);
  EXPECT_OK(p);
  return *p;
}

// Restores at every tell, from 1 slice into 3 and from 3 into 1 (the
// dimensions here are one block: slices 1 and 2 are empty).
void ExpectRoundTrips(const TrustRegionOptions& options,
                      const Eigen::VectorXd& x0, const Objective& objective,
                      std::function<bool(int64_t)> fail_at = nullptr) {
  for (const auto& [from, to] : {std::pair{1, 3}, std::pair{3, 1}}) {
    SCOPED_TRACE("shards " + std::to_string(from) + " -> " +
                 std::to_string(to));
    RoundTripOptions round_trip;
    round_trip.save_shards = from;
    round_trip.restore_shards = to;
    round_trip.fail_at = fail_at;
    ExpectRestoresBitwiseAtEveryTell<TrustRegion>(
        [&](int shards) {
          return testing::MakeTrustRegion(options, x0, shards);
        },
        objective, round_trip, kTrustRegionStateTag);
  }
}

TEST(TrustRegionState, EveryVariantRestoresBitwiseOnMghProblems) {
  for (const Variant& v : kVariants) {
    for (const char* name : {"rosenbrock", "beale", "helical_valley"}) {
      SCOPED_TRACE(std::string(v.name) + " on " + name);
      const problems::TestProblem p = Problem(name);
      ExpectRoundTrips(OptionsOf(v), p.x0, ObjectiveOf(p));
    }
  }
}

TEST(TrustRegionState, EveryVariantRestoresBitwiseThroughFailures) {
  // Failed points and failed products contract the region (rejected
  // steps), at x0 too, where the session ends.
  const problems::TestProblem p = Problem("rosenbrock");
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.name);
    ExpectRoundTrips(OptionsOf(v), p.x0, ObjectiveOf(p),
                     [](int64_t i) { return i > 0 && i % 4 == 0; });
    ExpectRoundTrips(OptionsOf(v), p.x0, ObjectiveOf(p),
                     [](int64_t i) { return i == 0; });
  }
}

TEST(TrustRegionState, EveryVariantRestoresBitwiseAtEveryFinish) {
  const problems::TestProblem p = Problem("rosenbrock");
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.name);
    TrustRegionOptions iterations = OptionsOf(v);
    iterations.max_iterations = 7;
    ExpectRoundTrips(iterations, p.x0, ObjectiveOf(p));
    TrustRegionOptions evaluations = OptionsOf(v);
    evaluations.max_evaluations = 11;
    ExpectRoundTrips(evaluations, p.x0, ObjectiveOf(p));
    // The ftol plateau counter at work.
    TrustRegionOptions plateau = OptionsOf(v);
    plateau.ftol = 0.3;
    plateau.ftol_steps = 2;
    ExpectRoundTrips(plateau, p.x0, ObjectiveOf(p));
    // No gradient test: the run goes on until the model predicts nothing.
    TrustRegionOptions model = OptionsOf(v);
    model.gtol = 0;
    model.ftol = 0;
    ExpectRoundTrips(model, p.x0, ObjectiveOf(p));
  }
}

TEST(TrustRegionState, RestoresBitwiseAtASaddle) {
  // Negative curvature: from y = 0 the exact solver's hard case, from
  // y = 1e-7 with gtol 1e-7 CG's boundary exits and L-SR1's indefinite model
  // (trust_region_test.cc).
  for (const double y : {0.0, 1e-7}) {
    const Eigen::Vector2d x0(1.0, y);
    for (const Variant& v : kVariants) {
      SCOPED_TRACE(std::string(v.name) + " from y = " + std::to_string(y));
      TrustRegionOptions options = OptionsOf(v);
      options.gtol = 1e-7;
      ExpectRoundTrips(options, x0, testing::SaddleObjective());
    }
  }
}

TEST(TrustRegionState, RestoresBitwiseAcrossBlocksAndShardCounts) {
  // Three reduction blocks: every slice holds a part for K = 1..3, and K = 4
  // has an empty one.
  absl::StatusOr<problems::TestProblem> p =
      problems::ScalableProblem("extended_rosenbrock", 2 * 4096 + 10);
  ASSERT_OK(p);
  for (const Variant& v : {kVariants[1], kVariants[2], kVariants[3]}) {
    SCOPED_TRACE(v.name);
    TrustRegionOptions options = OptionsOf(v);
    options.max_evaluations = 25;
    for (const auto& [from, to] : {std::pair{3, 2}, std::pair{1, 4}}) {
      RoundTripOptions round_trip;
      round_trip.save_shards = from;
      round_trip.restore_shards = to;
      ExpectRestoresBitwiseAtEveryTell<TrustRegion>(
          [&](int shards) {
            return testing::MakeTrustRegion(options, p->x0, shards);
          },
          ObjectiveOf(*p), round_trip, kTrustRegionStateTag);
    }
  }
}

std::unique_ptr<TrustRegion> MakeBounded(const TrustRegionOptions& options,
                                         const problems::BoundedProblem& p) {
  auto solver = TrustRegion::Create(
      options,
      ConstVectorView::Float64(p.problem.x0.data(), p.problem.x0.size()),
      p.bounds());
  EXPECT_OK(solver);
  return solver.ok() ? *std::move(solver) : nullptr;
}

TEST(TrustRegionState, BoundedQuasiNewtonRestoresBitwise) {
  // One slice only (bounds are not sharded); the box comes from the
  // options on both sides.
  for (const Variant& v : {kVariants[3], kVariants[4]}) {
    for (const char* name :
         {"rosenbrock_box", "rosenbrock_x0_outside", "beale_box"}) {
      SCOPED_TRACE(std::string(v.name) + " on " + name);
      absl::StatusOr<problems::BoundedProblem> p =
          problems::FindBoundedProblem(name);
      ASSERT_OK(p);
      RoundTripOptions round_trip;
      round_trip.save_shards = round_trip.restore_shards = 1;
      ExpectRestoresBitwiseAtEveryTell<TrustRegion>(
          [&](int) { return MakeBounded(OptionsOf(v), *p); },
          {p->problem.evaluate, nullptr}, round_trip, kTrustRegionStateTag);
    }
  }
}

// A state saved after `tells` tells of Rosenbrock with `options`.
std::string SavedState(const TrustRegionOptions& options, int tells,
                       std::unique_ptr<TrustRegion>* saved = nullptr) {
  const problems::TestProblem p = Problem("rosenbrock");
  std::unique_ptr<TrustRegion> solver =
      testing::MakeTrustRegion(options, p.x0, 1);
  testing::DriveOptions some;
  some.max_tells = tells;
  testing::Drive(*solver, ObjectiveOf(p), some);
  std::string state;
  EXPECT_OK(solver->SaveState(&state));
  if (saved != nullptr) *saved = std::move(solver);
  return state;
}

std::unique_ptr<TrustRegion> Fresh(const TrustRegionOptions& options) {
  return testing::MakeTrustRegion(options, Problem("rosenbrock").x0, 1);
}

void PutWord(std::string* state, size_t at, int64_t value) {
  std::memcpy(state->data() + at, &value, 8);
}

TEST(TrustRegionState, RefusesBytesOfAnotherKind) {
  const TrustRegionOptions options;
  const std::string state = SavedState(options, 8);
  EXPECT_THAT(Fresh(options)->RestoreState(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tag")));
  EXPECT_THAT(Fresh(options)->RestoreState(std::string(kLbfgsSliceTag) +
                                           state.substr(19)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not start with the tag")));
  for (size_t length : {size_t{10}, size_t{20}, size_t{27}, kController + 100,
                        state.size() / 2, state.size() - 8, state.size() - 1}) {
    EXPECT_THAT(Fresh(options)->RestoreState(state.substr(0, length)),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << length;
  }
  EXPECT_THAT(Fresh(options)->RestoreState(state + "12345678"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust-region vectors state has")));
}

TEST(TrustRegionState, RefusesAnotherSessionsOptions) {
  const std::string state = SavedState(TrustRegionOptions(), 8);
  const auto refused = [&](const TrustRegionOptions& options,
                           const char* field) {
    EXPECT_THAT(Fresh(options)->RestoreState(state),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(std::string("saved with ") + field)));
  };
  TrustRegionOptions o;
  o.subproblem = TrustRegionSubproblem::kNewtonCg;
  refused(o, "trust_region.subproblem = 3; this session has 1");
  o = TrustRegionOptions();
  o.quasi_newton_update = QuasiNewtonUpdate::kLbfgs;
  refused(o, "trust_region.quasi_newton_update");
  o = TrustRegionOptions();
  o.memory = 4;
  refused(o, "trust_region.memory = 10; this session has 4");
  o = TrustRegionOptions();
  o.max_iterations = 400;  // the default resolves to 200 n = 400 ...
  EXPECT_OK(Fresh(o)->RestoreState(state));
  o.max_iterations = 401;  // ... and this does not
  refused(o, "trust_region.max_iterations");
  o = TrustRegionOptions();
  o.eta = 0.1;
  refused(o, "trust_region.eta");
  o = TrustRegionOptions();
  o.pair_dependence = 1e-8;
  refused(o, "trust_region.pair_dependence");
  EXPECT_THAT(testing::MakeTrustRegion(TrustRegionOptions(),
                                       Eigen::VectorXd::Ones(3), 1)
                  ->RestoreState(state),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("saved with dimension = 2")));
  // A bounded session's state and an unbounded session.
  absl::StatusOr<problems::BoundedProblem> box =
      problems::FindBoundedProblem("rosenbrock_box");
  ASSERT_OK(box);
  std::unique_ptr<TrustRegion> bounded =
      MakeBounded(TrustRegionOptions(), *box);
  testing::TellOne(*bounded, {box->problem.evaluate, nullptr});
  std::string bounded_state;
  ASSERT_OK(bounded->SaveState(&bounded_state));
  EXPECT_THAT(Fresh(TrustRegionOptions())->RestoreState(bounded_state),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("saved with bounds (1: bounded) = 1")));
  EXPECT_THAT(MakeBounded(TrustRegionOptions(), *box)->RestoreState(state),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bounds (1: bounded) = 0")));
}

TEST(TrustRegionState, RefusesASolverAlreadyTold) {
  std::unique_ptr<TrustRegion> saved;
  const std::string state = SavedState(TrustRegionOptions(), 8, &saved);
  EXPECT_THAT(saved->RestoreState(state),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("told nothing")));
  std::unique_ptr<TrustRegion> stopped = Fresh(TrustRegionOptions());
  stopped->Stop();
  EXPECT_THAT(stopped->RestoreState(state),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(TrustRegionState, RefusesFieldsOutOfRangeOrInconsistent) {
  const TrustRegionOptions quasi_newton;
  const std::string state = SavedState(quasi_newton, 8);
  const size_t phase = kController + 14 * 8, radius = phase + 8;
  std::string bad = state;
  PutWord(&bad, phase, 5);
  EXPECT_THAT(Fresh(quasi_newton)->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("phase = 5 at byte 140; it must be in [0, "
                                 "4]")));
  // A Hessian-vector phase with the quasi-Newton subproblem, whose slices
  // have no CG vectors.
  bad = state;
  PutWord(&bad, phase, 2);
  EXPECT_THAT(Fresh(quasi_newton)->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("phase 2 with the subproblem quasi_newton")));
  bad = state;
  const double too_large = 1e9;
  std::memcpy(bad.data() + radius, &too_large, 8);
  EXPECT_THAT(Fresh(quasi_newton)->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("radius 1e+09 outside [0, 1000]")));
  std::memcpy(bad.data() + radius, &kNaN, 8);
  EXPECT_THAT(
      Fresh(quasi_newton)->RestoreState(bad),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("radius nan")));
  // The vectors' pair count against the controller's.
  absl::StatusOr<StateSections> sections =
      SplitStateSections(state, kTrustRegionStateTag);
  ASSERT_OK(sections);
  bad = state;
  PutWord(&bad, sections->vectors_offset + kTrustRegionSliceTag.size(), 0);
  EXPECT_THAT(Fresh(quasi_newton)->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a controller of")));
  // The exact subproblem: an iterate needs its Hessian.
  const TrustRegionOptions exact =
      testing::WithSubproblem(TrustRegionSubproblem::kExact);
  const std::string exact_state = SavedState(exact, 3);
  const absl::StatusOr<StateSections> exact_sections =
      SplitStateSections(exact_state, kTrustRegionStateTag);
  ASSERT_OK(exact_sections);
  // has_subproblem follows the gradient-set flags, the pair count and gg.
  const size_t has_exact = kController + 8 * (14 + 1 + 11 + 3 + 11 + 3 + 2);
  int64_t word;
  std::memcpy(&word, exact_state.data() + has_exact, 8);
  ASSERT_EQ(word, 1);
  bad = exact_state;
  PutWord(&bad, has_exact, 0);
  EXPECT_FALSE(Fresh(exact)->RestoreState(bad).ok());
  // Truncate the Hessian: the sizes no longer add up.
  bad = exact_state.substr(0, has_exact + 8 * 10);
  EXPECT_THAT(Fresh(exact)->RestoreState(bad),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Word i of the controller section, for a state whose Gram blocks hold k
// pairs when i is past them (43 words before them, 3k^2 + 2k in them).
size_t Word(int i, int64_t k = 0) {
  return kController + 8 * (i + (i > 43 ? 3 * k * k + 2 * k : 0));
}

TEST(TrustRegionState, RefusesEachInconsistency) {
  // L-SR1 with pairs, running, a step proposed.
  const TrustRegionOptions options;
  const std::string state = SavedState(options, 8);
  int64_t k;
  std::memcpy(&k, state.data() + Word(43), 8);
  ASSERT_GT(k, 0);
  struct Case {
    size_t at;
    int64_t value;
    bool is_double;
    double double_value;
    const char* message;
  };
  const Case cases[] = {
      {Word(14), 0, false, 0, "the initial phase after an evaluation"},
      {Word(16), 0, false, 0, "a trial without an iterate"},
      {Word(25), 20, false, 0, "20 small steps in a row"},
      {Word(23), 0, true, 0.0, "a proposed step of no length"},
      {Word(21), 0, true, -1.0, "no predicted reduction"},
      {Word(41), 1, false, 0, "the trial's tells do not match its phase"},
      {Word(42), 1, false, 0, "the trial's tells do not match its phase"},
      {Word(49, k), 7, false, 0, "phase 1 with summary.reason 7"},
      {Word(55, k), 1000, false, 0, "1000 failed evaluations in"},
      {Word(46, k), 3, false, 0, "trial Hessian rows = 3"},
      {Word(32), 5, false, 0, "cg.products = 5"},
  };
  for (const Case& c : cases) {
    std::string bad = state;
    if (c.is_double) {
      std::memcpy(bad.data() + c.at, &c.double_value, 8);
    } else {
      PutWord(&bad, c.at, c.value);
    }
    EXPECT_THAT(
        Fresh(options)->RestoreState(bad),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.message;
  }
  absl::StatusOr<StateSections> sections =
      SplitStateSections(state, kTrustRegionStateTag);
  ASSERT_OK(sections);
  std::string longer = state;
  longer.insert(sections->vectors_offset, 8, '\0');
  PutWord(&longer, 20, static_cast<int64_t>(sections->controller.size() + 8));
  EXPECT_THAT(Fresh(options)->RestoreState(longer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("8 bytes after the controller's fields")));
}

TEST(TrustRegionState, ARefusedRestoreChangesNothing) {
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.name);
    const problems::TestProblem p = Problem("rosenbrock");
    std::string state = SavedState(OptionsOf(v), 6);
    std::unique_ptr<TrustRegion> solver = Fresh(OptionsOf(v));
    ASSERT_FALSE(solver->RestoreState(state.substr(0, state.size() - 1)).ok());
    PutWord(&state, kController + 14 * 8, 4);  // finished, no reason
    ASSERT_FALSE(solver->RestoreState(state).ok());
    std::unique_ptr<TrustRegion> untouched = Fresh(OptionsOf(v));
    const testing::RunTrace a =
        testing::RunFrom(*solver, ObjectiveOf(p), 0, nullptr, 5000);
    const testing::RunTrace b =
        testing::RunFrom(*untouched, ObjectiveOf(p), 0, nullptr, 5000);
    EXPECT_EQ(testing::CompareContinuation(b, 0, a), "");
  }
}

TEST(TrustRegionState, GarbageNeverCrashes) {
  // For each variant: every prefix of a state is refused; each word
  // replaced by garbage is refused, or restores a solver that then runs
  // (bounded) without crashing.
  const problems::TestProblem p = Problem("rosenbrock");
  std::mt19937_64 random(20240607);
  const int64_t garbage[] = {0, 1, 2, 4, -1, int64_t{1} << 62};
  const double garbage_doubles[] = {kNaN, kInf, -kInf, 1e308, -0.0, 5e-324};
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.name);
    // Mid-run: pairs, a CG search or a Hessian in the state.
    const std::string state = SavedState(OptionsOf(v), 9);
    for (size_t length = 0; length < state.size(); ++length) {
      ASSERT_FALSE(
          Fresh(OptionsOf(v))->RestoreState(state.substr(0, length)).ok())
          << length;
    }
    int restored = 0;
    for (size_t at = 20; at + 8 <= state.size(); at += 8) {
      for (int variant = 0; variant < 13; ++variant) {
        std::string bad = state;
        if (variant < 6) {
          PutWord(&bad, at, garbage[variant]);
        } else if (variant < 12) {
          std::memcpy(bad.data() + at, &garbage_doubles[variant - 6], 8);
        } else {
          PutWord(&bad, at, static_cast<int64_t>(random()));
        }
        std::unique_ptr<TrustRegion> solver = Fresh(OptionsOf(v));
        if (!solver->RestoreState(bad).ok()) continue;
        ++restored;
        testing::RunFrom(*solver, ObjectiveOf(p), 0, nullptr, 60);
      }
    }
    EXPECT_GT(restored, 0);
  }
}

}  // namespace
}  // namespace optd
