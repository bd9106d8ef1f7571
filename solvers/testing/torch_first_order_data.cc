#include "solvers/testing/torch_first_order_data.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/adam/adam_kernel.h"

namespace optd::testing {
namespace {

template <typename U>
U ReadLittleEndian(const std::string& bytes, size_t offset) {
  U value;  // The host is little-endian (x86-64, aarch64).
  std::memcpy(&value, bytes.data() + offset, sizeof(U));
  return value;
}

}  // namespace

absl::StatusOr<TorchRun> LoadTorchFirstOrderRun(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const std::string bytes((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
  constexpr size_t kHeaderBytes = 128;
  if (bytes.size() < kHeaderBytes || bytes.compare(0, 8, "OPTDFRST") != 0 ||
      ReadLittleEndian<uint32_t>(bytes, 8) != 1) {
    return absl::DataLossError(absl::StrCat(path, ": bad header"));
  }
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
  if (run.record_stride <= 0 ||
      (run.scalar_bytes != 4 && run.scalar_bytes != 8)) {
    return absl::DataLossError(absl::StrCat(path, ": bad stride or dtype"));
  }
  const size_t num_records = run.num_steps / run.record_stride + 1;
  if (bytes.size() !=
      kHeaderBytes + num_records * run.n * size_t{1} * run.scalar_bytes) {
    return absl::DataLossError(absl::StrCat(path, ": size ", bytes.size()));
  }
  size_t offset = kHeaderBytes;
  for (size_t k = 0; k < num_records; ++k) {
    std::vector<double> record(run.n);
    for (double& x : record) {
      x = run.scalar_bytes == 8 ? ReadLittleEndian<double>(bytes, offset)
                                : ReadLittleEndian<float>(bytes, offset);
      offset += run.scalar_bytes;
    }
    run.records.push_back(std::move(record));
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
