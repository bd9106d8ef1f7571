// ApplyWarmStart and the switched creation request (warm_start.h).
#include "server/session/warm_start.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "server/codec/vectors.h"
#include "solvers/core/curvature_transfer.h"

namespace optd::server {
namespace {

using google::protobuf::FieldDescriptor;

// The elements of `vector` as doubles; INVALID_ARGUMENT naming `field` for a
// bad encoding.
absl::StatusOr<std::vector<double>> DecodeDoubles(const v1::Vector& vector,
                                                  const std::string& field) {
  OPTD_ASSIGN_OR_RETURN(ConstVectorView view, DecodeVector(vector, field));
  std::vector<double> out(static_cast<size_t>(view.size()));
  for (int64_t i = 0; i < view.size(); ++i) out[i] = view.Get(i);
  return out;
}

absl::StatusOr<std::vector<std::vector<double>>> DecodeAll(
    const google::protobuf::RepeatedPtrField<v1::Vector>& vectors,
    const std::string& field) {
  std::vector<std::vector<double>> out;
  for (int i = 0; i < vectors.size(); ++i) {
    OPTD_ASSIGN_OR_RETURN(
        std::vector<double> v,
        DecodeDoubles(vectors.Get(i), absl::StrCat(field, "[", i, "]")));
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

std::string SolverFieldName(const v1::CreateSessionRequest& request) {
  const FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByNumber(request.solver_case());
  return field == nullptr ? "none" : field->name();
}

absl::Status ApplyWarmStart(const v1::CreateSessionRequest& request,
                            Solver* solver) {
  if (!request.has_warm_start()) return absl::OkStatus();
  const v1::WarmStart& warm = request.warm_start();
  const bool trust_region =
      request.solver_case() == v1::CreateSessionRequest::kTrustRegion;
  if (request.solver_case() != v1::CreateSessionRequest::kLbfgs &&
      !trust_region) {
    return absl::InvalidArgumentError(
        absl::StrCat("warm_start is set for solver ", SolverFieldName(request),
                     "; only lbfgs and trust_region (quasi_newton) take a "
                     "warm start"));
  }
  if (trust_region && request.has_bounds()) {
    return absl::InvalidArgumentError(
        "warm_start does not go with bounds (a bounded trust region reduces "
        "its model to the free variables at each iterate and starts it "
        "empty); leave one of them unset");
  }
  if (request.has_bounds()) {
    return absl::InvalidArgumentError(
        "warm_start does not go with bounds (L-BFGS-B starts its memory "
        "empty); leave one of them unset");
  }
  if (warm.has_value() != warm.has_gradient()) {
    return absl::InvalidArgumentError(
        "warm_start.value and warm_start.gradient are set together or not at "
        "all");
  }
  const int64_t n = solver->dimension();
  if (warm.has_gradient()) {
    if (!std::isfinite(warm.value())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "warm_start.value is ", warm.value(), "; it must be finite"));
    }
    OPTD_ASSIGN_OR_RETURN(
        std::vector<double> g,
        DecodeDoubles(warm.gradient(), "warm_start.gradient"));
    if (static_cast<int64_t>(g.size()) != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("warm_start.gradient has ", g.size(),
                       " elements; the dimension is ", n));
    }
    for (size_t i = 0; i < g.size(); ++i) {
      if (!std::isfinite(g[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("warm_start.gradient[", i, "] is ", g[i],
                         "; every element must be finite"));
      }
    }
  }
  OPTD_ASSIGN_OR_RETURN(std::vector<std::vector<double>> s,
                        DecodeAll(warm.s(), "warm_start.s"));
  OPTD_ASSIGN_OR_RETURN(std::vector<std::vector<double>> y,
                        DecodeAll(warm.y(), "warm_start.y"));
  OPTD_RETURN_IF_ERROR(CheckCurvaturePairs(s, y, n, "warm_start"));
  if (s.empty()) return absl::OkStatus();
  absl::Status set = solver->SetCurvaturePairs(s, y);
  if (absl::IsInvalidArgument(set)) {
    return absl::InvalidArgumentError(
        absl::StrCat("warm_start: ", set.message()));
  }
  return set;
}

v1::CreateSessionRequest SwitchedCreateRequest(
    const v1::CreateSessionRequest& source,
    const v1::CreateSessionRequest& target, const SolverHandover& handover) {
  v1::CreateSessionRequest create = source;
  const std::string from = SolverFieldName(source);
  create.clear_layers();
  create.clear_warm_start();
  // The solver oneof: clearing it and copying the target's field.
  const FieldDescriptor* field =
      target.GetDescriptor()->FindFieldByNumber(target.solver_case());
  create.GetReflection()->ClearOneof(
      &create, create.GetDescriptor()->FindOneofByName("solver"));
  if (field != nullptr) {
    create.GetReflection()
        ->MutableMessage(&create, field)
        ->CopyFrom(target.GetReflection()->GetMessage(target, field));
  }
  create.clear_x0();
  create.mutable_x0()->mutable_values()->Add(handover.x.begin(),
                                             handover.x.end());
  v1::WarmStart* warm = create.mutable_warm_start();
  for (size_t i = 0; i < handover.s.size(); ++i) {
    warm->add_s()->mutable_values()->Add(handover.s[i].begin(),
                                         handover.s[i].end());
    warm->add_y()->mutable_values()->Add(handover.y[i].begin(),
                                         handover.y[i].end());
  }
  warm->set_from_solver(from);
  warm->set_from_step(handover.tells);
  warm->set_last_trial_id(handover.last_trial_id);
  return create;
}

}  // namespace optd::server
