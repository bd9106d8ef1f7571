// SessionManager::SwitchSolver (session_manager.h) and the transfer it
// shares with Fork: a session continues under another solver, carrying what
// transfers (docs/api.md "Switch").
//
// The transfer is read from a replay of the session's snapshot on one shard
// (as a fork with changed options replays it), so a sharded session's
// vectors are gathered as export gathers them. What it carries becomes a
// WarmStart in a new creation request: the new session is that request
// alone, and replays, restarts, exports and imports need nothing of the old
// solver. A switch then replaces the session's journal by one holding only
// that request (SessionStore::Replace: atomic, so after a crash the session
// is the old solver or the new, never a mix).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/codec/vectors.h"
#include "server/session/codecs.h"
#include "server/session/first_order_codec.h"
#include "server/session/session_manager.h"
#include "server/session/solver_factory.h"
#include "server/session/warm_start.h"
#include "solvers/core/curvature_transfer.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

constexpr char kSupportedSwitches[] =
    "a switch carries state from the first-order family (adam, adamw, sgd, "
    "rmsprop, adagrad, adamax, nadam, radam, lion) to lbfgs, and from lbfgs "
    "to trust_region with the quasi_newton subproblem";

// The told gradient of `tell` as doubles, or empty when it told none (a
// failure, a stop, a sliced tell).
absl::StatusOr<std::vector<double>> ToldGradient(const v1::TellRequest& tell,
                                                 int64_t n) {
  if (tell.failed() || tell.trial_id() == 0 || !tell.has_gradient()) {
    return std::vector<double>();
  }
  OPTD_ASSIGN_OR_RETURN(ConstVectorView g,
                        DecodeVector(tell.gradient(), "gradient"));
  if (g.size() != n) return std::vector<double>();
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = g.Get(i);
  return out;
}

// The replayed L-BFGS session's memory, oldest first (GetSession's
// curvature_pairs: the vectors as L-BFGS holds them).
absl::Status LbfgsPairs(Session& session, std::vector<std::vector<double>>* s,
                        std::vector<std::vector<double>>* y) {
  v1::GetSessionRequest request;
  request.set_include_curvature_pairs(true);
  v1::Session described;
  OPTD_RETURN_IF_ERROR(session.Describe(request, &described));
  for (auto [from, to] : {std::pair{&described.curvature_pairs().s(), s},
                          std::pair{&described.curvature_pairs().y(), y}}) {
    for (const v1::Vector& v : *from) {
      OPTD_ASSIGN_OR_RETURN(ConstVectorView view,
                            DecodeVector(v, "curvature pair"));
      std::vector<double> out(static_cast<size_t>(view.size()));
      for (int64_t i = 0; i < view.size(); ++i) out[i] = view.Get(i);
      to->push_back(std::move(out));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::CreateSessionRequest> SessionManager::SwitchedCreate(
    const v1::SessionSnapshot& snapshot,
    const v1::CreateSessionRequest& target) {
  const v1::CreateSessionRequest& source = snapshot.create();
  const std::string from = SolverFieldName(source);
  const std::string to = SolverFieldName(target);
  // L-BFGS -> trust region: L-BFGS's own memory becomes the model's pairs.
  const bool from_lbfgs =
      source.solver_case() == v1::CreateSessionRequest::kLbfgs &&
      target.solver_case() == v1::CreateSessionRequest::kTrustRegion;
  if (!from_lbfgs &&
      (!FirstOrderDefaults(from).has_value() ||
       target.solver_case() != v1::CreateSessionRequest::kLbfgs)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "switching session \"", source.session_id(), "\" from ", from, " to ",
        to, " is not supported; ", kSupportedSwitches));
  }
  int memory = 0;
  if (from_lbfgs) {
    OPTD_ASSIGN_OR_RETURN(TrustRegionOptions options,
                          TrustRegionOptionsFromProto(target.trust_region()));
    OPTD_RETURN_IF_ERROR(options.Validate());
    if (options.subproblem != TrustRegionSubproblem::kQuasiNewton) {
      return absl::InvalidArgumentError(absl::StrCat(
          "switching session \"", source.session_id(),
          "\" from lbfgs to trust_region carries its curvature pairs into the "
          "quasi_newton subproblem; trust_region.subproblem is ",
          SubproblemName(options.subproblem)));
    }
    if (source.has_bounds()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "session \"", source.session_id(),
          "\" has bounds; a bounded trust_region session takes no curvature "
          "pairs, so only an unbounded lbfgs session switches to "
          "trust_region"));
    }
  } else {
    OPTD_ASSIGN_OR_RETURN(LbfgsOptions options,
                          LbfgsOptionsFromProto(target.lbfgs()));
    OPTD_RETURN_IF_ERROR(options.Validate());
    memory = options.memory;
  }

  // The source at the snapshot's step, on one shard, not registered.
  v1::CreateSessionRequest replayed = source;
  replayed.set_session_id("switch-replay");
  replayed.set_shards(1);
  OPTD_ASSIGN_OR_RETURN(ConstVectorView x0, DecodeVector(source.x0(), "x0"));
  const int64_t n = x0.size();
  {
    absl::ReaderMutexLock lock(&mu_);
    OPTD_RETURN_IF_ERROR(registry_.CheckMemoryLeft(
        source.session_id(), EstimateStateBytes(replayed, n),
        absl::StrCat("switching session \"", source.session_id(),
                     "\" replays its state once more,"),
        "delete sessions first"));
  }
  OPTD_ASSIGN_OR_RETURN(
      std::shared_ptr<Session> session,
      factory_.Build(replayed, absl::Now(), /*for_recovery=*/false,
                     snapshot.solver_revision(), /*incarnation=*/0));
  if (snapshot.has_checkpoint()) {
    OPTD_RETURN_IF_ERROR(session->RestoreCheckpoint(snapshot.checkpoint()));
  }
  // The points and gradients of the last memory + 1 tells in a row (a
  // failed tell or a stop breaks the row): consecutive ones give the pairs.
  std::vector<std::vector<double>> points, gradients;
  const int window = memory + 1;
  for (int i = 0; i < snapshot.tells_size(); ++i) {
    const v1::SnapshotTell& tell = snapshot.tells(i);
    if (!from_lbfgs && i >= snapshot.tells_size() - window) {
      OPTD_ASSIGN_OR_RETURN(std::vector<double> g,
                            ToldGradient(tell.tell(), n));
      if (g.empty()) {
        points.clear();
        gradients.clear();
      } else {
        std::vector<double> x;
        OPTD_RETURN_IF_ERROR(session->ReadPoint(/*best=*/false, &x));
        points.push_back(std::move(x));
        gradients.push_back(std::move(g));
      }
    }
    absl::Status status = session->Replay(tell);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tell ", i, " of session \"", source.session_id(),
                       "\" does not replay: ", status.message()));
    }
  }
  if (session->state() != v1::SESSION_STATE_RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("session \"", source.session_id(), "\" is ",
                     v1::SessionState_Name(session->state()),
                     "; only a running session switches solvers"));
  }
  SolverHandover handover;
  OPTD_RETURN_IF_ERROR(session->ReadPoint(/*best=*/false, &handover.x));
  handover.tells =
      (snapshot.has_checkpoint() ? snapshot.checkpoint().tells() : 0) +
      snapshot.tells_size();
  handover.last_trial_id = session->last_trial_id();
  int dropped = 0;
  if (from_lbfgs) {
    OPTD_RETURN_IF_ERROR(LbfgsPairs(*session, &handover.s, &handover.y));
  } else {
    dropped = CurvaturePairsFromIterates(points, gradients, memory, &handover.s,
                                         &handover.y);
  }
  spdlog::info(
      "session \"{}\" switches from {} to {} after {} tells: {} curvature "
      "pairs carried, {} failed the curvature condition",
      source.session_id(), from, to, handover.tells, handover.s.size(),
      dropped);
  return SwitchedCreateRequest(source, target, handover);
}

absl::StatusOr<SessionManager::Switched> SessionManager::SwitchSolver(
    const v1::SwitchSolverRequest& request) {
  v1::CreateSessionRequest target;
  switch (request.solver_case()) {
    case v1::SwitchSolverRequest::kLbfgs:
      *target.mutable_lbfgs() = request.lbfgs();
      break;
    case v1::SwitchSolverRequest::kTrustRegion:
      *target.mutable_trust_region() = request.trust_region();
      break;
    case v1::SwitchSolverRequest::SOLVER_NOT_SET:
      return absl::InvalidArgumentError(absl::StrCat(
          "solver is not set; set the new solver's options (lbfgs or "
          "trust_region); ",
          kSupportedSwitches));
  }
  OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> old,
                        Find(request.session_id()));
  if (store_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session \"", old->id(),
        "\" lives in memory only (optd runs without --data_dir); a switch "
        "writes the session's journal anew: run optd with --data_dir"));
  }
  if (old->state() != v1::SESSION_STATE_RUNNING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session \"", old->id(), "\" is ", v1::SessionState_Name(old->state()),
        "; only a running session switches solvers"));
  }
  v1::SessionSnapshot snapshot;
  // With the tells (and a sharded session's told vectors gathered back),
  // which give the curvature pairs.
  OPTD_RETURN_IF_ERROR(
      Export(old->id(), &snapshot, /*compact=*/false, /*tells=*/true));
  OPTD_ASSIGN_OR_RETURN(v1::CreateSessionRequest create,
                        SwitchedCreate(snapshot, target));
  const int64_t step = create.warm_start().from_step();
  // A sharded session's new slices (made by Build, on as many shards) take
  // the places of its old ones on the replicas, which key a slice by session
  // id and shard. They keep its incarnation, which names the vectors clients
  // sent the replicas (the staged files): those stay, so that until the new
  // journal has replaced the old one the old session can still be rebuilt by
  // replaying its journal (after a crash, or a switch that fails below; its
  // next call finds its slices gone and rebuilds them).
  const uint64_t incarnation =
      old->shards() > 1 ? old->shard_incarnation() : NewIncarnation();
  absl::StatusOr<std::shared_ptr<Session>> built =
      factory_.Build(create, absl::Now(), /*for_recovery=*/false,
                     kSolverRevision, incarnation);
  if (absl::IsInvalidArgument(built.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat("the switched session's options are refused: ",
                     built.status().message()));
  }
  OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session, std::move(built));
  // From here no tell reaches the old solver; its journal holds them all.
  OPTD_RETURN_IF_ERROR(old->RetireForSwitch(step));
  absl::Status written =
      factory_.WriteJournal(*session, create, kSolverRevision, incarnation,
                            /*checkpoint=*/nullptr, {}, /*replace=*/true);
  if (!written.ok()) {
    // The old journal is closed and its file whole: a restart recovers the
    // session as it was before the switch.
    absl::MutexLock lock(&mu_);
    registry_.SetDamaged(
        old->id(),
        absl::StrCat("a solver switch could not write its journal (",
                     written.ToString(),
                     "); the journal before the switch is intact: restart "
                     "the server to recover the session from it"));
  } else {
    absl::MutexLock lock(&mu_);
    registry_.SetLocal(session->id(), session);
  }
  old->Delete();
  OPTD_RETURN_IF_ERROR(written);
  spdlog::info("session \"{}\" switched to {} after {} tells", session->id(),
               session->solver_name(), step);
  return Switched{std::move(session), step, create.warm_start().s_size()};
}

}  // namespace optd::server
