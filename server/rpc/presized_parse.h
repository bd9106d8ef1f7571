// Parsing a request that carries one large vector without protobuf's
// string growth.
//
// gRPC hands a received message to protobuf as a stream of many slices, and
// protobuf 3.21 parses a bytes field that does not fit the current slice
// (EpsCopyInputStream::ReadStringFallback) by reserving min(size, 50 MB)
// and appending: the string's capacity doubles past 50 MB (libstdc++), and
// at the last doubling its old buffer and the copy are both resident. A
// field of just over 50·2^k MB so costs up to its own size again while it
// is parsed. bench/sharding found it: at n = 5·10^7 float32 shard 0 holds
// 25,001,984 elements (whole 4,096-element blocks), 100,007,936 bytes, just
// over 100 MB, and its replica, the home, peaked about 100 MB above the
// other while parsing the gradient's PutSlice (docs/sharding.md#memory).
//
// ParsePresized scans the message's wire format for the vector's bytes
// field first and reserves that many bytes in the message, so the parse
// appends into a string of the right size. The scan is only a hint: the
// parse that follows decides what the message holds, and reports a
// malformed message.
//
//   v1::PutSliceRequest request;
//   OPTD_RETURN_IF_ERROR(ParsePresized(*bytes, &request));
//
// Thread-safety: thread-compatible (reads `bytes`, writes `out`).
#ifndef OPTD_SERVER_RPC_PRESIZED_PARSE_H_
#define OPTD_SERVER_RPC_PRESIZED_PARSE_H_

#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"
#include "optd/v1/optimizer.pb.h"

namespace optd::server {

// ParsePresized()
//
// Parses `bytes` (a PutSliceRequest as received) into `out` (REQUIRES:
// empty), with values.f32 or values.f64 reserved to its size before the
// parse. INVALID_ARGUMENT naming the message and its size when `bytes` is
// not a PutSliceRequest.
absl::Status ParsePresized(const grpc::ByteBuffer& bytes,
                           v1::PutSliceRequest* out);

}  // namespace optd::server

#endif  // OPTD_SERVER_RPC_PRESIZED_PARSE_H_
