// WriteBatchTrials(): the outstanding trials of a session's batch as Ask,
// Tell, CreateSession and ImportSession answers carry them.
//
// A trial the solver describes as a PointDelta goes out with Trial.delta and
// no x; the point it is built from goes to `base_points` unless its own trial
// is among the trials written. So an answer carries at most two whole
// points (one, but for a curvature session's pair x +- h v), and a
// Hessian-vector trial's vector, however many trials it holds (docs/api.md
// "Many workers").
//
//   BatchTrials batch{session_id, solver, ledger, shards, dimension};
//   OPTD_RETURN_IF_ERROR(WriteBatchTrials(batch, encoding, /*on_slices=*/false,
//                                         /*only=*/nullptr, &trials,
//                                         &base_points));
#ifndef OPTD_SERVER_SESSION_TRIAL_WRITER_H_
#define OPTD_SERVER_SESSION_TRIAL_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "optd/v1/optimizer.pb.h"
#include "server/session/trial_ledger.h"
#include "server/sharding/shard_group.h"
#include "solvers/core/solver.h"

namespace optd::server {

// What the trials are written from: a session's solver, its ledger and
// (sharded sessions) its slices. Holds references only.
struct BatchTrials {
  const std::string& session_id;
  const Solver& solver;
  const TrialLedger& ledger;
  // Null unless the session is sharded.
  ShardGroup* shards;
  int64_t dimension;
};

// WriteBatchTrials()
//
// Appends the outstanding trials (nothing when none is pending) in
// `encoding` (resolved: not UNSPECIFIED), or with `only` (ascending) just
// those ids, each leased one with its lease_expire_time. With `on_slices` a
// sharded session leaves the points on its replicas (Trial.on_slices).
// INTERNAL when the batch would need more than two whole points.
absl::Status WriteBatchTrials(
    const BatchTrials& batch, v1::VectorEncoding encoding, bool on_slices,
    const std::vector<uint64_t>* only,
    google::protobuf::RepeatedPtrField<v1::Trial>* trials,
    google::protobuf::RepeatedPtrField<v1::BasePoint>* base_points);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_TRIAL_WRITER_H_
