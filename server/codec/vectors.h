// The wire vector codec: optd.v1.Vector (packed values, f64 or f32 bytes)
// <-> ConstVectorView, and the VectorEncoding enum's checks. The lowest
// layer of server/: storage (journals, staged slice files), sharding and
// sessions all decode vectors here.
//
// Vectors cross without extra copies: DecodeVector() returns a view into the
// request's own memory (the packed `values` array or the `f64`/`f32` bytes).
//
//   OPTD_ASSIGN_OR_RETURN(ConstVectorView g,
//                         DecodeVector(request.gradient(), "gradient"));
//
// Thread-safety: stateless functions.
#ifndef OPTD_SERVER_CODEC_VECTORS_H_
#define OPTD_SERVER_CODEC_VECTORS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "optd/v1/optimizer.pb.h"
#include "solvers/core/vector_view.h"

namespace optd::server {

// DecodeVector()
//
// A view of `vector`'s one set encoding, pointing into `vector`'s memory (valid
// while `vector` lives and is not modified). A vector with no encoding set
// gives an empty view; callers that need elements check the size.
// INVALID_ARGUMENT, naming `field`, when more than one encoding is set or a
// byte length is not a multiple of the element width.
absl::StatusOr<ConstVectorView> DecodeVector(const v1::Vector& vector,
                                             absl::string_view field);

// ValidateEncoding()
//
// INVALID_ARGUMENT naming `field` when `encoding` is not a known enum value
// (proto3 enums are open, so any int32 can arrive).
absl::Status ValidateEncoding(v1::VectorEncoding encoding,
                              absl::string_view field);

// ResolveEncoding()
//
// `requested` unless it is UNSPECIFIED, then `session_default` (itself VALUES
// when unspecified). REQUIRES: both pass ValidateEncoding().
v1::VectorEncoding ResolveEncoding(v1::VectorEncoding requested,
                                   v1::VectorEncoding session_default);

}  // namespace optd::server

#endif  // OPTD_SERVER_CODEC_VECTORS_H_
