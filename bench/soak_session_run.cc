// bench/soak's workload: one session, run and checked (soak_session_run.h).
#include "bench/soak_session_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/session.h"
#include "grpcpp/grpcpp.h"

namespace optd::bench::soak {
namespace {

namespace v1 = ::optd::v1;
namespace oc = ::optd::client;

// Prints the first few unexpected events in full.
void Report(const std::string& what) {
  static std::atomic<int> printed{0};
  if (printed.fetch_add(1) < 20)
    std::fprintf(stderr, "soak: %s\n", what.c_str());
}

// Runs one session from creation to deletion, with faults; each method is
// one protocol step and counts into the Tally. Thread-safety: one thread.
class SessionRun {
 public:
  SessionRun(const oc::Client& client, Canceller* canceller,
             const FaultOptions& faults, Tally* tally,
             std::vector<double>* latencies_ms, std::mt19937_64* rng, Plan plan,
             Clock::time_point end)
      : client_(client),
        canceller_(canceller),
        faults_(faults),
        tally_(tally),
        latencies_ms_(latencies_ms),
        rng_(*rng),
        plan_(std::move(plan)),
        end_(end) {}

  // Returns false after an unexpected error (counted); the session is
  // deleted either way.
  bool Run() {
    const bool ok = RunSteps();
    const bool verified = ok && Verify();
    const bool deleted = Delete();
    if (ok && verified && deleted) tally_->sessions++;
    return ok && verified && deleted;
  }

 private:
  bool RunSteps() {
    if (plan_.stream) {
      bool created = false;
      for (int segment = 0;
           !finished_ && told_ < plan_.budget && Clock::now() < end_;
           ++segment) {
        // Past 10 segments the stream is not cut: the session must end.
        if (!StreamSegment(&created, segment < 10 && plan_.faults)) {
          return false;
        }
      }
      if (!created) return Create();  // the budget was 0 or time ran out
    } else {
      if (!Create()) return false;
      while (!finished_ && told_ < plan_.budget && Clock::now() < end_) {
        if (plan_.ask_each_step && !AskStep(PickFault())) return false;
        if (!TellStep(NextTell())) return false;
      }
    }
    if (finished_ || plan_.delete_running) return true;
    v1::TellRequest stop;  // trial 0: stop the session, no trial answered
    stop.set_session_id(plan_.id);
    stop.set_stop(true);
    return TellStep(stop);
  }

  // -- faults and errors --

  Fault PickFault() {
    Fault fault;
    if (!plan_.faults) return fault;
    const double r = Unit();
    if (r < faults_.deadline_fraction) {
      fault.kind = Fault::kDeadline;
    } else if (r < faults_.deadline_fraction + faults_.cancel_fraction) {
      fault.kind = Fault::kCancel;
    }
    fault.after = FaultDelay(faults_.fault_max_ms);
    return fault;
  }

  // Log-uniform in [10 us, max_ms]: about as many faults land before the
  // request leaves (or before the server runs it) as while the server
  // applies it and syncs, and after.
  absl::Duration FaultDelay(double max_ms) {
    const double lo = std::log(0.01), hi = std::log(std::max(max_ms, 0.01));
    return absl::Microseconds(1e3 * std::exp(lo + Unit() * (hi - lo)));
  }

  double Unit() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  // Counts the outcome of one call; true when the caller may go on, i.e. OK,
  // or an expected fault (*ambiguous set), or `allowed`.
  bool Count(const char* rpc, const Fault& fault, const grpc::Status& status,
             bool* ambiguous = nullptr,
             grpc::StatusCode allowed = grpc::StatusCode::OK) {
    tally_->calls++;
    if (fault.kind != Fault::kNone) tally_->faulted++;
    if (ambiguous != nullptr) *ambiguous = false;
    if (status.ok() || status.error_code() == allowed) return true;
    if (fault.kind != Fault::kNone && Ambiguous(status)) {
      (status.error_code() == grpc::StatusCode::CANCELLED ? tally_->cancelled
                                                          : tally_->expired)++;
      if (ambiguous != nullptr) *ambiguous = true;
      return ambiguous != nullptr;
    }
    return Error(absl::StrCat(rpc, " of session \"", plan_.id, "\" (fault ",
                              fault.kind, "): code ", status.error_code(), ": ",
                              status.error_message()));
  }

  bool Error(const std::string& what) {
    tally_->errors++;
    Report(what);
    return false;
  }

  void Latency(Clock::time_point t0) {
    latencies_ms_->push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }

  // Trial `trial_id` (0: a stop) is known to be applied, once.
  void Applied(uint64_t trial_id) {
    ++known_;
    applied_.push_back(trial_id);
    tally_->tells++;
  }

  // -- answers --

  template <typename Response>
  bool Accept(const Response& response) {
    absl::StatusOr<std::vector<oc::Trial>> trials =
        oc::DecodeTrials(response.trials(), response.base_points());
    if (!trials.ok()) return Error(trials.status().ToString());
    if constexpr (!std::is_same_v<Response, v1::CreateSessionResponse>) {
      if (response.has_summary()) {
        absl::StatusOr<oc::Result> result =
            oc::DecodeSummary(plan_.id, response.summary());
        if (!result.ok()) return Error(result.status().ToString());
        finished_ = true;
      }
    }
    trial_.reset();
    for (oc::Trial& t : *trials) {
      if (t.id > last_told_) {
        trial_ = std::move(t);
        break;
      }
    }
    if (!finished_ && !trial_.has_value()) {
      return Error(absl::StrCat("session \"", plan_.id,
                                "\" runs but has no trial to evaluate"));
    }
    return true;
  }

  // The tell of the outstanding trial.
  v1::TellRequest NextTell() {
    const oc::Trial& trial = *trial_;
    oc::Evaluation evaluation;
    if (Unit() < 0.01 && trial.wants != oc::Wants::kHessianVector) {
      evaluation = oc::Evaluation::Failed();
      tally_->failed_evaluations++;
    } else if (Adam()) {
      evaluation = Quadratic(trial);
    } else if (plan_.chained) {
      evaluation = ChainedRosenbrock(trial);
    } else {
      evaluation = Rosenbrock(trial);
    }
    v1::TellRequest request =
        oc::MakeTellRequest(trial.id, evaluation, v1::VECTOR_ENCODING_F64);
    request.set_session_id(plan_.id);
    return request;
  }

  // -- unary calls --

  bool Create() {
    BuildCreate();
    return CreateCall(PickFault());
  }

  // create_, the first time: x0 is (-1.2, 1, -1.2, 1, ...) for Rosenbrock
  // (MGH's start), 0 for Adam's quadratic.
  void BuildCreate() {
    if (!create_.session_id().empty()) return;
    std::mt19937_64 spec_rng(std::hash<std::string>()(plan_.id));
    std::vector<double> x0(static_cast<size_t>(plan_.n));
    for (size_t i = 0; i < x0.size(); ++i) {
      x0[i] = Adam() ? 0.0 : (i % 2 == 0 ? -1.2 : 1.0);
    }
    oc::SessionOptions options;
    options.session_id = plan_.id;
    options.labels = {{"bench", "soak"}};
    create_ =
        oc::MakeCreateSessionRequest(x0, SpecFor(plan_, spec_rng), options);
  }

  bool Adam() const {
    return plan_.solver == SolverKind::kAdam ||
           plan_.solver == SolverKind::kAdamW;
  }

  bool CreateCall(const Fault& fault) {
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    FaultGuard guard(canceller_, fault, &context);
    v1::CreateSessionResponse response;
    const grpc::Status status =
        client_.stub().CreateSession(&context, create_, &response);
    bool ambiguous;
    if (!Count("CreateSession", fault, status, &ambiguous)) return false;
    if (!ambiguous) return Accept(response);
    // Created or not: the same request again, unfaulted. ALREADY_EXISTS
    // means the first one was, and Ask gives its trial.
    return ResolveCreate();
  }

  bool ResolveCreate() {
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    v1::CreateSessionResponse response;
    const grpc::Status status =
        client_.stub().CreateSession(&context, create_, &response);
    if (!Count("CreateSession (retry)", Fault(), status, nullptr,
               grpc::StatusCode::ALREADY_EXISTS)) {
      return false;
    }
    if (status.ok()) return Accept(response);
    return AskCreated();
  }

  // Ask after ALREADY_EXISTS. While a create of the id is still writing its
  // journal (SessionManager::Reserve), the server answers ALREADY_EXISTS to
  // another create and UNAVAILABLE "is being created; retry" to Ask,
  // GetSession and DeleteSession: the client waits (create_races counts
  // these waits). NOT_FOUND there would let a client that deletes orphan the
  // session, so it counts as an error.
  bool AskCreated() {
    v1::AskRequest request;
    request.set_session_id(plan_.id);
    bool raced = false;
    for (int attempt = 0; attempt < 1000; ++attempt) {
      grpc::ClientContext context;
      client_.PrepareUnaryContext(&context);
      v1::AskResponse response;
      const grpc::Status status =
          client_.stub().Ask(&context, request, &response);
      const bool being_created =
          status.error_code() == grpc::StatusCode::UNAVAILABLE &&
          absl::StrContains(status.error_message(), "is being created");
      if (!being_created) {
        if (!Count("Ask", Fault(), status)) return false;
        return Accept(response);
      }
      if (!raced) {
        raced = true;
        tally_->create_races++;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Error(absl::StrCat("session \"", plan_.id,
                              "\" never appeared after ALREADY_EXISTS"));
  }

  bool AskStep(const Fault& fault) {
    v1::AskRequest request;
    request.set_session_id(plan_.id);
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    FaultGuard guard(canceller_, fault, &context);
    v1::AskResponse response;
    const auto t0 = Clock::now();
    const grpc::Status status =
        client_.stub().Ask(&context, request, &response);
    bool ambiguous;
    if (!Count("Ask", fault, status, &ambiguous)) return false;
    if (ambiguous) return AskStep(Fault());  // Ask is idempotent: ask again
    if (fault.kind == Fault::kNone) Latency(t0);
    return Accept(response);
  }

  // Sends `request`; resolves it when its fate is unknown.
  bool TellStep(const v1::TellRequest& request) {
    const Fault fault = PickFault();
    v1::TellResponse response;
    bool ambiguous;
    if (!TellCall(request, fault, &response, &ambiguous)) return false;
    ++told_;
    last_told_ = std::max(last_told_, request.trial_id());
    if (ambiguous) return ResolveTell(request);
    if (response.duplicate()) {
      return Error(absl::StrCat("first tell of trial ", request.trial_id(),
                                " of \"", plan_.id, "\" answered duplicate"));
    }
    Applied(request.trial_id());
    return Accept(response);
  }

  bool TellCall(const v1::TellRequest& request, const Fault& fault,
                v1::TellResponse* response, bool* ambiguous) {
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    FaultGuard guard(canceller_, fault, &context);
    const auto t0 = Clock::now();
    const grpc::Status status =
        client_.stub().Tell(&context, request, response);
    if (status.ok() && fault.kind == Fault::kNone) Latency(t0);
    return Count("Tell", fault, status, ambiguous);
  }

  // The accounting of bench/soak.cc's header, steps 1 and 2.
  bool ResolveTell(const v1::TellRequest& request) {
    tally_->ambiguous_tells++;
    absl::StatusOr<v1::Session> described = client_.GetSession(plan_.id);
    if (!described.ok()) {
      return Error(absl::StrCat(
          "GetSession of \"", plan_.id,
          "\" after an ambiguous tell: ", described.status().ToString()));
    }
    const int64_t tells = described->tells();
    const bool applied = tells == known_ + 1;
    if (applied) {
      tally_->verified_applied++;
    } else if (tells != known_) {
      Report(absl::StrCat("session \"", plan_.id, "\": server has ", tells,
                          " tells, client knows ", known_,
                          " and one ambiguous"));
    }
    if (applied && Unit() < 0.5) {
      Applied(request.trial_id());
      return AskStep(Fault());
    }
    v1::TellResponse response;
    bool ambiguous;
    if (!TellCall(request, Fault(), &response, &ambiguous)) return false;
    if (applied && !response.duplicate()) {
      Report(absl::StrCat("session \"", plan_.id, "\": trial ",
                          request.trial_id(),
                          " applied, yet its retry was not a "
                          "duplicate"));
    }
    if (!applied && response.duplicate()) tally_->late_applied++;
    Applied(request.trial_id());
    return Accept(response);
  }

  // -- the Optimize stream --

  // One stream: opens (creates the session the first time, attaches after),
  // tells until the session ends, the budget is spent or the stream is cut.
  bool StreamSegment(bool* created, bool faults) {
    tally_->streams++;
    Fault fault;
    if (faults && Unit() < faults_.stream_fault_fraction) {
      fault.kind = Unit() < 0.5 ? Fault::kDeadline : Fault::kCancel;
      fault.after = FaultDelay(faults_.stream_fault_max_ms);
    }
    grpc::ClientContext context;
    client_.PrepareStreamContext(&context);
    FaultGuard guard(canceller_, fault, &context);
    auto stream = client_.stub().Optimize(&context);
    v1::OptimizeRequest open;
    if (*created) {
      open.set_attach_session_id(plan_.id);
    } else {
      BuildCreate();
      *open.mutable_create() = create_;
    }
    bool open_pending = true;
    std::optional<v1::TellRequest> pending;  // written, not answered
    Clock::time_point t0 = Clock::now();
    bool ok = true;
    stream->Write(open);
    v1::OptimizeResponse response;
    while (stream->Read(&response)) {
      if (response.error_code() != 0) {
        ok = Error(absl::StrCat("Optimize of \"", plan_.id, "\": code ",
                                response.error_code(), ": ",
                                response.error_message()));
        pending.reset();
        break;
      }
      if (open_pending) {
        open_pending = false;
        *created = true;
      } else {
        Latency(t0);
        if (response.duplicate()) {
          ok = Error(absl::StrCat("stream tell of trial ", pending->trial_id(),
                                  " of \"", plan_.id, "\" answered duplicate"));
          pending.reset();
          break;
        }
        Applied(pending->trial_id());
        pending.reset();
      }
      if (!Accept(response)) {
        ok = false;
        break;
      }
      if (finished_ || told_ >= plan_.budget || Clock::now() >= end_) break;
      v1::OptimizeRequest tell;
      *tell.mutable_tell() = NextTell();
      tell.mutable_tell()->clear_session_id();
      pending = tell.tell();
      pending->set_session_id(plan_.id);  // for a unary retry
      ++told_;
      last_told_ = tell.tell().trial_id();
      t0 = Clock::now();
      if (!stream->Write(tell)) break;
    }
    stream->WritesDone();
    while (stream->Read(&response)) {
    }
    const grpc::Status status = stream->Finish();
    if (!ok) return false;
    bool ambiguous;
    if (!Count("Optimize", fault, status, &ambiguous)) return false;
    if (!open_pending && !pending.has_value()) return true;
    if (!ambiguous) {
      return Error(absl::StrCat("Optimize of \"", plan_.id,
                                "\" ended OK with a request unanswered"));
    }
    // Cut before an answer (this stream was faulted).
    tally_->stream_cuts++;
    if (open_pending && !*created) {
      *created = true;
      return ResolveCreate();
    }
    if (pending.has_value()) return ResolveTell(*pending);
    return true;  // an attach is a read: the next segment attaches again
  }

  // -- the end --

  // The server's count of applied tells against the client's.
  bool Verify() {
    absl::StatusOr<v1::Session> described = client_.GetSession(plan_.id);
    if (!described.ok()) {
      return Error(absl::StrCat("GetSession of \"", plan_.id,
                                "\": ", described.status().ToString()));
    }
    const int64_t tells = described->tells();
    if (tells != known_) {
      Report(absl::StrCat("session \"", plan_.id, "\": server applied ", tells,
                          " tells, the client knows ", known_));
    }
    int64_t lost = std::max<int64_t>(0, known_ - tells);
    int64_t doubled = std::max<int64_t>(0, tells - known_);
    if (finished_ && described->state() == v1::SESSION_STATE_RUNNING) {
      Error(absl::StrCat("session \"", plan_.id,
                         "\" sent its summary but is RUNNING"));
    }
    if (plan_.check_journal && !CheckJournal(&lost, &doubled)) {
      return false;
    }
    tally_->lost += lost;
    tally_->doubled += doubled;
    return true;
  }

  // The session's journal (ExportSession: its checkpoint, if any, and the
  // tells since, as applied) against the trial ids this client knows were
  // applied: each one there exactly once, in order, and nothing else. Raises
  // *lost and *doubled to what it finds missing or repeated.
  bool CheckJournal(int64_t* lost, int64_t* doubled) {
    tally_->exported++;
    absl::StatusOr<v1::SessionSnapshot> snapshot =
        client_.ExportSession(plan_.id);
    if (!snapshot.ok()) {
      return Error(absl::StrCat("ExportSession of \"", plan_.id,
                                "\": ", snapshot.status().ToString()));
    }
    const int64_t base =
        snapshot->has_checkpoint() ? snapshot->checkpoint().tells() : 0;
    std::vector<uint64_t> journal;
    for (const v1::SnapshotTell& tell : snapshot->tells()) {
      journal.push_back(tell.tell().trial_id());
    }
    const std::vector<uint64_t> expected(
        applied_.begin() + std::min<int64_t>(base, applied_.size()),
        applied_.end());
    if (journal == expected && base <= static_cast<int64_t>(applied_.size())) {
      return true;
    }
    std::map<uint64_t, int64_t> balance;  // journal minus expected, per id
    for (uint64_t id : journal) ++balance[id];
    for (uint64_t id : expected) --balance[id];
    int64_t missing = 0, extra = 0;
    for (const auto& [id, count] : balance) {
      (count < 0 ? missing : extra) += std::abs(count);
    }
    extra += std::max<int64_t>(0, base - static_cast<int64_t>(applied_.size()));
    Report(absl::StrCat("session \"", plan_.id, "\": the journal holds ",
                        journal.size(), " tells after a checkpoint of ", base,
                        "; the client knows ", applied_.size(), " applied (",
                        missing, " missing, ", extra, " extra",
                        missing + extra == 0 ? ", out of order" : "", ")"));
    *lost = std::max(*lost, missing);
    *doubled = std::max(*doubled, extra);
    if (missing + extra == 0) {
      return Error(absl::StrCat("the journal of \"", plan_.id,
                                "\" holds its tells out of order"));
    }
    return true;
  }

  bool Delete() {
    const Fault fault = PickFault();
    v1::DeleteSessionRequest request;
    request.set_session_id(plan_.id);
    v1::DeleteSessionResponse response;
    grpc::Status status;
    {
      grpc::ClientContext context;
      client_.PrepareUnaryContext(&context);
      FaultGuard guard(canceller_, fault, &context);
      status = client_.stub().DeleteSession(&context, request, &response);
    }
    bool ambiguous;
    if (!Count("DeleteSession", fault, status, &ambiguous)) {
      client_.DeleteSession(plan_.id).IgnoreError();  // leave nothing
      return false;
    }
    if (!ambiguous) return true;
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    status = client_.stub().DeleteSession(&context, request, &response);
    return Count("DeleteSession (retry)", Fault(), status, nullptr,
                 grpc::StatusCode::NOT_FOUND);
  }

  const oc::Client& client_;
  Canceller* const canceller_;
  const FaultOptions faults_;
  Tally* const tally_;
  std::vector<double>* const latencies_ms_;
  std::mt19937_64& rng_;
  const Plan plan_;
  const Clock::time_point end_;

  v1::CreateSessionRequest create_;
  std::optional<oc::Trial> trial_;  // the outstanding trial
  uint64_t last_told_ = 0;
  int told_ = 0;                   // tells sent (the budget counts them)
  int64_t known_ = 0;              // tells known to be applied
  std::vector<uint64_t> applied_;  // their trial ids, in order
  bool finished_ = false;
};

}  // namespace

bool RunSession(const oc::Client& client, Canceller* canceller,
                const FaultOptions& faults, Tally* tally,
                std::vector<double>* latencies_ms, std::mt19937_64* rng,
                Plan plan, Clock::time_point end) {
  return SessionRun(client, canceller, faults, tally, latencies_ms, rng,
                    std::move(plan), end)
      .Run();
}

}  // namespace optd::bench::soak
