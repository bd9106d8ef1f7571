// EstimateSessionBytes and EstimateStateBytes (solver_factory.h): a
// session's memory from its creation request, before anything is built.
#include <algorithm>
#include <string>

#include "absl/status/statusor.h"
#include "server/session/adafactor_codec.h"
#include "server/session/first_order_codec.h"
#include "server/session/request_fields.h"
#include "server/session/solver_factory.h"
#include "server/sharding/finite_difference_slices.h"
#include "solvers/adafactor/adafactor_options.h"
#include "solvers/adam/adam_vectors.h"
#include "solvers/adapters/data_parallel.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/adapters/finite_difference_jacobian.h"
#include "solvers/adapters/gradient_check.h"

namespace optd::server {
namespace {

// The solver's own state (its vectors).
int64_t EstimateSolverBytes(const v1::CreateSessionRequest& request,
                            int64_t n) {
  constexpr int64_t kDouble = sizeof(double);
  switch (request.solver_case()) {
    case v1::CreateSessionRequest::kLbfgs: {
      const int64_t m =
          request.lbfgs().has_memory() ? request.lbfgs().memory() : 10;
      if (request.has_bounds()) {
        // L-BFGS-B's slice (solvers/sharding/lbfgsb_slice.h): S and Y, ten
        // vectors (x, g, the trial's two, d, z, xp, r, y, the breakpoints),
        // nbd and iwhere (two ints), the breakpoint order and the entering
        // and leaving sets (at most n indices each), the free mask (a
        // byte); its box is the layer's.
        return (2 * std::max<int64_t>(m, 0) + 13) * n * kDouble + n;
      }
      return (2 * std::max<int64_t>(m, 0) + 6) * n * kDouble;
    }
    case v1::CreateSessionRequest::kTrustRegion: {
      const v1::TrustRegionOptions& tr = request.trust_region();
      switch (tr.subproblem()) {
        case v1::TrustRegionOptions::SUBPROBLEM_EXACT:
          return (n + 8) * n * kDouble;
        case v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG:
        case v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD:
          return 8 * n * kDouble;
        default: {
          const int64_t m = tr.has_memory() ? tr.memory() : 10;
          return (2 * std::max<int64_t>(m, 0) + 8) * n * kDouble;
        }
      }
    }
    case v1::CreateSessionRequest::kLeastSquares: {
      // lmder's QR of J and J itself, the adapter's told J, and a few
      // vectors of m and n; trf holds J, J scaled and the SVD's V (n x n)
      // besides, and its U while it computes.
      const int64_t m =
          std::max<int64_t>(request.least_squares().residuals(), 1);
      if (request.least_squares().tr_solver() ==
          v1::LeastSquaresOptions::TR_SOLVER_LSMR) {
        // trf_lsmr.h never forms J: r and its copies, J S, LSMR's vectors.
        return (10 * m + 24 * n) * kDouble;
      }
      const bool lm = request.least_squares().method() ==
                          v1::LeastSquaresOptions::METHOD_LM ||
                      (request.least_squares().method() ==
                           v1::LeastSquaresOptions::METHOD_UNSPECIFIED &&
                       !request.has_bounds() &&
                       request.least_squares().loss() <=
                           v1::LeastSquaresOptions::LOSS_LINEAR);
      if (lm) return (3 * std::max(m, n) * n + 4 * m + 10 * n) * kDouble;
      return (5 * m * n + 2 * n * n + 6 * m + 14 * n) * kDouble;
    }
    case v1::CreateSessionRequest::kAdafactor: {
      // x, g and m (with beta1), the vector layers' v and the matrices' row
      // and column statistics, in the state's type.
      absl::StatusOr<AdafactorOptions> options =
          AdafactorOptionsFromProto(request.adafactor(), request.layers());
      if (!options.ok()) return n * kDouble;  // Create refuses it anyway.
      const int64_t element =
          options->dtype == ScalarType::kFloat32 ? sizeof(float) : kDouble;
      int64_t elements = (options->beta1.has_value() ? 3 : 2) * n;
      if (options->layers.empty()) elements += n;
      for (const AdafactorLayer& layer : options->layers) {
        elements += layer.factored() ? layer.rows + layer.cols : layer.rows;
      }
      return elements * element;
    }
    case v1::CreateSessionRequest::kCurvature: {
      // The Lanczos basis (max(max_steps, density_steps) vectors, capped at
      // n), x, the told product or the two gradients and work vectors.
      const int64_t steps =
          request.curvature().has_max_steps()
              ? std::clamp<int64_t>(request.curvature().max_steps(), 1, 2000)
              : 200;
      const int64_t basis = std::max(
          steps, static_cast<int64_t>(
                     request.curvature().has_density_steps()
                         ? std::clamp<int64_t>(
                               request.curvature().density_steps(), 1, 1000)
                         : 30));
      return (std::min(basis, n) + 8) * n * kDouble;
    }
    case v1::CreateSessionRequest::SOLVER_NOT_SET:
      return n * kDouble;
    default: {
      // The first-order family: x and the slots the options keep, in the
      // state's type, and the gradient.
      std::string name;
      const google::protobuf::Message& proto = FirstOrderField(request, &name);
      absl::StatusOr<AdamOptions> options =
          FirstOrderOptionsFromProto(proto, name);
      if (!options.ok()) return n * kDouble;  // Create refuses it anyway.
      const int64_t element =
          options->dtype == ScalarType::kFloat32 ? sizeof(float) : kDouble;
      return ((1 + AdamSlots::For(options->hyper).count()) * element +
              kDouble) *
             n;
    }
  }
  return n * kDouble;
}

}  // namespace

SessionBytes EstimateSessionBytes(const v1::CreateSessionRequest& request,
                                  int64_t n) {
  constexpr int64_t kDouble = sizeof(double);
  SessionBytes bytes;
  bytes.solver = EstimateSolverBytes(request, n);
  const bool finite_difference =
      request.gradient_source() == v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
  if (request.has_bounds()) {
    // The solver's box and the creation echo's; the finite-difference
    // adapter keeps its own.
    bytes.layers += (finite_difference ? 6 : 4) * n * kDouble;
    bytes.layers_name = "bounds";
  }
  if (finite_difference && IsLeastSquares(request)) {
    const JacobianStepRule rule =
        LeastSquaresJacobianRule(request.finite_difference())
            .value_or(JacobianStepRule::kCentral);
    const int64_t m = std::max<int64_t>(request.least_squares().residuals(), 0);
    bytes.layers += FiniteDifferenceJacobianBytes(n, m, rule);
    bytes.batch_trials = FiniteDifferenceJacobianTrials(n, rule);
    bytes.layers_name = "finite-difference Jacobian stencil";
  } else if (finite_difference) {
    const FiniteDifferenceScheme scheme =
        request.finite_difference().scheme() ==
                v1::FiniteDifferenceOptions::SCHEME_FORWARD
            ? FiniteDifferenceScheme::kForward
            : FiniteDifferenceScheme::kCentral;
    // A sharded session's stencil is on the slices: the home keeps a told
    // value per trial (finite_difference_slices.h).
    bytes.layers += request.shards() > 1 ? FiniteDifferenceOnSlicesBytes(
                                               n, scheme, request.shards())
                                         : FiniteDifferenceBytes(n, scheme);
    bytes.batch_trials = FiniteDifferenceTrials(n, scheme);
    bytes.layers_name = request.has_bounds()
                            ? "finite-difference stencil and bounds"
                            : "finite-difference stencil";
  } else if (request.has_gradient_check()) {
    GradientCheckOptions check;
    check.at_iterations.assign(request.gradient_check().at_iterations().begin(),
                               request.gradient_check().at_iterations().end());
    check.every_iterations = request.gradient_check().every_iterations();
    bytes.layers += GradientCheckBytes(n, check);
    bytes.batch_trials = 2 * n + 1;
    bytes.layers_name = "gradient-check stencil and reports";
  } else if (request.data_parallel().workers() > 1) {
    const int workers = std::min(request.data_parallel().workers(), 1024);
    bytes.layers += DataParallelBytes(n, workers);
    bytes.batch_trials = workers;
    bytes.layers_name = "data-parallel gradient sums";
  }
  if (bytes.batch_trials > 1) bytes.layers += bytes.batch_trials * kLeaseBytes;
  return bytes;
}

int64_t EstimateStateBytes(const v1::CreateSessionRequest& request, int64_t n) {
  return EstimateSessionBytes(request, n).total();
}

}  // namespace optd::server
