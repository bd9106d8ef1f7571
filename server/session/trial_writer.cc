#include "server/session/trial_writer.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/codec/time.h"
#include "server/codec/vectors.h"
#include "server/session/codecs.h"
#include "server/session/solver_factory.h"

namespace optd::server {

absl::Status WriteBatchTrials(
    const BatchTrials& batch, v1::VectorEncoding encoding, bool on_slices,
    const std::vector<uint64_t>* only,
    google::protobuf::RepeatedPtrField<v1::Trial>* trials,
    google::protobuf::RepeatedPtrField<v1::BasePoint>* base_points) {
  const TrialLedger& ledger = batch.ledger;
  if (!ledger.has_pending_trial()) return absl::OkStatus();
  const Solver& solver = batch.solver;
  const int batch_size = solver.batch_size();
  const uint64_t first_id = ledger.batch_first_id();
  // Whole points this answer carries (a trial's x or a base point): at most
  // two, so that an answer stays O(n + trials) whatever the batch (the
  // server never builds the 2n + 1 points of a stencil). Two for the one
  // batch of whole points there is: a curvature session's gradient
  // difference, x + h v and x - h v (curvature_solver.h). A solver whose
  // batch trials came without deltas would break that; it is refused rather
  // than served.
  constexpr int kMaxWholePoints = 2;
  int whole_points = 0;
  const auto count_whole_point = [&](int k) -> absl::Status {
    if (++whole_points <= kMaxWholePoints) return absl::OkStatus();
    return absl::InternalError(absl::StrCat(
        "session \"", batch.session_id, "\": trial ", k, " of a batch of ",
        batch_size,
        " has no point delta, and an answer carries at most two whole points"));
  };
  int written_whole = -1;     // batch index of the trial written with its x
  int wanted_base = -1;       // batch index of the base the deltas need
  uint64_t published_id = 0;  // direct path: the trial whose point is out
  // The slices serve one point per batch (GetSlice): a batch of one, or a
  // data-parallel step, whose trials all evaluate its first trial's x. A
  // finite-difference stencil's points differ from the base point in one
  // coordinate each: the base point goes whole (the home gathered it to plan
  // the steps) and the rest as deltas. A gradient-difference batch's two
  // points x + h v and x - h v go whole too (the home reads them from the
  // slices, as on the gateway path); their gradients still go to the slices.
  bool one_point = true;
  for (int k = 1; k < batch_size && one_point; ++k) {
    const std::optional<PointDelta> delta = solver.BatchPointDelta(k);
    one_point = delta.has_value() && delta->coordinate < 0;
  }
  const auto write = [&](int k) -> absl::Status {
    const uint64_t trial_id = first_id + k;
    v1::Trial* trial = trials->Add();
    trial->set_trial_id(trial_id);
    const Evaluation wants = solver.batch_wants(k);
    trial->set_wants(EvaluationToProto(wants));
    trial->set_batch_index(k);
    trial->set_batch_size(batch_size);
    if (only != nullptr) {
      auto lease = ledger.leases().find(trial_id);
      if (lease != ledger.leases().end()) {
        TimeToProto(lease->second.expiry, trial->mutable_lease_expire_time());
      }
    }
    if (on_slices && batch.shards != nullptr && one_point) {
      // Direct path: each replica serves its slice of the point (GetSlice):
      // a batch of one or a data-parallel step (every trial at the same x).
      // A stencil (finite differences, a gradient check) is written as
      // below: trial 0 whole and the rest as deltas from it; a
      // gradient-difference pair as two whole points.
      trial->set_on_slices(true);
      // A data-parallel worker's point is its step's first trial's, which
      // the slices serve under every trial of the step: published once.
      const std::optional<PointDelta> same = solver.BatchPointDelta(k);
      const uint64_t publish_id = same.has_value() && same->coordinate < 0
                                      ? first_id + same->base
                                      : trial_id;
      if (publish_id == published_id) return absl::OkStatus();
      published_id = publish_id;
      batch.shards->set_direct_trial(publish_id);
      OPTD_RETURN_IF_ERROR(solver.ReadBatchPoint(
          k, MutableVectorView::OnSlices(batch.dimension)));
      if (wants == Evaluation::kHessianVector) {
        OPTD_RETURN_IF_ERROR(solver.ReadBatchVector(
            k, MutableVectorView::OnSlices(batch.dimension)));
      }
      return absl::OkStatus();
    }
    const std::optional<PointDelta> delta = solver.BatchPointDelta(k);
    if (delta.has_value() && wants != Evaluation::kHessianVector) {
      v1::PointDelta* out = trial->mutable_delta();
      out->set_base_trial_id(first_id + delta->base);
      if (delta->coordinate >= 0) {
        out->set_coordinate(delta->coordinate);
        // Exactly the element a whole point in this encoding would hold.
        out->set_value(
            encoding == v1::VECTOR_ENCODING_F32
                ? static_cast<double>(static_cast<float>(delta->value))
                : delta->value);
      }
      if (wanted_base >= 0 && wanted_base != delta->base) {
        return absl::InternalError(
            absl::StrCat("session \"", batch.session_id,
                         "\": the trials of a batch are built from "
                         "trials ",
                         wanted_base, " and ", delta->base,
                         "; an answer carries one base point"));
      }
      wanted_base = delta->base;
      return absl::OkStatus();
    }
    OPTD_RETURN_IF_ERROR(count_whole_point(k));
    written_whole = k;
    OPTD_RETURN_IF_ERROR(
        WriteTrialPoint(solver, encoding, trial->mutable_x(), k));
    if (wants == Evaluation::kHessianVector || WantsJacobianProduct(wants)) {
      OPTD_RETURN_IF_ERROR(
          WriteTrialVector(solver, encoding, trial->mutable_vector(), k));
    }
    return absl::OkStatus();
  };
  if (only != nullptr) {
    // A worker's trials: only those, not a walk over the whole batch.
    for (uint64_t trial_id : *only) {
      if (trial_id < first_id || trial_id > ledger.last_trial_id()) continue;
      const int k = static_cast<int>(trial_id - first_id);
      if (!solver.batch_told(k)) OPTD_RETURN_IF_ERROR(write(k));
    }
  } else {
    for (int k = 0; k < batch_size; ++k) {
      if (!solver.batch_told(k)) OPTD_RETURN_IF_ERROR(write(k));
    }
  }
  if (wanted_base >= 0 && wanted_base != written_whole) {
    OPTD_RETURN_IF_ERROR(count_whole_point(wanted_base));
    v1::BasePoint* base = base_points->Add();
    base->set_trial_id(first_id + wanted_base);
    OPTD_RETURN_IF_ERROR(
        WriteTrialPoint(solver, encoding, base->mutable_x(), wanted_base));
  }
  return absl::OkStatus();
}

}  // namespace optd::server
