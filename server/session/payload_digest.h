// PayloadDigest: a 64-bit fingerprint of what a tell reported, so that a
// retried tell can be recognised as the same payload (exactly-once, DESIGN §2)
// without keeping the payload itself. Gradients may have 10^7 elements, so the
// hash runs four independent multiply-xorshift lanes over 64-bit words (about
// one word per cycle) and mixes the lanes at the end. It is a fingerprint
// against accidental differences (a client that retries with other numbers),
// not a cryptographic hash.
//
// The gradient is hashed as the doubles the solver sees: `values`, `f64` and
// `f32` encodings of the same numbers give the same digest.
//
//   uint64_t d = PayloadDigest({.trial_id = 7, .value = 1.5}, {gradient_view});
//
// Thread-safety: pure functions; safe from any thread.
#ifndef OPTD_SERVER_SESSION_PAYLOAD_DIGEST_H_
#define OPTD_SERVER_SESSION_PAYLOAD_DIGEST_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "solvers/core/vector_view.h"

namespace optd::server {

// The scalar part of a tell.
struct TellPayload {
  uint64_t trial_id = 0;
  bool failed = false;
  bool stop = false;
  // Unset when the tell carried no value; hashed by its bits otherwise.
  std::optional<double> value;
  // TellRequest.weight when set (data-parallel sessions); an unset weight
  // leaves the digest as it was before weights existed.
  std::optional<double> weight;
  // TellRequest.group_lr (Adam sessions); empty leaves the digest as it was
  // before per-step learning rates existed.
  std::vector<double> group_lr = {};
};

// PayloadDigest()
//
// Stable across processes and builds on little-endian hosts: depends only on
// the payload's bits. `vectors` are the told vectors in a fixed order (the
// session passes gradient, hessian, hessian_vector), empty views for those
// not told; each one's length is hashed too, so moving elements from one to
// the next changes the digest.
uint64_t PayloadDigest(const TellPayload& payload,
                       absl::Span<const ConstVectorView> vectors);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_PAYLOAD_DIGEST_H_
