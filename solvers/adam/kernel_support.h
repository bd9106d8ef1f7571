// What the elementwise kernels (adam_kernel.cc, first_order_kernel.cc) share:
// the AVX2+FMA target attribute, an always-inlined explicit fma, and whether
// this CPU has AVX2 and FMA. Internal to those two files.
//
// Every product and sum in a kernel must be rounded on its own unless
// written as Fma(): solvers/CMakeLists.txt compiles with -ffp-contract=off,
// and each kernel file repeats the pragma that keeps that true in any other
// build (a pragma in a header does not reach the includer reliably).
#ifndef OPTD_SOLVERS_ADAM_KERNEL_SUPPORT_H_
#define OPTD_SOLVERS_ADAM_KERNEL_SUPPORT_H_

#if defined(__x86_64__) && defined(__GNUC__)
#define OPTD_KERNEL_HAVE_AVX2_FMA_PATH 1
#define OPTD_TARGET_AVX2_FMA __attribute__((target("avx2,fma")))
#endif

#define OPTD_ALWAYS_INLINE __attribute__((always_inline)) inline

namespace optd::kernel_support {

// Explicit fused multiply-add. Inside a function compiled for FMA this is one
// vfmadd instruction; elsewhere it is a call to the exact libm fma.
OPTD_ALWAYS_INLINE float Fma(float a, float b, float c) {
  return __builtin_fmaf(a, b, c);
}
OPTD_ALWAYS_INLINE double Fma(double a, double b, double c) {
  return __builtin_fma(a, b, c);
}

#ifdef OPTD_KERNEL_HAVE_AVX2_FMA_PATH
// Whether the CPU running this has AVX2 and FMA (asked once).
inline bool CpuHasAvx2Fma() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
}
#endif

}  // namespace optd::kernel_support

#endif  // OPTD_SOLVERS_ADAM_KERNEL_SUPPORT_H_
