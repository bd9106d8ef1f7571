// The rows of slice_ops.cc's op tables and the helpers their handlers share
// (decoding a slice's range of a vector, writing partial sums), for the
// files that hold one slice kind's table each: slice_ops.cc (L-BFGS, trust
// region, Adam, Adafactor), slice_ops_lanczos.cc, slice_ops_lbfgsb.cc.
// Internal to server/sharding: SliceSolver (slice_ops.h) is the interface.
//
// Thread-safety: the tables are immutable once built.
#ifndef OPTD_SERVER_SHARDING_SLICE_OP_ROWS_H_
#define OPTD_SERVER_SHARDING_SLICE_OP_ROWS_H_

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "optd/v1/shard.pb.h"
#include "server/sharding/slice_ops.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/lbfgsb_slice.h"
#include "solvers/sharding/shard_layout.h"
#include "solvers/sharding/trust_region_slice.h"

namespace optd::server {

// This slice's range of a whole vector, as sent in op.data, indexed by global
// position.
inline absl::StatusOr<ConstVectorView> Part(const v1::SliceOpRequest& op,
                                            const ShardRange& range) {
  const int64_t width = op.data_float32() ? 4 : 8;
  if (static_cast<int64_t>(op.data().size()) != width * range.size()) {
    return SliceOpError(
        op, absl::StrCat("data has ", op.data().size(), " bytes; the slice [",
                         range.begin, ", ", range.end, ") needs ",
                         width * range.size()));
  }
  const ConstVectorView part =
      op.data_float32()
          ? ConstVectorView::Float32(op.data().data(), range.size())
          : ConstVectorView::Float64(op.data().data(), range.size());
  return ConstVectorView::Window(part, range.begin);
}

// SLICE_OP_SET_BOUNDS's data: this range's lower bounds, then its upper
// ones, float64 each, copied out (the bytes need not be aligned).
inline absl::Status BoxPart(const v1::SliceOpRequest& op,
                            const ShardRange& range, std::vector<double>* lower,
                            std::vector<double>* upper) {
  const size_t n = static_cast<size_t>(range.size());
  if (op.data().size() != 2 * n * sizeof(double) || op.data_float32()) {
    return SliceOpError(
        op, absl::StrCat("data has ", op.data().size(),
                         op.data_float32() ? " bytes of float32" : " bytes",
                         "; the slice [", range.begin, ", ", range.end,
                         ") needs ", 2 * n * sizeof(double),
                         " (its lower and upper bounds, float64)"));
  }
  lower->resize(n);
  upper->resize(n);
  if (n > 0) {
    std::memcpy(lower->data(), op.data().data(), n * sizeof(double));
    std::memcpy(upper->data(), op.data().data() + n * sizeof(double),
                n * sizeof(double));
  }
  return absl::OkStatus();
}

// A buffer in `out` for this slice's range of a vector, in the state type.
inline MutableVectorView ReadBuffer(const ShardRange& range, bool float32,
                                    v1::SliceOpResponse* out) {
  out->mutable_data()->resize(static_cast<size_t>(range.size()) *
                              (float32 ? 4 : 8));
  out->set_data_float32(float32);
  void* data = out->mutable_data()->data();
  const MutableVectorView part =
      float32 ? MutableVectorView::Float32(data, range.size())
              : MutableVectorView::Float64(data, range.size());
  return MutableVectorView::Window(part, range.begin);
}

inline void WritePartials(const BlockPartials& p, v1::SliceOpResponse* out) {
  out->mutable_partials()->Assign(p.sums().begin(), p.sums().end());
  out->set_first_block(p.first_block());
  out->set_num_blocks(p.num_blocks());
  out->set_quantities(p.quantities());
  out->set_max_abs(p.max_abs());
}

inline absl::StatusOr<double> Scalar(const v1::SliceOpRequest& op) {
  if (op.scalars_size() != 1) {
    return SliceOpError(
        op, absl::StrCat("has ", op.scalars_size(), " scalars; it takes 1"));
  }
  return op.scalars(0);
}

// A combination of the basis [s_0..s_{k-1}, y_0..y_{k-1}, g] needs 2k + 1
// coefficients.
inline absl::Status CheckCoefficients(const v1::SliceOpRequest& op, int pairs) {
  if (op.scalars_size() == 2 * pairs + 1) return absl::OkStatus();
  return SliceOpError(
      op, absl::StrCat("has ", op.scalars_size(),
                       " coefficients; the slice holds ", pairs, " pairs"));
}

// The trust region's box operations need a box (SLICE_OP_SET_BOUNDS first).
inline absl::Status CheckBounded(const v1::SliceOpRequest& op,
                                 const TrustRegionSlice& s) {
  if (s.bounded()) return absl::OkStatus();
  return SliceOpError(op,
                      "needs the box, and the slice has none (SET_BOUNDS "
                      "was not sent)");
}

// One operation of a slice kind: its handler, and whether it needs the
// trust region's CG vectors (a slice created with cg_vectors false refuses
// it).
template <typename S>
struct OpRow {
  v1::SliceOp op;
  absl::Status (*apply)(S& s, const v1::SliceOpRequest& op,
                        v1::SliceOpResponse* out);
  bool needs_cg = false;
};

template <typename S>
using OpTable = std::vector<OpRow<S>>;

template <typename S>
const OpRow<S>* FindRow(const OpTable<S>& table, v1::SliceOp op) {
  for (const OpRow<S>& row : table) {
    if (row.op == op) return &row;
  }
  return nullptr;
}

// Applies `op` by its row of `table`; `not_mine` when the kind has none.
template <typename S>
absl::Status Dispatch(const OpTable<S>& table, S& s, bool cg_vectors,
                      const v1::SliceOpRequest& op, v1::SliceOpResponse* out,
                      absl::string_view not_mine) {
  const OpRow<S>* row = FindRow(table, op.op());
  if (row == nullptr) return SliceOpError(op, not_mine);
  if (row->needs_cg && !cg_vectors) {
    return SliceOpError(op,
                        "needs the CG vectors, and the slice was created with "
                        "cg_vectors false (a quasi-Newton trust region)");
  }
  return row->apply(s, op, out);
}

// The point's transport operations of the slices that keep a trial point
// and gradient (L-BFGS, L-BFGS-B, the trust region): SET_TRIAL_POINT,
// SET_TRIAL_GRADIENT (answers bad_index), READ_TRIAL_POINT, READ_POINT.
template <typename S>
OpTable<S> PointRows() {
  using Op = v1::SliceOpRequest;
  using Out = v1::SliceOpResponse;
  return {
      {v1::SLICE_OP_SET_TRIAL_POINT,
       [](S& s, const Op& op, Out*) -> absl::Status {
         absl::StatusOr<ConstVectorView> full = Part(op, s.range());
         if (!full.ok()) return full.status();
         s.SetTrialPoint(*full);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_SET_TRIAL_GRADIENT,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         absl::StatusOr<ConstVectorView> full = Part(op, s.range());
         if (!full.ok()) return full.status();
         out->set_bad_index(s.SetTrialGradient(*full));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_TRIAL_POINT,
       [](S& s, const Op&, Out* out) -> absl::Status {
         s.ReadTrialPoint(ReadBuffer(s.range(), false, out));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_POINT,
       [](S& s, const Op&, Out* out) -> absl::Status {
         s.ReadPoint(ReadBuffer(s.range(), false, out));
         return absl::OkStatus();
       }},
  };
}

// The tables of slice_ops_lanczos.cc and slice_ops_lbfgsb.cc.
const OpTable<LanczosSlice>& LanczosTable();
const OpTable<LbfgsbSlice>& LbfgsbTable();

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_SLICE_OP_ROWS_H_
