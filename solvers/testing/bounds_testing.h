// Bounds for tests: MakeBounds({0, -1}, {1, kInf}) from two vectors of the
// same length (the test fails if they are not a valid box).
#ifndef OPTD_SOLVERS_TESTING_BOUNDS_TESTING_H_
#define OPTD_SOLVERS_TESTING_BOUNDS_TESTING_H_

#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "solvers/core/bounds.h"

namespace optd::testing {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

inline Bounds MakeBounds(const std::vector<double>& lower,
                         const std::vector<double>& upper) {
  const int64_t n = static_cast<int64_t>(lower.size());
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), n),
                     ConstVectorView::Float64(upper.data(), n), n);
  EXPECT_TRUE(box.ok()) << box.status();
  return box.ok() ? *std::move(box) : Bounds::Unbounded(n);
}

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_BOUNDS_TESTING_H_
