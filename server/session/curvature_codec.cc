// Curvature sessions' proto <-> solver conversions (curvature_codec.h).
#include "server/session/curvature_codec.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace optd::server {

absl::StatusOr<CurvatureOptions> CurvatureOptionsFromProto(
    const v1::CurvatureOptions& proto) {
  CurvatureOptions options;
  LanczosOptions& lanczos = options.lanczos;
  if (proto.has_extreme_count()) lanczos.extreme_count = proto.extreme_count();
  if (proto.has_max_steps()) lanczos.max_steps = proto.max_steps();
  if (proto.has_tolerance()) lanczos.tolerance = proto.tolerance();
  if (proto.has_probes()) lanczos.probes = proto.probes();
  if (proto.has_density_steps()) lanczos.density_steps = proto.density_steps();
  switch (proto.source()) {
    case v1::CurvatureOptions::SOURCE_UNSPECIFIED:
    case v1::CurvatureOptions::SOURCE_HESSIAN_VECTOR:
      options.source = ProductSource::kHessianVector;
      break;
    case v1::CurvatureOptions::SOURCE_GRADIENT_DIFFERENCE:
      options.source = ProductSource::kGradientDifference;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("curvature.source is ", static_cast<int>(proto.source()),
                       "; it must be SOURCE_HESSIAN_VECTOR (1) or "
                       "SOURCE_GRADIENT_DIFFERENCE (2)"));
  }
  if (proto.has_relative_step()) {
    options.relative_step = proto.relative_step();
  } else if (options.source == ProductSource::kGradientDifference) {
    options.relative_step = std::cbrt(std::numeric_limits<double>::epsilon());
  }
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  return options;
}

v1::CurvatureOptions CurvatureOptionsToProto(const CurvatureOptions& options) {
  v1::CurvatureOptions proto;
  proto.set_source(options.source == ProductSource::kHessianVector
                       ? v1::CurvatureOptions::SOURCE_HESSIAN_VECTOR
                       : v1::CurvatureOptions::SOURCE_GRADIENT_DIFFERENCE);
  proto.set_extreme_count(options.lanczos.extreme_count);
  proto.set_max_steps(options.lanczos.max_steps);
  proto.set_tolerance(options.lanczos.tolerance);
  proto.set_probes(options.lanczos.probes);
  proto.set_density_steps(options.lanczos.density_steps);
  if (!std::isnan(options.relative_step)) {
    proto.set_relative_step(options.relative_step);
  }
  return proto;
}

void CurvatureResultToProto(const SpectrumEstimate& estimate,
                            v1::CurvatureResult* out) {
  out->Clear();
  out->mutable_smallest()->Add(estimate.smallest.begin(),
                               estimate.smallest.end());
  out->mutable_largest()->Add(estimate.largest.begin(), estimate.largest.end());
  out->set_condition_number(estimate.condition_number);
  out->mutable_density_nodes()->Add(estimate.density_nodes.begin(),
                                    estimate.density_nodes.end());
  out->mutable_density_weights()->Add(estimate.density_weights.begin(),
                                      estimate.density_weights.end());
  out->set_products(estimate.products);
  out->set_lanczos_steps(estimate.lanczos_steps);
  out->set_converged(estimate.converged);
}

}  // namespace optd::server
