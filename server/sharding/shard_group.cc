#include "server/sharding/shard_group.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

bool IsRead(v1::SliceOp op) {
  switch (op) {
    case v1::SLICE_OP_READ_TRIAL_POINT:
    case v1::SLICE_OP_READ_POINT:
    case v1::SLICE_OP_READ_GRADIENT:
    case v1::SLICE_OP_READ_DIRECTION:
    case v1::SLICE_OP_READ_STATE:
    case v1::SLICE_OP_LANCZOS_POINT_SQUARES:
    case v1::SLICE_OP_LANCZOS_LEAST_COVERED:
    case v1::SLICE_OP_LBFGSB_READ_PAIR:
    // Sorts lazily, the same order whatever is asked: safe to repeat.
    case v1::SLICE_OP_LBFGSB_BREAKPOINTS:
    // Checks and caches a sum it can form again from staged vectors.
    case v1::SLICE_OP_DATA_PARALLEL_ADD:
    // Changes no slice state (it writes a file): safe to repeat.
    case v1::SLICE_OP_SAVE_CHECKPOINT:
      return true;
    default:
      return false;
  }
}

// Retries `call` while it answers UNAVAILABLE (the replica is down or
// restarting), with backoff, until `deadline`.
template <typename Call>
grpc::Status WithRetry(absl::Time deadline, Call call) {
  absl::Duration backoff = absl::Milliseconds(20);
  while (true) {
    grpc::Status status = call(deadline);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        absl::Now() + backoff >= deadline) {
      return status;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Milliseconds(500));
  }
}

}  // namespace

absl::Status ValidateReplicaOptions(const ReplicaOptions& options) {
  if (options.peers.empty()) {
    if (options.replica_index != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "replica_index is ", options.replica_index,
          " but --peers is empty; list every replica's address in --peers"));
    }
    return absl::OkStatus();
  }
  if (options.replica_index < 0 ||
      options.replica_index >= static_cast<int>(options.peers.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "replica_index is ", options.replica_index, "; --peers lists ",
        options.peers.size(), " replicas, so it must be in [0, ",
        options.peers.size() - 1, "]"));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < options.peers.size(); ++i) {
    if (options.peers[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("peers[", i, "] is empty; give host:port"));
    }
    if (!seen.insert(options.peers[i]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("peers[", i, "] is \"", options.peers[i],
                       "\", listed twice; every replica must appear once"));
    }
  }
  if (options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("shard_call_timeout must be positive");
  }
  return absl::OkStatus();
}

Replicas::Replicas(const ReplicaOptions& options, SliceHost* host)
    : options_(options), host_(host) {
  stubs_.resize(options.peers.size());
  optimizer_stubs_.resize(options.peers.size());
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  if (options.credentials != nullptr && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  for (size_t i = 0; i < options.peers.size(); ++i) {
    if (static_cast<int>(i) == options.replica_index) continue;
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
        options.peers[i],
        options.credentials != nullptr ? options.credentials
                                       : grpc::InsecureChannelCredentials(),
        args);
    stubs_[i] = v1::Shard::NewStub(channel);
    optimizer_stubs_[i] = v1::Optimizer::NewStub(channel);
  }
}

void Replicas::Prepare(grpc::ClientContext* context,
                       absl::Time deadline) const {
  context->set_deadline(absl::ToChronoTime(deadline));
  if (options_.token != nullptr) {
    const std::string token = options_.token();
    if (!token.empty()) {
      context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
  }
}

const std::string& Replicas::address(int replica) const {
  static const std::string* const kLocal = new std::string("local");
  return options_.peers.empty() ? *kLocal : options_.peers[replica];
}

ShardGroup::ShardGroup(std::shared_ptr<const Replicas> replicas,
                       std::string session_id, uint64_t epoch,
                       uint64_t incarnation, const ShardLayout& layout)
    : replicas_(std::move(replicas)),
      session_id_(std::move(session_id)),
      epoch_(epoch),
      incarnation_(incarnation),
      layout_(layout) {}

absl::StatusOr<std::shared_ptr<ShardGroup>> ShardGroup::Create(
    std::shared_ptr<const Replicas> replicas, const std::string& session_id,
    uint64_t epoch, uint64_t incarnation, const ShardLayout& layout,
    const v1::CreateSliceRequest& base) {
  if (layout.shards() > replicas->size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("shards is ", layout.shards(), " but the deployment has ",
                     replicas->size(), " replicas (--peers); use at most ",
                     replicas->size()));
  }
  // Made before the slices, so that its destructor removes the ones made if
  // a later one fails.
  std::shared_ptr<ShardGroup> group(
      new ShardGroup(replicas, session_id, epoch, incarnation, layout));
  const absl::Time deadline = absl::Now() + replicas->options().call_timeout;
  for (int shard = 0; shard < layout.shards(); ++shard) {
    v1::CreateSliceRequest request = base;
    *request.mutable_key() = group->Key(shard);
    request.set_incarnation(incarnation);
    request.set_dimension(layout.dimension());
    request.set_begin(layout.range(shard).begin);
    request.set_end(layout.range(shard).end);
    const int replica = group->ReplicaOf(shard);
    absl::Status status;
    if (replica == replicas->self()) {
      status = replicas->host()->Create(request);
    } else {
      v1::CreateSliceResponse response;
      status = ToAbslStatus(WithRetry(deadline, [&](absl::Time d) {
        grpc::ClientContext context;
        replicas->Prepare(&context, d);
        return replicas->stub(replica)->CreateSlice(&context, request,
                                                    &response);
      }));
    }
    if (!status.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "could not create shard ", shard, " of session \"", session_id,
          "\" on replica ", replica, " (", replicas->address(replica),
          "): ", status.message(), "; retry when the replica is up"));
    }
  }
  return group;
}

ShardGroup::~ShardGroup() {
  std::vector<std::thread> threads;
  for (int shard = 0; shard < layout_.shards(); ++shard) {
    const int replica = ReplicaOf(shard);
    v1::DeleteSliceRequest request;
    *request.mutable_key() = Key(shard);
    request.set_purge(purge_);
    if (replica == replicas_->self()) {
      replicas_->host()->Delete(request.key(), purge_);
      continue;
    }
    threads.emplace_back([this, replica, request] {
      grpc::ClientContext context;
      replicas_->Prepare(&context, absl::Now() + absl::Milliseconds(500));
      v1::DeleteSliceResponse response;
      grpc::Status status =
          replicas_->stub(replica)->DeleteSlice(&context, request, &response);
      if (!status.ok()) {
        spdlog::warn(
            "could not delete shard {} of session \"{}\" on replica {}: {}; "
            "it is freed when its TTL passes",
            request.key().shard(), session_id_, replica,
            status.error_message());
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

void ShardGroup::PurgeSlices(const Replicas& replicas,
                             const std::string& session_id, int shards) {
  for (int shard = 0; shard < shards && shard < replicas.size(); ++shard) {
    const int replica = (replicas.self() + shard) % replicas.size();
    v1::DeleteSliceRequest request;
    request.mutable_key()->set_session_id(session_id);
    request.mutable_key()->set_shard(shard);  // epoch 0: any
    request.set_purge(true);
    if (replica == replicas.self()) {
      replicas.host()->Delete(request.key(), true);
      continue;
    }
    grpc::ClientContext context;
    replicas.Prepare(&context, absl::Now() + absl::Milliseconds(500));
    v1::DeleteSliceResponse response;
    grpc::Status status =
        replicas.stub(replica)->DeleteSlice(&context, request, &response);
    if (!status.ok()) {
      spdlog::warn(
          "could not purge shard {} of session \"{}\" on replica {}: {}; "
          "its slice expires by TTL",
          shard, session_id, replica, status.error_message());
    }
  }
}

v1::SliceKey ShardGroup::Key(int shard) const {
  v1::SliceKey key;
  key.set_session_id(session_id_);
  key.set_epoch(epoch_);
  key.set_shard(shard);
  return key;
}

std::vector<ShardPlacement> ShardGroup::placements() const {
  std::vector<ShardPlacement> out;
  for (int shard = 0; shard < layout_.shards(); ++shard) {
    const int replica = ReplicaOf(shard);
    out.push_back(
        {shard, replica, replicas_->address(replica), layout_.range(shard)});
  }
  return out;
}

void ShardGroup::Post(v1::SliceOp op, absl::Span<const double> scalars,
                      bool flag, bool flag2) {
  v1::SliceOpRequest& request = queued_.emplace_back();
  request.set_seq(++seq_);
  request.set_op(op);
  request.mutable_scalars()->Assign(scalars.begin(), scalars.end());
  request.set_flag(flag);
  request.set_flag2(flag2);
}

void ShardGroup::PostPrepared(v1::SliceOpRequest request) {
  request.set_seq(++seq_);
  queued_.push_back(std::move(request));
}

absl::Status ShardGroup::CallOne(int shard, const v1::SliceOpBatch& batch,
                                 v1::SliceOpResponse* out) const {
  const int replica = ReplicaOf(shard);
  if (replica == replicas_->self()) {
    return replicas_->host()->Apply(batch, out);
  }
  const absl::Time deadline = absl::Now() + replicas_->options().call_timeout;
  return ToAbslStatus(WithRetry(deadline, [&](absl::Time d) {
    grpc::ClientContext context;
    replicas_->Prepare(&context, d);
    return replicas_->stub(replica)->ApplySliceOps(&context, batch, out);
  }));
}

absl::StatusOr<std::vector<v1::SliceOpResponse>> ShardGroup::Send(
    std::vector<v1::SliceOpRequest> ops, bool soft) {
  if (broken_.load()) {
    return absl::UnavailableError(
        absl::StrCat("session \"", session_id_,
                     "\" lost a shard and is rebuilt when you retry"));
  }
  const int k = layout_.shards();
  std::vector<v1::SliceOpBatch> batches(static_cast<size_t>(k));
  for (int shard = 0; shard < k; ++shard) {
    v1::SliceOpBatch& batch = batches[shard];
    *batch.mutable_key() = Key(shard);
    for (const v1::SliceOpRequest& q : queued_) *batch.add_ops() = q;
    if (ops[shard].op() != v1::SLICE_OP_UNSPECIFIED) {
      *batch.add_ops() = std::move(ops[shard]);
    }
  }
  queued_.clear();
  std::vector<v1::SliceOpResponse> answers(static_cast<size_t>(k));
  std::vector<absl::Status> statuses(static_cast<size_t>(k));
  std::vector<std::thread> threads;
  int local = -1;
  for (int shard = 0; shard < k; ++shard) {
    if (ReplicaOf(shard) == replicas_->self()) {
      local = shard;
      continue;
    }
    threads.emplace_back([&, shard] {
      statuses[shard] = CallOne(shard, batches[shard], &answers[shard]);
    });
  }
  if (local >= 0)
    statuses[local] = CallOne(local, batches[local], &answers[local]);
  for (std::thread& t : threads) t.join();
  round_trips_.fetch_add(1);
  // A replica's own error on a soft call (a full disk) answers as it is, the
  // group whole, unless a call was also lost.
  const auto answered = [&](const absl::Status& status) {
    const absl::StatusCode code = status.code();
    return soft && (code == absl::StatusCode::kResourceExhausted ||
                    code == absl::StatusCode::kInternal ||
                    code == absl::StatusCode::kFailedPrecondition ||
                    code == absl::StatusCode::kDataLoss);
  };
  if (std::all_of(statuses.begin(), statuses.end(), [&](const absl::Status& s) {
        return s.ok() || answered(s);
      })) {
    for (int shard = 0; shard < k; ++shard) {
      if (statuses[shard].ok()) continue;
      const int replica = ReplicaOf(shard);
      return absl::Status(
          statuses[shard].code(),
          absl::StrCat("replica ", replica, " (", replicas_->address(replica),
                       "), shard ", shard, ": ", statuses[shard].message()));
    }
  }
  for (int shard = 0; shard < k; ++shard) {
    if (!statuses[shard].ok()) return Break(shard, statuses[shard]);
  }
  return answers;
}

absl::Status ShardGroup::Break(int shard, const absl::Status& status) {
  broken_.store(true);
  const int replica = ReplicaOf(shard);
  spdlog::warn("session \"{}\": shard {} on replica {} ({}) failed: {}",
               session_id_, shard, replica, replicas_->address(replica),
               std::string(status.message()));
  return absl::UnavailableError(absl::StrCat(
      "replica ", replica, " (", replicas_->address(replica),
      "), which holds shard ", shard, " of session \"", session_id_,
      "\", failed: ", status.message(),
      "; retry: the session is rebuilt from its journal once the replica "
      "is back"));
}

absl::StatusOr<v1::SliceOpResponse> ShardGroup::ReadShard(
    int shard, v1::SliceOpRequest request) {
  request.set_seq(0);
  if (!queued_.empty()) {
    // The queued operations go to every slice: one fan-out with the read.
    std::vector<v1::SliceOpRequest> ops(static_cast<size_t>(layout_.shards()));
    ops[shard] = std::move(request);
    OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                          Send(std::move(ops)));
    return std::move(answers[shard]);
  }
  if (broken_.load()) {
    return absl::UnavailableError(
        absl::StrCat("session \"", session_id_,
                     "\" lost a shard and is rebuilt when you retry"));
  }
  v1::SliceOpBatch batch;
  *batch.mutable_key() = Key(shard);
  *batch.add_ops() = std::move(request);
  v1::SliceOpResponse answer;
  const absl::Status status = CallOne(shard, batch, &answer);
  round_trips_.fetch_add(1);
  if (!status.ok()) return Break(shard, status);
  return answer;
}

absl::StatusOr<std::vector<v1::SliceOpResponse>> ShardGroup::Call(
    v1::SliceOp op, absl::Span<const double> scalars, bool flag, bool flag2) {
  v1::SliceOpRequest request;
  request.set_op(op);
  request.mutable_scalars()->Assign(scalars.begin(), scalars.end());
  request.set_flag(flag);
  request.set_flag2(flag2);
  return CallRequest(std::move(request));
}

absl::StatusOr<std::vector<v1::SliceOpResponse>> ShardGroup::CallRequest(
    v1::SliceOpRequest request, bool soft) {
  if (!IsRead(request.op())) request.set_seq(++seq_);
  return Send(std::vector<v1::SliceOpRequest>(
                  static_cast<size_t>(layout_.shards()), request),
              soft);
}

absl::Status ShardGroup::SaveSlices(const CheckpointTarget& target) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_SAVE_CHECKPOINT);
  request.set_checkpoint(target.tells);
  request.set_keep_checkpoints_from(target.keep_from);
  request.set_staged_told_through(target.staged_told_through);
  return CallRequest(std::move(request), /*soft=*/true).status();
}

absl::Status ShardGroup::LoadSlices(uint64_t tells) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_LOAD_CHECKPOINT);
  request.set_checkpoint(tells);
  request.set_staged_told_through(discard_staged_after_);
  return CallRequest(std::move(request)).status();
}

absl::StatusOr<Reduction> ShardGroup::Reduce(v1::SliceOp op,
                                             absl::Span<const double> scalars,
                                             bool flag) {
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        Call(op, scalars, flag));
  return Combine(answers);
}

absl::StatusOr<Reduction> ShardGroup::ReduceRequest(
    v1::SliceOpRequest request) {
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        CallRequest(std::move(request)));
  return Combine(answers);
}

absl::StatusOr<std::vector<v1::SliceOpResponse>> ShardGroup::CallPrepared(
    v1::SliceOpRequest request) {
  return CallRequest(std::move(request));
}

absl::StatusOr<Reduction> ShardGroup::Combine(
    const std::vector<v1::SliceOpResponse>& answers) {
  reductions_.fetch_add(1);
  std::vector<BlockPartials> parts;
  parts.reserve(answers.size());
  for (const v1::SliceOpResponse& a : answers) {
    BlockPartials p(a.first_block(), a.num_blocks(), a.quantities());
    if (static_cast<int64_t>(a.partials_size()) !=
        a.num_blocks() * a.quantities()) {
      broken_.store(true);
      return absl::InternalError("a slice answered malformed partial sums");
    }
    for (int64_t b = 0; b < a.num_blocks(); ++b) {
      for (int q = 0; q < a.quantities(); ++q) {
        p.at(b, q) = a.partials(static_cast<int>(b * a.quantities() + q));
      }
    }
    p.set_max_abs(a.max_abs());
    parts.push_back(std::move(p));
  }
  // Empty slices (fewer blocks than shards) answer no blocks but the same
  // quantities, as their in-process twins do.
  std::vector<const BlockPartials*> ptrs;
  for (const BlockPartials& p : parts) ptrs.push_back(&p);
  return SumInBlockOrder(ptrs);
}

absl::StatusOr<std::vector<v1::SliceOpResponse>> ShardGroup::Scatter(
    v1::SliceOp op, const ConstVectorView& full, bool flag) {
  OPTD_RETURN_IF_ERROR(layout_.CheckDimension(full.size(), "vector"));
  const int64_t width = full.type() == ScalarType::kFloat32 ? 4 : 8;
  std::vector<v1::SliceOpRequest> ops(static_cast<size_t>(layout_.shards()));
  if (full.on_slices()) {
    const uint64_t seq = ++seq_;
    for (v1::SliceOpRequest& request : ops) {
      request.set_op(op);
      request.set_flag(flag);
      request.set_seq(seq);
      if (!stencil_values_.empty()) {
        const std::vector<double>& values =
            stencil_values_[static_cast<size_t>(&request - ops.data())];
        request.mutable_stencil_values()->Assign(values.begin(), values.end());
      } else if (mean_trials_.empty()) {
        request.set_staged_trial(direct_trial_);
      } else {
        request.set_data_parallel_mean(true);
        request.mutable_data_parallel_trials()->Assign(mean_trials_.begin(),
                                                       mean_trials_.end());
        request.mutable_data_parallel_weights()->Assign(mean_weights_.begin(),
                                                        mean_weights_.end());
      }
    }
    return Send(std::move(ops));
  }
  for (int shard = 0; shard < layout_.shards(); ++shard) {
    const ShardRange& r = layout_.range(shard);
    v1::SliceOpRequest& request = ops[shard];
    request.set_op(op);
    request.set_flag(flag);
    request.set_data_float32(width == 4);
    request.set_data(static_cast<const char*>(full.data()) + width * r.begin,
                     static_cast<size_t>(width * r.size()));
  }
  const uint64_t seq = ++seq_;
  for (v1::SliceOpRequest& request : ops) request.set_seq(seq);
  return Send(std::move(ops));
}

absl::Status ShardGroup::StageGradient(uint64_t trial_id,
                                       const ConstVectorView& full) {
  OPTD_RETURN_IF_ERROR(layout_.CheckDimension(full.size(), "gradient"));
  const int64_t width = full.type() == ScalarType::kFloat32 ? 4 : 8;
  std::vector<v1::SliceOpRequest> ops(static_cast<size_t>(layout_.shards()));
  const uint64_t seq = ++seq_;
  for (int shard = 0; shard < layout_.shards(); ++shard) {
    const ShardRange& r = layout_.range(shard);
    v1::SliceOpRequest& request = ops[shard];
    request.set_op(v1::SLICE_OP_STAGE_GRADIENT);
    request.set_seq(seq);
    request.set_staged_trial(trial_id);
    request.set_data_float32(width == 4);
    request.set_data(static_cast<const char*>(full.data()) + width * r.begin,
                     static_cast<size_t>(width * r.size()));
  }
  return Send(std::move(ops)).status();
}

absl::StatusOr<std::vector<v1::SliceOpResponse>> ShardGroup::DataParallelAdd(
    absl::Span<const uint64_t> trials, absl::Span<const double> weights) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_DATA_PARALLEL_ADD);
  request.mutable_data_parallel_trials()->Assign(trials.begin(), trials.end());
  request.mutable_data_parallel_weights()->Assign(weights.begin(),
                                                  weights.end());
  return CallRequest(std::move(request));
}

absl::StatusOr<std::vector<int64_t>> ShardGroup::PlanStencil(
    int scheme, double rel_step, const Bounds* bounds) {
  std::vector<v1::SliceOpRequest> ops(static_cast<size_t>(layout_.shards()));
  for (int shard = 0; shard < layout_.shards(); ++shard) {
    v1::SliceOpRequest& request = ops[shard];
    request.set_op(v1::SLICE_OP_STENCIL_PLAN);
    request.add_scalars(scheme);
    request.add_scalars(rel_step);
    if (bounds != nullptr) {
      const ShardRange& r = layout_.range(shard);
      const size_t bytes = static_cast<size_t>(r.size()) * sizeof(double);
      std::string* data = request.mutable_data();
      data->resize(2 * bytes);
      if (bytes > 0) {
        std::memcpy(data->data(), bounds->lower().data() + r.begin, bytes);
        std::memcpy(data->data() + bytes, bounds->upper().data() + r.begin,
                    bytes);
      }
    }
  }
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        Send(std::move(ops)));
  std::vector<int64_t> points;
  for (const v1::SliceOpResponse& a : answers) {
    if (a.sums_size() != 1 || !(a.sums(0) >= 0)) {
      broken_.store(true);
      return absl::InternalError("a slice answered a malformed stencil plan");
    }
    points.push_back(static_cast<int64_t>(a.sums(0)));
  }
  return points;
}

absl::StatusOr<std::vector<double>> ShardGroup::ReadStencilPoints(
    int shard, int64_t first, int64_t count) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_STENCIL_POINTS);
  request.add_scalars(static_cast<double>(first));
  request.add_scalars(static_cast<double>(count));
  OPTD_ASSIGN_OR_RETURN(v1::SliceOpResponse answer,
                        ReadShard(shard, std::move(request)));
  if (answer.sums_size() != 2 * count) {
    broken_.store(true);
    return absl::InternalError("a slice answered malformed stencil points");
  }
  return std::vector<double>(answer.sums().begin(), answer.sums().end());
}

absl::StatusOr<int64_t> ShardGroup::CheckStencil(
    const std::vector<std::vector<double>>& values) {
  std::vector<v1::SliceOpRequest> ops(static_cast<size_t>(layout_.shards()));
  for (int shard = 0; shard < layout_.shards(); ++shard) {
    ops[shard].set_op(v1::SLICE_OP_STENCIL_CHECK);
    ops[shard].mutable_stencil_values()->Assign(values[shard].begin(),
                                                values[shard].end());
  }
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        Send(std::move(ops)));
  // Slices are in index order: the first reported is the global first.
  for (const v1::SliceOpResponse& a : answers) {
    if (a.bad_index() >= 0) return a.bad_index();
  }
  return -1;
}

absl::StatusOr<std::vector<v1::SliceOpResponse>> ShardGroup::ScatterBytes(
    v1::SliceOp op, std::vector<std::string> parts) {
  std::vector<v1::SliceOpRequest> ops(static_cast<size_t>(layout_.shards()));
  const uint64_t seq = ++seq_;
  for (int shard = 0; shard < layout_.shards(); ++shard) {
    ops[shard].set_op(op);
    ops[shard].set_seq(seq);
    ops[shard].set_data(std::move(parts[shard]));
  }
  return Send(std::move(ops));
}

absl::StatusOr<std::vector<v1::SliceOpResponse>> ShardGroup::Read(
    v1::SliceOp op) {
  return Call(op);
}

absl::Status ShardGroup::ReadStaged(uint64_t trial_id, bool product,
                                    const MutableVectorView& full) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_READ_STAGED);
  request.set_staged_trial(trial_id);
  request.set_flag(product);
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        Send(std::vector<v1::SliceOpRequest>(
                            static_cast<size_t>(layout_.shards()), request)));
  return CopyAnswers(answers, full);
}

absl::Status ShardGroup::Gather(v1::SliceOp op, const MutableVectorView& full) {
  OPTD_RETURN_IF_ERROR(layout_.CheckDimension(full.size(), "output"));
  if (full.on_slices()) {
    v1::SliceOpRequest request;
    request.set_op(op);
    request.set_publish_trial(direct_trial_);
    return Send(std::vector<v1::SliceOpRequest>(
                    static_cast<size_t>(layout_.shards()), request))
        .status();
  }
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers, Read(op));
  return CopyAnswers(answers, full);
}

absl::Status ShardGroup::CopyAnswers(
    const std::vector<v1::SliceOpResponse>& answers,
    const MutableVectorView& full) {
  for (int shard = 0; shard < layout_.shards(); ++shard) {
    const ShardRange& r = layout_.range(shard);
    const v1::SliceOpResponse& a = answers[shard];
    const int64_t width = a.data_float32() ? 4 : 8;
    if (static_cast<int64_t>(a.data().size()) != width * r.size()) {
      broken_.store(true);
      return absl::InternalError(absl::StrCat("shard ", shard, " answered ",
                                              a.data().size(), " bytes for ",
                                              r.size(), " elements"));
    }
    if (a.data_float32()) {
      full.CopyFrom(r.begin, r.size(),
                    reinterpret_cast<const float*>(a.data().data()));
    } else {
      full.CopyFrom(r.begin, r.size(),
                    reinterpret_cast<const double*>(a.data().data()));
    }
  }
  return absl::OkStatus();
}

}  // namespace optd::server
