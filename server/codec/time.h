// Times on the wire: absl::Time <-> google.protobuf.Timestamp, exact to the
// nanosecond (journals and snapshots store them; a replay compares them).
//
//   TimeToProto(absl::Now(), session.mutable_created());
//
// Thread-safety: stateless functions.
#ifndef OPTD_SERVER_CODEC_TIME_H_
#define OPTD_SERVER_CODEC_TIME_H_

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace optd::server {

// TimeToProto(): `time` as a google.protobuf.Timestamp (nanosecond precision).
void TimeToProto(absl::Time time, google::protobuf::Timestamp* out);
// TimeFromProto(): the inverse, exact for what TimeToProto wrote.
absl::Time TimeFromProto(const google::protobuf::Timestamp& time);

}  // namespace optd::server

#endif  // OPTD_SERVER_CODEC_TIME_H_
