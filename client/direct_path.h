// DirectPath: the direct data path of a sharded session (DESIGN §3,
// docs/sharding.md). Instead of sending whole vectors through the session's
// home replica, a client sends each replica its slice of a gradient (PutSlice)
// and reads its slice of the next point (GetSlice), all replicas in parallel,
// so bandwidth grows with the number of shards. client::Session uses it
// transparently for sessions created with shards > 1.
//
//   OPTD_ASSIGN_OR_RETURN(v1::Session s, client.GetSession(id));
//   OPTD_ASSIGN_OR_RETURN(auto direct, DirectPath::Connect(client, s));
//   OPTD_RETURN_IF_ERROR(direct->Put(id, trial, v1::SLICE_FIELD_GRADIENT,
//                                    gradient));
//
// Thread-safety: thread-safe (immutable after Connect; gRPC stubs are).
#ifndef OPTD_CLIENT_DIRECT_PATH_H_
#define OPTD_CLIENT_DIRECT_PATH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/client.h"
#include "optd/v1/optimizer.pb.h"

namespace optd::client {

class DirectPath {
 public:
  // DirectPath::Connect()
  //
  // Channels to every replica in session.shard_map, with `client`'s options
  // (credentials, token, deadlines, message size). FAILED_PRECONDITION for a
  // session that is not sharded.
  static absl::StatusOr<std::shared_ptr<const DirectPath>> Connect(
      const Client& client, const v1::Session& session);

  int64_t dimension() const { return dimension_; }
  int shards() const { return static_cast<int>(routes_.size()); }

  // DirectPath::Put()
  //
  // PutSlice of `values` (dimension() doubles, or with Put32 floats, sent
  // as f64 / f32 bytes) for the trial: each shard's part to its replica, in
  // parallel. The first error, naming the shard.
  absl::Status Put(const std::string& session_id, uint64_t trial_id,
                   v1::SliceField field, absl::Span<const double> values) const;
  absl::Status Put32(const std::string& session_id, uint64_t trial_id,
                     v1::SliceField field,
                     absl::Span<const float> values) const;

  // DirectPath::Get()
  //
  // GetSlice of the trial's point (or vector) from every shard, in parallel,
  // assembled into dimension() doubles.
  absl::StatusOr<std::vector<double>> Get(const std::string& session_id,
                                          uint64_t trial_id,
                                          v1::SliceField field) const;

 private:
  struct Route {
    int shard = 0;
    int64_t begin = 0;
    int64_t end = 0;
    std::shared_ptr<Client> replica;
  };

  // Put of `size` elements at `data` (float or double).
  absl::Status PutRaw(const std::string& session_id, uint64_t trial_id,
                      v1::SliceField field, const char* data, size_t size,
                      bool float32) const;
  // Runs call(route) for every non-empty shard in parallel; the first error.
  template <typename Call>
  absl::Status ForEachShard(Call call) const;

  int64_t dimension_ = 0;
  std::vector<Route> routes_;
};

}  // namespace optd::client

#endif  // OPTD_CLIENT_DIRECT_PATH_H_
