// Replicas and ShardGroup: how the home replica of a sharded session reaches
// the K slices of its state (DESIGN §3).
//
// Replicas is the deployment as this process sees it: the addresses of every
// replica (--peers), its own index (--replica_index), and a channel to each
// other one. Its own slices are reached in-process, without RPC.
//
// ShardGroup is one session's K slices, shard i on replica (home + i) mod R.
// It sends each vector operation to every slice in parallel and returns their
// answers; operations that answer nothing are held back and sent with the
// next one that does (a batch), so an L-BFGS evaluation costs three round
// trips: scatter the gradient, one reduction, gather the next point.
//
// Faults: a call that fails (replica down, slice missing after a restart,
// sequence out of order) is retried while the replica is unreachable, up to
// --shard_call_timeout; then the group is broken: the call answers
// UNAVAILABLE and the session must be rebuilt (SessionManager replays its
// journal into a new group with a new epoch).
//
// Thread-safety: Replicas is thread-safe. A ShardGroup is used under its
// session's lock, one operation at a time; broken() and the counters may be
// read from any thread.
#ifndef OPTD_SERVER_SHARDING_SHARD_GROUP_H_
#define OPTD_SERVER_SHARDING_SHARD_GROUP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "grpcpp/grpcpp.h"
#include "optd/v1/optimizer.grpc.pb.h"
#include "optd/v1/shard.grpc.pb.h"
#include "server/sharding/slice_host.h"
#include "solvers/core/bounds.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/shard_layout.h"

namespace optd::server {

struct ReplicaOptions {
  // Every replica's address, "host:port", in replica order; empty: a single
  // replica (this one) and no sharding.
  std::vector<std::string> peers;
  // This process's position in `peers`.
  int replica_index = 0;
  // How long one slice call may take, retries included, before the session
  // is declared broken.
  absl::Duration call_timeout = absl::Seconds(10);
  int64_t max_message_bytes = (int64_t{1} << 30) + (int64_t{1} << 20);
  // Transport security of the calls to the other replicas (--peer_tls_*).
  // Null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // With credentials: the name the other replicas' certificates must carry,
  // when it is not the host in `peers` (--peer_tls_server_name).
  std::string tls_server_name;
  // The token sent as "authorization: Bearer <token>" on calls to the other
  // replicas' Shard service, read at each call (the tokens file may be
  // reloaded). Null, or returning empty: none.
  std::function<std::string()> token;
};

// INVALID_ARGUMENT unless peers is empty or replica_index indexes it, and
// every address is non-empty and distinct.
absl::Status ValidateReplicaOptions(const ReplicaOptions& options);

class Replicas {
 public:
  // REQUIRES: ValidateReplicaOptions(options).ok(); `host` outlives this.
  Replicas(const ReplicaOptions& options, SliceHost* host);

  int size() const {
    return options_.peers.empty() ? 1 : static_cast<int>(options_.peers.size());
  }
  int self() const { return options_.replica_index; }
  const std::string& address(int replica) const;
  const ReplicaOptions& options() const { return options_; }
  // Replicas::Prepare()
  //
  // Sets `deadline` and the replicas' authorization on a call's context.
  void Prepare(grpc::ClientContext* context, absl::Time deadline) const;
  SliceHost* host() const { return host_; }
  // The stubs for another replica (REQUIRES: replica != self()).
  v1::Shard::Stub* stub(int replica) const { return stubs_[replica].get(); }
  v1::Optimizer::Stub* optimizer_stub(int replica) const {
    return optimizer_stubs_[replica].get();
  }

 private:
  const ReplicaOptions options_;
  SliceHost* const host_;
  std::vector<std::unique_ptr<v1::Shard::Stub>> stubs_;
  std::vector<std::unique_ptr<v1::Optimizer::Stub>> optimizer_stubs_;
};

// The placement of one shard, for Session.shards.
struct ShardPlacement {
  int shard = 0;
  int replica = 0;
  std::string address;
  ShardRange range;
};

class ShardGroup {
 public:
  // Creates the slices (base.kind and its solver fields set; key, range and
  // dimension are filled in here) on layout.shards() replicas starting at
  // the home. UNAVAILABLE naming the replica when one cannot be reached; the
  // slices already made are deleted again.
  // `incarnation` is the session's (journal.h header): it names the slices'
  // files on their replicas.
  static absl::StatusOr<std::shared_ptr<ShardGroup>> Create(
      std::shared_ptr<const Replicas> replicas, const std::string& session_id,
      uint64_t epoch, uint64_t incarnation, const ShardLayout& layout,
      const v1::CreateSliceRequest& base);

  // Deletes the slices (best effort: a replica that is down frees them when
  // their TTL passes).
  ~ShardGroup();

  // Purges every slice of a session whatever its epoch, with the vectors its
  // clients sent (a session deleted before it was built after a restart).
  static void PurgeSlices(const Replicas& replicas,
                          const std::string& session_id, int shards);

  ShardGroup(const ShardGroup&) = delete;
  ShardGroup& operator=(const ShardGroup&) = delete;

  const ShardLayout& layout() const { return layout_; }
  std::vector<ShardPlacement> placements() const;

  // Direct data path: the trial whose staged vectors a Scatter of an
  // on_slices() view uses, and under which a Gather into an on_slices() view
  // publishes the point for clients to read (GetSlice).
  void set_direct_trial(uint64_t trial_id) { direct_trial_ = trial_id; }
  uint64_t direct_trial() const { return direct_trial_; }
  // The trial being told, on either data path (data-parallel sessions stage
  // each worker's gradient under its trial id).
  void set_told_trial(uint64_t trial_id) { told_trial_ = trial_id; }
  uint64_t told_trial() const { return told_trial_; }
  // The session was deleted: the destructor purges what clients sent too.
  void set_purge_on_delete() { purge_ = true; }
  // Export: the vector clients sent for `trial_id` (a gradient, or with
  // `product` a Hessian-vector product), gathered into `full`.
  absl::Status ReadStaged(uint64_t trial_id, bool product,
                          const MutableVectorView& full);

  // ShardGroup::Post()
  //
  // Queues an operation that answers nothing, the same on every slice; it
  // goes out with the next Call/Scatter/Gather.
  void Post(v1::SliceOp op, absl::Span<const double> scalars = {},
            bool flag = false, bool flag2 = false);
  // Post() of a prepared request (for fields beyond scalars and flags, e.g.
  // integers); its seq is set here.
  void PostPrepared(v1::SliceOpRequest request);
  // ShardGroup::Call()
  //
  // The same operation on every slice, now; answers in shard order.
  absl::StatusOr<std::vector<v1::SliceOpResponse>> Call(
      v1::SliceOp op, absl::Span<const double> scalars = {}, bool flag = false,
      bool flag2 = false);
  // ShardGroup::Reduce()
  //
  // Call() of a reduction, its partials added in global block order.
  absl::StatusOr<Reduction> Reduce(v1::SliceOp op,
                                   absl::Span<const double> scalars = {},
                                   bool flag = false);
  // Call() and Reduce() of a prepared request (for fields beyond scalars
  // and flags, e.g. lanczos_position); seq is set here unless it is a read.
  absl::StatusOr<std::vector<v1::SliceOpResponse>> CallPrepared(
      v1::SliceOpRequest request);
  absl::StatusOr<Reduction> ReduceRequest(v1::SliceOpRequest request);
  // ShardGroup::Combine()
  //
  // Reduce()'s second half: the partials of Call()'s answers added in global
  // block order, for an operation that answers more than its partials.
  absl::StatusOr<Reduction> Combine(
      const std::vector<v1::SliceOpResponse>& answers);
  // ShardGroup::Scatter()
  //
  // Sends each slice its range of `full` (dimension elements), or with an
  // on_slices() `full` has each use what the client sent it for the direct
  // trial (an answer with `missing` when it sent nothing). `flag` goes with
  // the operation (a Lanczos slice's SET_TRIAL_GRADIENT: g_1).
  absl::StatusOr<std::vector<v1::SliceOpResponse>> Scatter(
      v1::SliceOp op, const ConstVectorView& full, bool flag = false);
  // ShardGroup::ScatterBytes()
  //
  // Sends slice i parts[i] as its data.
  absl::StatusOr<std::vector<v1::SliceOpResponse>> ScatterBytes(
      v1::SliceOp op, std::vector<std::string> parts);
  // ShardGroup::Gather()
  //
  // A read whose answers are this slice's range of a vector: copied into
  // `full` (dimension elements); with an on_slices() `full`, published for
  // the direct trial instead.
  absl::Status Gather(v1::SliceOp op, const MutableVectorView& full);

  // ShardGroup::ReadShard()
  //
  // A read (seq 0) of one slice, now; the queued operations go to every
  // slice with it. For passes that carry running sums from slice to slice
  // (Adafactor's), which must visit the slices one at a time.
  absl::StatusOr<v1::SliceOpResponse> ReadShard(int shard,
                                                v1::SliceOpRequest request);
  // ShardGroup::StageGradient()
  //
  // Data-parallel sessions, gateway path: each slice keeps its range of
  // `full` as the staged gradient of `trial_id` (SLICE_OP_STAGE_GRADIENT),
  // as if a client had sent it with PutSlice.
  absl::Status StageGradient(uint64_t trial_id, const ConstVectorView& full);
  // ShardGroup::DataParallelAdd()
  //
  // Data-parallel sessions: every slice checks that adding the last of
  // `trials` (a step's told trials in tell order, with their `weights`) to
  // the weighted sum of their staged gradients keeps it and its mean finite
  // (SLICE_OP_DATA_PARALLEL_ADD); answers in shard order.
  absl::StatusOr<std::vector<v1::SliceOpResponse>> DataParallelAdd(
      absl::Span<const uint64_t> trials, absl::Span<const double> weights);
  // While set, a Scatter of an on_slices() view has each slice use the
  // weighted mean of the staged gradients of `trials` instead of a staged
  // vector of the direct trial; cleared with empty spans.
  void set_data_parallel_mean(absl::Span<const uint64_t> trials,
                              absl::Span<const double> weights) {
    mean_trials_.assign(trials.begin(), trials.end());
    mean_weights_.assign(weights.begin(), weights.end());
  }

  // ShardGroup::PlanStencil()
  //
  // Finite differences (docs/sharding.md "Finite differences"): every slice
  // plans the stencil of its range around its trial point
  // (SLICE_OP_STENCIL_PLAN; `scheme` 0 central, 1 forward; `rel_step`
  // resolved; `bounds` null: none, else the session's box, of which each
  // slice gets its range). Answers each slice's number of stencil points, in
  // shard order.
  absl::StatusOr<std::vector<int64_t>> PlanStencil(int scheme, double rel_step,
                                                   const Bounds* bounds);
  // ShardGroup::ReadStencilPoints()
  //
  // Points first .. first + count - 1 of slice `shard`'s stencil
  // (SLICE_OP_STENCIL_POINTS): (global coordinate, value) pairs.
  absl::StatusOr<std::vector<double>> ReadStencilPoints(int shard,
                                                        int64_t first,
                                                        int64_t count);
  // ShardGroup::CheckStencil()
  //
  // Every slice differentiates its stencil from values[shard] (f(x), then
  // its points' told values) without keeping the result
  // (SLICE_OP_STENCIL_CHECK): the global index of the first derivative an
  // inner solver would refuse, or -1.
  absl::StatusOr<int64_t> CheckStencil(
      const std::vector<std::vector<double>>& values);
  // While set (non-empty, one per shard), a Scatter of an on_slices() view
  // has each slice use the derivatives of its stencil from its values
  // (stencil_values) instead of a staged vector; cleared with {}.
  void set_stencil_values(std::vector<std::vector<double>> values) {
    stencil_values_ = std::move(values);
  }

  // Every shard's raw answer data for a read, in shard order.
  absl::StatusOr<std::vector<v1::SliceOpResponse>> Read(v1::SliceOp op);

  // The checkpoint the home is writing (Session): while one is set, the
  // remote vectors' SaveState has every slice save itself on its replica
  // (SaveSlices) and writes only a reference to those files, instead of
  // gathering the vectors to the home.
  struct CheckpointTarget {
    // The session's tells count at the checkpoint.
    uint64_t tells = 0;
    // The home's durable checkpoint (older slice checkpoints may go) and
    // the last trial it holds (staged vectors up to it may go); 0: none.
    uint64_t keep_from = 0;
    uint64_t staged_told_through = 0;
  };
  void set_checkpoint_target(std::optional<CheckpointTarget> target) {
    checkpoint_target_ = target;
  }
  const std::optional<CheckpointTarget>& checkpoint_target() const {
    return checkpoint_target_;
  }
  // ShardGroup::SaveSlices(), ShardGroup::LoadSlices()
  //
  // Every slice saves its state as checkpoint target.tells on its replica,
  // durably (SLICE_OP_SAVE_CHECKPOINT); a replica that cannot write it (a
  // full disk) fails the save with its error but leaves the group whole.
  // Every slice loads its checkpoint `tells` (SLICE_OP_LOAD_CHECKPOINT):
  // FAILED_PRECONDITION naming the replica that has none.
  // After set_discard_staged_after(t > 0), the session resumes from the
  // checkpoint it loads without replaying tells: the staged vectors of trials
  // after t are dropped (those trials are issued again).
  absl::Status SaveSlices(const CheckpointTarget& target);
  absl::Status LoadSlices(uint64_t tells);
  void set_discard_staged_after(uint64_t trial) {
    discard_staged_after_ = trial;
  }
  uint64_t incarnation() const { return incarnation_; }

  // True once a call failed for good: the slices no longer match the
  // controller and the session must be rebuilt.
  bool broken() const { return broken_.load(); }
  // Round trips (one per fan-out to all slices) and, of those, reductions.
  int64_t round_trips() const { return round_trips_.load(); }
  int64_t reductions() const { return reductions_.load(); }

 private:
  ShardGroup(std::shared_ptr<const Replicas> replicas, std::string session_id,
             uint64_t epoch, uint64_t incarnation, const ShardLayout& layout);
  // The same prepared operation on every slice, now (seq assigned here).
  absl::StatusOr<std::vector<v1::SliceOpResponse>> CallRequest(
      v1::SliceOpRequest request, bool soft = false);

  // Sends the queued operations plus ops[i] (which may be empty: flush) to
  // slice i, for every i, in parallel.
  // With `soft`, a replica that answered with an error of its own (a full
  // disk: not a lost call) leaves the group whole: only ops that change no
  // slice (seq 0) may be sent so.
  absl::StatusOr<std::vector<v1::SliceOpResponse>> Send(
      std::vector<v1::SliceOpRequest> ops, bool soft = false);
  absl::Status CallOne(int shard, const v1::SliceOpBatch& batch,
                       v1::SliceOpResponse* out) const;
  // Breaks the group for the failed call to `shard`: the UNAVAILABLE that
  // the caller answers.
  absl::Status Break(int shard, const absl::Status& status);
  v1::SliceKey Key(int shard) const;
  // Copies each shard's answer data into its range of `full`.
  absl::Status CopyAnswers(const std::vector<v1::SliceOpResponse>& answers,
                           const MutableVectorView& full);
  int ReplicaOf(int shard) const {
    return (replicas_->self() + shard) % replicas_->size();
  }

  const std::shared_ptr<const Replicas> replicas_;
  const std::string session_id_;
  const uint64_t epoch_;
  const uint64_t incarnation_;
  const ShardLayout layout_;
  std::optional<CheckpointTarget> checkpoint_target_;
  uint64_t discard_staged_after_ = 0;
  // The last sequence number sent (the same on every slice).
  uint64_t seq_ = 0;
  uint64_t direct_trial_ = 0;
  uint64_t told_trial_ = 0;
  std::vector<uint64_t> mean_trials_;
  std::vector<double> mean_weights_;
  std::vector<std::vector<double>> stencil_values_;
  bool purge_ = false;
  std::vector<v1::SliceOpRequest> queued_;
  std::atomic<bool> broken_{false};
  std::atomic<int64_t> round_trips_{0};
  std::atomic<int64_t> reductions_{0};
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_SHARD_GROUP_H_
