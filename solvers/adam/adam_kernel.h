// The Adam/AdamW elementwise update on one contiguous slice of the state,
// bit-faithful to torch 1.13's CPU single-tensor path
// (torch/optim/adam.py `_single_tensor_adam`, torch/optim/adamw.py
// `_single_tensor_adamw`, `foreach=False`).
//
// The caller (the controller) computes the per-step scalars once, in double,
// exactly as torch's Python code does; each slice then runs one pass over its
// arrays:
//
//   AdamHyper hyper;  // beta1 0.9, beta2 0.999, eps 1e-8, no weight decay
//   AdamStepScalars scalars = ComputeAdamStepScalars(hyper, step, lr);
//   scalars.grad_scale = clip_coef;  // optional global-norm clipping
//   ApplyAdamUpdate(scalars, len, grad, x, m, v, /*max_exp_avg_sq=*/nullptr);
//
// Per element, in the state dtype T (float or double), with every double
// scalar rounded to T first, as torch casts a Python scalar to the tensor
// dtype inside each kernel:
//
//   g = T(grad[i]) * grad_scale            (clip_grad_norm_'s g.mul_(coef))
//   Adam, wd != 0:  g = fma(p, wd, g)       (grad.add(param, alpha=wd))
//   AdamW:          p = p * (1 - lr*wd)     (param.mul_(1 - lr*wd))
//   m = fma(g, 1 - beta1, m * beta1)        (exp_avg.mul_(b1).add_(g, alpha))
//   v = fma((1 - beta2) * g, g, v * beta2)  (exp_avg_sq.mul_(b2).addcmul_)
//   amsgrad: vmax = maximum(vmax, v); use vmax instead of v below
//   denom = sqrt(v) / bc2_sqrt + eps        (.sqrt() / bc2_sqrt).add_(eps)
//   p = p + ((-step_size) * m) / denom      (param.addcdiv_(m, denom, value))
//
// Which operations fuse was found empirically against torch on this machine
// (Debian python3-torch 1.13.1, AVX2 kernels; random float32 and float64
// inputs, every element of both the vectorized body and the scalar tail of
// torch's loops matched bitwise only by these formulations):
// - `add_(other, alpha)` is fma(other, alpha, self): ATen's ufunc add is
//   `vec::fmadd(other, alpha, self)` (a + alpha * b separately: ~11% differ);
// - `addcmul_(t1, t2, value)` is fma(value * t1, t2, self): written
//   `self + value * t1 * t2`, apparently contracted by GCC (its default in
//   torch's build); separately rounded: ~7-11% of elements differ;
// - everything else is one correctly rounded IEEE operation each: mul_ by a
//   scalar, sqrt, a true division by the scalar (a * (1 / s) differs in ~68%
//   of float32 elements), the eps add, and `addcdiv_` as
//   self + (value * t1) / t2 with no fma.
// optd compiles with -ffp-contract=off, so its fmas are explicit.
//
// Thread-safety: ApplyAdamUpdate touches only the arrays it is given; calls on
// disjoint slices may run concurrently.
#ifndef OPTD_SOLVERS_ADAM_ADAM_KERNEL_H_
#define OPTD_SOLVERS_ADAM_ADAM_KERNEL_H_

#include <cstdint>

#include "absl/status/status.h"

namespace optd {

// ElementwiseMethod
//
// The first-order methods this kernel serves. Each is elementwise: x_i and
// the state slots s0_i, s1_i, s2_i of element i change from g_i and
// per-step scalars alone, so a sharded session's slices step independently
// (docs/sharding.md). What each slot holds (an unused slot is not
// allocated: AdamSlotMask()):
//
//   method    reference (torch 1.13 single-tensor path)  s0        s1        s2
//   kAdam     torch.optim.Adam / AdamW                   exp_avg   exp_avg_sq max_exp_avg_sq (amsgrad)
//   kSgd      torch.optim.SGD                            momentum_buffer (momentum != 0)
//   kRmsprop  torch.optim.RMSprop                        square_avg grad_avg (centered) momentum_buffer (momentum > 0)
//   kAdagrad  torch.optim.Adagrad                        sum
//   kAdamax   torch.optim.Adamax                         exp_avg   exp_inf
//   kNadam    torch.optim.NAdam                          exp_avg   exp_avg_sq
//   kRadam    torch.optim.RAdam                          exp_avg   exp_avg_sq
//   kLion     Chen et al. 2023, Algorithm 2              exp_avg
//             (google/automl lion_pytorch.py semantics)
//
// The numbers are stored (checkpoints, the shard wire): never renumber.
enum class ElementwiseMethod : int {
  kAdam = 0,
  kSgd = 1,
  kRmsprop = 2,
  kAdagrad = 3,
  kAdamax = 4,
  kNadam = 5,
  kRadam = 6,
  kLion = 7,
};
inline constexpr int kElementwiseMethods = 8;

// AdamHyper
//
// The step-independent hyperparameters of the elementwise first-order family
// (ElementwiseMethod; Adam/AdamW was the first, hence the name). The
// learning rate is not here: it may follow a schedule and is passed to
// ComputeAdamStepScalars(). Fields a method does not use are ignored.
struct AdamHyper {
  ElementwiseMethod method = ElementwiseMethod::kAdam;
  // false: Adam (L2 penalty added to the gradient); true: AdamW (decoupled
  // decay p *= 1 - lr*wd, Loshchilov & Hutter 2019).
  bool decoupled_weight_decay = false;
  // First-moment decay. Default 0.9 (torch); range [0, 1).
  double beta1 = 0.9;
  // Second-moment decay. Default 0.999 (torch); range [0, 1).
  double beta2 = 0.999;
  // Added to the bias-corrected sqrt(v). Default 1e-8 (torch); range [0, inf).
  double eps = 1e-8;
  // Default 0 (torch Adam; torch AdamW's default is 1e-2, chosen by the
  // caller); range [0, inf).
  double weight_decay = 0.0;
  // Normalize by the running maximum of v (Reddi et al. 2018). Default false.
  bool amsgrad = false;
  // SGD, RMSprop, Adagrad, Adamax: step along +g (torch's maximize=True).
  bool maximize = false;
  // SGD: momentum factor, range [0, inf); dampening, range [0, 1]; Nesterov
  // momentum (needs momentum > 0 and dampening 0, as torch). RMSprop:
  // momentum, range [0, inf).
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  // RMSprop: smoothing constant, range [0, 1] (torch default 0.99); centered
  // normalizes by the estimated variance.
  double alpha = 0.99;
  bool centered = false;
  // Adagrad: lr / (1 + (step - 1) lr_decay), range [0, inf); the sum's
  // starting value, range [0, inf).
  double lr_decay = 0.0;
  double initial_accumulator_value = 0.0;
  // NAdam: momentum decay psi, range [0, inf) (torch default 4e-3).
  double momentum_decay = 4e-3;

  // AdamHyper::Validate()
  //
  // InvalidArgument naming the field, its value and the range when a field is
  // out of range or not finite.
  absl::Status Validate() const;
};

// Which of the slots s0, s1, s2 (ElementwiseMethod's table) a session with
// these hyperparameters keeps: bit i set for slot i.
int AdamSlotMask(const AdamHyper& hyper);

// AdamStepScalars
//
// Everything the elementwise update needs for one step, in double, computed
// once per step by the caller. ApplyAdamUpdate rounds each to the state dtype.
struct AdamStepScalars {
  bool amsgrad = false;
  // Adam's L2 coefficient, added to the gradient as fma(p, wd, g) when
  // non-zero (torch skips the add when weight_decay == 0). 0 for AdamW.
  double l2_weight_decay = 0.0;
  // AdamW's 1 - lr*wd (python double arithmetic); 1.0 for Adam, where the
  // multiplication is an exact identity.
  double param_decay = 1.0;
  double beta1 = 0.9;
  double one_minus_beta1 = 1.0 - 0.9;
  double beta2 = 0.999;
  double one_minus_beta2 = 1.0 - 0.999;
  // lr / (1 - beta1^step); the update adds (-step_size * m) / denom.
  double step_size = 0.0;
  // sqrt(1 - beta2^step).
  double bias_correction2_sqrt = 1.0;
  double eps = 1e-8;
  // Multiplies the gradient (after its conversion to the state dtype, in the
  // state dtype: torch's grad has the parameter's dtype) before anything
  // else, as torch.nn.utils.clip_grad_norm_ does with clip_coef =
  // max_norm / (total_norm + 1e-6) clamped to 1. 1.0 (no clipping) is an exact
  // identity. Set by the caller after ComputeAdamStepScalars().
  double grad_scale = 1.0;
};

// ComputeAdamStepScalars()
//
// The scalars of step `step` (1 for the first step) with learning rate
// `lr_this_step`, computed in double exactly as torch 1.13's
// `_single_tensor_adam(w)` (non-capturable branch):
//   bias_correction1 = 1 - beta1 ** step; step_size = lr / bias_correction1;
//   bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
// with `**` the C library pow() that CPython calls. torch counts steps in a
// float32 tensor (`step_t += 1`), which stops growing at 2^24; `step` is
// clamped to 2^24 to match. (For beta <= 0.9999 both bias corrections are
// exactly 1 long before, so this only matters for betas closer to 1.)
//
// REQUIRES: hyper.Validate().ok(), step >= 1, lr_this_step >= 0.
AdamStepScalars ComputeAdamStepScalars(const AdamHyper& hyper, int64_t step,
                                       double lr_this_step);

// ApplyAdamUpdate()
//
// One Adam/AdamW step on elements [0, len) of the state arrays, in place.
// `grad` may be float or double independently of the state type T: it is
// first rounded to nearest T (exact when widening). torch never converts,
// since its grad always has the parameter's dtype; a float64 gradient told to
// a float32 session is thereby the float32 gradient torch would see.
// `max_exp_avg_sq` is only read and written when scalars.amsgrad.
//
// One pass over the arrays, no allocation. On CPUs with AVX2 and FMA the loop
// is compiled for them (vectorized, hardware fma); elsewhere it falls back to
// the exact, slow, library fma, with identical results.
//
// Instantiated for T and G each float or double.
//
// REQUIRES: the arrays hold `len` elements and do not overlap;
// max_exp_avg_sq != nullptr if scalars.amsgrad.
template <typename T, typename G>
void ApplyAdamUpdate(const AdamStepScalars& scalars, int64_t len, const G* grad,
                     T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq);

namespace adam_kernel_internal {

// For tests: whether ApplyAdamUpdate uses the AVX2+FMA loop on this CPU.
bool HasSimdPath();

// For tests: ApplyAdamUpdate forced onto the portable loop (library fma).
template <typename T, typename G>
void ApplyAdamUpdatePortable(const AdamStepScalars& scalars, int64_t len,
                             const G* grad, T* param, T* exp_avg, T* exp_avg_sq,
                             T* max_exp_avg_sq);

}  // namespace adam_kernel_internal

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAM_ADAM_KERNEL_H_
