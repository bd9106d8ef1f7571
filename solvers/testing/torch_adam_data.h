// The torch 1.13 Adam/AdamW reference trajectories of tests/data/torch_adam/
// (made by tests/data/gen_torch_adam.py): the fixed gradient sequence both
// sides generate bitwise identically, and a loader for the recorded parameters.
// Used by the kernel, solver and end-to-end tests.
//
//   absl::StatusOr<TorchRun> run =
//   LoadTorchRun(TorchRunPath("adamw_ams_wd0.1_f32")); for (int t = 1; t <=
//   run->num_steps; ++t) { auto g = Gradient(t, run->n); ... }
#ifndef OPTD_SOLVERS_TESTING_TORCH_ADAM_DATA_H_
#define OPTD_SOLVERS_TESTING_TORCH_ADAM_DATA_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/adam/adam_kernel.h"

namespace optd::testing {

// The gradient sequence of gen_torch_adam.py: a splitmix64 hash of (t, i)
// mapped to [-0.5, 0.5), every value an exact double.
double HashUniform(int64_t t, int64_t i);
// The gradient of step t (1-based), n elements, scaled by 2^((13 i mod 37) -
// 28).
std::vector<double> Gradient(int64_t t, int n);

// One file of tests/data/torch_adam (layout in gen_torch_adam.py).
struct TorchRun {
  int scalar_bytes = 0;  // 8: float64 run, 4: float32 run
  int n = 0;
  int num_steps = 0;
  int record_stride = 0;
  double lr = 0.0;
  AdamHyper hyper;
  // Record k (the parameters after step k * record_stride), widened to double.
  std::vector<std::vector<double>> records;
};

absl::StatusOr<TorchRun> LoadTorchRun(const std::string& path);
// The 16 run names: {adam,adamw}_{noams,ams}_wd{0,0.1}_{f64,f32}.
std::vector<std::string> RunNames();
// OPTD_TEST_DATA_DIR "/torch_adam/" + name + ".bin".
std::string TorchRunPath(const std::string& data_dir, const std::string& name);
// Distance in units in the last place between two finite floats.
int64_t UlpDistance(float a, float b);

// What the loaders of the torch reference files (this one and
// torch_first_order_data.h) share: file `path` whole, DATA_LOSS unless it
// starts with `magic` (8 bytes) and version 1 and holds `header_bytes`.
absl::StatusOr<std::string> ReadTorchRunFile(const std::string& path,
                                             const char* magic,
                                             size_t header_bytes);
// run->records from the parameter records after the header of `bytes`
// (run->n, num_steps, record_stride and scalar_bytes already read).
absl::Status ReadTorchRunRecords(const std::string& path,
                                 const std::string& bytes, size_t header_bytes,
                                 TorchRun* run);
// A little-endian U at `offset` of `bytes`.
template <typename U>
U ReadLittleEndian(const std::string& bytes, size_t offset) {
  U value;  // The host is little-endian (x86-64, aarch64).
  std::memcpy(&value, bytes.data() + offset, sizeof(U));
  return value;
}

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_TORCH_ADAM_DATA_H_
