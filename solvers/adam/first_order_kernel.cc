// The elementwise update of SGD, RMSprop, Adagrad, Adamax, NAdam, RAdam and
// Lion. See first_order_kernel.h for the arithmetic and where each operation
// comes from in torch 1.13.
//
// Each method is one rule (a struct whose Update() changes element i), run by
// one loop template, which is compiled twice: for AVX2+FMA (hardware fma) and
// portably (the library's exact fma). The two give identical results, since
// every operation is either an explicit fma or one IEEE operation.
//
// Every product and sum here must be rounded on its own unless written as an
// fma: solvers/CMakeLists.txt compiles with -ffp-contract=off, and the pragma
// below keeps that true in any other build.
#include "solvers/adam/first_order_kernel.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "solvers/adam/adam_kernel.h"
#include "solvers/adam/kernel_support.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace optd::first_order_kernel_internal {
namespace {

using ::optd::kernel_support::Fma;

// The step scalars rounded once to the state dtype, as torch's kernels do
// with `Scalar::to<scalar_t>()`, and the flags of the step.
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
        lr(static_cast<T>(s.step_size)),
        neg_lr(static_cast<T>(-s.step_size)),
        eps(static_cast<T>(s.eps)),
        momentum(static_cast<T>(s.momentum)),
        one_minus_dampening(static_cast<T>(s.one_minus_dampening)),
        initial_accumulator_value(static_cast<T>(s.initial_accumulator_value)),
        bias_correction1(static_cast<T>(s.bias_correction1)),
        bias_correction2(static_cast<T>(s.bias_correction2)),
        bias_correction2_sqrt(static_cast<T>(s.bias_correction2_sqrt)),
        nadam_grad_coef(static_cast<T>(s.nadam_grad_coef)),
        nadam_exp_avg_coef(static_cast<T>(s.nadam_exp_avg_coef)),
        rect(static_cast<T>(s.rect)),
        maximize(s.maximize),
        // torch skips the add when weight_decay == 0 (fma(p, 0, g) would turn
        // a -0 gradient into +0).
        l2(s.l2_weight_decay != 0.0),
        first_step(s.first_step),
        // torch tests the Python float (`momentum != 0`, `momentum > 0`).
        has_momentum(s.momentum != 0.0),
        nesterov(s.nesterov),
        centered(s.centered),
        rectified(s.rectified) {}
  T grad_scale, l2_weight_decay, param_decay, beta1, one_minus_beta1, beta2,
      one_minus_beta2, lr, neg_lr, eps, momentum, one_minus_dampening,
      initial_accumulator_value, bias_correction1, bias_correction2,
      bias_correction2_sqrt, nadam_grad_coef, nadam_exp_avg_coef, rect;
  bool maximize, l2, first_step, has_momentum, nesterov, centered, rectified;
};

// The rules. Update() gets the gradient g of element i after grad_scale,
// maximize and the L2 term (the loop's common prologue) and changes
// p[i] and the slots the method keeps; the torch line each step copies is
// beside it (torch/optim/<method>.py, `_single_tensor_<method>`).

struct SgdRule {
  template <typename T>
  OPTD_ALWAYS_INLINE static void Update(const Coefficients<T>& c, T g,
                                        int64_t i, T* p, T* s0, T*, T*) {
    T d = g;
    if (c.has_momentum) {
      // buf = torch.clone(d_p) / buf.mul_(momentum).add_(d_p, alpha=1 - damp)
      const T buf =
          c.first_step ? g : Fma(g, c.one_minus_dampening, s0[i] * c.momentum);
      s0[i] = buf;
      // d_p = d_p.add(buf, alpha=momentum) if nesterov else buf
      d = c.nesterov ? Fma(buf, c.momentum, g) : buf;
    }
    p[i] = Fma(d, c.neg_lr, p[i]);  // param.add_(d_p, alpha=-lr)
  }
};

struct RmspropRule {
  template <typename T>
  OPTD_ALWAYS_INLINE static void Update(const Coefficients<T>& c, T g,
                                        int64_t i, T* p, T* s0, T* s1, T* s2) {
    // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
    const T sq = Fma(c.one_minus_beta2 * g, g, s0[i] * c.beta2);
    s0[i] = sq;
    T avg;
    if (c.centered) {
      // grad_avg.mul_(alpha).add_(grad, alpha=1 - alpha)
      const T ga = Fma(g, c.one_minus_beta2, s1[i] * c.beta2);
      s1[i] = ga;
      // square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
      avg = std::sqrt(Fma(-ga, ga, sq));
    } else {
      avg = std::sqrt(sq);  // square_avg.sqrt()
    }
    avg = avg + c.eps;  // avg.add_(eps)
    if (c.has_momentum) {
      // buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
      const T buf = s2[i] * c.momentum + g / avg;
      s2[i] = buf;
      p[i] = Fma(buf, c.neg_lr, p[i]);
    } else {
      p[i] = p[i] + (c.neg_lr * g) / avg;  // param.addcdiv_(grad, avg, -lr)
    }
  }
};

struct AdagradRule {
  template <typename T>
  OPTD_ALWAYS_INLINE static void Update(const Coefficients<T>& c, T g,
                                        int64_t i, T* p, T* s0, T*, T*) {
    // state_sum = torch.full_like(p, initial_accumulator_value) (first step);
    // state_sum.addcmul_(grad, grad, value=1)
    const T sum = Fma(g, g, c.first_step ? c.initial_accumulator_value : s0[i]);
    s0[i] = sum;
    const T denom = std::sqrt(sum) + c.eps;  // state_sum.sqrt().add_(eps)
    p[i] = p[i] + (c.neg_lr * g) / denom;    // param.addcdiv_(grad, std, -clr)
  }
};

struct AdamaxRule {
  template <typename T>
  OPTD_ALWAYS_INLINE static void Update(const Coefficients<T>& c, T g,
                                        int64_t i, T* p, T* s0, T* s1, T*) {
    // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    const T m = Fma(g, c.one_minus_beta1, s0[i] * c.beta1);
    s0[i] = m;
    // torch.amax(cat([exp_inf.mul_(beta2), grad.abs().add_(eps)]), 0)
    const T a = s1[i] * c.beta2;
    const T b = std::abs(g) + c.eps;
    const T u = (a != a || b != b) ? std::numeric_limits<T>::quiet_NaN()
                                   : (a > b ? a : b);
    s1[i] = u;
    p[i] = p[i] + (c.neg_lr * m) / u;  // param.addcdiv_(exp_avg, exp_inf, -clr)
  }
};

// exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1);
// exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
// (NAdam and RAdam, as Adam).
template <typename T>
OPTD_ALWAYS_INLINE void UpdateMoments(const Coefficients<T>& c, T g, T& m,
                                      T& v) {
  m = Fma(g, c.one_minus_beta1, m * c.beta1);
  v = Fma(c.one_minus_beta2 * g, g, v * c.beta2);
}

struct NadamRule {
  template <typename T>
  OPTD_ALWAYS_INLINE static void Update(const Coefficients<T>& c, T g,
                                        int64_t i, T* p, T* s0, T* s1, T*) {
    UpdateMoments(c, g, s0[i], s1[i]);
    // exp_avg_sq.div(bias_correction2).sqrt().add_(eps)
    const T denom = std::sqrt(s1[i] / c.bias_correction2) + c.eps;
    // param.addcdiv_(grad, denom, value=-lr * (1 - mu) / (1 - mu_product))
    const T q = p[i] + (c.nadam_grad_coef * g) / denom;
    // param.addcdiv_(exp_avg, denom, value=-lr * mu_next / (1 - mu_p_next))
    p[i] = q + (c.nadam_exp_avg_coef * s0[i]) / denom;
  }
};

struct RadamRule {
  template <typename T>
  OPTD_ALWAYS_INLINE static void Update(const Coefficients<T>& c, T g,
                                        int64_t i, T* p, T* s0, T* s1, T*) {
    UpdateMoments(c, g, s0[i], s1[i]);
    const T b = s0[i] / c.bias_correction1;  // exp_avg / bias_correction1
    if (c.rectified) {
      // adaptive_lr = math.sqrt(bias_correction2) / exp_avg_sq.sqrt().add_(eps)
      // (Tensor.__rtruediv__: reciprocal() * scalar)
      const T a = (T{1} / (std::sqrt(s1[i]) + c.eps)) * c.bias_correction2_sqrt;
      // param.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1)
      p[i] = p[i] - ((b * c.lr) * a) * c.rect;
    } else {
      p[i] = p[i] - b * c.lr;  // param.add_(bias_corrected_exp_avg * lr, -1)
    }
  }
};

// google/automl lion_pytorch.py, in the torch ops of
// tests/data/gen_torch_first_order.py `lion_step`.
struct LionRule {
  template <typename T>
  OPTD_ALWAYS_INLINE static void Update(const Coefficients<T>& c, T g,
                                        int64_t i, T* p, T* s0, T*, T*) {
    const T x = p[i] * c.param_decay;  // p.mul_(1 - lr * wd)
    // update = exp_avg * beta1 + grad * (1 - beta1)
    const T update = s0[i] * c.beta1 + g * c.one_minus_beta1;
    // torch.sign: (0 < x) - (x < 0); NaN and -0 give +0 (first_order_kernel.h)
    const T sign = static_cast<T>(static_cast<int>(T{0} < update) -
                                  static_cast<int>(update < T{0}));
    p[i] = Fma(sign, c.neg_lr, x);  // p.add_(torch.sign(update), alpha=-lr)
    // exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)
    s0[i] = Fma(g, c.one_minus_beta2, s0[i] * c.beta2);
  }
};

// The one loop: the common prologue (gradient conversion and scale,
// maximize, L2 weight decay: `d_p = -grad; d_p = d_p.add(param, alpha=wd)` in
// every torch method that has them), then the rule.
template <typename Rule, typename T, typename G>
OPTD_ALWAYS_INLINE void Loop(const Coefficients<T>& c, int64_t len,
                             const G* __restrict grad, T* __restrict param,
                             T* __restrict s0, T* __restrict s1,
                             T* __restrict s2) {
  for (int64_t i = 0; i < len; ++i) {
    T g = static_cast<T>(grad[i]) * c.grad_scale;
    if (c.maximize) g = -g;
    if (c.l2) g = Fma(param[i], c.l2_weight_decay, g);
    Rule::Update(c, g, i, param, s0, s1, s2);
  }
}

template <typename Rule, typename T, typename G>
void LoopPortable(const Coefficients<T>& c, int64_t len, const G* grad,
                  T* param, T* s0, T* s1, T* s2) {
  Loop<Rule>(c, len, grad, param, s0, s1, s2);
}

#ifdef OPTD_KERNEL_HAVE_AVX2_FMA_PATH
template <typename Rule, typename T, typename G>
OPTD_TARGET_AVX2_FMA void LoopAvx2Fma(const Coefficients<T>& c, int64_t len,
                                      const G* grad, T* param, T* s0, T* s1,
                                      T* s2) {
  Loop<Rule>(c, len, grad, param, s0, s1, s2);
}
#endif

template <typename Rule, typename T, typename G>
void Run(const AdamStepScalars& scalars, bool allow_simd, int64_t len,
         const G* grad, T* param, T* s0, T* s1, T* s2) {
  const Coefficients<T> c(scalars);
#ifdef OPTD_KERNEL_HAVE_AVX2_FMA_PATH
  if (allow_simd && kernel_support::CpuHasAvx2Fma()) {
    LoopAvx2Fma<Rule>(c, len, grad, param, s0, s1, s2);
    return;
  }
#endif
  LoopPortable<Rule>(c, len, grad, param, s0, s1, s2);
}

}  // namespace

template <typename T, typename G>
void ApplyFirstOrderUpdate(const AdamStepScalars& scalars, bool allow_simd,
                           int64_t len, const G* grad, T* param, T* s0, T* s1,
                           T* s2) {
  switch (scalars.method) {
    case ElementwiseMethod::kSgd:
      return Run<SgdRule>(scalars, allow_simd, len, grad, param, s0, s1, s2);
    case ElementwiseMethod::kRmsprop:
      return Run<RmspropRule>(scalars, allow_simd, len, grad, param, s0, s1,
                              s2);
    case ElementwiseMethod::kAdagrad:
      return Run<AdagradRule>(scalars, allow_simd, len, grad, param, s0, s1,
                              s2);
    case ElementwiseMethod::kAdamax:
      return Run<AdamaxRule>(scalars, allow_simd, len, grad, param, s0, s1, s2);
    case ElementwiseMethod::kNadam:
      return Run<NadamRule>(scalars, allow_simd, len, grad, param, s0, s1, s2);
    case ElementwiseMethod::kRadam:
      return Run<RadamRule>(scalars, allow_simd, len, grad, param, s0, s1, s2);
    case ElementwiseMethod::kLion:
      return Run<LionRule>(scalars, allow_simd, len, grad, param, s0, s1, s2);
    case ElementwiseMethod::kAdam:
      break;  // adam_kernel.cc's own loops
  }
}

#define OPTD_INSTANTIATE_FIRST_ORDER_UPDATE(T, G)                         \
  template void ApplyFirstOrderUpdate<T, G>(const AdamStepScalars&, bool, \
                                            int64_t, const G*, T*, T*, T*, T*)
OPTD_INSTANTIATE_FIRST_ORDER_UPDATE(float, float);
OPTD_INSTANTIATE_FIRST_ORDER_UPDATE(float, double);
OPTD_INSTANTIATE_FIRST_ORDER_UPDATE(double, float);
OPTD_INSTANTIATE_FIRST_ORDER_UPDATE(double, double);
#undef OPTD_INSTANTIATE_FIRST_ORDER_UPDATE

}  // namespace optd::first_order_kernel_internal
