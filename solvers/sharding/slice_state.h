// The saved state of the vectors of an L-BFGS or trust-region session
// (DESIGN §3: each replica saves its own slice, the home saves the
// controller), in two forms:
//
//   slice state     what LbfgsSlice / TrustRegionSlice ::SaveState write:
//                   the header, then this slice's range of each state vector
//   portable state  what LbfgsVectors / TrustRegionVectors ::SaveState write
//                   (the last section of the controllers' states): the same
//                   header once, then each state vector in full (dimension
//                   doubles), in the same order. It does not depend on the
//                   number of slices K: a portable state saved with K = 3
//                   restores into K = 1, 2, 4.
//
// Every number is an 8-byte little-endian word (state_bytes.h); vectors are
// runs of binary64. The header is the same on every slice of a session:
//
//   L-BFGS        "optd.lbfgs_slice.v1" (19 bytes), pairs k
//                 (kLbfgsSliceHeaderBytes = 27)
//   trust region  "optd.trust_region_slice.v1" (26 bytes), pairs k,
//                 cg_vectors (0/1), bounded (0/1)
//                 (kTrustRegionSliceHeaderBytes = 50)
//
// and the state vectors, in this order:
//
//   L-BFGS        x, g, x_trial, g_trial, d, s_0..s_{k-1}, y_0..y_{k-1}
//   trust region  x, g, x_trial, g_trial, p, [z, r, d, hd when cg_vectors],
//                 s_0..s_{k-1}, y_0..y_{k-1}
//
// (pairs oldest first; see lbfgs_slice.h and trust_region_slice.h for what
// each vector is). A slice of an empty range (fewer blocks than shards,
// shard_layout.h) saves its header alone. The trust region's box (bounded)
// is not saved: it comes from the session's creation options, and a restore
// checks only that the slice is bounded as the saved one was.
//
// A server that keeps one file per replica merges the slices' states into
// the portable form, or splits a portable state into each slice's:
//
//   std::vector<std::string> slices = ...;       // slice k's SaveState
//   std::string portable;
//   OPTD_RETURN_IF_ERROR(MergeLbfgsSliceStates(layout, slices, &portable));
//   OPTD_ASSIGN_OR_RETURN(slices, SplitLbfgsState(layout, memory, portable));
//
// Thread-safety: pure functions.
#ifndef OPTD_SOLVERS_SHARDING_SLICE_STATE_H_
#define OPTD_SOLVERS_SHARDING_SLICE_STATE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

// The largest memory (curvature pairs) any solver's options allow
// (LbfgsOptions::memory, TrustRegionOptions::memory).
inline constexpr int kMaxCurvaturePairs = 1000;

inline constexpr std::string_view kLbfgsSliceTag = "optd.lbfgs_slice.v1";
inline constexpr size_t kLbfgsSliceHeaderBytes = kLbfgsSliceTag.size() + 8;

struct LbfgsSliceHeader {
  int pairs = 0;
  // x, g, x_trial, g_trial, d and the pairs.
  int state_vectors() const { return 5 + 2 * pairs; }
};

inline constexpr std::string_view kTrustRegionSliceTag =
    "optd.trust_region_slice.v1";
inline constexpr size_t kTrustRegionSliceHeaderBytes =
    kTrustRegionSliceTag.size() + 3 * 8;

struct TrustRegionSliceHeader {
  int pairs = 0;
  bool cg_vectors = false;
  bool bounded = false;
  // x, g, x_trial, g_trial, p, the CG vectors and the pairs.
  int state_vectors() const { return 5 + (cg_vectors ? 4 : 0) + 2 * pairs; }
};

// Appends the header's bytes.
void AppendLbfgsSliceHeader(const LbfgsSliceHeader& header, std::string* out);
void AppendTrustRegionSliceHeader(const TrustRegionSliceHeader& header,
                                  std::string* out);

// The header at the start of a slice or portable state. INVALID_ARGUMENT
// for a wrong tag, too few bytes, pairs outside [0, memory] or a flag that is
// not 0 or 1.
absl::StatusOr<LbfgsSliceHeader> ParseLbfgsSliceHeader(std::string_view state,
                                                       int memory);
absl::StatusOr<TrustRegionSliceHeader> ParseTrustRegionSliceHeader(
    std::string_view state, int memory);

// AppendSliceVectors(), LoadSliceVectors()
//
// The state vectors of a slice of `n` elements, for LbfgsSlice and
// TrustRegionSlice, which number their vectors [0, count) in the order
// above. AppendSliceVectors appends each vector(v) (n doubles) to *out.
// LoadSliceVectors resizes each vector(v) to n and reads it from `vectors`,
// starting at word v * stride + first: stride n and first 0 in a slice
// state, stride the dimension and first the range's begin in a portable one.
// REQUIRES: `vectors` holds those words.
void AppendSliceVectors(
    int count, size_t n,
    absl::FunctionRef<const std::vector<double>&(int)> vector,
    std::string* out);
void LoadSliceVectors(std::string_view vectors, int64_t stride, int64_t first,
                      size_t n, int count,
                      absl::FunctionRef<std::vector<double>&(int)> vector);

// MergeLbfgsSliceStates(), MergeTrustRegionSliceStates()
//
// Appends to *portable the portable state of the slice states (one per
// range of `layout`, in order). INVALID_ARGUMENT (and *portable unchanged)
// for another number of states than layout.shards(), a header that does not
// parse or differs from slice 0's, or a state whose size is not its header's
// plus its range of each state vector.
absl::Status MergeLbfgsSliceStates(const ShardLayout& layout,
                                   absl::Span<const std::string> slice_states,
                                   std::string* portable);
absl::Status MergeTrustRegionSliceStates(
    const ShardLayout& layout, absl::Span<const std::string> slice_states,
    std::string* portable);

// SplitLbfgsState(), SplitTrustRegionState()
//
// Each range's slice state (what that slice's SaveState would write) from a
// portable state. INVALID_ARGUMENT for a header that does not parse (pairs
// above `memory`; for the trust region also CG vectors other than
// `cg_vectors`), or a size other than the header's plus every state vector
// in full.
absl::StatusOr<std::vector<std::string>> SplitLbfgsState(
    const ShardLayout& layout, int memory, std::string_view portable);
absl::StatusOr<std::vector<std::string>> SplitTrustRegionState(
    const ShardLayout& layout, int memory, bool cg_vectors,
    std::string_view portable);

}  // namespace optd

#endif  // OPTD_SOLVERS_SHARDING_SLICE_STATE_H_
