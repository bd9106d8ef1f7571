// Vector codec: converts between optd.v1.Vector messages and C++ vectors.
//
// A v1::Vector carries exactly one of three encodings: packed doubles
// (`values`), raw little-endian binary64 bytes (`f64`) or raw little-endian
// binary32 bytes (`f32`). The raw encodings are one memcpy each way, which is
// why the client sends them by default: a 10^8-element gradient costs no
// per-element conversion.
//
//   v1::TellRequest request;
//   *request.mutable_gradient() = EncodeF64(gradient);      // 8 bytes/element
//   absl::StatusOr<std::vector<double>> x = DecodeVector(trial.x());
//
// float32 data decoded to double is widened exactly, so a caller that rounds
// the result back to float gets the server's float32 values bit for bit.
//
// Thread-safety: free functions without shared state; safe from any thread.
#ifndef OPTD_CLIENT_VECTOR_CODEC_H_
#define OPTD_CLIENT_VECTOR_CODEC_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "optd/v1/optimizer.pb.h"

namespace optd::client {

// EncodeValues(): `x` as packed doubles (Vector.values).
v1::Vector EncodeValues(absl::Span<const double> x);

// EncodeF64(): `x` as raw little-endian binary64 bytes (Vector.f64).
v1::Vector EncodeF64(absl::Span<const double> x);

// EncodeF32(): `x` as raw little-endian binary32 bytes (Vector.f32).
v1::Vector EncodeF32(absl::Span<const float> x);

// Encode(): `x` in `encoding`; VECTOR_ENCODING_UNSPECIFIED means F64. With
// VECTOR_ENCODING_F32 each element is rounded to nearest float.
v1::Vector Encode(absl::Span<const double> x, v1::VectorEncoding encoding);

// DecodeVector(): the elements of `v` as doubles, whatever the encoding.
// An empty message decodes to an empty vector. DATA_LOSS when more than one
// encoding is set or the byte length is not a multiple of the element size.
absl::StatusOr<std::vector<double>> DecodeVector(const v1::Vector& v);

// DecodeFloat32(): the elements of `v`, which must be f32-encoded, as floats
// without a round trip through double. DATA_LOSS otherwise.
absl::StatusOr<std::vector<float>> DecodeFloat32(const v1::Vector& v);

// VectorSize(): the number of elements `v` holds (0 when empty), or -1 when its
// encodings are inconsistent (see DecodeVector).
int64_t VectorSize(const v1::Vector& v);

}  // namespace optd::client

#endif  // OPTD_CLIENT_VECTOR_CODEC_H_
