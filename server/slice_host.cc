#include "server/slice_host.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "solvers/adam_vectors.h"
#include "solvers/lbfgs_slice.h"
#include "solvers/shard_layout.h"
#include "solvers/status_macros.h"
#include "solvers/trust_region_slice.h"
#include "spdlog/spdlog.h"

namespace optd::server {

struct SliceHost::Slice {
  absl::Mutex mu;
  // Immutable after Create.
  v1::CreateSliceRequest spec;
  ShardRange range;
  int64_t bytes = 0;
  std::unique_ptr<LbfgsSlice> lbfgs ABSL_GUARDED_BY(mu);
  std::unique_ptr<TrustRegionSlice> trust_region ABSL_GUARDED_BY(mu);
  std::unique_ptr<AdamSlice<float>> adam32 ABSL_GUARDED_BY(mu);
  std::unique_ptr<AdamSlice<double>> adam64 ABSL_GUARDED_BY(mu);
  uint64_t last_seq ABSL_GUARDED_BY(mu) = 0;
  v1::SliceOpResponse last_answer ABSL_GUARDED_BY(mu);
  absl::Time last_used ABSL_GUARDED_BY(mu);
};

namespace {

constexpr int kAdamScalars = 11;

absl::Status BadOp(const v1::SliceOpRequest& op, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "slice operation ", v1::SliceOp_Name(op.op()), ": ", why));
}

// This slice's range of a whole vector, as sent in op.data, indexed by global
// position.
absl::StatusOr<ConstVectorView> Part(const v1::SliceOpRequest& op,
                                     const ShardRange& range) {
  const int64_t width = op.data_float32() ? 4 : 8;
  if (static_cast<int64_t>(op.data().size()) != width * range.size()) {
    return BadOp(op, absl::StrCat("data has ", op.data().size(),
                                  " bytes; the slice [", range.begin, ", ",
                                  range.end, ") needs ",
                                  width * range.size()));
  }
  const ConstVectorView part =
      op.data_float32()
          ? ConstVectorView::Float32(op.data().data(), range.size())
          : ConstVectorView::Float64(op.data().data(), range.size());
  return ConstVectorView::Window(part, range.begin);
}

// A buffer in `out` for this slice's range of a vector, in the state type.
MutableVectorView ReadBuffer(const ShardRange& range, bool float32,
                             v1::SliceOpResponse* out) {
  out->mutable_data()->resize(static_cast<size_t>(range.size()) *
                              (float32 ? 4 : 8));
  out->set_data_float32(float32);
  void* data = out->mutable_data()->data();
  const MutableVectorView part =
      float32 ? MutableVectorView::Float32(data, range.size())
              : MutableVectorView::Float64(data, range.size());
  return MutableVectorView::Window(part, range.begin);
}

void WritePartials(const BlockPartials& p, v1::SliceOpResponse* out) {
  out->mutable_partials()->Assign(p.sums().begin(), p.sums().end());
  out->set_first_block(p.first_block());
  out->set_num_blocks(p.num_blocks());
  out->set_quantities(p.quantities());
  out->set_max_abs(p.max_abs());
}

absl::StatusOr<double> Scalar(const v1::SliceOpRequest& op) {
  if (op.scalars_size() != 1) {
    return BadOp(op, absl::StrCat("has ", op.scalars_size(),
                                  " scalars; it takes 1"));
  }
  return op.scalars(0);
}

absl::Status ApplyLbfgs(LbfgsSlice& s, const v1::SliceOpRequest& op,
                        v1::SliceOpResponse* out) {
  const ShardRange& r = s.range();
  switch (op.op()) {
    case v1::SLICE_OP_SET_TRIAL_POINT: {
      OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, r));
      s.SetTrialPoint(full);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_SET_TRIAL_GRADIENT: {
      OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, r));
      out->set_bad_index(s.SetTrialGradient(full));
      return absl::OkStatus();
    }
    case v1::SLICE_OP_READ_TRIAL_POINT:
      s.ReadTrialPoint(ReadBuffer(r, false, out));
      return absl::OkStatus();
    case v1::SLICE_OP_READ_POINT:
      s.ReadPoint(ReadBuffer(r, false, out));
      return absl::OkStatus();
    case v1::SLICE_OP_SET_DIRECTION:
      if (op.scalars_size() != 2 * s.pairs() + 1) {
        return BadOp(op, absl::StrCat("has ", op.scalars_size(),
                                      " coefficients; the slice holds ",
                                      s.pairs(), " pairs"));
      }
      s.SetDirection(op.scalars());
      return absl::OkStatus();
    case v1::SLICE_OP_FORM_TRIAL: {
      OPTD_ASSIGN_OR_RETURN(double stp, Scalar(op));
      s.FormTrial(stp);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_REDUCE_TRIAL: {
      OPTD_ASSIGN_OR_RETURN(double stp, Scalar(op));
      WritePartials(s.ReduceTrial(stp, op.flag()), out);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_ACCEPT: {
      OPTD_ASSIGN_OR_RETURN(double stp, Scalar(op));
      s.Accept(op.flag(), stp);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_CLEAR_MEMORY:
      s.ClearMemory();
      return absl::OkStatus();
    default:
      return BadOp(op, "is not an L-BFGS operation");
  }
}

absl::Status ApplyTrustRegion(TrustRegionSlice& s, const v1::SliceOpRequest& op,
                              v1::SliceOpResponse* out) {
  const ShardRange& r = s.range();
  switch (op.op()) {
    case v1::SLICE_OP_SET_TRIAL_POINT: {
      OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, r));
      s.SetTrialPoint(full);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_SET_TRIAL_GRADIENT: {
      OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, r));
      out->set_bad_index(s.SetTrialGradient(full));
      return absl::OkStatus();
    }
    case v1::SLICE_OP_SET_PRODUCT: {
      OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, r));
      out->set_bad_index(s.SetProduct(full));
      return absl::OkStatus();
    }
    case v1::SLICE_OP_SET_STEP: {
      OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, r));
      s.SetStep(full);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_READ_TRIAL_POINT:
      s.ReadTrialPoint(ReadBuffer(r, false, out));
      return absl::OkStatus();
    case v1::SLICE_OP_READ_POINT:
      s.ReadPoint(ReadBuffer(r, false, out));
      return absl::OkStatus();
    case v1::SLICE_OP_READ_GRADIENT:
      s.ReadGradient(ReadBuffer(r, false, out));
      return absl::OkStatus();
    case v1::SLICE_OP_READ_DIRECTION:
      s.ReadDirection(ReadBuffer(r, false, out));
      return absl::OkStatus();
    case v1::SLICE_OP_FORM_STEP:
      if (op.scalars_size() != 2 * s.pairs() + 1) {
        return BadOp(op, absl::StrCat("has ", op.scalars_size(),
                                      " coefficients; the slice holds ",
                                      s.pairs(), " pairs"));
      }
      s.FormStep(op.scalars());
      return absl::OkStatus();
    case v1::SLICE_OP_FORM_CG_STEP: {
      OPTD_ASSIGN_OR_RETURN(double tau, Scalar(op));
      s.FormCgStep(tau);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_TR_REDUCE_TRIAL:
      WritePartials(s.ReduceTrial(op.flag()), out);
      return absl::OkStatus();
    case v1::SLICE_OP_ADVANCE:
      s.Advance(op.flag(), op.flag2());
      return absl::OkStatus();
    case v1::SLICE_OP_CG_START:
      s.CgStart();
      return absl::OkStatus();
    case v1::SLICE_OP_FORM_DIFFERENCE_POINT: {
      OPTD_ASSIGN_OR_RETURN(double h, Scalar(op));
      s.FormDifferencePoint(h);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_DIFFERENCE_PRODUCT: {
      OPTD_ASSIGN_OR_RETURN(double h, Scalar(op));
      s.DifferenceProduct(h);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_REDUCE_CURVATURE:
      WritePartials(s.ReduceCurvature(), out);
      return absl::OkStatus();
    case v1::SLICE_OP_CG_ADVANCE: {
      OPTD_ASSIGN_OR_RETURN(double alpha, Scalar(op));
      WritePartials(s.CgAdvance(alpha), out);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_CG_DIRECTION: {
      OPTD_ASSIGN_OR_RETURN(double beta, Scalar(op));
      WritePartials(s.CgDirection(beta), out);
      return absl::OkStatus();
    }
    default:
      return BadOp(op, "is not a trust-region operation");
  }
}

template <typename T>
absl::Status ApplyAdam(AdamSlice<T>& s, const v1::SliceOpRequest& op,
                       v1::SliceOpResponse* out) {
  constexpr bool kFloat32 = std::is_same_v<T, float>;
  const ShardRange& r = s.range;
  switch (op.op()) {
    case v1::SLICE_OP_SET_TRIAL_POINT: {
      OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, r));
      s.SetPoint(full);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_SET_TRIAL_GRADIENT: {
      OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, r));
      double max_abs = 0;
      out->set_bad_index(s.SetGradient(full, &max_abs));
      out->set_max_abs(max_abs);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_READ_POINT:
    case v1::SLICE_OP_READ_TRIAL_POINT:
      s.ReadPoint(ReadBuffer(r, kFloat32, out));
      return absl::OkStatus();
    case v1::SLICE_OP_GRADIENT_SQUARES:
      WritePartials(s.GradientSquares(), out);
      return absl::OkStatus();
    case v1::SLICE_OP_ADAM_STEP: {
      AdamStepScalars scalars;
      OPTD_RETURN_IF_ERROR(AdamScalarsFromProto(op.scalars(), &scalars));
      s.Step(scalars);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_READ_STATE: {
      std::string* data = out->mutable_data();
      data->reserve(static_cast<size_t>(r.size()) * sizeof(T) *
                    s.state_vectors());
      for (int which = 0; which < s.state_vectors(); ++which) {
        const std::vector<T>& v = s.state_vector(which);
        data->append(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(T));
      }
      out->set_data_float32(kFloat32);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_LOAD_STATE: {
      const size_t each = static_cast<size_t>(r.size()) * sizeof(T);
      if (op.data().size() != each * s.state_vectors()) {
        return BadOp(op, absl::StrCat("data has ", op.data().size(),
                                      " bytes; the slice needs ",
                                      each * s.state_vectors()));
      }
      for (int which = 0; which < s.state_vectors(); ++which) {
        if (each > 0) {
          std::memcpy(s.state_vector(which).data(),
                      op.data().data() + which * each, each);
        }
      }
      return absl::OkStatus();
    }
    default:
      return BadOp(op, "is not an Adam operation");
  }
}

}  // namespace

void AdamScalarsToProto(const AdamStepScalars& s,
                        google::protobuf::RepeatedField<double>* out) {
  out->Clear();
  for (double v : {s.amsgrad ? 1.0 : 0.0, s.l2_weight_decay, s.param_decay,
                   s.beta1, s.one_minus_beta1, s.beta2, s.one_minus_beta2,
                   s.step_size, s.bias_correction2_sqrt, s.eps,
                   s.grad_scale}) {
    out->Add(v);
  }
}

absl::Status AdamScalarsFromProto(
    const google::protobuf::RepeatedField<double>& in, AdamStepScalars* s) {
  if (in.size() != kAdamScalars) {
    return absl::InvalidArgumentError(
        absl::StrCat("SLICE_OP_ADAM_STEP has ", in.size(), " scalars; it takes ",
                     kAdamScalars));
  }
  s->amsgrad = in[0] != 0;
  s->l2_weight_decay = in[1];
  s->param_decay = in[2];
  s->beta1 = in[3];
  s->one_minus_beta1 = in[4];
  s->beta2 = in[5];
  s->one_minus_beta2 = in[6];
  s->step_size = in[7];
  s->bias_correction2_sqrt = in[8];
  s->eps = in[9];
  s->grad_scale = in[10];
  return absl::OkStatus();
}

SliceHost::~SliceHost() = default;

std::string SliceHost::MapKey(const v1::SliceKey& key) {
  return absl::StrCat(key.session_id(), "/", key.shard());
}

absl::Status SliceHost::Create(const v1::CreateSliceRequest& request) {
  const v1::SliceKey& key = request.key();
  if (key.session_id().empty() || key.shard() < 0) {
    return absl::InvalidArgumentError(
        "key.session_id is empty or key.shard negative");
  }
  if (request.dimension() < 1 || request.begin() < 0 ||
      request.end() < request.begin() || request.end() > request.dimension() ||
      (request.begin() % kReductionBlock != 0 &&
       request.begin() != request.end())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slice [", request.begin(), ", ", request.end(),
        ") does not fit dimension ", request.dimension(),
        " in whole blocks of ", kReductionBlock));
  }
  if (request.memory() < 0 || request.memory() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory is ", request.memory(), "; it must be in [0, 1000]"));
  }
  auto slice = std::make_shared<Slice>();
  slice->spec = request;
  slice->range = {request.begin(), request.end()};
  const int64_t n = slice->range.size();
  {
    absl::MutexLock lock(&slice->mu);
    switch (request.kind()) {
      case v1::SLICE_KIND_LBFGS:
        slice->lbfgs = std::make_unique<LbfgsSlice>(slice->range,
                                                    request.memory());
        slice->bytes = 8 * n * (5 + 2 * int64_t{request.memory()});
        break;
      case v1::SLICE_KIND_TRUST_REGION:
        slice->trust_region = std::make_unique<TrustRegionSlice>(
            slice->range, request.memory(), request.cg_vectors());
        slice->bytes = 8 * n *
                       (5 + 2 * int64_t{request.memory()} +
                        (request.cg_vectors() ? 4 : 0));
        break;
      case v1::SLICE_KIND_ADAM:
        if (request.float32()) {
          slice->adam32 = std::make_unique<AdamSlice<float>>(
              slice->range, request.amsgrad());
        } else {
          slice->adam64 = std::make_unique<AdamSlice<double>>(
              slice->range, request.amsgrad());
        }
        slice->bytes = (request.float32() ? 4 : 8) * n *
                       (request.amsgrad() ? 5 : 4);
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("kind is ", request.kind(), "; use a SliceKind"));
    }
    slice->last_used = absl::Now();
  }
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

std::shared_ptr<SliceHost::Slice> SliceHost::Find(
    const v1::SliceKey& key) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = slices_.find(MapKey(key));
  if (it == slices_.end() || it->second->spec.key().epoch() != key.epoch()) {
    return nullptr;
  }
  return it->second;
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
    if (slice->lbfgs != nullptr) {
      status = ApplyLbfgs(*slice->lbfgs, op, &answer);
    } else if (slice->trust_region != nullptr) {
      status = ApplyTrustRegion(*slice->trust_region, op, &answer);
    } else if (slice->adam32 != nullptr) {
      status = ApplyAdam(*slice->adam32, op, &answer);
    } else {
      status = ApplyAdam(*slice->adam64, op, &answer);
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

void SliceHost::Delete(const v1::SliceKey& key) {
  std::shared_ptr<Slice> gone;
  absl::MutexLock lock(&mu_);
  auto it = slices_.find(MapKey(key));
  if (it != slices_.end() && it->second->spec.key().epoch() == key.epoch()) {
    gone = std::move(it->second);
    slices_.erase(it);
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
    s->set_bytes(slice->bytes);
    total += slice->bytes;
  }
  out->set_slice_bytes(total);
}

int64_t SliceHost::ExpireIdle(absl::Time now) {
  std::vector<std::shared_ptr<Slice>> gone;
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
      gone.push_back(std::move(it->second));
      slices_.erase(it++);
    } else {
      ++it;
    }
  }
  return static_cast<int64_t>(gone.size());
}

}  // namespace optd::server
