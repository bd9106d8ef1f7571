#include "client/vector_codec.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace optd::client {
namespace {

// The raw encodings are little-endian by contract; copying host memory is only
// correct on a little-endian host.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "optd_client assumes a little-endian host");

template <typename T>
std::string RawBytes(absl::Span<const T> x) {
  std::string bytes(x.size() * sizeof(T), '\0');
  if (!x.empty()) std::memcpy(bytes.data(), x.data(), bytes.size());
  return bytes;
}

template <typename T>
std::vector<T> FromRawBytes(const std::string& bytes) {
  std::vector<T> x(bytes.size() / sizeof(T));
  if (!x.empty()) std::memcpy(x.data(), bytes.data(), x.size() * sizeof(T));
  return x;
}

// OK when at most one encoding is set and the raw lengths are whole elements.
absl::Status CheckConsistent(const v1::Vector& v) {
  const int set = (v.values_size() > 0) + !v.f64().empty() + !v.f32().empty();
  if (set > 1) {
    return absl::DataLossError(
        "vector has more than one of values, f64 and f32 set");
  }
  if (v.f64().size() % sizeof(double) != 0) {
    return absl::DataLossError(absl::StrCat("vector f64 has ", v.f64().size(),
                                            " bytes, not a multiple of 8"));
  }
  if (v.f32().size() % sizeof(float) != 0) {
    return absl::DataLossError(absl::StrCat("vector f32 has ", v.f32().size(),
                                            " bytes, not a multiple of 4"));
  }
  return absl::OkStatus();
}

}  // namespace

v1::Vector EncodeValues(absl::Span<const double> x) {
  v1::Vector v;
  v.mutable_values()->Add(x.begin(), x.end());
  return v;
}

v1::Vector EncodeF64(absl::Span<const double> x) {
  v1::Vector v;
  v.set_f64(RawBytes(x));
  return v;
}

v1::Vector EncodeF32(absl::Span<const float> x) {
  v1::Vector v;
  v.set_f32(RawBytes(x));
  return v;
}

v1::Vector Encode(absl::Span<const double> x, v1::VectorEncoding encoding) {
  switch (encoding) {
    case v1::VECTOR_ENCODING_VALUES:
      return EncodeValues(x);
    case v1::VECTOR_ENCODING_F32:
      return EncodeF32(std::vector<float>(x.begin(), x.end()));
    default:
      return EncodeF64(x);
  }
}

absl::StatusOr<std::vector<double>> DecodeVector(const v1::Vector& v) {
  if (absl::Status status = CheckConsistent(v); !status.ok()) return status;
  if (!v.f64().empty()) return FromRawBytes<double>(v.f64());
  if (!v.f32().empty()) {
    const std::vector<float> narrow = FromRawBytes<float>(v.f32());
    return std::vector<double>(narrow.begin(), narrow.end());
  }
  return std::vector<double>(v.values().begin(), v.values().end());
}

absl::StatusOr<std::vector<float>> DecodeFloat32(const v1::Vector& v) {
  if (absl::Status status = CheckConsistent(v); !status.ok()) return status;
  if (v.values_size() > 0 || !v.f64().empty()) {
    return absl::DataLossError("vector is not f32-encoded");
  }
  return FromRawBytes<float>(v.f32());
}

int64_t VectorSize(const v1::Vector& v) {
  if (!CheckConsistent(v).ok()) return -1;
  return v.values_size() +
         static_cast<int64_t>(v.f64().size() / sizeof(double)) +
         static_cast<int64_t>(v.f32().size() / sizeof(float));
}

}  // namespace optd::client
