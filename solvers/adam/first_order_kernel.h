// The elementwise update of the ElementwiseMethods other than kAdam (SGD,
// RMSprop, Adagrad, Adamax, NAdam, RAdam, Lion), bit-faithful to torch 1.13's
// CPU single-tensor paths (torch/optim/{sgd,rmsprop,adagrad,adamax,nadam,
// radam}.py `_single_tensor_*`, `foreach=False`) and, for Lion, to
// google/automl's lion_pytorch.py written in the same torch ops
// (tests/data/gen_torch_first_order.py `lion_step`). ApplyAdamUpdate()
// (adam_kernel.h) dispatches here; nothing else should call it.
//
// Per element, in the state dtype T, with every double scalar of
// AdamStepScalars rounded to T once (torch's Scalar::to<scalar_t>()); the
// notation of adam_kernel.h (fma explicit, every other operation one
// correctly rounded IEEE operation; lr is AdamStepScalars::step_size):
//
//   all:  g = T(grad[i]) * grad_scale
//         maximize (SGD, RMSprop, Adagrad, Adamax): g = -g
//         wd != 0 (all but Lion): g = fma(p, wd, g)   grad.add(param, alpha=wd)
//   SGD       (s0 = buf, only when momentum != 0)
//         buf = first step ? g : fma(g, 1 - dampening, buf * momentum)
//         d = nesterov ? fma(buf, momentum, g) : buf  (no momentum: d = g)
//         p = fma(d, -lr, p)                          param.add_(d_p,
//         alpha=-lr)
//   RMSprop   (s0 = square_avg, s1 = grad_avg, s2 = buf)
//         sq = fma((1 - alpha) * g, g, sq * alpha)
//         centered: ga = fma(g, 1 - alpha, ga * alpha)
//                   avg = sqrt(fma(-ga, ga, sq))      addcmul(value=-1).sqrt_()
//         else:     avg = sqrt(sq)
//         avg = avg + eps
//         momentum > 0: buf = buf * momentum + g / avg;  p = fma(buf, -lr, p)
//         else:         p = p + (-lr * g) / avg
//   Adagrad   (s0 = sum; first step: sum = initial_accumulator_value)
//         sum = fma(g, g, sum);  p = p + (-clr * g) / (sqrt(sum) + eps)
//   Adamax    (s0 = exp_avg, s1 = exp_inf)
//         m = fma(g, 1 - beta1, m * beta1)
//         u = amax(u * beta2, abs(g) + eps)  (NaN if either is NaN)
//         p = p + (-clr * m) / u
//   NAdam     (s0 = exp_avg, s1 = exp_avg_sq)
//         m, v as Adam;  denom = sqrt(v / bias_correction2) + eps
//         p = p + (grad_coef * g) / denom;  p = p + (exp_avg_coef * m) / denom
//   RAdam     (s0 = exp_avg, s1 = exp_avg_sq)
//         m, v as Adam;  b = m / bias_correction1      (a true division)
//         rho_t > 5: a = (1 / (sqrt(v) + eps)) * bias_correction2_sqrt
//                    p = p - ((b * lr) * a) * rect
//         else:      p = p - b * lr
//   Lion      (s0 = exp_avg)
//         p = p * (1 - lr*wd)
//         c = m * beta1 + g * (1 - beta1)               (no fma: two tensors)
//         p = fma(sign(c), -lr, p);  m = fma(g, 1 - beta2, m * beta2)
//
// How torch evaluates each operation was found on this machine (Debian
// python3-torch 1.13.1) and is confirmed by the replay of
// tests/data/torch_first_order (first_order_kernel_test.cc):
// - add_(x, alpha) is fma(x, alpha, self) and addcmul_(a, b, value) is
//   fma(value * a, b, self), as for Adam; addcdiv_(a, b, value) is
//   self + (value * a) / b unfused; mul_/div by a scalar, sqrt, tensor + tensor
//   are single roundings.
// - A Python float on the left of `/` (RAdam's `math.sqrt(bc2) / t`) is
//   Tensor.__rtruediv__, i.e. `t.reciprocal() * s` (checked bitwise), not s/t.
// - torch.amax of a stack propagates NaN. Its choice between +0 and -0 differs
//   between its vector and scalar loops, which never matters here: exp_inf
//   and abs(g) + eps are never -0.
// - torch.sign in torch 1.13's CPU kernel is (0 < x) - (x < 0) in both of its
//   loops: sign(NaN) = 0 and sign(-0) = +0 (checked on this machine, vector
//   body and scalar tail). Lion here does the same, so a NaN in Lion's
//   interpolation c leaves p unchanged (the NaN stays in exp_avg) exactly as
//   the torch reference would.
// - NAdam's float32 mu_product: adam_kernel.h NadamMuProduct.
// The replay rejects the alternatives (each tried on this machine): an
// unfused p + d * (-lr) in SGD, buf fused with g / avg in RMSprop, an unfused
// sq - ga * ga for centered RMSprop, s / t instead of reciprocal * s, other
// products' orders or a reciprocal multiply for RAdam, v * (1 / bc2) in
// NAdam, and a mu_product rounded from double. Lion's interpolation c reaches
// p only through its sign, so the data cannot tell a fused c from the
// unfused one torch computes; the unfused form is kept as the torch ops say.
#ifndef OPTD_SOLVERS_ADAM_FIRST_ORDER_KERNEL_H_
#define OPTD_SOLVERS_ADAM_FIRST_ORDER_KERNEL_H_

#include <cstdint>

#include "solvers/adam/adam_kernel.h"

namespace optd::first_order_kernel_internal {

// The update above for scalars.method (any but kAdam): on the AVX2+FMA loop
// when `allow_simd` and the CPU has it, else on the portable loop (identical
// results). Instantiated for T and G each float or double.
template <typename T, typename G>
void ApplyFirstOrderUpdate(const AdamStepScalars& scalars, bool allow_simd,
                           int64_t len, const G* grad, T* param, T* s0, T* s1,
                           T* s2);

}  // namespace optd::first_order_kernel_internal

#endif  // OPTD_SOLVERS_ADAM_FIRST_ORDER_KERNEL_H_
