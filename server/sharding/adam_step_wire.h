// The first-order family's step scalars (solvers/adam/adam_kernel.h
// AdamStepScalars) and parameter-group segments as SliceOpRequest.scalars of
// SLICE_OP_ADAM_STEP: the home encodes them (remote_vectors.cc), the slice
// decodes them (slice_ops.cc).
//
// Thread-safety: stateless functions.
#ifndef OPTD_SERVER_SHARDING_ADAM_STEP_WIRE_H_
#define OPTD_SERVER_SHARDING_ADAM_STEP_WIRE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "google/protobuf/repeated_field.h"
#include "solvers/adam/adam_kernel.h"
#include "solvers/adam/adam_vectors.h"
#include "solvers/sharding/shard_layout.h"

namespace optd::server {

// AdamStepScalars as SliceOpRequest.scalars, in declaration order.
void AdamScalarsToProto(const AdamStepScalars& scalars,
                        google::protobuf::RepeatedField<double>* out);
absl::Status AdamScalarsFromProto(
    const google::protobuf::RepeatedField<double>& in, AdamStepScalars* out);

// A step of parameter groups (AdamVectors::StepSegments) as
// SliceOpRequest.scalars: the 11 scalars above when one segment covers
// [0, dimension) (the step of a session without groups), else for each
// segment its begin and end (exact in double below 2^53) and its 11 scalars.
void AdamSegmentsToProto(absl::Span<const AdamSegmentStep> segments,
                         int64_t dimension,
                         google::protobuf::RepeatedField<double>* out);
// The segments of SLICE_OP_ADAM_STEP's scalars for a slice over `range`; 11
// scalars are one segment covering the range. INVALID_ARGUMENT for another
// count, or a segment whose bounds are not integers 0 <= begin < end <= 2^53.
absl::Status AdamSegmentsFromProto(
    const google::protobuf::RepeatedField<double>& in, ShardRange range,
    std::vector<AdamSegmentStep>* out);

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_ADAM_STEP_WIRE_H_
