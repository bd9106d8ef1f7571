#include "server/sharding/slice_host.h"

#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "server/storage/journal.h"
#include "server/session/proto_convert.h"
#include "server/session/session_manager.h"
#include "solvers/adam/adam_vectors.h"
#include "solvers/sharding/lbfgs_slice.h"
#include "solvers/sharding/shard_layout.h"
#include "common/status_macros.h"
#include "solvers/sharding/trust_region_slice.h"
#include "spdlog/spdlog.h"

namespace optd::server {

// Vectors clients sent for a shard's trials (direct path), by (field, trial);
// field 0 is a gradient, 1 a Hessian-vector product.
struct SliceHost::Staged {
  struct Vector {
    std::string bytes;  // until the home's operation consumes it
    bool float32 = false;
    size_t digest = 0;
    int64_t offset = -1;  // of its record in `path`, when journaled
    bool consumed = false;
  };
  ShardRange range;
  uint64_t incarnation = 0;
  std::string path;  // empty: not journaled
  absl::Mutex mu;
  std::optional<JournalFile> file ABSL_GUARDED_BY(mu);
  std::map<std::pair<int, uint64_t>, Vector> vectors ABSL_GUARDED_BY(mu);
};

struct SliceHost::Slice {
  absl::Mutex mu;
  // Immutable after Create.
  v1::CreateSliceRequest spec;
  ShardRange range;
  int64_t bytes = 0;
  std::shared_ptr<Staged> staged;
  // What GetSlice serves: [0] the point, [1] the Hessian-vector trial's
  // vector, each for one trial, read by the operation named.
  uint64_t published_trial[2] ABSL_GUARDED_BY(mu) = {0, 0};
  v1::SliceOp published_op[2] ABSL_GUARDED_BY(mu) = {v1::SLICE_OP_UNSPECIFIED,
                                                     v1::SLICE_OP_UNSPECIFIED};
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
// Consumed vectors of an unjournaled slice whose digests are kept (retried
// PutSlice calls are recognized for this many trials).
constexpr size_t kKeptDigests = 1024;
// Vectors a slice keeps, per field, for trials not told yet (PutSlice).
constexpr int kMaxUntoldStaged = 4;

bool IsReadOp(v1::SliceOp op) {
  return op == v1::SLICE_OP_READ_TRIAL_POINT || op == v1::SLICE_OP_READ_POINT ||
         op == v1::SLICE_OP_READ_GRADIENT || op == v1::SLICE_OP_READ_DIRECTION;
}

size_t Digest(absl::string_view bytes, bool float32) {
  return absl::Hash<std::pair<absl::string_view, bool>>{}({bytes, float32});
}

// Empties `s` and frees its buffer (assigning an empty string keeps the
// capacity in libstdc++).
void FreeString(std::string& s) { std::string().swap(s); }

// The f64 or f32 bytes of `view` (raw, as sent).
std::string RawBytes(const ConstVectorView& view) {
  const size_t width = view.type() == ScalarType::kFloat32 ? 4 : 8;
  return std::string(static_cast<const char*>(view.data()),
                     width * static_cast<size_t>(view.size()));
}

absl::Status BadOp(const v1::SliceOpRequest& op, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("slice operation ", v1::SliceOp_Name(op.op()), ": ", why));
}

// This slice's range of a whole vector, as sent in op.data, indexed by global
// position.
absl::StatusOr<ConstVectorView> Part(const v1::SliceOpRequest& op,
                                     const ShardRange& range) {
  const int64_t width = op.data_float32() ? 4 : 8;
  if (static_cast<int64_t>(op.data().size()) != width * range.size()) {
    return BadOp(op, absl::StrCat("data has ", op.data().size(),
                                  " bytes; the slice [", range.begin, ", ",
                                  range.end, ") needs ", width * range.size()));
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
    return BadOp(
        op, absl::StrCat("has ", op.scalars_size(), " scalars; it takes 1"));
  }
  return op.scalars(0);
}

// A combination of the basis [s_0..s_{k-1}, y_0..y_{k-1}, g] needs 2k + 1
// coefficients.
absl::Status CheckCoefficients(const v1::SliceOpRequest& op, int pairs) {
  if (op.scalars_size() == 2 * pairs + 1) return absl::OkStatus();
  return BadOp(
      op, absl::StrCat("has ", op.scalars_size(),
                       " coefficients; the slice holds ", pairs, " pairs"));
}

// The transport operations L-BFGS and trust-region slices share; nullopt for
// the others.
template <typename Slice>
std::optional<absl::Status> ApplyTransport(Slice& s,
                                           const v1::SliceOpRequest& op,
                                           v1::SliceOpResponse* out) {
  const ShardRange& r = s.range();
  switch (op.op()) {
    case v1::SLICE_OP_SET_TRIAL_POINT: {
      absl::StatusOr<ConstVectorView> full = Part(op, r);
      if (!full.ok()) return full.status();
      s.SetTrialPoint(*full);
      return absl::OkStatus();
    }
    case v1::SLICE_OP_SET_TRIAL_GRADIENT: {
      absl::StatusOr<ConstVectorView> full = Part(op, r);
      if (!full.ok()) return full.status();
      out->set_bad_index(s.SetTrialGradient(*full));
      return absl::OkStatus();
    }
    case v1::SLICE_OP_READ_TRIAL_POINT:
      s.ReadTrialPoint(ReadBuffer(r, false, out));
      return absl::OkStatus();
    case v1::SLICE_OP_READ_POINT:
      s.ReadPoint(ReadBuffer(r, false, out));
      return absl::OkStatus();
    // The slice's whole state (solvers/sharding/slice_state.h), for an export or an
    // import of the session.
    case v1::SLICE_OP_READ_STATE:
      s.SaveState(out->mutable_data());
      return absl::OkStatus();
    case v1::SLICE_OP_LOAD_STATE:
      return s.RestoreState(op.data());
    default:
      return std::nullopt;
  }
}

absl::Status ApplyLbfgs(LbfgsSlice& s, const v1::SliceOpRequest& op,
                        v1::SliceOpResponse* out) {
  if (std::optional<absl::Status> done = ApplyTransport(s, op, out)) {
    return *done;
  }
  switch (op.op()) {
    case v1::SLICE_OP_SET_DIRECTION:
      OPTD_RETURN_IF_ERROR(CheckCoefficients(op, s.pairs()));
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
  if (std::optional<absl::Status> done = ApplyTransport(s, op, out)) {
    return *done;
  }
  switch (op.op()) {
    case v1::SLICE_OP_SET_PRODUCT:
    case v1::SLICE_OP_READ_DIRECTION:
    case v1::SLICE_OP_FORM_CG_STEP:
    case v1::SLICE_OP_CG_START:
    case v1::SLICE_OP_FORM_DIFFERENCE_POINT:
    case v1::SLICE_OP_DIFFERENCE_PRODUCT:
    case v1::SLICE_OP_REDUCE_CURVATURE:
    case v1::SLICE_OP_CG_ADVANCE:
    case v1::SLICE_OP_CG_DIRECTION:
      if (!s.cg_vectors()) {
        return BadOp(op,
                     "needs the CG vectors, and the slice was created with "
                     "cg_vectors false (a quasi-Newton trust region)");
      }
      break;
    default:
      break;
  }
  switch (op.op()) {
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
    case v1::SLICE_OP_READ_GRADIENT:
      s.ReadGradient(ReadBuffer(r, false, out));
      return absl::OkStatus();
    case v1::SLICE_OP_READ_DIRECTION:
      s.ReadDirection(ReadBuffer(r, false, out));
      return absl::OkStatus();
    case v1::SLICE_OP_FORM_STEP:
      OPTD_RETURN_IF_ERROR(CheckCoefficients(op, s.pairs()));
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
      // The kernel reads max v only with amsgrad, and the slice has it only
      // if it was created with amsgrad: the two must agree.
      if (scalars.amsgrad != s.amsgrad) {
        return BadOp(op, absl::StrCat("scalars[0] (amsgrad) is ", op.scalars(0),
                                      " but the slice was "
                                      "created with amsgrad ",
                                      s.amsgrad ? "true" : "false"));
      }
      // Unchecked (AdamVectors::Step): a posted operation has no answer to
      // report a step that is not finite in.
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
      if (const int64_t bad = s.FirstBadPoint(op.data().data()); bad >= 0) {
        return BadOp(op, absl::StrCat("data has x[", bad,
                                      "] not finite or outside the box"));
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
                   s.step_size, s.bias_correction2_sqrt, s.eps, s.grad_scale}) {
    out->Add(v);
  }
}

absl::Status AdamScalarsFromProto(
    const google::protobuf::RepeatedField<double>& in, AdamStepScalars* s) {
  if (in.size() != kAdamScalars) {
    return absl::InvalidArgumentError(
        absl::StrCat("SLICE_OP_ADAM_STEP has ", in.size(),
                     " scalars; it takes ", kAdamScalars));
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

SliceHost::SliceHost(int replica_index, std::string data_dir,
                     int64_t max_dimension, Env* env)
    : replica_index_(replica_index),
      data_dir_(std::move(data_dir)),
      env_(env != nullptr ? env : Env::Default()),
      max_dimension_(max_dimension),
      checkpoints_(env_, data_dir_.empty() ? "" : data_dir_ + "/slices") {
  if (!data_dir_.empty()) {
    env_->CreateDir(data_dir_).IgnoreError();
    env_->CreateDir(data_dir_ + "/slices").IgnoreError();
  }
}

SliceHost::~SliceHost() = default;

std::string SliceHost::MapKey(absl::string_view session_id, int shard) {
  return absl::StrCat(session_id, "/", shard);
}

std::string SliceHost::StagedPath(const v1::CreateSliceRequest& spec) const {
  return absl::StrFormat("%s/slices/%s.%d.%016x.staged", data_dir_,
                         spec.key().session_id(), spec.key().shard(),
                         spec.incarnation());
}

void SliceHost::RemoveStagedFiles(absl::string_view session_id, int shard,
                                  absl::string_view keep) const {
  if (data_dir_.empty()) return;
  const std::string dir = data_dir_ + "/slices";
  absl::StatusOr<std::vector<std::string>> names = env_->ListDir(dir);
  if (!names.ok()) return;
  const std::string prefix = absl::StrCat(session_id, ".", shard, ".");
  for (const std::string& name : *names) {
    absl::string_view rest = name;
    if (!absl::ConsumePrefix(&rest, prefix) ||
        !absl::ConsumeSuffix(&rest, ".staged") ||
        rest.find('.') != absl::string_view::npos) {
      continue;
    }
    const std::string path = absl::StrCat(dir, "/", name);
    if (path == keep) continue;
    if (absl::Status s = RemoveFileDurably(env_, path); !s.ok()) {
      spdlog::warn("{}", std::string(s.message()));
    }
  }
}

absl::StatusOr<std::shared_ptr<SliceHost::Staged>> SliceHost::OpenStaged(
    const v1::CreateSliceRequest& request) {
  const std::string key = MapKey(request.key());
  const ShardRange range{request.begin(), request.end()};
  std::shared_ptr<Staged> stale;
  {
    absl::MutexLock lock(&mu_);
    auto it = staged_.find(key);
    if (it != staged_.end()) {
      if (it->second->range == range &&
          it->second->incarnation == request.incarnation()) {
        return it->second;
      }
      // The session was resharded, or deleted and created again.
      stale = std::move(it->second);
      staged_.erase(it);
    }
  }
  auto staged = std::make_shared<Staged>();
  staged->range = range;
  staged->incarnation = request.incarnation();
  const bool journaled = !data_dir_.empty() && request.journal_staged();
  if (stale != nullptr && !stale->path.empty()) {
    OPTD_RETURN_IF_ERROR(RemoveFileDurably(env_, stale->path));
  }
  if (journaled) {
    staged->path = StagedPath(request);
    // Files of another incarnation (a deleted session whose purge did not
    // reach this replica) are never read: they go.
    RemoveStagedFiles(request.key().session_id(), request.key().shard(),
                      staged->path);
    absl::MutexLock lock(&staged->mu);
    bool reuse = false;
    absl::StatusOr<RecordsRead> read = ReadRecords(
        env_, staged->path, kStagedFamily, /*first_record_required=*/true,
        [&](int64_t index, int64_t offset,
            absl::string_view payload) -> absl::Status {
          if (index == 0) {
            v1::CreateSliceRequest header;
            if (!header.ParseFromArray(payload.data(), payload.size())) {
              return absl::DataLossError("header does not parse");
            }
            reuse = header.begin() == range.begin && header.end() == range.end;
            return reuse ? absl::OkStatus()
                         : absl::CancelledError("another range");
          }
          v1::PutSliceRequest put;
          if (!put.ParseFromArray(payload.data(), payload.size())) {
            return absl::DataLossError("record does not parse");
          }
          const bool f32 = !put.values().f32().empty();
          Staged::Vector& v = staged->vectors[{
              put.field() == v1::SLICE_FIELD_HESSIAN_VECTOR ? 1 : 0,
              put.trial_id()}];
          v.float32 = f32;
          v.digest = Digest(f32 ? put.values().f32() : put.values().f64(), f32);
          v.offset = offset;
          v.consumed = true;  // or not yet: either way it is read back
          return absl::OkStatus();
        });
    if (read.ok() && reuse) {
      OPTD_ASSIGN_OR_RETURN(JournalFile file, JournalFile::OpenForAppend(
                                                  env_, staged->path, *read));
      staged->file.emplace(std::move(file));
      spdlog::info("slice {} of session \"{}\": {} staged vectors on disk",
                   request.key().shard(), request.key().session_id(),
                   staged->vectors.size());
    } else {
      if (!read.ok() && !absl::IsNotFound(read.status()) &&
          !absl::IsCancelled(read.status())) {
        spdlog::warn("{}: {}; starting it anew", staged->path,
                     std::string(read.status().message()));
      }
      staged->vectors.clear();
      v1::CreateSliceRequest header = request;
      OPTD_ASSIGN_OR_RETURN(
          JournalFile file,
          JournalFile::Create(env_, staged->path,
                              FrameRecord(header.SerializeAsString()),
                              kStagedFamily));
      staged->file.emplace(std::move(file));
    }
  }
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Staged>& entry = staged_[key];
  if (entry == nullptr) entry = staged;
  return entry;
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
  if (product && slice->spec.kind() != v1::SLICE_KIND_TRUST_REGION) {
    return absl::InvalidArgumentError(
        "field is SLICE_FIELD_HESSIAN_VECTOR but the session is not a trust "
        "region session");
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
  Staged& staged = *slice->staged;
  const bool f32 = values.type() == ScalarType::kFloat32;
  // Raw bytes are taken over from the request, not copied: a replica then
  // holds one copy of a slice, not two, while it waits for the tell.
  std::string bytes;
  if (!request.values().f32().empty()) {
    bytes.swap(*request.mutable_values()->mutable_f32());
  } else if (!request.values().f64().empty()) {
    bytes.swap(*request.mutable_values()->mutable_f64());
  } else {
    bytes = RawBytes(values);
  }
  const size_t digest = Digest(bytes, f32);
  absl::MutexLock lock(&staged.mu);
  const std::pair<int, uint64_t> key{product ? 1 : 0, request.trial_id()};
  auto it = staged.vectors.find(key);
  if (it != staged.vectors.end() && it->second.digest == digest &&
      it->second.float32 == f32) {
    // A retry. Its bytes come back if they were let go (told, and not
    // journaled): the trial may be told again after a rebuild.
    if (it->second.bytes.empty() && it->second.offset < 0) {
      it->second.bytes = std::move(bytes);
    }
    return range;
  }
  if (it != staged.vectors.end() && it->second.consumed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", request.trial_id(), " of session \"", request.session_id(),
        "\" was told with another ", what, " slice on shard ", request.shard(),
        "; a retry must send the same values"));
  }
  if (it == staged.vectors.end()) {
    // A sharded session has one trial outstanding: vectors for more trials
    // than a few are never told, and would only hold this replica's memory.
    int untold = 0;
    for (const auto& [k, v] : staged.vectors) {
      if (k.first == key.first && !v.consumed) ++untold;
    }
    if (untold >= kMaxUntoldStaged) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "replica ", replica_index_, " holds ", untold, " ", what,
          " slices of shard ", request.shard(), " of session \"",
          request.session_id(), "\" for trials not told yet, its limit (",
          kMaxUntoldStaged,
          "); send slices only for the outstanding trial, and tell it"));
    }
  }
  Staged::Vector v;
  v.float32 = f32;
  v.digest = digest;
  if (staged.file.has_value()) {
    v1::PutSliceRequest record;
    record.set_trial_id(request.trial_id());
    record.set_shard(request.shard());
    record.set_field(request.field());
    if (f32) {
      record.mutable_values()->set_f32(bytes);
    } else {
      record.mutable_values()->set_f64(bytes);
    }
    // A failed sync left the file broken for good: a new one first.
    if (staged.file->broken()) {
      OPTD_RETURN_IF_ERROR(RewriteStagedLocked(staged, slice->spec));
    }
    v.offset = staged.file->size();
    OPTD_RETURN_IF_ERROR(
        staged.file->Append(FrameRecord(record.SerializeAsString())));
    OPTD_RETURN_IF_ERROR(staged.file->Sync());
  }
  v.bytes = std::move(bytes);
  staged.vectors[key] = std::move(v);
  return range;
}

absl::StatusOr<std::string> SliceHost::TakeStaged(Slice& slice,
                                                  const v1::SliceOpRequest& op,
                                                  bool* float32,
                                                  bool* missing) {
  *missing = false;
  *float32 = false;
  // An empty slice (fewer blocks than shards) needs nothing from the client.
  if (slice.range.size() == 0) return std::string();
  Staged& staged = *slice.staged;
  const int field = op.op() == v1::SLICE_OP_SET_PRODUCT ? 1 : 0;
  absl::MutexLock lock(&staged.mu);
  auto it = staged.vectors.find({field, op.staged_trial()});
  if (it == staged.vectors.end() ||
      (it->second.bytes.empty() && it->second.offset < 0)) {
    *missing = true;
    return std::string();
  }
  Staged::Vector& v = it->second;
  *float32 = v.float32;
  std::string bytes;
  if (!v.bytes.empty()) {
    // Lent to the operation and given back (RestoreStaged): kept until the
    // trial's answer is published or a later trial is told, since a tell
    // refused for another shard's missing slice is retried.
    bytes = std::move(v.bytes);
    FreeString(v.bytes);
  } else {
    OPTD_ASSIGN_OR_RETURN(std::string payload,
                          ReadRecordAt(env_, staged.path, v.offset));
    v1::PutSliceRequest record;
    if (!record.ParseFromString(payload)) {
      return absl::DataLossError(absl::StrCat(
          staged.path, ": the record at byte ", v.offset, " does not parse"));
    }
    bytes = v.float32 ? record.values().f32() : record.values().f64();
  }
  v.consumed = true;
  // Vectors sent for earlier trials that were never told are dropped, those
  // told give their bytes up, and an unjournaled slice keeps only recent
  // digests.
  for (auto old = staged.vectors.begin(); old != it;) {
    if (old->first.first == field && !old->second.consumed) {
      old = staged.vectors.erase(old);
    } else {
      if (old->first.first == field) FreeString(old->second.bytes);
      ++old;
    }
  }
  if (staged.path.empty() && staged.vectors.size() > kKeptDigests) {
    staged.vectors.erase(staged.vectors.begin());
  }
  return bytes;
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
  const int64_t n = slice->range.size();
  {
    absl::MutexLock lock(&slice->mu);
    switch (request.kind()) {
      case v1::SLICE_KIND_LBFGS:
        slice->lbfgs =
            std::make_unique<LbfgsSlice>(slice->range, request.memory());
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
          slice->adam32 = std::make_unique<AdamSlice<float>>(slice->range,
                                                             request.amsgrad());
        } else {
          slice->adam64 = std::make_unique<AdamSlice<double>>(
              slice->range, request.amsgrad());
        }
        slice->bytes =
            (request.float32() ? 4 : 8) * n * (request.amsgrad() ? 5 : 4);
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("kind is ", request.kind(), "; use a SliceKind"));
    }
    slice->last_used = absl::Now();
  }
  OPTD_ASSIGN_OR_RETURN(slice->staged, OpenStaged(request));
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

absl::Status SliceHost::ApplyTo(Slice& slice, const v1::SliceOpRequest& op,
                                v1::SliceOpResponse* answer) {
  if (slice.lbfgs != nullptr) return ApplyLbfgs(*slice.lbfgs, op, answer);
  if (slice.trust_region != nullptr) {
    return ApplyTrustRegion(*slice.trust_region, op, answer);
  }
  if (slice.adam32 != nullptr) return ApplyAdam(*slice.adam32, op, answer);
  return ApplyAdam(*slice.adam64, op, answer);
}

void SliceHost::RestoreStaged(Slice& slice, const v1::SliceOpRequest& op,
                              std::string bytes) {
  Staged& staged = *slice.staged;
  absl::MutexLock lock(&staged.mu);
  auto it = staged.vectors.find(
      {op.op() == v1::SLICE_OP_SET_PRODUCT ? 1 : 0, op.staged_trial()});
  if (it != staged.vectors.end() && it->second.bytes.empty()) {
    it->second.bytes = std::move(bytes);
  }
}

absl::Status SliceHost::ReadStaged(Slice& slice, const v1::SliceOpRequest& op,
                                   v1::SliceOpResponse* answer) {
  if (slice.range.size() == 0) return absl::OkStatus();
  Staged& staged = *slice.staged;
  absl::MutexLock lock(&staged.mu);
  auto it = staged.vectors.find({op.flag() ? 1 : 0, op.staged_trial()});
  if (it == staged.vectors.end() ||
      (it->second.bytes.empty() && it->second.offset < 0)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard ", slice.spec.key().shard(), " no longer keeps the ",
        op.flag() ? "hessian_vector" : "gradient", " of trial ",
        op.staged_trial(),
        " (it is journaled only for per-tell durable sessions)"));
  }
  answer->set_data_float32(it->second.float32);
  if (!it->second.bytes.empty()) {
    answer->set_data(it->second.bytes);
    return absl::OkStatus();
  }
  OPTD_ASSIGN_OR_RETURN(std::string payload,
                        ReadRecordAt(env_, staged.path, it->second.offset));
  v1::PutSliceRequest record;
  if (!record.ParseFromString(payload)) {
    return absl::DataLossError(
        absl::StrCat(staged.path, ": the record at byte ", it->second.offset,
                     " does not parse"));
  }
  answer->set_data(it->second.float32 ? record.values().f32()
                                      : record.values().f64());
  return absl::OkStatus();
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
  if (slice->published_trial[which] != request.trial_id() ||
      request.trial_id() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard ", request.shard(), " of session \"", request.session_id(),
        "\" serves the ", which == 0 ? "point" : "vector", " of trial ",
        slice->published_trial[which], ", not of trial ", request.trial_id(),
        "; Ask with points_on_slices for the outstanding trial"));
  }
  v1::SliceOpRequest read;
  read.set_op(slice->published_op[which]);
  v1::SliceOpResponse state;
  OPTD_RETURN_IF_ERROR(ApplyTo(*slice, read, &state));
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

namespace {

// The slice's whole state, as a checkpoint keeps it: the L-BFGS or trust-
// region slice's SaveState, or Adam's state vectors (SLICE_OP_READ_STATE).
std::string SliceStateBytes(LbfgsSlice* lbfgs, TrustRegionSlice* trust_region,
                            const v1::SliceOpResponse& adam_state) {
  std::string state;
  if (lbfgs != nullptr) {
    lbfgs->SaveState(&state);
  } else if (trust_region != nullptr) {
    trust_region->SaveState(&state);
  } else {
    state = adam_state.data();
  }
  return state;
}

}  // namespace

absl::Status SliceHost::SaveCheckpoint(Slice& slice,
                                       const v1::SliceOpRequest& op) {
  if (op.checkpoint() == 0) {
    return BadOp(op, "checkpoint is 0; name the home's tells count");
  }
  v1::SliceOpResponse adam_state;
  if (slice.lbfgs == nullptr && slice.trust_region == nullptr) {
    v1::SliceOpRequest read;
    read.set_op(v1::SLICE_OP_READ_STATE);
    OPTD_RETURN_IF_ERROR(ApplyTo(slice, read, &adam_state));
  }
  OPTD_RETURN_IF_ERROR(
      checkpoints_.Save(slice.spec, op.checkpoint(),
                        SliceStateBytes(slice.lbfgs.get(),
                                        slice.trust_region.get(), adam_state)));
  // The home's durable checkpoint is keep_checkpoints_from: older ones are
  // no longer needed, nor the vectors of the trials it holds.
  if (op.keep_checkpoints_from() > 0) {
    checkpoints_.Remove(slice.spec, [&](uint64_t tells) {
      return tells < op.keep_checkpoints_from();
    });
  }
  return CompactStaged(slice, op.staged_told_through());
}

absl::Status SliceHost::LoadCheckpoint(Slice& slice,
                                       const v1::SliceOpRequest& op) {
  OPTD_ASSIGN_OR_RETURN(std::string state,
                        checkpoints_.Load(slice.spec, op.checkpoint()));
  if (slice.lbfgs != nullptr) {
    OPTD_RETURN_IF_ERROR(slice.lbfgs->RestoreState(state));
  } else if (slice.trust_region != nullptr) {
    OPTD_RETURN_IF_ERROR(slice.trust_region->RestoreState(state));
  } else {
    v1::SliceOpRequest load;
    load.set_op(v1::SLICE_OP_LOAD_STATE);
    load.set_data(std::move(state));
    v1::SliceOpResponse ignored;
    OPTD_RETURN_IF_ERROR(ApplyTo(slice, load, &ignored));
  }
  // The home resumes from this one: the others (older, or newer ones it
  // never made durable) are not needed.
  checkpoints_.Remove(slice.spec,
                      [&](uint64_t tells) { return tells != op.checkpoint(); });
  // Resumed without replaying tells, the home issues the trials after the
  // checkpoint again: what was sent for them before is dropped.
  if (op.staged_told_through() > 0 && slice.staged != nullptr) {
    Staged& staged = *slice.staged;
    absl::MutexLock lock(&staged.mu);
    for (auto it = staged.vectors.begin(); it != staged.vectors.end();) {
      it = it->first.second > op.staged_told_through()
               ? staged.vectors.erase(it)
               : std::next(it);
    }
  }
  return absl::OkStatus();
}

absl::Status SliceHost::CompactStaged(Slice& slice, uint64_t told_through) {
  if (told_through == 0 || slice.staged == nullptr) return absl::OkStatus();
  Staged& staged = *slice.staged;
  absl::MutexLock lock(&staged.mu);
  bool dropped = false;
  for (auto it = staged.vectors.begin(); it != staged.vectors.end();) {
    if (it->first.second <= told_through) {
      it = staged.vectors.erase(it);
      dropped = true;
    } else {
      ++it;
    }
  }
  if (!dropped || !staged.file.has_value()) return absl::OkStatus();
  return RewriteStagedLocked(staged, slice.spec);
}

absl::Status SliceHost::RewriteStagedLocked(
    Staged& staged, const v1::CreateSliceRequest& spec) {
  // A new file with the vectors still referenced, read back from the old
  // one (checksums verified) and renamed over it: a crash leaves one or the
  // other.
  std::vector<std::pair<Staged::Vector*, std::string>> kept;
  for (auto& [key, v] : staged.vectors) {
    if (v.offset < 0) continue;
    OPTD_ASSIGN_OR_RETURN(std::string payload,
                          ReadRecordAt(env_, staged.path, v.offset));
    kept.emplace_back(&v, FrameRecord(payload));
  }
  int64_t offset = 16;  // the magic and the salt
  std::vector<int64_t> offsets;
  OPTD_ASSIGN_OR_RETURN(
      JournalFile file,
      JournalFile::CreateWith(
          env_, staged.path, kStagedFamily,
          [&](const JournalFile::RecordSink& sink) -> absl::Status {
            const std::string head = FrameRecord(spec.SerializeAsString());
            OPTD_RETURN_IF_ERROR(sink(head));
            offset += static_cast<int64_t>(head.size());
            for (const auto& [v, record] : kept) {
              offsets.push_back(offset);
              OPTD_RETURN_IF_ERROR(sink(record));
              offset += static_cast<int64_t>(record.size());
            }
            return absl::OkStatus();
          }));
  for (size_t i = 0; i < kept.size(); ++i) kept[i].first->offset = offsets[i];
  staged.file.emplace(std::move(file));
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
      absl::MutexLock staged_lock(&slice->staged->mu);
      for (auto& [key, v] : slice->staged->vectors) {
        if (key.second < op.publish_trial() && v.consumed) FreeString(v.bytes);
      }
    } else if (op.op() == v1::SLICE_OP_READ_STAGED) {
      status = ReadStaged(*slice, op, &answer);
    } else if (op.op() == v1::SLICE_OP_SAVE_CHECKPOINT) {
      status = SaveCheckpoint(*slice, op);
    } else if (op.op() == v1::SLICE_OP_LOAD_CHECKPOINT) {
      status = LoadCheckpoint(*slice, op);
    } else if (op.staged_trial() != 0) {
      bool float32 = false, missing = false;
      absl::StatusOr<std::string> bytes =
          TakeStaged(*slice, op, &float32, &missing);
      if (!bytes.ok()) return bytes.status();
      if (missing) {
        answer.set_missing(true);
      } else {
        v1::SliceOpRequest with_data = op;
        with_data.set_data(*std::move(bytes));
        with_data.set_data_float32(float32);
        status = ApplyTo(*slice, with_data, &answer);
        RestoreStaged(*slice, op, std::move(*with_data.mutable_data()));
      }
    } else {
      status = ApplyTo(*slice, op, &answer);
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
  std::shared_ptr<Staged> purged;
  {
    absl::MutexLock lock(&mu_);
    auto it = slices_.find(MapKey(key));
    if (it != slices_.end() && (it->second->spec.key().epoch() == key.epoch() ||
                                (purge && key.epoch() == 0))) {
      gone = std::move(it->second);
      slices_.erase(it);
    }
    if (purge) {
      auto s = staged_.find(MapKey(key));
      if (s != staged_.end()) {
        purged = std::move(s->second);
        staged_.erase(s);
      }
    }
  }
  if (purge) {
    // Every incarnation's files: the session is gone.
    RemoveStagedFiles(key.session_id(), key.shard(), "");
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
    s->set_bytes(slice->bytes);
    total += slice->bytes;
    absl::MutexLock staged_lock(&slice->staged->mu);
    int64_t staged = 0;
    for (const auto& [key, v] : slice->staged->vectors)
      staged += v.bytes.size();
    s->set_staged_bytes(staged);
  }
  out->set_slice_bytes(total);
}

int64_t SliceHost::ExpireIdle(absl::Time now) {
  std::vector<std::shared_ptr<Slice>> gone;
  std::vector<std::string> files;
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
      // The session is gone: so are the vectors its clients sent, and the
      // slice's checkpoints.
      if (auto staged = staged_.find(it->first); staged != staged_.end()) {
        if (!staged->second->path.empty()) {
          files.push_back(staged->second->path);
        }
        staged_.erase(staged);
      }
      slices_.erase(it++);
    } else {
      ++it;
    }
  }
  for (const std::string& path : files) {
    if (absl::Status s = RemoveFileDurably(env_, path); !s.ok()) {
      spdlog::warn("{}", std::string(s.message()));
    }
  }
  for (const auto& [session_id, shard] : expired_keys) {
    checkpoints_.RemoveAll(session_id, shard);
  }
  return static_cast<int64_t>(gone.size());
}

}  // namespace optd::server
