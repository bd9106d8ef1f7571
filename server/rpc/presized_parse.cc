#include "server/rpc/presized_parse.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace optd::server {
namespace {

using ::google::protobuf::internal::WireFormatLite;

// A bytes field of the vector: its number (0: none) and length.
struct VectorBytes {
  int field = 0;
  uint32_t size = 0;
};

bool IsLengthDelimited(uint32_t tag) {
  return WireFormatLite::GetTagWireType(tag) ==
         WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
}

// The last f64 or f32 field of the Vector in top-level field `vector_field`
// of the message in `bytes`, as the parse will keep it (a later occurrence
// replaces an earlier one). Stops at the first malformed byte: the parse
// reports it.
VectorBytes ScanVector(grpc::ByteBuffer* bytes, int vector_field) {
  grpc::ProtoBufferReader reader(bytes);
  google::protobuf::io::CodedInputStream in(&reader);
  VectorBytes found;
  while (const uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) != vector_field ||
        !IsLengthDelimited(tag)) {
      if (!WireFormatLite::SkipField(&in, tag)) return found;
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return found;
    const auto limit = in.PushLimit(static_cast<int>(length));
    while (const uint32_t inner = in.ReadTag()) {
      const int field = WireFormatLite::GetTagFieldNumber(inner);
      if ((field == v1::Vector::kF64FieldNumber ||
           field == v1::Vector::kF32FieldNumber) &&
          IsLengthDelimited(inner)) {
        uint32_t size = 0;
        if (!in.ReadVarint32(&size)) return found;
        found = {field, size};
        if (!in.Skip(static_cast<int>(size))) return found;
      } else if (!WireFormatLite::SkipField(&in, inner)) {
        return found;
      }
    }
    in.PopLimit(limit);
  }
  return found;
}

}  // namespace

absl::Status ParsePresized(const grpc::ByteBuffer& bytes,
                           v1::PutSliceRequest* out) {
  // ProtoBufferReader takes a mutable buffer but only reads it.
  auto* buffer = const_cast<grpc::ByteBuffer*>(&bytes);
  const size_t length = bytes.Length();
  const VectorBytes found =
      ScanVector(buffer, v1::PutSliceRequest::kValuesFieldNumber);
  // A length the message cannot hold is a lie: no reservation for it.
  if (found.field != 0 && found.size <= length) {
    std::string* target = found.field == v1::Vector::kF32FieldNumber
                              ? out->mutable_values()->mutable_f32()
                              : out->mutable_values()->mutable_f64();
    target->reserve(found.size);
  }
  grpc::ProtoBufferReader reader(buffer);
  google::protobuf::io::CodedInputStream in(&reader);
  // Merge, not Parse: ParseFrom... would Clear() the message first and free
  // the reserved string.
  if (!reader.status().ok() || !out->MergeFromCodedStream(&in)) {
    out->Clear();
    return absl::InvalidArgumentError(absl::StrCat(
        "the request (", length, " bytes) is not a valid PutSliceRequest"));
  }
  return absl::OkStatus();
}

}  // namespace optd::server
