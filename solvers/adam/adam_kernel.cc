// The Adam/AdamW elementwise update, the hyperparameter checks and step
// scalars of every ElementwiseMethod. See adam_kernel.h for Adam's arithmetic
// and where each operation comes from in torch 1.13; the other methods'
// updates are in first_order_kernel.cc.
//
// Every product and sum here must be rounded on its own unless written as an
// fma. solvers/CMakeLists.txt compiles with -ffp-contract=off; the pragma
// below keeps that true in any other build (GCC contracts by default in C++,
// even with -std=c++17), since a contracted p * decay + x silently breaks the
// match with torch.
#include "solvers/adam/adam_kernel.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "solvers/adam/first_order_kernel.h"
#include "solvers/adam/kernel_support.h"

#ifdef OPTD_KERNEL_HAVE_AVX2_FMA_PATH
#include <immintrin.h>
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace optd {

absl::Status AdamHyper::Validate() const {
  const double inf = std::numeric_limits<double>::infinity();
  absl::Status status;
  // Each check runs only while all before it passed: the first field out of
  // range is the one reported.
  auto check = [&status](const char* name, double value, double lo,
                         bool hi_open, double hi, const char* range) {
    if (!status.ok()) return;
    const bool ok = std::isfinite(value) && value >= lo &&
                    (hi_open ? value < hi : value <= hi);
    if (ok) return;
    status = absl::InvalidArgumentError(
        absl::StrCat(name, " is ", value, "; it must be in ", range));
  };
  auto check_unit = [&](const char* name, double value) {
    check(name, value, 0.0, true, 1.0, "[0, 1)");
  };
  auto check_nonnegative = [&](const char* name, double value) {
    check(name, value, 0.0, true, inf, "[0, inf)");
  };
  const int m = static_cast<int>(method);
  if (m < 0 || m >= kElementwiseMethods) {
    return absl::InvalidArgumentError(absl::StrCat(
        "method is ", m, "; it must be in [0, ", kElementwiseMethods - 1, "]"));
  }
  switch (method) {
    case ElementwiseMethod::kAdam:
    case ElementwiseMethod::kAdamax:  // torch: 0 <= beta < 1, eps, wd >= 0
    case ElementwiseMethod::kNadam:
    case ElementwiseMethod::kRadam:
      check_unit("beta1", beta1);
      check_unit("beta2", beta2);
      check_nonnegative("eps", eps);
      check_nonnegative("weight_decay", weight_decay);
      if (method == ElementwiseMethod::kNadam) {
        check_nonnegative("momentum_decay", momentum_decay);
      }
      break;
    case ElementwiseMethod::kSgd:
      check_nonnegative("momentum", momentum);
      check("dampening", dampening, 0.0, false, 1.0, "[0, 1]");
      check_nonnegative("weight_decay", weight_decay);
      // torch.optim.SGD: "Nesterov momentum requires a momentum and zero
      // dampening".
      if (status.ok() && nesterov && (momentum <= 0.0 || dampening != 0.0)) {
        status = absl::InvalidArgumentError(absl::StrCat(
            "nesterov needs momentum > 0 and dampening 0; momentum is ",
            momentum, ", dampening is ", dampening));
      }
      break;
    case ElementwiseMethod::kRmsprop:
      check("alpha", alpha, 0.0, false, 1.0, "[0, 1]");
      check_nonnegative("eps", eps);
      check_nonnegative("momentum", momentum);
      check_nonnegative("weight_decay", weight_decay);
      break;
    case ElementwiseMethod::kAdagrad:
      check_nonnegative("lr_decay", lr_decay);
      check_nonnegative("initial_accumulator_value", initial_accumulator_value);
      check_nonnegative("eps", eps);
      check_nonnegative("weight_decay", weight_decay);
      break;
    case ElementwiseMethod::kLion:
      check_unit("beta1", beta1);
      check_unit("beta2", beta2);
      check_nonnegative("weight_decay", weight_decay);
      break;
  }
  return status;
}

int ElementwiseSlotMask(ElementwiseMethod method, bool amsgrad, double momentum,
                        bool centered) {
  switch (method) {
    case ElementwiseMethod::kAdam:
      return amsgrad ? 0b111 : 0b011;
    case ElementwiseMethod::kSgd:
      return momentum != 0.0 ? 0b001 : 0;
    case ElementwiseMethod::kRmsprop:
      return 0b001 | (centered ? 0b010 : 0) | (momentum > 0.0 ? 0b100 : 0);
    case ElementwiseMethod::kAdagrad:
    case ElementwiseMethod::kLion:
      return 0b001;
    case ElementwiseMethod::kAdamax:
    case ElementwiseMethod::kNadam:
    case ElementwiseMethod::kRadam:
      return 0b011;
  }
  return 0;
}

int AdamSlotMask(const AdamHyper& hyper) {
  return ElementwiseSlotMask(hyper.method, hyper.amsgrad, hyper.momentum,
                             hyper.centered);
}

namespace {

// torch's `step_t += 1` on a float32 tensor saturates at 2^24 (2^24 + 1
// rounds back to 2^24); `step_t.item()` then yields that value as a double.
constexpr int64_t kFloat32StepLimit = int64_t{1} << 24;

double Float32StepValue(int64_t step) {
  return static_cast<double>(step < kFloat32StepLimit ? step
                                                      : kFloat32StepLimit);
}

// torch/optim/nadam.py: mu = beta1 * (1. - 0.5 * (0.96 ** (step *
// momentum_decay))), with step the float32 counter's value.
double NadamMu(const AdamHyper& hyper, int64_t step) {
  return hyper.beta1 * (1.0 - 0.5 * std::pow(0.96, Float32StepValue(step) *
                                                       hyper.momentum_decay));
}

// The scalars of the methods other than Adam; `s` holds the common ones.
void ComputeFirstOrderScalars(const AdamHyper& hyper, int64_t step, double lr,
                              NadamMuProduct* mu_product, AdamStepScalars& s) {
  const double step_value = Float32StepValue(step);
  s.l2_weight_decay = hyper.weight_decay;
  s.first_step = step == 1;
  s.step_size = lr;
  switch (hyper.method) {
    case ElementwiseMethod::kAdam:
      break;
    case ElementwiseMethod::kSgd:  // sgd.py
      s.maximize = hyper.maximize;
      s.momentum = hyper.momentum;
      s.one_minus_dampening = 1.0 - hyper.dampening;
      s.nesterov = hyper.nesterov;
      break;
    case ElementwiseMethod::kRmsprop:  // rmsprop.py
      s.maximize = hyper.maximize;
      s.beta2 = hyper.alpha;
      s.one_minus_beta2 = 1.0 - hyper.alpha;
      s.momentum = hyper.momentum;
      s.centered = hyper.centered;
      break;
    case ElementwiseMethod::kAdagrad:  // adagrad.py
      s.maximize = hyper.maximize;
      s.initial_accumulator_value = hyper.initial_accumulator_value;
      s.step_size = lr / (1.0 + (step_value - 1.0) * hyper.lr_decay);
      break;
    case ElementwiseMethod::kAdamax:  // adamax.py
      s.maximize = hyper.maximize;
      s.step_size = lr / (1.0 - std::pow(hyper.beta1, step_value));
      break;
    case ElementwiseMethod::kNadam: {  // nadam.py
      s.bias_correction2 = 1.0 - std::pow(hyper.beta2, step_value);
      // mu_product *= mu, once per step, in float32 (NadamMuProduct).
      if (mu_product->step > step) *mu_product = NadamMuProduct();
      for (;
           mu_product->step < step && mu_product->step + 1 < kFloat32StepLimit;
           ++mu_product->step) {
        mu_product->value *=
            static_cast<float>(NadamMu(hyper, mu_product->step + 1));
      }
      // Past 2^24 torch's float32 step counter stands still, and mu with
      // it: the product is multiplied by one constant, and once that leaves
      // it as it was (0, or a fixed point of the rounding) every later
      // multiplication does. So a restored state of 2^53 steps costs at most
      // the ~10^9 float multiplications down to that point, not 2^53.
      if (mu_product->step < step) {
        const float c = static_cast<float>(NadamMu(hyper, kFloat32StepLimit));
        for (; mu_product->step < step; ++mu_product->step) {
          const float next = mu_product->value * c;
          if (next == mu_product->value) {
            mu_product->step = step;
            break;
          }
          mu_product->value = next;
        }
      }
      const double mu = NadamMu(hyper, step);
      // step + 1 on the float32 counter's value, in double (Python).
      const double mu_next =
          hyper.beta1 * (1.0 - 0.5 * std::pow(0.96, (step_value + 1.0) *
                                                        hyper.momentum_decay));
      // mu_product_next = mu_product * mu * mu_next: float32 tensor ops.
      const float mu_product_next = mu_product->value * static_cast<float>(mu) *
                                    static_cast<float>(mu_next);
      s.nadam_grad_coef = -lr * (1.0 - mu) / (1.0 - mu_product->value);
      s.nadam_exp_avg_coef = -lr * mu_next / (1.0 - mu_product_next);
      break;
    }
    case ElementwiseMethod::kRadam: {  // radam.py
      s.bias_correction1 = 1.0 - std::pow(hyper.beta1, step_value);
      const double bias_correction2 = 1.0 - std::pow(hyper.beta2, step_value);
      s.bias_correction2_sqrt = std::sqrt(bias_correction2);
      const double rho_inf = 2.0 / (1.0 - hyper.beta2) - 1.0;
      const double rho_t = rho_inf - 2.0 * step_value *
                                         std::pow(hyper.beta2, step_value) /
                                         bias_correction2;
      s.rectified = rho_t > 5.0;
      if (s.rectified) {
        s.rect = std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                           ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
      }
      break;
    }
    case ElementwiseMethod::kLion:  // lion_pytorch.py: p.mul_(1 - lr * wd)
      s.l2_weight_decay = 0.0;
      s.param_decay = 1.0 - lr * hyper.weight_decay;
      break;
  }
}

}  // namespace

AdamStepScalars ComputeAdamStepScalars(const AdamHyper& hyper, int64_t step,
                                       double lr_this_step,
                                       NadamMuProduct* mu_product) {
  AdamStepScalars s;
  s.method = hyper.method;
  s.beta1 = hyper.beta1;
  s.one_minus_beta1 = 1.0 - hyper.beta1;
  s.beta2 = hyper.beta2;
  s.one_minus_beta2 = 1.0 - hyper.beta2;
  s.eps = hyper.eps;
  if (hyper.method != ElementwiseMethod::kAdam) {
    ComputeFirstOrderScalars(hyper, step, lr_this_step, mu_product, s);
    return s;
  }
  const double step_value = Float32StepValue(step);
  s.amsgrad = hyper.amsgrad;
  if (hyper.decoupled_weight_decay) {
    s.param_decay = 1.0 - lr_this_step * hyper.weight_decay;  // adamw.py
  } else {
    s.l2_weight_decay = hyper.weight_decay;  // adam.py: grad.add(param, wd)
  }
  // CPython's float ** float is the C library's pow().
  const double bias_correction1 = 1.0 - std::pow(hyper.beta1, step_value);
  const double bias_correction2 = 1.0 - std::pow(hyper.beta2, step_value);
  s.step_size = lr_this_step / bias_correction1;
  s.bias_correction2_sqrt = std::sqrt(bias_correction2);
  return s;
}

namespace {

using ::optd::kernel_support::Fma;

// The step scalars rounded once to the state dtype, as torch's kernels do
// with `Scalar::to<scalar_t>()`.
template <typename T>
struct Coefficients {
  explicit Coefficients(const AdamStepScalars& s)
      : grad_scale(static_cast<T>(s.grad_scale)),
        l2_weight_decay(static_cast<T>(s.l2_weight_decay)),
        param_decay(static_cast<T>(s.param_decay)),
        beta1(static_cast<T>(s.beta1)),
        one_minus_beta1(static_cast<T>(s.one_minus_beta1)),
        beta2(static_cast<T>(s.beta2)),
        one_minus_beta2(static_cast<T>(s.one_minus_beta2)),
        neg_step_size(static_cast<T>(-s.step_size)),
        bias_correction2_sqrt(static_cast<T>(s.bias_correction2_sqrt)),
        eps(static_cast<T>(s.eps)) {}
  T grad_scale, l2_weight_decay, param_decay, beta1, one_minus_beta1, beta2,
      one_minus_beta2, neg_step_size, bias_correction2_sqrt, eps;
};

// The scalar update of element i: the portable loop, and the tail of the
// vector loop (where it is inlined into FMA-enabled code).
template <typename T, typename G, bool kL2, bool kAmsgrad>
__attribute__((always_inline)) inline void UpdateElement(
    const Coefficients<T>& c, int64_t i, const G* __restrict grad,
    T* __restrict param, T* __restrict exp_avg, T* __restrict exp_avg_sq,
    T* __restrict max_exp_avg_sq) {
  T g = static_cast<T>(grad[i]) * c.grad_scale;
  const T p = param[i] * c.param_decay;
  if constexpr (kL2) g = Fma(p, c.l2_weight_decay, g);
  const T m = Fma(g, c.one_minus_beta1, exp_avg[i] * c.beta1);
  T v = Fma(c.one_minus_beta2 * g, g, exp_avg_sq[i] * c.beta2);
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  if constexpr (kAmsgrad) {
    // torch.maximum: NaN if either is NaN; otherwise as _mm256_max_ps(a, b).
    const T a = max_exp_avg_sq[i];
    v = (a != a || v != v) ? std::numeric_limits<T>::quiet_NaN()
                           : (a > v ? a : v);
    max_exp_avg_sq[i] = v;
  }
  const T denom = std::sqrt(v) / c.bias_correction2_sqrt + c.eps;
  param[i] = p + (c.neg_step_size * m) / denom;
}

template <typename T, typename G, bool kL2, bool kAmsgrad>
void UpdatePortable(const Coefficients<T>& c, int64_t len, const G* grad,
                    T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq) {
  for (int64_t i = 0; i < len; ++i) {
    UpdateElement<T, G, kL2, kAmsgrad>(c, i, grad, param, exp_avg, exp_avg_sq,
                                       max_exp_avg_sq);
  }
}

#ifdef OPTD_KERNEL_HAVE_AVX2_FMA_PATH

using ::optd::kernel_support::CpuHasAvx2Fma;

// One 256-bit register of T and the IEEE operations the update needs; each is
// the instruction torch's Vectorized<T> uses (aten/src/ATen/cpu/vec/vec256).
template <typename T>
struct Avx2;

template <>
struct Avx2<float> {
  using Reg = __m256;
  static constexpr int kLanes = 8;
#define OPTD_AVX2_FN OPTD_TARGET_AVX2_FMA __attribute__((always_inline)) static
  OPTD_AVX2_FN Reg Set1(float x) { return _mm256_set1_ps(x); }
  OPTD_AVX2_FN Reg Load(const float* p) { return _mm256_loadu_ps(p); }
  OPTD_AVX2_FN Reg Load(const double* p) {  // rounds to nearest
    return _mm256_set_m128(_mm256_cvtpd_ps(_mm256_loadu_pd(p + 4)),
                           _mm256_cvtpd_ps(_mm256_loadu_pd(p)));
  }
  OPTD_AVX2_FN void Store(float* p, Reg x) { _mm256_storeu_ps(p, x); }
  OPTD_AVX2_FN Reg Add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  OPTD_AVX2_FN Reg Mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  OPTD_AVX2_FN Reg Div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  OPTD_AVX2_FN Reg Sqrt(Reg a) { return _mm256_sqrt_ps(a); }
  OPTD_AVX2_FN Reg Fmadd(Reg a, Reg b, Reg c) {
    return _mm256_fmadd_ps(a, b, c);
  }
  // torch's vec::maximum: max, with NaN (all ones) where either is NaN.
  OPTD_AVX2_FN Reg Maximum(Reg a, Reg b) {
    return _mm256_or_ps(_mm256_max_ps(a, b), _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
  }
};

template <>
struct Avx2<double> {
  using Reg = __m256d;
  static constexpr int kLanes = 4;
  OPTD_AVX2_FN Reg Set1(double x) { return _mm256_set1_pd(x); }
  OPTD_AVX2_FN Reg Load(const double* p) { return _mm256_loadu_pd(p); }
  OPTD_AVX2_FN Reg Load(const float* p) {  // exact
    return _mm256_cvtps_pd(_mm_loadu_ps(p));
  }
  OPTD_AVX2_FN void Store(double* p, Reg x) { _mm256_storeu_pd(p, x); }
  OPTD_AVX2_FN Reg Add(Reg a, Reg b) { return _mm256_add_pd(a, b); }
  OPTD_AVX2_FN Reg Mul(Reg a, Reg b) { return _mm256_mul_pd(a, b); }
  OPTD_AVX2_FN Reg Div(Reg a, Reg b) { return _mm256_div_pd(a, b); }
  OPTD_AVX2_FN Reg Sqrt(Reg a) { return _mm256_sqrt_pd(a); }
  OPTD_AVX2_FN Reg Fmadd(Reg a, Reg b, Reg c) {
    return _mm256_fmadd_pd(a, b, c);
  }
  OPTD_AVX2_FN Reg Maximum(Reg a, Reg b) {
    return _mm256_or_pd(_mm256_max_pd(a, b), _mm256_cmp_pd(a, b, _CMP_UNORD_Q));
  }
#undef OPTD_AVX2_FN
};

// The same arithmetic as UpdateElement, kLanes elements at a time.
template <typename T, typename G, bool kL2, bool kAmsgrad>
OPTD_TARGET_AVX2_FMA void UpdateAvx2Fma(const Coefficients<T>& c, int64_t len,
                                        const G* __restrict grad,
                                        T* __restrict param,
                                        T* __restrict exp_avg,
                                        T* __restrict exp_avg_sq,
                                        T* __restrict max_exp_avg_sq) {
  using V = Avx2<T>;
  const auto grad_scale = V::Set1(c.grad_scale);
  const auto l2_weight_decay = V::Set1(c.l2_weight_decay);
  const auto param_decay = V::Set1(c.param_decay);
  const auto beta1 = V::Set1(c.beta1);
  const auto one_minus_beta1 = V::Set1(c.one_minus_beta1);
  const auto beta2 = V::Set1(c.beta2);
  const auto one_minus_beta2 = V::Set1(c.one_minus_beta2);
  const auto neg_step_size = V::Set1(c.neg_step_size);
  const auto bias_correction2_sqrt = V::Set1(c.bias_correction2_sqrt);
  const auto eps = V::Set1(c.eps);
  int64_t i = 0;
  for (; i + V::kLanes <= len; i += V::kLanes) {
    auto g = V::Mul(V::Load(grad + i), grad_scale);
    const auto p = V::Mul(V::Load(param + i), param_decay);
    if constexpr (kL2) g = V::Fmadd(p, l2_weight_decay, g);
    const auto m =
        V::Fmadd(g, one_minus_beta1, V::Mul(V::Load(exp_avg + i), beta1));
    auto v = V::Fmadd(V::Mul(one_minus_beta2, g), g,
                      V::Mul(V::Load(exp_avg_sq + i), beta2));
    V::Store(exp_avg + i, m);
    V::Store(exp_avg_sq + i, v);
    if constexpr (kAmsgrad) {
      v = V::Maximum(V::Load(max_exp_avg_sq + i), v);
      V::Store(max_exp_avg_sq + i, v);
    }
    const auto denom = V::Add(V::Div(V::Sqrt(v), bias_correction2_sqrt), eps);
    V::Store(param + i, V::Add(p, V::Div(V::Mul(neg_step_size, m), denom)));
  }
  for (; i < len; ++i) {
    UpdateElement<T, G, kL2, kAmsgrad>(c, i, grad, param, exp_avg, exp_avg_sq,
                                       max_exp_avg_sq);
  }
}

#endif  // OPTD_KERNEL_HAVE_AVX2_FMA_PATH

template <typename T, typename G, bool kL2, bool kAmsgrad>
void Dispatch(const Coefficients<T>& c, bool allow_simd, int64_t len,
              const G* grad, T* param, T* exp_avg, T* exp_avg_sq,
              T* max_exp_avg_sq) {
#ifdef OPTD_KERNEL_HAVE_AVX2_FMA_PATH
  if (allow_simd && CpuHasAvx2Fma()) {
    UpdateAvx2Fma<T, G, kL2, kAmsgrad>(c, len, grad, param, exp_avg, exp_avg_sq,
                                       max_exp_avg_sq);
    return;
  }
#endif
  UpdatePortable<T, G, kL2, kAmsgrad>(c, len, grad, param, exp_avg, exp_avg_sq,
                                      max_exp_avg_sq);
}

template <typename T, typename G>
void Apply(const AdamStepScalars& scalars, bool allow_simd, int64_t len,
           const G* grad, T* param, T* exp_avg, T* exp_avg_sq,
           T* max_exp_avg_sq) {
  if (scalars.method != ElementwiseMethod::kAdam) {
    first_order_kernel_internal::ApplyFirstOrderUpdate(
        scalars, allow_simd, len, grad, param, exp_avg, exp_avg_sq,
        max_exp_avg_sq);
    return;
  }
  const Coefficients<T> c(scalars);
  // torch skips the L2 add when weight_decay == 0 (fma(p, 0, g) would turn a
  // -0 gradient into +0).
  const bool l2 = scalars.l2_weight_decay != 0.0;
  if (l2 && scalars.amsgrad) {
    Dispatch<T, G, true, true>(c, allow_simd, len, grad, param, exp_avg,
                               exp_avg_sq, max_exp_avg_sq);
  } else if (l2) {
    Dispatch<T, G, true, false>(c, allow_simd, len, grad, param, exp_avg,
                                exp_avg_sq, max_exp_avg_sq);
  } else if (scalars.amsgrad) {
    Dispatch<T, G, false, true>(c, allow_simd, len, grad, param, exp_avg,
                                exp_avg_sq, max_exp_avg_sq);
  } else {
    Dispatch<T, G, false, false>(c, allow_simd, len, grad, param, exp_avg,
                                 exp_avg_sq, max_exp_avg_sq);
  }
}

}  // namespace

template <typename T, typename G>
void ApplyAdamUpdate(const AdamStepScalars& scalars, int64_t len, const G* grad,
                     T* param, T* s0, T* s1, T* s2) {
  Apply(scalars, /*allow_simd=*/true, len, grad, param, s0, s1, s2);
}

namespace adam_kernel_internal {

bool HasSimdPath() {
#ifdef OPTD_KERNEL_HAVE_AVX2_FMA_PATH
  return CpuHasAvx2Fma();
#else
  return false;
#endif
}

template <typename T, typename G>
void ApplyAdamUpdatePortable(const AdamStepScalars& scalars, int64_t len,
                             const G* grad, T* param, T* s0, T* s1, T* s2) {
  Apply(scalars, /*allow_simd=*/false, len, grad, param, s0, s1, s2);
}

}  // namespace adam_kernel_internal

#define OPTD_INSTANTIATE_ADAM_UPDATE(T, G)                             \
  template void ApplyAdamUpdate<T, G>(const AdamStepScalars&, int64_t, \
                                      const G*, T*, T*, T*, T*);       \
  template void adam_kernel_internal::ApplyAdamUpdatePortable<T, G>(   \
      const AdamStepScalars&, int64_t, const G*, T*, T*, T*, T*)
OPTD_INSTANTIATE_ADAM_UPDATE(float, float);
OPTD_INSTANTIATE_ADAM_UPDATE(float, double);
OPTD_INSTANTIATE_ADAM_UPDATE(double, float);
OPTD_INSTANTIATE_ADAM_UPDATE(double, double);
#undef OPTD_INSTANTIATE_ADAM_UPDATE

}  // namespace optd
