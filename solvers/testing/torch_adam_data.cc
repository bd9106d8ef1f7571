#include "solvers/testing/torch_adam_data.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace optd::testing {

// The gradient sequence of tests/data/gen_torch_adam.py: a splitmix64 hash of
// (t, i) scaled by 2^e(i), every value an exact double.
double HashUniform(int64_t t, int64_t i) {
  uint64_t z = ((static_cast<uint64_t>(t) << 20) | static_cast<uint64_t>(i)) +
               0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z = z ^ (z >> 31);
  return static_cast<double>(z & 0xFFFFFFFFull) / 4294967296.0 - 0.5;
}

std::vector<double> Gradient(int64_t t, int n) {
  std::vector<double> g(n);
  for (int i = 0; i < n; ++i) {
    g[i] = std::ldexp(HashUniform(t, i), (13 * i % 37) - 28);
  }
  return g;
}

absl::StatusOr<std::string> ReadTorchRunFile(const std::string& path,
                                             const char* magic,
                                             size_t header_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  if (bytes.size() < header_bytes || bytes.compare(0, 8, magic) != 0 ||
      ReadLittleEndian<uint32_t>(bytes, 8) != 1) {
    return absl::DataLossError(absl::StrCat(path, ": bad header"));
  }
  return bytes;
}

absl::Status ReadTorchRunRecords(const std::string& path,
                                 const std::string& bytes, size_t header_bytes,
                                 TorchRun* run) {
  if (run->record_stride <= 0 ||
      (run->scalar_bytes != 4 && run->scalar_bytes != 8)) {
    return absl::DataLossError(absl::StrCat(path, ": bad stride or dtype"));
  }
  const size_t num_records = run->num_steps / run->record_stride + 1;
  if (bytes.size() !=
      header_bytes + num_records * run->n * size_t{1} * run->scalar_bytes) {
    return absl::DataLossError(absl::StrCat(path, ": size ", bytes.size()));
  }
  size_t offset = header_bytes;
  for (size_t k = 0; k < num_records; ++k) {
    std::vector<double> record(run->n);
    for (double& x : record) {
      x = run->scalar_bytes == 8 ? ReadLittleEndian<double>(bytes, offset)
                                 : ReadLittleEndian<float>(bytes, offset);
      offset += run->scalar_bytes;
    }
    run->records.push_back(std::move(record));
  }
  return absl::OkStatus();
}

absl::StatusOr<TorchRun> LoadTorchRun(const std::string& path) {
  constexpr size_t kHeaderBytes = 72;
  absl::StatusOr<std::string> read =
      ReadTorchRunFile(path, "OPTDADAM", kHeaderBytes);
  if (!read.ok()) return read.status();
  const std::string& bytes = *read;
  TorchRun run;
  run.scalar_bytes = ReadLittleEndian<uint32_t>(bytes, 12);
  run.n = ReadLittleEndian<uint32_t>(bytes, 16);
  run.num_steps = ReadLittleEndian<uint32_t>(bytes, 20);
  run.record_stride = ReadLittleEndian<uint32_t>(bytes, 24);
  const uint32_t flags = ReadLittleEndian<uint32_t>(bytes, 28);
  run.hyper.decoupled_weight_decay = (flags & 1) != 0;
  run.hyper.amsgrad = (flags & 2) != 0;
  run.lr = ReadLittleEndian<double>(bytes, 32);
  run.hyper.beta1 = ReadLittleEndian<double>(bytes, 40);
  run.hyper.beta2 = ReadLittleEndian<double>(bytes, 48);
  run.hyper.eps = ReadLittleEndian<double>(bytes, 56);
  run.hyper.weight_decay = ReadLittleEndian<double>(bytes, 64);
  if (absl::Status s = ReadTorchRunRecords(path, bytes, kHeaderBytes, &run);
      !s.ok()) {
    return s;
  }
  return run;
}

// Distance in units in the last place between two finite floats.
int64_t UlpDistance(float a, float b) {
  auto ordered = [](float x) {
    int32_t bits;
    std::memcpy(&bits, &x, sizeof(bits));
    return bits >= 0 ? int64_t{bits}
                     : int64_t{std::numeric_limits<int32_t>::min()} - bits;
  };
  return std::abs(ordered(a) - ordered(b));
}

std::vector<std::string> RunNames() {
  std::vector<std::string> names;
  for (const char* variant : {"adam", "adamw"}) {
    for (const char* amsgrad : {"noams", "ams"}) {
      for (const char* wd : {"wd0", "wd0.1"}) {
        for (const char* dtype : {"f64", "f32"}) {
          names.push_back(
              absl::StrCat(variant, "_", amsgrad, "_", wd, "_", dtype));
        }
      }
    }
  }
  return names;
}

std::string TorchRunPath(const std::string& data_dir, const std::string& name) {
  return absl::StrCat(data_dir, "/torch_adam/", name, ".bin");
}

}  // namespace optd::testing
