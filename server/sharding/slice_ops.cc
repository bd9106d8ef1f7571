#include "server/sharding/slice_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sharding/slice_op_rows.h"

namespace optd::server {
namespace {

// The transport operations L-BFGS and trust-region slices share: the
// point's (slice_op_rows.h), then the slice's whole state
// (solvers/sharding/slice_state.h), for an export or an import.
template <typename S>
OpTable<S> TransportRows() {
  using Op = v1::SliceOpRequest;
  using Out = v1::SliceOpResponse;
  OpTable<S> rows = PointRows<S>();
  rows.insert(rows.end(), {
                              {v1::SLICE_OP_READ_STATE,
                               [](S& s, const Op&, Out* out) -> absl::Status {
                                 s.SaveState(out->mutable_data());
                                 return absl::OkStatus();
                               }},
                              {v1::SLICE_OP_LOAD_STATE,
                               [](S& s, const Op& op, Out*) -> absl::Status {
                                 return s.RestoreState(op.data());
                               }},
                          });
  return rows;
}

const OpTable<LbfgsSlice>& LbfgsTable() {
  using S = LbfgsSlice;
  using Op = v1::SliceOpRequest;
  using Out = v1::SliceOpResponse;
  static const OpTable<S>* const table = [] {
    auto* t = new OpTable<S>(TransportRows<S>());
    t->insert(t->end(),
              {
                  {v1::SLICE_OP_SET_DIRECTION,
                   [](S& s, const Op& op, Out*) -> absl::Status {
                     OPTD_RETURN_IF_ERROR(CheckCoefficients(op, s.pairs()));
                     s.SetDirection(op.scalars());
                     return absl::OkStatus();
                   }},
                  {v1::SLICE_OP_FORM_TRIAL,
                   [](S& s, const Op& op, Out*) -> absl::Status {
                     OPTD_ASSIGN_OR_RETURN(double stp, Scalar(op));
                     s.FormTrial(stp);
                     return absl::OkStatus();
                   }},
                  {v1::SLICE_OP_REDUCE_TRIAL,
                   [](S& s, const Op& op, Out* out) -> absl::Status {
                     OPTD_ASSIGN_OR_RETURN(double stp, Scalar(op));
                     WritePartials(s.ReduceTrial(stp, op.flag()), out);
                     return absl::OkStatus();
                   }},
                  {v1::SLICE_OP_ACCEPT,
                   [](S& s, const Op& op, Out*) -> absl::Status {
                     OPTD_ASSIGN_OR_RETURN(double stp, Scalar(op));
                     s.Accept(op.flag(), stp);
                     return absl::OkStatus();
                   }},
                  {v1::SLICE_OP_CLEAR_MEMORY,
                   [](S& s, const Op&, Out*) -> absl::Status {
                     s.ClearMemory();
                     return absl::OkStatus();
                   }},
              });
    return t;
  }();
  return *table;
}

const OpTable<TrustRegionSlice>& TrustRegionTable() {
  using S = TrustRegionSlice;
  using Op = v1::SliceOpRequest;
  using Out = v1::SliceOpResponse;
  constexpr bool kCg = true;
  static const OpTable<S>* const table = [] {
    auto* t = new OpTable<S>(TransportRows<S>());
    t->insert(
        t->end(),
        {
            {v1::SLICE_OP_SET_PRODUCT,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, s.range()));
               out->set_bad_index(s.SetProduct(full));
               return absl::OkStatus();
             },
             kCg},
            {v1::SLICE_OP_SET_STEP,
             [](S& s, const Op& op, Out*) -> absl::Status {
               OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, s.range()));
               s.SetStep(full);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_READ_GRADIENT,
             [](S& s, const Op&, Out* out) -> absl::Status {
               s.ReadGradient(ReadBuffer(s.range(), false, out));
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_READ_DIRECTION,
             [](S& s, const Op&, Out* out) -> absl::Status {
               s.ReadDirection(ReadBuffer(s.range(), false, out));
               return absl::OkStatus();
             },
             kCg},
            {v1::SLICE_OP_FORM_STEP,
             [](S& s, const Op& op, Out*) -> absl::Status {
               OPTD_RETURN_IF_ERROR(CheckCoefficients(op, s.pairs()));
               s.FormStep(op.scalars());
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_FORM_CG_STEP,
             [](S& s, const Op& op, Out*) -> absl::Status {
               OPTD_ASSIGN_OR_RETURN(double tau, Scalar(op));
               s.FormCgStep(tau);
               return absl::OkStatus();
             },
             kCg},
            {v1::SLICE_OP_SET_BOUNDS,
             [](S& s, const Op& op, Out*) -> absl::Status {
               std::vector<double> lower, upper;
               OPTD_RETURN_IF_ERROR(BoxPart(op, s.range(), &lower, &upper));
               s.SetBounds(lower.data(), upper.data());
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_REDUCE_BOX,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_RETURN_IF_ERROR(CheckBounded(op, s));
               WritePartials(s.ReduceBox(), out);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_REDUCE_FREE_GRAM,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_RETURN_IF_ERROR(CheckBounded(op, s));
               WritePartials(s.ReduceFreeGram(), out);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_FORM_PROJECTED_STEP,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_RETURN_IF_ERROR(CheckBounded(op, s));
               OPTD_RETURN_IF_ERROR(CheckCoefficients(op, s.pairs()));
               WritePartials(s.FormProjectedStep(op.scalars()), out);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_TR_REDUCE_TRIAL,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               WritePartials(s.ReduceTrial(op.flag()), out);
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_ADVANCE,
             [](S& s, const Op& op, Out*) -> absl::Status {
               s.Advance(op.flag(), op.flag2());
               return absl::OkStatus();
             }},
            {v1::SLICE_OP_CG_START,
             [](S& s, const Op&, Out*) -> absl::Status {
               s.CgStart();
               return absl::OkStatus();
             },
             kCg},
            {v1::SLICE_OP_FORM_DIFFERENCE_POINT,
             [](S& s, const Op& op, Out*) -> absl::Status {
               OPTD_ASSIGN_OR_RETURN(double h, Scalar(op));
               s.FormDifferencePoint(h);
               return absl::OkStatus();
             },
             kCg},
            {v1::SLICE_OP_DIFFERENCE_PRODUCT,
             [](S& s, const Op& op, Out*) -> absl::Status {
               OPTD_ASSIGN_OR_RETURN(double h, Scalar(op));
               s.DifferenceProduct(h);
               return absl::OkStatus();
             },
             kCg},
            {v1::SLICE_OP_REDUCE_CURVATURE,
             [](S& s, const Op&, Out* out) -> absl::Status {
               WritePartials(s.ReduceCurvature(), out);
               return absl::OkStatus();
             },
             kCg},
            {v1::SLICE_OP_CG_ADVANCE,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_ASSIGN_OR_RETURN(double alpha, Scalar(op));
               WritePartials(s.CgAdvance(alpha), out);
               return absl::OkStatus();
             },
             kCg},
            {v1::SLICE_OP_CG_DIRECTION,
             [](S& s, const Op& op, Out* out) -> absl::Status {
               OPTD_ASSIGN_OR_RETURN(double beta, Scalar(op));
               WritePartials(s.CgDirection(beta), out);
               return absl::OkStatus();
             },
             kCg},
        });
    return t;
  }();
  return *table;
}

template <typename T>
const OpTable<AdamSlice<T>>& AdamTable() {
  using S = AdamSlice<T>;
  using Op = v1::SliceOpRequest;
  using Out = v1::SliceOpResponse;
  constexpr bool kFloat32 = std::is_same_v<T, float>;
  static const OpTable<S>* const table = new OpTable<S>{
      {v1::SLICE_OP_SET_TRIAL_POINT,
       [](S& s, const Op& op, Out*) -> absl::Status {
         OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, s.range));
         s.SetPoint(full);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_SET_BOUNDS,
       [](S& s, const Op& op, Out*) -> absl::Status {
         std::vector<double> lower, upper;
         OPTD_RETURN_IF_ERROR(BoxPart(op, s.range, &lower, &upper));
         return s.SetBounds(lower.data(), upper.data());
       }},
      {v1::SLICE_OP_SET_TRIAL_GRADIENT,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, s.range));
         double max_abs = 0;
         out->set_bad_index(s.SetGradient(full, &max_abs));
         out->set_max_abs(max_abs);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_POINT,
       [](S& s, const Op&, Out* out) -> absl::Status {
         s.ReadPoint(ReadBuffer(s.range, kFloat32, out));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_TRIAL_POINT,
       [](S& s, const Op&, Out* out) -> absl::Status {
         s.ReadPoint(ReadBuffer(s.range, kFloat32, out));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_GRADIENT_SQUARES,
       [](S& s, const Op&, Out* out) -> absl::Status {
         WritePartials(s.GradientSquares(), out);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_ADAM_STEP,
       [](S& s, const Op& op, Out*) -> absl::Status {
         std::vector<AdamSegmentStep> segments;
         OPTD_RETURN_IF_ERROR(
             AdamSegmentsFromProto(op.scalars(), s.range, &segments));
         // The kernel touches the slots the scalars' method and options
         // need (max v only with amsgrad, SGD's buffer only with momentum,
         // ...), and the slice holds those it was created with: the two
         // must agree.
         for (size_t i = 0; i < segments.size(); ++i) {
           const int wants = AdamStepSlotMask(segments[i].scalars);
           if (wants != s.slots.mask) {
             auto names = [](int mask) {
               std::string out;
               for (int slot = 0; slot < 3; ++slot) {
                 if ((mask >> slot) & 1) {
                   absl::StrAppend(&out, out.empty() ? "" : ", ", "s", slot);
                 }
               }
               return out.empty() ? std::string("none") : out;
             };
             return SliceOpError(
                 op,
                 absl::StrCat("segment ", i, "'s step uses the state slots ",
                              names(wants), " but the slice was created with ",
                              names(s.slots.mask)));
           }
         }
         // Unchecked (AdamVectors::StepSegments): a posted operation has no
         // answer to report a step that is not finite in.
         s.Step(segments);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_STATE,
       [](S& s, const Op&, Out* out) -> absl::Status {
         std::string* data = out->mutable_data();
         data->reserve(static_cast<size_t>(s.range.size()) * sizeof(T) *
                       s.state_vectors());
         for (int which = 0; which < s.state_vectors(); ++which) {
           const std::vector<T>& v = s.state_vector(which);
           data->append(reinterpret_cast<const char*>(v.data()),
                        v.size() * sizeof(T));
         }
         out->set_data_float32(kFloat32);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LOAD_STATE,
       [](S& s, const Op& op, Out*) -> absl::Status {
         const size_t each = static_cast<size_t>(s.range.size()) * sizeof(T);
         if (op.data().size() != each * s.state_vectors()) {
           return SliceOpError(op, absl::StrCat("data has ", op.data().size(),
                                                " bytes; the slice needs ",
                                                each * s.state_vectors()));
         }
         if (const int64_t bad = s.FirstBadPoint(op.data().data()); bad >= 0) {
           return SliceOpError(op, absl::StrCat("data has x[", bad,
                                                "] not finite or outside "
                                                "the box"));
         }
         for (int which = 0; which < s.state_vectors(); ++which) {
           if (each > 0) {
             std::memcpy(s.state_vector(which).data(),
                         op.data().data() + which * each, each);
           }
         }
         return absl::OkStatus();
       }},
  };
  return *table;
}

// The running sums of an Adafactor pass (op.sums) as `sums` holds them.
absl::Span<const double> Sums(const v1::SliceOpRequest& op) {
  return absl::MakeConstSpan(op.sums().data(), op.sums().size());
}

// op.scalars from index `from` on.
absl::Span<const double> ScalarsFrom(const v1::SliceOpRequest& op, int from) {
  return absl::MakeConstSpan(op.scalars().data(), op.scalars().size())
      .subspan(static_cast<size_t>(std::min(from, op.scalars_size())));
}

// At least `count` scalars.
absl::Status CheckScalars(const v1::SliceOpRequest& op, int count) {
  if (op.scalars_size() >= count) return absl::OkStatus();
  return SliceOpError(op, absl::StrCat("has ", op.scalars_size(),
                                       " scalars; it takes ", count));
}

template <typename T>
const OpTable<AdafactorSliceState<T>>& AdafactorTable() {
  using S = AdafactorSliceState<T>;
  using Op = v1::SliceOpRequest;
  using Out = v1::SliceOpResponse;
  constexpr bool kFloat32 = std::is_same_v<T, float>;
  static const OpTable<S>* const table = new OpTable<S>{
      {v1::SLICE_OP_SET_TRIAL_POINT,
       [](S& s, const Op& op, Out*) -> absl::Status {
         OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, s.slice.range()));
         s.slice.SetPoint(full);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_SET_TRIAL_GRADIENT,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         OPTD_ASSIGN_OR_RETURN(ConstVectorView full, Part(op, s.slice.range()));
         double max_abs = 0;
         out->set_bad_index(s.slice.SetGradient(full, &max_abs));
         out->set_max_abs(max_abs);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_POINT,
       [](S& s, const Op&, Out* out) -> absl::Status {
         s.slice.ReadPoint(ReadBuffer(s.slice.range(), kFloat32, out));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_TRIAL_POINT,
       [](S& s, const Op&, Out* out) -> absl::Status {
         s.slice.ReadPoint(ReadBuffer(s.slice.range(), kFloat32, out));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_READ_STATE,
       [](S& s, const Op&, Out* out) -> absl::Status {
         s.slice.SaveState(out->mutable_data());
         out->set_data_float32(kFloat32);
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_LOAD_STATE,
       [](S& s, const Op& op, Out*) -> absl::Status {
         const absl::Status status = s.slice.LoadState(op.data());
         return status.ok() ? status : SliceOpError(op, status.message());
       }},
      {v1::SLICE_OP_ADAFACTOR_STATISTICS,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         OPTD_ASSIGN_OR_RETURN(double eps1, Scalar(op));
         AdafactorSums sums = NewAdafactorSums(s.layers);
         const absl::Status read = UnflattenStatisticsSums(Sums(op), &sums);
         if (!read.ok()) return SliceOpError(op, read.message());
         s.slice.AccumulateStatistics(eps1, &sums);
         const std::vector<double> flat = FlattenStatisticsSums(sums);
         out->mutable_sums()->Assign(flat.begin(), flat.end());
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_ADAFACTOR_SECOND_MOMENT,
       [](S& s, const Op& op, Out*) -> absl::Status {
         if (op.scalars_size() != 2) {
           return SliceOpError(op, absl::StrCat("has ", op.scalars_size(),
                                                " scalars; it takes 2"));
         }
         s.slice.UpdateSecondMoment(op.scalars(0), op.scalars(1));
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_ADAFACTOR_UPDATE_SQUARES,
       [](S& s, const Op& op, Out* out) -> absl::Status {
         AdafactorFactors<T> factors;
         absl::Status read =
             UnflattenFactors(ScalarsFrom(op, 0), s.layers,
                              /*layer_scalars=*/false, &factors);
         AdafactorSums sums = NewAdafactorSums(s.layers);
         if (read.ok() && op.sums_size() != static_cast<int>(s.layers.size())) {
           read = absl::InvalidArgumentError(
               absl::StrCat("the running sums have ", op.sums_size(),
                            " values; the layers need ", s.layers.size()));
         }
         if (!read.ok()) return SliceOpError(op, read.message());
         sums.u_squares.assign(op.sums().begin(), op.sums().end());
         s.slice.AccumulateUpdateSquares(factors, &sums);
         out->mutable_sums()->Assign(sums.u_squares.begin(),
                                     sums.u_squares.end());
         return absl::OkStatus();
       }},
      {v1::SLICE_OP_ADAFACTOR_APPLY,
       [](S& s, const Op& op, Out*) -> absl::Status {
         OPTD_RETURN_IF_ERROR(CheckScalars(op, 2));
         AdafactorFactors<T> factors;
         const absl::Status read = UnflattenFactors(
             ScalarsFrom(op, 2), s.layers, /*layer_scalars=*/true, &factors);
         if (!read.ok()) return SliceOpError(op, read.message());
         s.slice.ApplyUpdate(factors, op.scalars(0), op.scalars(1));
         return absl::OkStatus();
       }},
  };
  return *table;
}

}  // namespace

namespace {

// A curvature diagnosis (solvers/curvature/curvature_solver.h) and an
// L-BFGS-B session (solvers/lbfgsb/lbfgsb.h) save no state: they are rebuilt
// by replaying their tells.
absl::Status NoState(absl::string_view kind, absl::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat("a", kind, " slice has no saved state; its ", what,
                   " is rebuilt by replaying its tells"));
}

}  // namespace

absl::Status SliceOpError(const v1::SliceOpRequest& op, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("slice operation ", v1::SliceOp_Name(op.op()), ": ", why));
}

bool IsReadOp(v1::SliceOp op) {
  return op == v1::SLICE_OP_READ_TRIAL_POINT || op == v1::SLICE_OP_READ_POINT ||
         op == v1::SLICE_OP_READ_GRADIENT || op == v1::SLICE_OP_READ_DIRECTION;
}

absl::StatusOr<std::unique_ptr<SliceSolver>> SliceSolver::Create(
    const v1::CreateSliceRequest& request) {
  std::unique_ptr<SliceSolver> solver(new SliceSolver());
  const ShardRange range{request.begin(), request.end()};
  const int64_t n = range.size();
  switch (request.kind()) {
    case v1::SLICE_KIND_LBFGS:
      solver->lbfgs_ = std::make_unique<LbfgsSlice>(range, request.memory());
      solver->bytes_ = 8 * n * (5 + 2 * int64_t{request.memory()});
      break;
    case v1::SLICE_KIND_LBFGSB:
      if (request.memory() < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("memory is ", request.memory(),
                         "; an L-BFGS-B slice keeps at least 1 pair"));
      }
      solver->lbfgsb_ = std::make_unique<LbfgsbSlice>(range, request.memory());
      // x, g, x_trial, g_trial, l, u, d, z, xp, r, y, t and the 2 m pair
      // columns; nbd and iwhere (int), the free flags, and at most n
      // breakpoint and free-set indices (int64).
      solver->bytes_ = 8 * n * (12 + 2 * int64_t{request.memory()}) +
                       n * (2 * 4 + 1) + 8 * n;
      break;
    case v1::SLICE_KIND_TRUST_REGION:
      solver->trust_region_ = std::make_unique<TrustRegionSlice>(
          range, request.memory(), request.cg_vectors());
      solver->bytes_ =
          8 * n *
          (5 + 2 * int64_t{request.memory()} + (request.cg_vectors() ? 4 : 0));
      break;
    case v1::SLICE_KIND_ADAM: {
      AdamSlots slots;
      if (request.has_slots()) {
        if (request.slots() < 0 || request.slots() > 7) {
          return absl::InvalidArgumentError(absl::StrCat(
              "slots is ", request.slots(), "; it must be in [0, 7]"));
        }
        slots.mask = request.slots();
        slots.s0_init = request.slot0_init();
      } else {
        slots.mask = request.amsgrad() ? 0b111 : 0b011;
      }
      if (request.float32()) {
        solver->adam32_ = std::make_unique<AdamSlice<float>>(range, slots);
      } else {
        solver->adam64_ = std::make_unique<AdamSlice<double>>(range, slots);
      }
      // x, g and the slots.
      solver->bytes_ = (request.float32() ? 4 : 8) * n * (2 + slots.count());
      break;
    }
    case v1::SLICE_KIND_ADAFACTOR: {
      // The home sends the resolved layers; checked as the session's are.
      AdafactorOptions options;
      if (request.layer_rows_size() != request.layer_cols_size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("layer_rows has ", request.layer_rows_size(),
                         " entries and layer_cols ", request.layer_cols_size(),
                         "; they must have as many"));
      }
      for (int i = 0; i < request.layer_rows_size(); ++i) {
        options.layers.push_back(
            {request.layer_rows(i), request.layer_cols(i)});
      }
      OPTD_RETURN_IF_ERROR(options.ValidateLayers(request.dimension()));
      std::vector<AdafactorLayer> layers =
          options.ResolvedLayers(request.dimension());
      const std::vector<int64_t> offsets = AdafactorLayerOffsets(layers);
      const int64_t width = request.float32() ? 4 : 8;
      solver->bytes_ =
          width * (n * (request.first_moment() ? 3 : 2) +
                   AdafactorVectorElements(layers, offsets, range));
      if (request.float32()) {
        solver->adafactor32_.reset(new AdafactorSliceState<float>{
            layers, AdafactorSlice<float>(range, layers, offsets,
                                          request.first_moment())});
      } else {
        solver->adafactor64_.reset(new AdafactorSliceState<double>{
            layers, AdafactorSlice<double>(range, layers, offsets,
                                           request.first_moment())});
      }
      break;
    }
    case v1::SLICE_KIND_LANCZOS:
      solver->lanczos_ = std::make_unique<LanczosSlice>(
          range, request.dimension(), request.lanczos_gradients());
      // x, q, w and g_0, g_1; the basis grows with the run (up to
      // min(max(max_steps, density_steps), n) columns).
      solver->bytes_ = solver->lanczos_->bytes();
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("kind is ", request.kind(), "; use a SliceKind"));
  }
  return solver;
}

SliceSolver::~SliceSolver() = default;

absl::Status SliceSolver::Apply(const v1::SliceOpRequest& op,
                                v1::SliceOpResponse* out) {
  if (lbfgs_ != nullptr) {
    return Dispatch(LbfgsTable(), *lbfgs_, /*cg_vectors=*/false, op, out,
                    "is not an L-BFGS operation");
  }
  if (lbfgsb_ != nullptr) {
    return Dispatch(LbfgsbTable(), *lbfgsb_, false, op, out,
                    "is not an L-BFGS-B operation");
  }
  if (trust_region_ != nullptr) {
    return Dispatch(TrustRegionTable(), *trust_region_,
                    trust_region_->cg_vectors(), op, out,
                    "is not a trust-region operation");
  }
  if (lanczos_ != nullptr) {
    return Dispatch(LanczosTable(), *lanczos_, false, op, out,
                    "is not a Lanczos operation");
  }
  if (adam32_ != nullptr) {
    return Dispatch(AdamTable<float>(), *adam32_, false, op, out,
                    "is not an Adam operation");
  }
  if (adafactor32_ != nullptr) {
    return Dispatch(AdafactorTable<float>(), *adafactor32_, false, op, out,
                    "is not an Adafactor operation");
  }
  if (adafactor64_ != nullptr) {
    return Dispatch(AdafactorTable<double>(), *adafactor64_, false, op, out,
                    "is not an Adafactor operation");
  }
  return Dispatch(AdamTable<double>(), *adam64_, false, op, out,
                  "is not an Adam operation");
}

absl::Status SliceSolver::SaveState(std::string* out) {
  if (lanczos_ != nullptr) return NoState(" Lanczos", "diagnosis");
  if (lbfgsb_ != nullptr) return NoState("n L-BFGS-B", "session");
  if (lbfgs_ != nullptr) {
    lbfgs_->SaveState(out);
  } else if (trust_region_ != nullptr) {
    trust_region_->SaveState(out);
  } else {
    v1::SliceOpRequest read;
    read.set_op(v1::SLICE_OP_READ_STATE);
    v1::SliceOpResponse adam_state;
    OPTD_RETURN_IF_ERROR(Apply(read, &adam_state));
    *out = std::move(*adam_state.mutable_data());
  }
  return absl::OkStatus();
}

absl::Status SliceSolver::LoadState(std::string state) {
  if (lanczos_ != nullptr) return NoState(" Lanczos", "diagnosis");
  if (lbfgsb_ != nullptr) return NoState("n L-BFGS-B", "session");
  if (lbfgs_ != nullptr) return lbfgs_->RestoreState(state);
  if (trust_region_ != nullptr) return trust_region_->RestoreState(state);
  v1::SliceOpRequest load;
  load.set_op(v1::SLICE_OP_LOAD_STATE);
  load.set_data(std::move(state));
  v1::SliceOpResponse ignored;
  return Apply(load, &ignored);
}

}  // namespace optd::server
