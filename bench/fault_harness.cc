#include "bench/fault_harness.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "tests/free_ports.h"
#include "tests/test_objectives.h"

namespace optd::faults {
namespace {

using Loss = server::FaultInjectionEnv::Loss;
using Op = server::FaultInjectionEnv::Op;

// How long a session may take to come back after its fault.
constexpr absl::Duration kRecoveryDeadline = absl::Seconds(60);

}  // namespace

Cluster::Cluster(int replicas, std::string root)
    : replicas_(replicas), root_(std::move(root)) {
  std::error_code ignored;
  std::filesystem::create_directories(root_, ignored);
  ports_ = testing::FreePorts(replicas);
  for (int port : ports_) peers_.push_back(absl::StrCat("127.0.0.1:", port));
  for (int r = 0; r < replicas; ++r) {
    envs_.push_back(std::make_unique<server::FaultInjectionEnv>());
    servers_.emplace_back();
  }
}

Cluster::~Cluster() {
  for (int r = 0; r < replicas_; ++r) Stop(r);
  std::error_code ignored;
  std::filesystem::remove_all(root_, ignored);
}

absl::Status Cluster::Start(int r) {
  server::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = ports_[r];
  options.data_dir = absl::StrCat(root_, "/replica", r);
  options.env = envs_[r].get();
  options.commit_threads = 2;
  options.wal_segment_bytes = int64_t{64} << 10;
  options.storage_retry_interval = absl::Milliseconds(20);
  options.enable_reflection = false;
  if (replicas_ > 1) {
    options.replicas.peers = peers_;
    options.replicas.replica_index = r;
    options.replicas.call_timeout = absl::Seconds(1);
  }
  // A restarted replica's port may take a moment to be free again.
  absl::StatusOr<std::unique_ptr<server::OptdServer>> server;
  for (int attempt = 0; attempt < 50; ++attempt) {
    server = server::OptdServer::Start(options);
    if (server.ok() || !absl::IsUnavailable(server.status())) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (!server.ok()) return server.status();
  servers_[r] = *std::move(server);
  return absl::OkStatus();
}

absl::Status Cluster::StartAll() {
  for (int r = 0; r < replicas_; ++r) OPTD_RETURN_IF_ERROR(Start(r));
  return absl::OkStatus();
}

void Cluster::Stop(int r) {
  if (servers_[r] == nullptr) return;
  servers_[r]->Shutdown(absl::Now());
  servers_[r].reset();
}

void Cluster::PowerLoss(int r, Loss loss, uint64_t seed) {
  envs_[r]->PowerLoss(loss, seed + static_cast<uint64_t>(r));
  Stop(r);
  envs_[r]->PowerOn();
}

absl::StatusOr<client::Client> Cluster::Connect(int r) const {
  return client::Client::Connect(peers_[r]);
}

namespace {

client::SolverSpec SolverOf(const std::string& name) {
  if (name == "adam") {
    v1::AdamOptions adam;
    adam.set_lr(1e-2);
    adam.set_max_steps(40);
    return client::SolverSpec::Adam(adam);
  }
  if (name.rfind("tr-", 0) == 0) {
    v1::TrustRegionOptions tr;
    tr.set_max_iterations(30);
    if (name == "tr-newton-cg") {
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
      tr.set_max_iterations(10);
    } else {
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON);
      tr.set_quasi_newton_update(
          name == "tr-lsr1"
              ? v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LSR1
              : v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS);
    }
    return client::SolverSpec::TrustRegion(tr);
  }
  v1::LbfgsOptions lbfgs;
  lbfgs.set_max_iterations(30);
  return client::SolverSpec::Lbfgs(lbfgs);
}

// The L-BFGS options of SolverOf(name), for a switch into it.
v1::LbfgsOptions LbfgsOptionsOf(const std::string& name) {
  v1::CreateSessionRequest request;
  SolverOf(name).AddTo(&request);
  return request.lbfgs();
}

std::vector<double> StartPoint(int64_t n) {
  std::vector<double> x0(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0 + 1e-4 * i;
  return x0;
}

// A run's every trial point by id, and its end.
struct Trace {
  std::map<uint64_t, std::vector<double>> points;
  client::Result result;
};

// One session as its client drives it through faults.
class Driver {
 public:
  explicit Driver(Plan plan) : plan_(std::move(plan)) {}

  const Plan& plan() const { return plan_; }
  bool finished() const { return finished_; }
  uint64_t acked_trial() const { return acked_trial_; }
  const Trace& trace() const { return trace_; }
  const std::vector<std::string>& problems() const { return problems_; }

  absl::Status Create(Cluster& cluster) {
    OPTD_RETURN_IF_ERROR(Connect(cluster));
    if (!plan_.fork_of.empty()) return Fork();
    client::SessionOptions options;
    options.session_id = plan_.id;
    options.shards = plan_.shards;
    options.direct = plan_.direct;
    options.checkpoint_interval = plan_.checkpoint_interval;
    OPTD_ASSIGN_OR_RETURN(
        client::Session session,
        client::Session::Create(*client_, StartPoint(plan_.n),
                                SolverOf(plan_.solver), options));
    outstanding_ = session.first_trials();
    session_.emplace(std::move(session));
    return absl::OkStatus();
  }

  // SwitchSolver to plan().switch_to in place: the new solver's first trial
  // is outstanding, its ids following the old solver's.
  absl::Status Switch() {
    v1::SwitchSolverRequest request;
    request.set_session_id(plan_.id);
    *request.mutable_lbfgs() = LbfgsOptionsOf(plan_.switch_to);
    OPTD_ASSIGN_OR_RETURN(v1::SwitchSolverResponse switched,
                          client_->SwitchSolver(request));
    OPTD_ASSIGN_OR_RETURN(outstanding_,
                          client::DecodeTrials(switched.trials()));
    if (outstanding_.empty())
      return absl::InternalError("no trial after switch");
    switched_at_ = switched.step();
    first_switched_trial_ = outstanding_.front().id;
    return absl::OkStatus();
  }

  // Tells acknowledged so far: the acknowledged trial's id, less the old
  // solver's trials a switch cancelled.
  int64_t acked_tells() const {
    if (first_switched_trial_ == 0 || acked_trial_ < first_switched_trial_) {
      return static_cast<int64_t>(acked_trial_);
    }
    return switched_at_ +
           static_cast<int64_t>(acked_trial_ - first_switched_trial_ + 1);
  }

  // A new connection to the home, the direct path set up again.
  absl::Status Reconnect(Cluster& cluster) {
    session_.reset();
    OPTD_RETURN_IF_ERROR(Connect(cluster));
    session_.emplace(client::Session::Attach(*client_, plan_.id));
    outstanding_.clear();
    if (plan_.shards > 1 && plan_.direct) {
      return session_->EnableDirectPath();
    }
    return absl::OkStatus();
  }

  // Tells the outstanding trial once; OK when acknowledged (or finished).
  absl::Status Step() {
    if (finished_) return absl::OkStatus();
    if (outstanding_.empty()) {
      OPTD_ASSIGN_OR_RETURN(client::Answer answer, session_->Ask());
      Absorb(answer);
      if (finished_) return absl::OkStatus();
    }
    if (outstanding_.size() != 1) {
      return absl::InternalError("expected one outstanding trial");
    }
    const client::Trial trial = outstanding_.front();
    Note(trial);
    absl::StatusOr<client::Answer> answer =
        session_->Tell(trial.id, testing::ExtendedRosenbrock(trial));
    if (!answer.ok()) {
      // A trial the session no longer has (it resumed from a checkpoint):
      // ask what it wants now.
      if (absl::IsFailedPrecondition(answer.status())) outstanding_.clear();
      return answer.status();
    }
    acked_trial_ = std::max(acked_trial_, trial.id);
    Absorb(*answer);
    return absl::OkStatus();
  }

  // The session as the server describes it, retried while it is being
  // rebuilt.
  absl::StatusOr<v1::Session> Describe(absl::Time deadline) {
    for (;;) {
      absl::StatusOr<v1::Session> described = client_->GetSession(plan_.id);
      if (described.ok() || !absl::IsUnavailable(described.status()) ||
          absl::Now() > deadline) {
        return described;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  // Steps to the end, riding out refusals until `deadline`.
  absl::Status Finish(absl::Time deadline) {
    absl::Status last;
    while (!finished_) {
      last = Step();
      if (last.ok() || absl::IsFailedPrecondition(last)) continue;
      if (absl::Now() > deadline) return last;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return absl::OkStatus();
  }

 private:
  // The source's state at its last durable step under plan().id.
  absl::Status Fork() {
    v1::ForkSessionRequest request;
    request.set_session_id(plan_.fork_of);
    request.set_new_session_id(plan_.id);
    request.set_shards(plan_.shards);
    OPTD_ASSIGN_OR_RETURN(v1::ForkSessionResponse forked,
                          client_->ForkSession(request));
    OPTD_ASSIGN_OR_RETURN(outstanding_, client::DecodeTrials(forked.trials()));
    session_.emplace(client::Session::Attach(*client_, plan_.id));
    if (plan_.shards > 1 && plan_.direct) {
      return session_->EnableDirectPath();
    }
    return absl::OkStatus();
  }

  absl::Status Connect(Cluster& cluster) {
    OPTD_ASSIGN_OR_RETURN(client::Client client, cluster.Connect(plan_.home));
    client_ = std::make_unique<client::Client>(std::move(client));
    return absl::OkStatus();
  }

  // Every trial id must always come with the same point, rewound or not.
  void Note(const client::Trial& trial) {
    auto [it, first] = trace_.points.emplace(trial.id, trial.x);
    if (!first && it->second != trial.x) {
      problems_.push_back(absl::StrCat(plan_.id, ": trial ", trial.id,
                                       " was handed out at two points"));
    }
  }

  void Absorb(const client::Answer& answer) {
    outstanding_ = answer.trials;
    if (answer.finished()) {
      finished_ = true;
      trace_.result = *answer.summary;
    }
  }

  const Plan plan_;
  std::unique_ptr<client::Client> client_;
  std::optional<client::Session> session_;
  std::vector<client::Trial> outstanding_;
  uint64_t acked_trial_ = 0;
  // After a switch: the tells the old solver had, the new solver's first
  // trial (0: no switch).
  int64_t switched_at_ = 0;
  uint64_t first_switched_trial_ = 0;
  bool finished_ = false;
  Trace trace_;
  std::vector<std::string> problems_;
};

// The same session, uninterrupted, on one replica: in memory, or (a switch
// needs a journal to rewrite) in a data directory under `root`. A plan with
// a switch switches after `switch_after` tells.
absl::StatusOr<Trace> RunReference(const Plan& plan, int switch_after,
                                   const std::string& root) {
  server::ServerOptions options;
  options.enable_reflection = false;
  const bool switches = !plan.switch_to.empty();
  if (switches) options.data_dir = absl::StrCat(root, "-reference");
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<server::OptdServer> server,
                        server::OptdServer::Start(options));
  OPTD_ASSIGN_OR_RETURN(client::Client client,
                        client::Client::Connect(server->address()));
  client::SessionOptions session_options;
  session_options.session_id = plan.id;
  OPTD_ASSIGN_OR_RETURN(
      client::Session session,
      client::Session::Create(client, StartPoint(plan.n), SolverOf(plan.solver),
                              session_options));
  Trace run;
  std::vector<client::Trial> trials = session.first_trials();
  for (int told = 0;; ++told) {
    if (switches && told == switch_after) {
      v1::SwitchSolverRequest request;
      request.set_session_id(plan.id);
      *request.mutable_lbfgs() = LbfgsOptionsOf(plan.switch_to);
      OPTD_ASSIGN_OR_RETURN(v1::SwitchSolverResponse switched,
                            client.SwitchSolver(request));
      OPTD_ASSIGN_OR_RETURN(trials, client::DecodeTrials(switched.trials()));
    }
    if (trials.size() != 1) return absl::InternalError("not one trial");
    run.points[trials[0].id] = trials[0].x;
    OPTD_ASSIGN_OR_RETURN(
        client::Answer answer,
        session.Tell(trials[0].id, testing::ExtendedRosenbrock(trials[0])));
    if (answer.finished()) {
      run.result = *answer.summary;
      break;
    }
    trials = answer.trials;
  }
  server->Shutdown(absl::Now());
  if (switches) {
    std::error_code ignored;
    std::filesystem::remove_all(options.data_dir, ignored);
  }
  return run;
}

// RunReference, once per solver, dimension and switch. A fork goes on as
// its source would have: the source's run (same solver and dimension).
absl::StatusOr<Trace> Reference(const Plan& plan, int switch_after,
                                const std::string& root) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* cache =
      new std::map<std::tuple<std::string, int64_t, std::string, int>, Trace>();
  absl::MutexLock lock(&mu);
  const auto key = std::make_tuple(plan.solver, plan.n, plan.switch_to,
                                   plan.switch_to.empty() ? 0 : switch_after);
  auto it = cache->find(key);
  if (it == cache->end()) {
    OPTD_ASSIGN_OR_RETURN(Trace trace, RunReference(plan, switch_after, root));
    it = cache->emplace(key, std::move(trace)).first;
  }
  return it->second;
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Problems with `actual` against the uninterrupted `expected`.
std::vector<std::string> Compare(const std::string& id, const Trace& expected,
                                 const Trace& actual) {
  std::vector<std::string> problems;
  for (const auto& [trial, x] : actual.points) {
    auto it = expected.points.find(trial);
    if (it == expected.points.end() || it->second != x) {
      problems.push_back(absl::StrCat(id, ": trial ", trial,
                                      " is not the uninterrupted run's"));
      break;
    }
  }
  const client::Result& a = actual.result;
  const client::Result& e = expected.result;
  if (a.x != e.x || !SameBits(a.value, e.value) ||
      a.evaluations != e.evaluations || a.reason != e.reason) {
    problems.push_back(
        absl::StrCat(id, ": ended at f = ", a.value, " after ", a.evaluations,
                     " evaluations; the uninterrupted run at f = ", e.value,
                     " after ", e.evaluations));
  }
  return problems;
}

// Every replica's disk (or the victim's) fails as the scenario says.
void Arm(const Scenario& s, Cluster& cluster) {
  for (int r = 0; r < cluster.size(); ++r) {
    if (s.victim >= 0 && r != s.victim) continue;
    if (s.fault == FaultKind::kDiskFull) {
      cluster.env(r).Fail(Op::kAppend, ENOSPC, s.k - 1, /*sticky=*/true);
    } else if (s.fault == FaultKind::kSyncFailure) {
      cluster.env(r).Fail(Op::kSync, EIO, s.k - 1);
    }
  }
}

}  // namespace

std::vector<Plan> StandardSessions(int replicas) {
  std::vector<Plan> plans;
  // One replica: through the shared log (small n), through its own journal
  // (larger n), checkpointed.
  plans.push_back({.id = "lbfgs-log", .solver = "lbfgs", .n = 8});
  plans.push_back({.id = "tr-journal", .solver = "tr-lsr1", .n = 20000});
  plans.push_back(
      {.id = "adam-ckpt", .solver = "adam", .n = 64, .checkpoint_interval = 4});
  plans.push_back({.id = "tr-cg", .solver = "tr-newton-cg", .n = 8});
  // Adam switched to L-BFGS before the fault (a rewritten journal).
  plans.push_back(
      {.id = "adam-switch", .solver = "adam", .n = 8, .switch_to = "lbfgs"});
  if (replicas >= 2) {
    plans.push_back(
        {.id = "lbfgs-k2", .solver = "lbfgs", .n = 12288, .shards = 2});
    // Its fork, resharded: onto 3 replicas where there are, else onto one.
    plans.push_back({.id = "lbfgs-k2-fork",
                     .solver = "lbfgs",
                     .n = 12288,
                     .shards = replicas >= 3 ? 3 : 1,
                     .fork_of = "lbfgs-k2"});
    plans.push_back({.id = "adam-k2-ckpt",
                     .solver = "adam",
                     .n = 12288,
                     .shards = 2,
                     .direct = false,
                     .checkpoint_interval = 3,
                     .home = 1});
  }
  if (replicas >= 3) {
    plans.push_back({.id = "tr-k3-ckpt",
                     .solver = "tr-lbfgs",
                     .n = 12288,
                     .shards = 3,
                     .checkpoint_interval = 4,
                     .home = 2});
    plans.push_back({.id = "tr-cg-k3",
                     .solver = "tr-newton-cg",
                     .n = 12288,
                     .shards = 3,
                     .direct = false,
                     .home = 1});
  }
  return plans;
}

absl::StatusOr<Outcome> Run(const Scenario& s, const std::string& root) {
  std::error_code error;
  std::filesystem::remove_all(root, error);
  std::filesystem::create_directories(root, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", root));
  Outcome out;
  {
    Cluster cluster(s.replicas, root);
    OPTD_RETURN_IF_ERROR(cluster.StartAll());
    std::vector<Driver> drivers;
    for (const Plan& plan : s.sessions) drivers.emplace_back(plan);
    for (Driver& d : drivers) {
      OPTD_RETURN_IF_ERROR(d.Create(cluster));
      for (int t = 0; t < s.warmup_tells; ++t) OPTD_RETURN_IF_ERROR(d.Step());
      if (!d.plan().switch_to.empty()) OPTD_RETURN_IF_ERROR(d.Switch());
    }
    out.sessions = static_cast<int64_t>(drivers.size());

    // The fault, and the sessions telling on through it.
    Arm(s, cluster);
    const bool at_k =
        s.fault == FaultKind::kPowerLoss || s.fault == FaultKind::kKill;
    const int64_t rounds = at_k ? s.k : s.tells_during_fault;
    for (int64_t t = 0; t < rounds; ++t) {
      for (Driver& d : drivers) d.Step().IgnoreError();
    }
    // What each session's client knows to be durable.
    std::vector<int64_t> acked(drivers.size(), 0);
    const absl::Time deadline = absl::Now() + kRecoveryDeadline;
    for (size_t i = 0; i < drivers.size(); ++i) {
      if (drivers[i].plan().checkpoint_interval == 0) {
        acked[i] = drivers[i].acked_tells();
      } else if (absl::StatusOr<v1::Session> d = drivers[i].Describe(deadline);
                 d.ok()) {
        acked[i] = d->durable_step();
      }
    }
    for (int r = 0; r < cluster.size(); ++r) {
      out.faults_fired += cluster.env(r).faults_fired();
    }

    // Recovery.
    std::vector<int> restart;
    if (s.fault == FaultKind::kKill) {
      cluster.PowerLoss(s.victim, Loss::kKeep, s.seed);
      restart.push_back(s.victim);
    } else if (s.fault == FaultKind::kPowerLoss || s.then_power_loss) {
      for (int r = 0; r < cluster.size(); ++r) {
        cluster.PowerLoss(r, s.loss, s.seed);
        restart.push_back(r);
        ++out.faults_fired;
      }
    } else {
      for (int r = 0; r < cluster.size(); ++r) cluster.env(r).ClearFaults();
    }
    for (int r : restart) {
      if (absl::Status started = cluster.Start(r); !started.ok()) {
        out.refused_to_start = true;
        out.problems.push_back(
            absl::StrCat("replica ", r, " did not start: ", started.message()));
        return out;
      }
    }
    if (s.fault == FaultKind::kKill) ++out.faults_fired;  // the kill

    // Every acknowledged tell is there, and the sessions end as if nothing
    // had happened.
    for (size_t i = 0; i < drivers.size(); ++i) {
      Driver& d = drivers[i];
      const std::string& id = d.plan().id;
      out.acked += acked[i];
      absl::Status resumed = d.Reconnect(cluster);
      for (int tries = 0; !resumed.ok() && absl::IsUnavailable(resumed) &&
                          absl::Now() < deadline;
           ++tries) {
        absl::SleepFor(absl::Milliseconds(50));
        resumed = d.Reconnect(cluster);
      }
      absl::StatusOr<v1::Session> described =
          resumed.ok() ? d.Describe(deadline) : resumed;
      if (!described.ok()) {
        out.acked_lost += acked[i];
        out.problems.push_back(absl::StrCat(
            id, ": not served after recovery: ", described.status().message()));
        continue;
      }
      // A switched session counts the old solver's tells apart.
      const int64_t held = described->tells() + described->switched_at_step();
      if (held < acked[i]) {
        out.acked_lost += acked[i] - held;
        out.problems.push_back(absl::StrCat(id, ": holds ", held, " tells of ",
                                            acked[i], " acknowledged"));
      }
      if (absl::Status end = d.Finish(deadline); !end.ok()) {
        ++out.mismatched;
        out.problems.push_back(
            absl::StrCat(id, ": did not finish: ", end.message()));
        continue;
      }
      absl::StatusOr<Trace> reference =
          Reference(d.plan(), s.warmup_tells, root);
      if (!reference.ok()) return reference.status();
      std::vector<std::string> problems = Compare(id, *reference, d.trace());
      problems.insert(problems.end(), d.problems().begin(), d.problems().end());
      if (!problems.empty()) ++out.mismatched;
      out.problems.insert(out.problems.end(), problems.begin(), problems.end());
    }
  }
  std::filesystem::remove_all(root, error);
  return out;
}

}  // namespace optd::faults
