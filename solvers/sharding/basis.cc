#include "solvers/sharding/basis.h"

namespace optd {

void CombineBasis(absl::Span<const double> coefficients, const CurvatureRing& s,
                  const CurvatureRing& y, const std::vector<double>& g,
                  std::vector<double>* out) {
  const size_t k = s.size();
  const size_t n = g.size();
  out->resize(n);
  double* o = out->data();
  const double cg = coefficients[2 * k];
  for (size_t e = 0; e < n; ++e) o[e] = cg * g[e];
  for (size_t i = 0; i < k; ++i) {
    const double c = coefficients[i];
    const double* v = s[i].data();
    for (size_t e = 0; e < n; ++e) o[e] += c * v[e];
  }
  for (size_t i = 0; i < k; ++i) {
    const double c = coefficients[k + i];
    const double* v = y[i].data();
    for (size_t e = 0; e < n; ++e) o[e] += c * v[e];
  }
}

std::pair<std::vector<double>*, std::vector<double>*> AppendCurvaturePair(
    int memory, size_t n, CurvatureRing* s, CurvatureRing* y) {
  std::vector<double> new_s, new_y;
  if (static_cast<int>(s->size()) == memory) {
    new_s = std::move(s->front());
    new_y = std::move(y->front());
    s->pop_front();
    y->pop_front();
  }
  new_s.resize(n);
  new_y.resize(n);
  s->push_back(std::move(new_s));
  y->push_back(std::move(new_y));
  return {&s->back(), &y->back()};
}

}  // namespace optd
