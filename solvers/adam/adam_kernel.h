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
//   ApplyAdamUpdate(scalars, len, grad, x, m, v, /*s2=*/nullptr);
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
// The same entry points serve the other ElementwiseMethods (SGD, RMSprop,
// Adagrad, Adamax, NAdam, RAdam, Lion): AdamHyper::method selects one, and
// their arithmetic, equally bitwise equal to torch, is in first_order_kernel.h.
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
//   method    reference (torch 1.13 single-tensor path)
//             s0 / s1 / s2
//   kAdam     torch.optim.Adam / AdamW
//             exp_avg / exp_avg_sq / max_exp_avg_sq (amsgrad)
//   kSgd      torch.optim.SGD
//             momentum_buffer (momentum != 0)
//   kRmsprop  torch.optim.RMSprop
//             square_avg / grad_avg (centered) / momentum_buffer (momentum > 0)
//   kAdagrad  torch.optim.Adagrad
//             sum
//   kAdamax   torch.optim.Adamax
//             exp_avg / exp_inf
//   kNadam    torch.optim.NAdam
//             exp_avg / exp_avg_sq
//   kRadam    torch.optim.RAdam
//             exp_avg / exp_avg_sq
//   kLion     Chen et al. 2023, Algorithm 2 (google/automl lion_pytorch.py)
//             exp_avg
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
// The same from the options that decide it (the step scalars carry them
// too: AdamStepSlotMask in adam_vectors.h).
int ElementwiseSlotMask(ElementwiseMethod method, bool amsgrad, double momentum,
                        bool centered);

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

  // The fields below serve the methods other than kAdam (which ignores them).
  // The fields above keep their meaning where another method has the same
  // quantity: l2_weight_decay (every method but Lion: fma(p, wd, g) when
  // non-zero), param_decay (Lion's 1 - lr*wd), beta1/one_minus_beta1 (Adamax,
  // NAdam, RAdam, Lion), beta2/one_minus_beta2 (Adamax, NAdam, RAdam, Lion;
  // RMSprop's alpha and 1 - alpha), eps, grad_scale, bias_correction2_sqrt
  // (RAdam), and step_size: the positive learning rate the update scales by
  // (SGD, RMSprop, Lion, RAdam: lr; Adagrad: lr / (1 + (step - 1) lr_decay);
  // Adamax: lr / (1 - beta1^step)).
  ElementwiseMethod method = ElementwiseMethod::kAdam;
  // SGD, RMSprop, Adagrad, Adamax: negate the gradient (after grad_scale,
  // before weight decay), as torch's maximize=True.
  bool maximize = false;
  // step == 1. SGD: the momentum buffer becomes a copy of the gradient
  // (torch's `buf = torch.clone(d_p)` while buf is None) instead of being
  // decayed. Adagrad: the sum starts from initial_accumulator_value (torch's
  // `torch.full_like(p, initial_accumulator_value)`), whatever s0 held.
  bool first_step = false;
  // SGD, RMSprop: the momentum factor (the buffer is used iff it is non-zero).
  double momentum = 0.0;
  // SGD: 1 - dampening (python double arithmetic).
  double one_minus_dampening = 1.0;
  // SGD: Nesterov momentum.
  bool nesterov = false;
  // RMSprop: centered (s1 holds the gradient average).
  bool centered = false;
  // Adagrad: the sum's starting value, written on the first step.
  double initial_accumulator_value = 0.0;
  // NAdam: 1 - beta2^step (the second moment is divided by it).
  double bias_correction2 = 1.0;
  // NAdam: the coefficients of its two addcdiv_ updates,
  // -lr (1 - mu_t) / (1 - prod_{i<=t} mu_i) and
  // -lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i) (the products in float32).
  double nadam_grad_coef = 0.0;
  double nadam_exp_avg_coef = 0.0;
  // RAdam: 1 - beta1^step (exp_avg is divided by it).
  double bias_correction1 = 1.0;
  // RAdam: rho_t > 5, when the adaptive, rectified update is taken.
  bool rectified = false;
  // RAdam: the rectification term r_t (1 when not rectified).
  double rect = 1.0;
};

// NadamMuProduct
//
// NAdam's running product of its momentum coefficients mu_1 ... mu_step,
// which torch keeps as a float32 0-dim tensor per parameter (`mu_product =
// torch.tensor(1.)`, float32 even for float64 parameters) and multiplies in
// float32 (`mu_product *= mu` rounds mu to float32, then the product: found
// against torch on this machine). The controller keeps one per parameter
// group, default-constructed before the first step, and passes it to each
// of that group's ComputeAdamStepScalars calls; it belongs in the group's
// checkpointed state.
struct NadamMuProduct {
  // The product covers steps 1 .. step.
  int64_t step = 0;
  float value = 1.0f;
};

// ComputeAdamStepScalars()
//
// The scalars of step `step` (1 for the first step) with learning rate
// `lr_this_step`, computed in double exactly as torch 1.13's Python code does
// for hyper.method. For kAdam, `_single_tensor_adam(w)` (non-capturable
// branch):
//   bias_correction1 = 1 - beta1 ** step; step_size = lr / bias_correction1;
//   bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
// with `**` the C library pow() that CPython calls. torch counts steps in a
// float32 tensor (`step_t += 1`), which stops growing at 2^24; `step` is
// clamped to 2^24 to match. (For beta <= 0.9999 both bias corrections are
// exactly 1 long before, so this only matters for betas closer to 1.) The
// same holds for Adagrad, Adamax, NAdam and RAdam; SGD, RMSprop and Lion keep
// no step counter (only step == 1 matters: first_step). The other methods'
// formulas are in adam_kernel.cc, each beside the torch line it copies.
//
// kNadam needs `mu_product` (NadamMuProduct): it is advanced, one float32
// multiplication per step as torch does, from mu_product->step to `step`
// (nothing to do when equal, so one step's scalars may be computed twice;
// when it is past `step` it restarts from step 0). Other methods ignore it.
//
// REQUIRES: hyper.Validate().ok(), step >= 1, lr_this_step >= 0;
// mu_product != nullptr for kNadam.
AdamStepScalars ComputeAdamStepScalars(const AdamHyper& hyper, int64_t step,
                                       double lr_this_step,
                                       NadamMuProduct* mu_product = nullptr);

// ApplyAdamUpdate()
//
// One step of scalars.method on elements [0, len) of the state arrays, in
// place: the parameters and the state slots s0, s1, s2 (ElementwiseMethod's
// table; kAdam: exp_avg, exp_avg_sq, max_exp_avg_sq). `grad` may be float or
// double independently of the state type T: it is first rounded to nearest T
// (exact when widening). torch never converts, since its grad always has the
// parameter's dtype; a float64 gradient told to a float32 session is thereby
// the float32 gradient torch would see. A slot the method does not keep
// (AdamSlotMask() of its hyperparameters) is neither read nor written and may
// be null.
//
// The other methods' per-element arithmetic, and which of torch's operations
// fuse, is in first_order_kernel.h; like Adam's it matches torch 1.13 on this
// machine bitwise (tests/data/torch_first_order).
//
// One pass over the arrays, no allocation. On CPUs with AVX2 and FMA the loop
// is compiled for them (hardware fma); elsewhere it falls back to the exact,
// slow, library fma, with identical results.
//
// Instantiated for T and G each float or double.
//
// REQUIRES: the arrays hold `len` elements and do not overlap; every slot in
// AdamSlotMask() of the hyperparameters behind `scalars` is non-null.
template <typename T, typename G>
void ApplyAdamUpdate(const AdamStepScalars& scalars, int64_t len, const G* grad,
                     T* param, T* s0, T* s1, T* s2);

namespace adam_kernel_internal {

// For tests: whether ApplyAdamUpdate uses the AVX2+FMA loop on this CPU.
bool HasSimdPath();

// For tests: ApplyAdamUpdate forced onto the portable loop (library fma).
template <typename T, typename G>
void ApplyAdamUpdatePortable(const AdamStepScalars& scalars, int64_t len,
                             const G* grad, T* param, T* s0, T* s1, T* s2);

}  // namespace adam_kernel_internal

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAM_ADAM_KERNEL_H_
