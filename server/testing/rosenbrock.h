// Test objectives for the server tests: the Rosenbrock function (n = 2 is
// scipy's classic start x0 = (-1.2, 1)) with its gradient and Hessian, and
// helpers that build wire Vectors and read them back as doubles, whatever
// their encoding.
//
//   std::vector<double> g(2);
//   double f = Rosenbrock({-1.2, 1.0}, &g);
//
// Thread-safety: pure functions.
#ifndef OPTD_SERVER_TESTING_ROSENBROCK_H_
#define OPTD_SERVER_TESTING_ROSENBROCK_H_

#include <cstring>
#include <string>
#include <vector>

#include "optd/v1/optimizer.pb.h"

namespace optd::server::testing {

// The chained Rosenbrock function sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
// and its gradient (scipy.optimize.rosen / rosen_der).
inline double Rosenbrock(const std::vector<double>& x,
                         std::vector<double>* gradient) {
  const size_t n = x.size();
  gradient->assign(n, 0.0);
  double f = 0;
  for (size_t i = 0; i + 1 < n; ++i) {
    const double a = x[i + 1] - x[i] * x[i];
    const double b = 1 - x[i];
    f += 100 * a * a + b * b;
    (*gradient)[i] += -400 * x[i] * a - 2 * b;
    (*gradient)[i + 1] += 200 * a;
  }
  return f;
}

// The Hessian of Rosenbrock() at x, n*n row-major (scipy.optimize.rosen_hess).
inline std::vector<double> RosenbrockHessian(const std::vector<double>& x) {
  const size_t n = x.size();
  std::vector<double> h(n * n, 0.0);
  for (size_t i = 0; i + 1 < n; ++i) {
    h[i * n + i] += 1200 * x[i] * x[i] - 400 * x[i + 1] + 2;
    h[i * n + i + 1] += -400 * x[i];
    h[(i + 1) * n + i] += -400 * x[i];
    h[(i + 1) * n + i + 1] += 200;
  }
  return h;
}

// H v for the row-major n*n matrix h.
inline std::vector<double> MatVec(const std::vector<double>& h,
                                  const std::vector<double>& v) {
  const size_t n = v.size();
  std::vector<double> out(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) out[i] += h[i * n + j] * v[j];
  }
  return out;
}

// The doubles in `v`, from whichever encoding is set.
inline std::vector<double> ToDoubles(const v1::Vector& v) {
  if (v.values_size() > 0) return {v.values().begin(), v.values().end()};
  if (!v.f64().empty()) {
    std::vector<double> out(v.f64().size() / 8);
    std::memcpy(out.data(), v.f64().data(), v.f64().size());
    return out;
  }
  std::vector<double> out(v.f32().size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    float f;
    std::memcpy(&f, v.f32().data() + 4 * i, 4);
    out[i] = f;
  }
  return out;
}

inline v1::Vector Values(const std::vector<double>& x) {
  v1::Vector v;
  v.mutable_values()->Add(x.begin(), x.end());
  return v;
}

inline v1::Vector F64(const std::vector<double>& x) {
  v1::Vector v;
  v.set_f64(std::string(reinterpret_cast<const char*>(x.data()), 8 * x.size()));
  return v;
}

inline v1::Vector F32(const std::vector<double>& x) {
  std::vector<float> f(x.begin(), x.end());
  v1::Vector v;
  v.set_f32(std::string(reinterpret_cast<const char*>(f.data()), 4 * f.size()));
  return v;
}

}  // namespace optd::server::testing

#endif  // OPTD_SERVER_TESTING_ROSENBROCK_H_
