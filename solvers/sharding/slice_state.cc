#include "solvers/sharding/slice_state.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"

namespace optd {
namespace {

// What Merge and Split need of a header: its size and how many vectors
// follow it.
struct ParsedHeader {
  size_t bytes = 0;
  int64_t vectors = 0;
};

absl::StatusOr<ParsedHeader> ParseLbfgs(std::string_view state, int memory) {
  OPTD_ASSIGN_OR_RETURN(LbfgsSliceHeader header,
                        ParseLbfgsSliceHeader(state, memory));
  return ParsedHeader{kLbfgsSliceHeaderBytes, header.state_vectors()};
}

// The bytes of the slices' states of one session, checked against each other
// and against their ranges.
template <typename Parse>
absl::Status Merge(const ShardLayout& layout,
                   absl::Span<const std::string> states, std::string* portable,
                   absl::string_view what, Parse parse) {
  if (states.size() != static_cast<size_t>(layout.shards())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "merging ", states.size(), " ", what, " slice states for a layout of ",
        layout.shards(), " shards"));
  }
  OPTD_ASSIGN_OR_RETURN(ParsedHeader header,
                        parse(states.front(), kMaxCurvaturePairs));
  const std::string_view first_header =
      std::string_view(states.front()).substr(0, header.bytes);
  for (size_t k = 0; k < states.size(); ++k) {
    const std::string_view state = states[k];
    if (state.substr(0, header.bytes) != first_header) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the header of ", what, " slice state ", k,
          " differs from slice 0's (the slices were saved at different "
          "points of the session, or belong to different sessions)"));
    }
    const int64_t size = layout.range(static_cast<int>(k)).size();
    const int64_t expected = StateSize(header.bytes, header.vectors, size);
    if (static_cast<int64_t>(state.size()) != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " slice state ", k, " has ", state.size(),
                       " bytes; a range of ", size, " elements with ",
                       header.vectors, " state vectors has ", expected));
    }
  }
  const int64_t n = layout.dimension();
  const int64_t total = StateSize(header.bytes, header.vectors, n);
  if (total < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", what, " state of ", header.vectors,
                     " vectors of dimension ", n, " does not fit in memory"));
  }
  portable->reserve(portable->size() + static_cast<size_t>(total));
  portable->append(first_header);
  for (int64_t v = 0; v < header.vectors; ++v) {
    for (size_t k = 0; k < states.size(); ++k) {
      const size_t size =
          static_cast<size_t>(layout.range(static_cast<int>(k)).size());
      portable->append(states[k], header.bytes + 8 * v * size, 8 * size);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Split(const ShardLayout& layout,
                                               std::string_view portable,
                                               absl::string_view what,
                                               const ParsedHeader& header) {
  const int64_t n = layout.dimension();
  const int64_t expected = StateSize(header.bytes, header.vectors, n);
  if (static_cast<int64_t>(portable.size()) != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", what, " state has ", portable.size(), " bytes; ",
        header.vectors, " state vectors of dimension ", n, " need ", expected));
  }
  std::vector<std::string> slices;
  slices.reserve(static_cast<size_t>(layout.shards()));
  for (const ShardRange& range : layout.ranges()) {
    const size_t size = static_cast<size_t>(range.size());
    std::string& slice = slices.emplace_back();
    slice.reserve(header.bytes + 8 * size * header.vectors);
    slice.append(portable.substr(0, header.bytes));
    for (int64_t v = 0; v < header.vectors; ++v) {
      const size_t first = header.bytes + 8 * (v * n + range.begin);
      slice.append(portable.substr(first, 8 * size));
    }
  }
  return slices;
}

}  // namespace

void AppendLbfgsSliceHeader(const LbfgsSliceHeader& header, std::string* out) {
  StateWriter w(out);
  w.Tag(kLbfgsSliceTag);
  w.I64(header.pairs);
}

void AppendTrustRegionSliceHeader(const TrustRegionSliceHeader& header,
                                  std::string* out) {
  StateWriter w(out);
  w.Tag(kTrustRegionSliceTag);
  w.I64(header.pairs);
  w.Flag(header.cg_vectors);
  w.Flag(header.bounded);
}

absl::StatusOr<LbfgsSliceHeader> ParseLbfgsSliceHeader(std::string_view state,
                                                       int memory) {
  StateReader r(state);
  LbfgsSliceHeader header;
  r.Tag(kLbfgsSliceTag);
  header.pairs = static_cast<int>(r.Count("pairs", 0, memory));
  if (!r.ok()) return r.Error("the L-BFGS slice state");
  return header;
}

absl::StatusOr<TrustRegionSliceHeader> ParseTrustRegionSliceHeader(
    std::string_view state, int memory) {
  StateReader r(state);
  TrustRegionSliceHeader header;
  r.Tag(kTrustRegionSliceTag);
  header.pairs = static_cast<int>(r.Count("pairs", 0, memory));
  header.cg_vectors = r.Flag("cg_vectors");
  header.bounded = r.Flag("bounded");
  if (!r.ok()) return r.Error("the trust-region slice state");
  return header;
}

absl::Status MergeLbfgsSliceStates(const ShardLayout& layout,
                                   absl::Span<const std::string> slice_states,
                                   std::string* portable) {
  return Merge(layout, slice_states, portable, "L-BFGS", ParseLbfgs);
}

absl::Status MergeTrustRegionSliceStates(
    const ShardLayout& layout, absl::Span<const std::string> slice_states,
    std::string* portable) {
  return Merge(
      layout, slice_states, portable, "trust-region",
      [](std::string_view state, int memory) -> absl::StatusOr<ParsedHeader> {
        OPTD_ASSIGN_OR_RETURN(TrustRegionSliceHeader header,
                              ParseTrustRegionSliceHeader(state, memory));
        return ParsedHeader{kTrustRegionSliceHeaderBytes,
                            header.state_vectors()};
      });
}

absl::StatusOr<std::vector<std::string>> SplitLbfgsState(
    const ShardLayout& layout, int memory, std::string_view portable) {
  OPTD_ASSIGN_OR_RETURN(ParsedHeader header, ParseLbfgs(portable, memory));
  return Split(layout, portable, "L-BFGS", header);
}

absl::StatusOr<std::vector<std::string>> SplitTrustRegionState(
    const ShardLayout& layout, int memory, bool cg_vectors,
    std::string_view portable) {
  OPTD_ASSIGN_OR_RETURN(TrustRegionSliceHeader header,
                        ParseTrustRegionSliceHeader(portable, memory));
  if (header.cg_vectors != cg_vectors) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the trust-region state ", header.cg_vectors ? "has" : "has no",
        " CG vectors; the session's slices ", cg_vectors ? "have" : "have no",
        " CG vectors (another subproblem)"));
  }
  return Split(layout, portable, "trust-region",
               {kTrustRegionSliceHeaderBytes, header.state_vectors()});
}

void AppendSliceVectors(
    int count, size_t n,
    absl::FunctionRef<const std::vector<double>&(int)> vector,
    std::string* out) {
  for (int v = 0; v < count; ++v) AppendF64s(vector(v).data(), n, out);
}

void LoadSliceVectors(std::string_view vectors, int64_t stride, int64_t first,
                      size_t n, int count,
                      absl::FunctionRef<std::vector<double>&(int)> vector) {
  for (int v = 0; v < count; ++v) {
    std::vector<double>& out = vector(v);
    out.resize(n);
    LoadF64s(vectors.data() + 8 * (v * stride + first), n, out.data());
  }
}

}  // namespace optd
