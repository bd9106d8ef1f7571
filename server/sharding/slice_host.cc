#include "server/sharding/slice_host.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/codec/vectors.h"
#include "server/session/session_manager.h"
#include "server/sharding/data_parallel_sum.h"
#include "server/sharding/slice_ops.h"
#include "server/sharding/slice_stencil.h"
#include "server/sharding/staged_store.h"
#include "solvers/sharding/shard_layout.h"
#include "spdlog/spdlog.h"

namespace optd::server {

struct SliceHost::Slice {
  absl::Mutex mu;
  // Immutable after Create.
  v1::CreateSliceRequest spec;
  ShardRange range;
  int64_t bytes = 0;
  std::shared_ptr<StagedVectors> staged;
  // Data-parallel sessions: the step's weighted gradient sum over the range.
  DataParallelSum data_parallel_sum ABSL_GUARDED_BY(mu);
  // Finite-difference sessions: the stencil planned over the range.
  SliceStencil stencil ABSL_GUARDED_BY(mu);
  // What GetSlice serves: [0] the point, [1] the Hessian-vector trial's
  // vector, each for one trial, read by the operation named.
  uint64_t published_trial[2] ABSL_GUARDED_BY(mu) = {0, 0};
  v1::SliceOp published_op[2] ABSL_GUARDED_BY(mu) = {v1::SLICE_OP_UNSPECIFIED,
                                                     v1::SLICE_OP_UNSPECIFIED};
  std::unique_ptr<SliceSolver> solver ABSL_GUARDED_BY(mu);
  uint64_t last_seq ABSL_GUARDED_BY(mu) = 0;
  v1::SliceOpResponse last_answer ABSL_GUARDED_BY(mu);
  absl::Time last_used ABSL_GUARDED_BY(mu);
};

SliceHost::SliceHost(int replica_index, std::string data_dir,
                     int64_t max_dimension, Env* env)
    : replica_index_(replica_index),
      data_dir_(std::move(data_dir)),
      env_(env != nullptr ? env : Env::Default()),
      max_dimension_(max_dimension),
      checkpoints_(env_, data_dir_.empty() ? "" : data_dir_ + "/slices"),
      staged_(std::make_unique<StagedStore>(data_dir_, env_)) {
  if (!data_dir_.empty()) {
    env_->CreateDir(data_dir_).IgnoreError();
    env_->CreateDir(data_dir_ + "/slices").IgnoreError();
  }
}

SliceHost::~SliceHost() = default;

std::string SliceHost::MapKey(absl::string_view session_id, int shard) {
  return SliceMapKey(session_id, shard);
}

absl::StatusOr<ShardRange> SliceHost::Stage(v1::PutSliceRequest& request) {
  const bool product = request.field() == v1::SLICE_FIELD_HESSIAN_VECTOR;
  if (request.field() != v1::SLICE_FIELD_GRADIENT && !product) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field is ", v1::SliceField_Name(request.field()),
        "; PutSlice takes SLICE_FIELD_GRADIENT or SLICE_FIELD_HESSIAN_VECTOR"));
  }
  std::shared_ptr<Slice> slice = FindAny(request.session_id(), request.shard());
  if (slice == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "replica ", replica_index_, " holds no shard ", request.shard(),
        " of session \"", absl::CHexEscape(request.session_id()),
        "\"; send each slice to the replica Session.shard_map names"));
  }
  if (product && slice->spec.kind() != v1::SLICE_KIND_TRUST_REGION &&
      slice->spec.kind() != v1::SLICE_KIND_LANCZOS) {
    return absl::InvalidArgumentError(
        "field is SLICE_FIELD_HESSIAN_VECTOR but the session is not a trust "
        "region session or a curvature diagnosis");
  }
  const ShardRange range = slice->range;
  OPTD_ASSIGN_OR_RETURN(ConstVectorView values,
                        DecodeVector(request.values(), "values"));
  if (values.size() != range.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "values has ", values.size(), " elements; shard ", request.shard(),
        " of session \"", request.session_id(), "\" holds elements [",
        range.begin, ", ", range.end, ") (", range.size(), ")"));
  }
  const char* what = product ? "hessian_vector" : "gradient";
  for (int64_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values.Get(i))) {
      return NonFiniteElementError(what, range.begin + i, values.Get(i));
    }
  }
  OPTD_RETURN_IF_ERROR(staged_->Put(*slice->staged, slice->spec, request,
                                    values, replica_index_));
  return range;
}

absl::Status SliceHost::Create(const v1::CreateSliceRequest& request) {
  const v1::SliceKey& key = request.key();
  // The id names the staged-vector file (StagedPath): it must be a session
  // id, never a path.
  OPTD_RETURN_IF_ERROR(
      ValidateStoredSessionId(key.session_id(), "key.session_id"));
  if (key.shard() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("key.shard is ", key.shard(), "; it must be >= 0"));
  }
  if (request.dimension() < 1 || request.begin() < 0 ||
      request.end() < request.begin() || request.end() > request.dimension() ||
      (request.begin() % kReductionBlock != 0 &&
       request.begin() != request.end())) {
    return absl::InvalidArgumentError(
        absl::StrCat("slice [", request.begin(), ", ", request.end(),
                     ") does not fit dimension ", request.dimension(),
                     " in whole blocks of ", kReductionBlock));
  }
  if (request.memory() < 0 || request.memory() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "memory is ", request.memory(), "; it must be in [0, 1000]"));
  }
  if (request.dimension() > max_dimension_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "dimension is ", request.dimension(), "; this replica's limit is ",
        max_dimension_, " (--max_dimension)"));
  }
  auto slice = std::make_shared<Slice>();
  slice->spec = request;
  slice->range = {request.begin(), request.end()};
  {
    absl::MutexLock lock(&slice->mu);
    OPTD_ASSIGN_OR_RETURN(slice->solver, SliceSolver::Create(request));
    slice->bytes = slice->solver->bytes();
    slice->last_used = absl::Now();
  }
  OPTD_ASSIGN_OR_RETURN(slice->staged, staged_->Open(request));
  std::shared_ptr<Slice> replaced;
  {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<Slice>& entry = slices_[MapKey(key)];
    replaced = std::move(entry);
    entry = std::move(slice);
  }
  spdlog::debug("slice {} of session \"{}\" created: [{}, {})", key.shard(),
                key.session_id(), request.begin(), request.end());
  return absl::OkStatus();
}

std::shared_ptr<SliceHost::Slice> SliceHost::FindAny(
    absl::string_view session_id, int shard) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = slices_.find(MapKey(session_id, shard));
  return it == slices_.end() ? nullptr : it->second;
}

std::shared_ptr<SliceHost::Slice> SliceHost::Find(
    const v1::SliceKey& key) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = slices_.find(MapKey(key));
  if (it == slices_.end() || it->second->spec.key().epoch() != key.epoch()) {
    return nullptr;
  }
  return it->second;
}

absl::Status SliceHost::ReadPublished(const v1::GetSliceRequest& request,
                                      v1::GetSliceResponse* out) {
  const int which = request.field() == v1::SLICE_FIELD_POINT    ? 0
                    : request.field() == v1::SLICE_FIELD_VECTOR ? 1
                                                                : -1;
  if (which < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field is ", v1::SliceField_Name(request.field()),
        "; GetSlice reads SLICE_FIELD_POINT or SLICE_FIELD_VECTOR"));
  }
  OPTD_RETURN_IF_ERROR(ValidateEncoding(request.encoding(), "encoding"));
  std::shared_ptr<Slice> slice = FindAny(request.session_id(), request.shard());
  if (slice == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "replica ", replica_index_, " holds no shard ", request.shard(),
        " of session \"", absl::CHexEscape(request.session_id()),
        "\"; read each slice from the replica Session.shard_map names"));
  }
  absl::MutexLock lock(&slice->mu);
  // The W workers of a data-parallel step evaluate one point, published
  // under the step's first trial.
  const uint64_t published = slice->published_trial[which];
  const uint64_t serves =
      which == 0 ? std::max(1, slice->spec.data_parallel_workers()) : 1;
  if (request.trial_id() < published ||
      request.trial_id() - published >= serves || request.trial_id() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard ", request.shard(), " of session \"", request.session_id(),
        "\" serves the ", which == 0 ? "point" : "vector", " of trial ",
        slice->published_trial[which], ", not of trial ", request.trial_id(),
        "; Ask with points_on_slices for the outstanding trial"));
  }
  v1::SliceOpRequest read;
  read.set_op(slice->published_op[which]);
  v1::SliceOpResponse state;
  OPTD_RETURN_IF_ERROR(slice->solver->Apply(read, &state));
  const ShardRange& r = slice->range;
  const ConstVectorView part =
      state.data_float32()
          ? ConstVectorView::Float32(state.data().data(), r.size())
          : ConstVectorView::Float64(state.data().data(), r.size());
  v1::VectorEncoding encoding = request.encoding();
  if (encoding == v1::VECTOR_ENCODING_UNSPECIFIED) {
    encoding = state.data_float32() ? v1::VECTOR_ENCODING_F32
                                    : v1::VECTOR_ENCODING_F64;
  }
  v1::Vector* values = out->mutable_values();
  // The state's own type goes out as read, without a second copy.
  if (encoding == v1::VECTOR_ENCODING_F32 && state.data_float32()) {
    values->set_f32(std::move(*state.mutable_data()));
    encoding = v1::VECTOR_ENCODING_UNSPECIFIED;
  } else if (encoding == v1::VECTOR_ENCODING_F64 && !state.data_float32()) {
    values->set_f64(std::move(*state.mutable_data()));
    encoding = v1::VECTOR_ENCODING_UNSPECIFIED;
  }
  switch (encoding) {
    case v1::VECTOR_ENCODING_UNSPECIFIED:
      break;
    case v1::VECTOR_ENCODING_VALUES:
      values->mutable_values()->Resize(static_cast<int>(r.size()), 0.0);
      part.CopyTo(0, r.size(), values->mutable_values()->mutable_data());
      break;
    case v1::VECTOR_ENCODING_F32:
      values->mutable_f32()->resize(static_cast<size_t>(4 * r.size()));
      part.CopyTo(0, r.size(),
                  reinterpret_cast<float*>(values->mutable_f32()->data()));
      break;
    default:
      values->mutable_f64()->resize(static_cast<size_t>(8 * r.size()));
      part.CopyTo(0, r.size(),
                  reinterpret_cast<double*>(values->mutable_f64()->data()));
  }
  out->set_begin(r.begin);
  out->set_end(r.end);
  return absl::OkStatus();
}

absl::Status SliceHost::SaveCheckpoint(Slice& slice,
                                       const v1::SliceOpRequest& op) {
  if (op.checkpoint() == 0) {
    return SliceOpError(op, "checkpoint is 0; name the home's tells count");
  }
  std::string state;
  OPTD_RETURN_IF_ERROR(slice.solver->SaveState(&state));
  OPTD_RETURN_IF_ERROR(
      checkpoints_.Save(slice.spec, op.checkpoint(), std::move(state)));
  // The home's durable checkpoint is keep_checkpoints_from: older ones are
  // no longer needed, nor the vectors of the trials it holds.
  if (op.keep_checkpoints_from() > 0) {
    checkpoints_.Remove(slice.spec, [&](uint64_t tells) {
      return tells < op.keep_checkpoints_from();
    });
  }
  if (slice.staged == nullptr) return absl::OkStatus();
  return staged_->Compact(*slice.staged, slice.spec, op.staged_told_through());
}

absl::Status SliceHost::LoadCheckpoint(Slice& slice,
                                       const v1::SliceOpRequest& op) {
  OPTD_ASSIGN_OR_RETURN(std::string state,
                        checkpoints_.Load(slice.spec, op.checkpoint()));
  OPTD_RETURN_IF_ERROR(slice.solver->LoadState(std::move(state)));
  // The home resumes from this one: the others (older, or newer ones it
  // never made durable) are not needed.
  checkpoints_.Remove(slice.spec,
                      [&](uint64_t tells) { return tells != op.checkpoint(); });
  // Resumed without replaying tells, the home issues the trials after the
  // checkpoint again: what was sent for them before is dropped.
  if (op.staged_told_through() > 0 && slice.staged != nullptr) {
    staged_->DropAfter(*slice.staged, op.staged_told_through());
  }
  return absl::OkStatus();
}

absl::Status SliceHost::Apply(const v1::SliceOpBatch& batch,
                              v1::SliceOpResponse* out) {
  std::shared_ptr<Slice> slice = Find(batch.key());
  if (slice == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "replica ", replica_index_, " holds no slice ", batch.key().shard(),
        " of session \"", batch.key().session_id(), "\" (epoch ",
        batch.key().epoch(),
        "): the replica restarted or the session was rebuilt"));
  }
  absl::MutexLock lock(&slice->mu);
  slice->last_used = absl::Now();
  for (int i = 0; i < batch.ops_size(); ++i) {
    const v1::SliceOpRequest& op = batch.ops(i);
    const bool last = i + 1 == batch.ops_size();
    if (op.seq() != 0 && op.seq() <= slice->last_seq) {
      // Applied before: a retry of a batch whose answer was lost.
      if (last) {
        if (op.seq() != slice->last_seq) {
          return absl::FailedPreconditionError(absl::StrCat(
              "operation ", op.seq(), " was applied before operation ",
              slice->last_seq, "; its answer is gone"));
        }
        *out = slice->last_answer;
      }
      continue;
    }
    if (op.seq() != 0 && op.seq() != slice->last_seq + 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "operation ", op.seq(), " out of order: slice ", batch.key().shard(),
          " of session \"", batch.key().session_id(), "\" is at operation ",
          slice->last_seq));
    }
    v1::SliceOpResponse answer;
    answer.set_bad_index(-1);
    absl::Status status;
    if (op.publish_trial() != 0 && IsReadOp(op.op())) {
      // Served to GetSlice until the next publication.
      const int which = op.op() == v1::SLICE_OP_READ_DIRECTION ? 1 : 0;
      slice->published_trial[which] = op.publish_trial();
      slice->published_op[which] = op.op();
      // The trials before it are answered: their told vectors' bytes go
      // (a journaled slice reads them back from disk if ever replayed).
      staged_->FreeToldBefore(*slice->staged, op.publish_trial());
    } else if (op.op() == v1::SLICE_OP_READ_STAGED) {
      status =
          staged_->Read(*slice->staged, slice->spec, slice->range, op, &answer);
    } else if (op.op() == v1::SLICE_OP_SAVE_CHECKPOINT) {
      status = SaveCheckpoint(*slice, op);
    } else if (op.op() == v1::SLICE_OP_LOAD_CHECKPOINT) {
      status = LoadCheckpoint(*slice, op);
    } else if (op.op() == v1::SLICE_OP_STAGE_GRADIENT) {
      status = staged_->Stage(*slice->staged, slice->spec, slice->range, op,
                              replica_index_);
    } else if (op.op() == v1::SLICE_OP_DATA_PARALLEL_ADD) {
      status = slice->data_parallel_sum.Add(
          *staged_, *slice->staged, slice->spec, slice->range, op, &answer);
    } else if (SliceStencil::IsStencilOp(op.op())) {
      status = slice->stencil.Apply(*slice->solver, slice->spec, slice->range,
                                    op, &answer);
    } else if (op.stencil_values_size() > 0) {
      // The gradient of the stencil from the told values the home sent on.
      absl::StatusOr<std::string> gradient = slice->stencil.Gradient(op);
      if (!gradient.ok()) return gradient.status();
      v1::SliceOpRequest with_data = op;
      with_data.clear_stencil_values();
      with_data.set_data(*std::move(gradient));
      with_data.set_data_float32(false);
      status = slice->solver->Apply(with_data, &answer);
    } else if (op.data_parallel_mean()) {
      bool missing = false;
      absl::StatusOr<std::string> mean = slice->data_parallel_sum.Mean(
          *staged_, *slice->staged, slice->range, op, &missing);
      if (!mean.ok()) return mean.status();
      if (missing) {
        answer.set_missing(true);
      } else {
        v1::SliceOpRequest with_data = op;
        with_data.set_data(*std::move(mean));
        with_data.set_data_float32(false);
        status = slice->solver->Apply(with_data, &answer);
      }
    } else if (op.staged_trial() != 0) {
      bool float32 = false, missing = false;
      absl::StatusOr<std::string> bytes =
          staged_->Take(*slice->staged, slice->range, op, &float32, &missing);
      if (!bytes.ok()) return bytes.status();
      if (missing) {
        answer.set_missing(true);
      } else {
        v1::SliceOpRequest with_data = op;
        with_data.set_data(*std::move(bytes));
        with_data.set_data_float32(float32);
        status = slice->solver->Apply(with_data, &answer);
        staged_->Restore(*slice->staged, op,
                         std::move(*with_data.mutable_data()));
      }
    } else {
      status = slice->solver->Apply(op, &answer);
    }
    if (!status.ok()) return status;
    if (op.seq() != 0) {
      slice->last_seq = op.seq();
      // Answers that carry vectors are reads (seq 0); the rest are small.
      slice->last_answer = answer;
    }
    if (last) *out = std::move(answer);
  }
  return absl::OkStatus();
}

void SliceHost::Delete(const v1::SliceKey& key, bool purge) {
  std::shared_ptr<Slice> gone;
  {
    absl::MutexLock lock(&mu_);
    auto it = slices_.find(MapKey(key));
    if (it != slices_.end() && (it->second->spec.key().epoch() == key.epoch() ||
                                (purge && key.epoch() == 0))) {
      gone = std::move(it->second);
      slices_.erase(it);
    }
  }
  if (purge) {
    staged_->Purge(key.session_id(), key.shard());
    checkpoints_.RemoveAll(key.session_id(), key.shard());
  }
}

void SliceHost::Describe(v1::GetReplicaStatusResponse* out) const {
  out->set_replica_index(replica_index_);
  absl::ReaderMutexLock lock(&mu_);
  int64_t total = 0;
  for (const auto& [key, slice] : slices_) {
    v1::ReplicaSlice* s = out->add_slices();
    *s->mutable_key() = slice->spec.key();
    s->set_kind(slice->spec.kind());
    s->set_begin(slice->range.begin);
    s->set_end(slice->range.end);
    int64_t bytes = slice->bytes;
    {
      absl::MutexLock slice_lock(&slice->mu);
      bytes += slice->stencil.bytes();
    }
    s->set_bytes(bytes);
    total += bytes;
    s->set_staged_bytes(StagedStore::BytesHeld(*slice->staged));
  }
  out->set_slice_bytes(total);
}

int64_t SliceHost::ExpireIdle(absl::Time now) {
  std::vector<std::shared_ptr<Slice>> gone;
  std::vector<std::pair<std::string, int>> expired_keys;
  absl::MutexLock lock(&mu_);
  for (auto it = slices_.begin(); it != slices_.end();) {
    Slice& s = *it->second;
    bool expired;
    {
      absl::MutexLock slice_lock(&s.mu);
      expired = s.spec.ttl_seconds() > 0 &&
                now - s.last_used > absl::Seconds(s.spec.ttl_seconds());
    }
    if (expired) {
      spdlog::info("slice {} of session \"{}\" expired", s.spec.key().shard(),
                   s.spec.key().session_id());
      expired_keys.emplace_back(s.spec.key().session_id(),
                                s.spec.key().shard());
      gone.push_back(std::move(it->second));
      slices_.erase(it++);
    } else {
      ++it;
    }
  }
  // The session is gone: so are the vectors its clients sent, and the
  // slice's checkpoints.
  for (const auto& [session_id, shard] : expired_keys) {
    staged_->Expire(session_id, shard);
    checkpoints_.RemoveAll(session_id, shard);
  }
  return static_cast<int64_t>(gone.size());
}

}  // namespace optd::server
