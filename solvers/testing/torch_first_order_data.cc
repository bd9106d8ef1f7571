#include "solvers/testing/torch_first_order_data.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/adam/adam_kernel.h"

namespace optd::testing {
absl::StatusOr<TorchRun> LoadTorchFirstOrderRun(const std::string& path) {
  constexpr size_t kHeaderBytes = 128;
  absl::StatusOr<std::string> read =
      ReadTorchRunFile(path, "OPTDFRST", kHeaderBytes);
  if (!read.ok()) return read.status();
  const std::string& bytes = *read;
  TorchRun run;
  run.scalar_bytes = ReadLittleEndian<uint32_t>(bytes, 12);
  run.n = ReadLittleEndian<uint32_t>(bytes, 16);
  run.num_steps = ReadLittleEndian<uint32_t>(bytes, 20);
  run.record_stride = ReadLittleEndian<uint32_t>(bytes, 24);
  const uint32_t method = ReadLittleEndian<uint32_t>(bytes, 28);
  if (method == 0 || method >= kElementwiseMethods) {
    return absl::DataLossError(absl::StrCat(path, ": method ", method));
  }
  AdamHyper& h = run.hyper;
  h.method = static_cast<ElementwiseMethod>(method);
  const uint32_t flags = ReadLittleEndian<uint32_t>(bytes, 32);
  h.maximize = (flags & 1) != 0;
  h.nesterov = (flags & 2) != 0;
  h.centered = (flags & 4) != 0;
  auto f64 = [&bytes](size_t offset) {
    return ReadLittleEndian<double>(bytes, offset);
  };
  run.lr = f64(40);
  h.momentum = f64(48);
  h.dampening = f64(56);
  h.alpha = f64(64);
  h.eps = f64(72);
  h.weight_decay = f64(80);
  h.beta1 = f64(88);
  h.beta2 = f64(96);
  h.lr_decay = f64(104);
  h.initial_accumulator_value = f64(112);
  h.momentum_decay = f64(120);
  if (absl::Status s = ReadTorchRunRecords(path, bytes, kHeaderBytes, &run);
      !s.ok()) {
    return s;
  }
  return run;
}

std::vector<std::string> FirstOrderRunNames() {
  std::vector<std::string> names;
  for (const char* run : {
           "sgd_plain",
           "sgd_momentum_dampening",
           "sgd_nesterov_wd",
           "sgd_maximize_wd",
           "rmsprop_plain",
           "rmsprop_centered",
           "rmsprop_momentum_maximize",
           "rmsprop_centered_momentum_wd",
           "adagrad_lr_decay",
           "adagrad_init_maximize",
           "adagrad_wd",
           "adamax_plain",
           "adamax_wd_maximize",
           "nadam_plain",
           "nadam_wd_momentum_decay",
           "radam_plain",
           "radam_wd",
           "lion_plain",
           "lion_wd",
       }) {
    for (const char* dtype : {"f64", "f32"}) {
      names.push_back(absl::StrCat(run, "_", dtype));
    }
  }
  return names;
}

std::string TorchFirstOrderRunPath(const std::string& data_dir,
                                   const std::string& name) {
  return absl::StrCat(data_dir, "/torch_first_order/", name, ".bin");
}

}  // namespace optd::testing
