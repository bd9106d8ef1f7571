#include "solvers/core/bounds.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace optd {

Bounds Bounds::Unbounded(int64_t n) {
  Bounds b;
  b.lower_.assign(static_cast<size_t>(n),
                  -std::numeric_limits<double>::infinity());
  b.upper_.assign(static_cast<size_t>(n),
                  std::numeric_limits<double>::infinity());
  return b;
}

absl::StatusOr<Bounds> Bounds::Create(const ConstVectorView& lower,
                                      const ConstVectorView& upper, int64_t n) {
  Bounds b = Unbounded(n);
  const struct {
    const ConstVectorView* view;
    const char* field;
    std::vector<double>* out;
    double forbidden;
  } sides[] = {
      {&lower, "bounds.lower", &b.lower_,
       std::numeric_limits<double>::infinity()},
      {&upper, "bounds.upper", &b.upper_,
       -std::numeric_limits<double>::infinity()},
  };
  for (const auto& side : sides) {
    if (side.view->size() == 0) continue;
    if (side.view->size() != n) {
      return absl::InvalidArgumentError(
          absl::StrCat(side.field, " has ", side.view->size(),
                       " elements; x0 has ", n, " (or leave it empty)"));
    }
    for (int64_t i = 0; i < n; ++i) {
      const double v = side.view->Get(i);
      if (std::isnan(v) || v == side.forbidden) {
        return absl::InvalidArgumentError(absl::StrCat(
            side.field, "[", i, "] is ", v, "; a bound is a number or ",
            side.forbidden > 0 ? "-inf" : "+inf", " (no bound)"));
      }
      (*side.out)[i] = v;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    if (b.lower_[i] > b.upper_[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bounds.lower[", i, "] = ", b.lower_[i],
          " is greater than bounds.upper[", i, "] = ", b.upper_[i]));
    }
    if (std::isfinite(b.lower_[i]) || std::isfinite(b.upper_[i])) {
      b.any_ = true;
    }
  }
  return b;
}

bool Bounds::Contains(const double* x) const {
  for (size_t i = 0; i < lower_.size(); ++i) {
    if (!(x[i] >= lower_[i] && x[i] <= upper_[i])) return false;
  }
  return true;
}

void Bounds::Project(double* x) const {
  for (size_t i = 0; i < lower_.size(); ++i) {
    x[i] = Project(static_cast<int64_t>(i), x[i]);
  }
}

}  // namespace optd
