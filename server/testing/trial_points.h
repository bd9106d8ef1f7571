// The points of an answer's trials as a client rebuilds them: a trial with
// Trial.delta gets its base point (from the answer's base_points, or the
// base trial's own x) with the delta's element set, in the base's encoding.
//
//   v1::AskResponse ask = ...;
//   for (const v1::Trial& trial : WithPoints(ask)) Evaluate(trial.x());
//
// Thread-safety: pure functions.
#ifndef OPTD_SERVER_TESTING_TRIAL_POINTS_H_
#define OPTD_SERVER_TESTING_TRIAL_POINTS_H_

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "optd/v1/optimizer.pb.h"

namespace optd::server::testing {

// `base` with element i set to `value`, in its own encoding (a float32
// element holds `value` rounded, which the server already did).
inline v1::Vector WithElement(v1::Vector base, int64_t i, double value) {
  if (base.values_size() > 0) {
    base.set_values(static_cast<int>(i), value);
  } else if (!base.f64().empty()) {
    std::memcpy(base.mutable_f64()->data() + 8 * i, &value, 8);
  } else {
    const float f = static_cast<float>(value);
    std::memcpy(base.mutable_f32()->data() + 4 * i, &f, 4);
  }
  return base;
}

// The trials of `response` (v1::AskResponse, TellResponse, OptimizeResponse,
// CreateSessionResponse), each with its point in `x`.
template <typename Response>
std::vector<v1::Trial> WithPoints(const Response& response) {
  std::vector<v1::Trial> trials(response.trials().begin(),
                                response.trials().end());
  for (v1::Trial& trial : trials) {
    if (!trial.has_delta()) continue;
    const v1::PointDelta& delta = trial.delta();
    const v1::Vector* base = nullptr;
    for (const v1::BasePoint& point : response.base_points()) {
      if (point.trial_id() == delta.base_trial_id()) base = &point.x();
    }
    for (const v1::Trial& other : response.trials()) {
      if (other.trial_id() == delta.base_trial_id()) base = &other.x();
    }
    EXPECT_NE(base, nullptr)
        << "trial " << trial.trial_id() << ": its base "
        << delta.base_trial_id() << " is not in the answer";
    if (base == nullptr) continue;
    *trial.mutable_x() =
        delta.has_coordinate()
            ? WithElement(*base, delta.coordinate(), delta.value())
            : *base;
  }
  return trials;
}

}  // namespace optd::server::testing

#endif  // OPTD_SERVER_TESTING_TRIAL_POINTS_H_
