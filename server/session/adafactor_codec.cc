#include "server/session/adafactor_codec.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optd::server {

absl::StatusOr<AdafactorOptions> AdafactorOptionsFromProto(
    const v1::AdafactorOptions& proto,
    const google::protobuf::RepeatedPtrField<v1::Layer>& layers) {
  AdafactorOptions options;
  if (proto.has_lr()) options.lr = proto.lr();
  if (proto.has_eps1()) options.eps1 = proto.eps1();
  if (proto.has_eps2()) options.eps2 = proto.eps2();
  if (proto.has_clip_threshold()) {
    options.clip_threshold = proto.clip_threshold();
  }
  if (proto.has_decay_rate()) options.decay_rate = proto.decay_rate();
  if (proto.has_beta1()) options.beta1 = proto.beta1();
  if (proto.has_weight_decay()) options.weight_decay = proto.weight_decay();
  if (proto.has_scale_parameter()) {
    options.scale_parameter = proto.scale_parameter();
  }
  if (proto.has_relative_step()) options.relative_step = proto.relative_step();
  if (proto.has_warmup_init()) options.warmup_init = proto.warmup_init();
  switch (proto.dtype()) {
    case v1::STATE_DTYPE_UNSPECIFIED:
    case v1::STATE_DTYPE_FLOAT64:
      options.dtype = ScalarType::kFloat64;
      break;
    case v1::STATE_DTYPE_FLOAT32:
      options.dtype = ScalarType::kFloat32;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("adafactor.dtype is ", proto.dtype(),
                       "; use STATE_DTYPE_FLOAT64 or STATE_DTYPE_FLOAT32"));
  }
  options.max_steps = proto.max_steps();
  // Bounded before any copy: a request may list more layers than allowed.
  if (layers.size() > kMaxAdafactorLayers) {
    return absl::InvalidArgumentError(
        absl::StrCat("layers has ", layers.size(), " entries; at most ",
                     kMaxAdafactorLayers, " are allowed"));
  }
  options.layers.reserve(layers.size());
  for (const v1::Layer& layer : layers) {
    options.layers.push_back({layer.rows(), layer.cols()});
  }
  OPTD_RETURN_IF_ERROR(options.Validate());
  return options;
}

v1::AdafactorOptions AdafactorOptionsToProto(const AdafactorOptions& options) {
  v1::AdafactorOptions proto;
  if (options.lr.has_value()) proto.set_lr(*options.lr);
  proto.set_eps1(options.eps1);
  proto.set_eps2(options.eps2);
  proto.set_clip_threshold(options.clip_threshold);
  proto.set_decay_rate(options.decay_rate);
  if (options.beta1.has_value()) proto.set_beta1(*options.beta1);
  proto.set_weight_decay(options.weight_decay);
  proto.set_scale_parameter(options.scale_parameter);
  proto.set_relative_step(options.relative_step);
  proto.set_warmup_init(options.warmup_init);
  proto.set_dtype(options.dtype == ScalarType::kFloat32
                      ? v1::STATE_DTYPE_FLOAT32
                      : v1::STATE_DTYPE_FLOAT64);
  proto.set_max_steps(options.max_steps);
  return proto;
}

void AdafactorLayersToProto(
    const AdafactorOptions& options,
    google::protobuf::RepeatedPtrField<v1::Layer>* out) {
  out->Clear();
  for (const AdafactorLayer& layer : options.layers) {
    v1::Layer* proto = out->Add();
    proto->set_rows(layer.rows);
    proto->set_cols(layer.cols);
  }
}

}  // namespace optd::server
