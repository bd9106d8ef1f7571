#include "server/sharding/adam_step_wire.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optd::server {
namespace {

constexpr int kAdamScalars = 11;

// AdamStepScalars on the wire: its fields in declaration order, bools as 0
// or 1 and the method as its number. A replica that predates the rest of the
// family sends Adam's first kAdamScalars only.
struct ScalarField {
  double AdamStepScalars::*number = nullptr;
  bool AdamStepScalars::*flag = nullptr;
};
constexpr ScalarField kScalarFields[] = {
    {nullptr, &AdamStepScalars::amsgrad},
    {&AdamStepScalars::l2_weight_decay},
    {&AdamStepScalars::param_decay},
    {&AdamStepScalars::beta1},
    {&AdamStepScalars::one_minus_beta1},
    {&AdamStepScalars::beta2},
    {&AdamStepScalars::one_minus_beta2},
    {&AdamStepScalars::step_size},
    {&AdamStepScalars::bias_correction2_sqrt},
    {&AdamStepScalars::eps},
    {&AdamStepScalars::grad_scale},
    {},  // method
    {nullptr, &AdamStepScalars::maximize},
    {nullptr, &AdamStepScalars::first_step},
    {&AdamStepScalars::momentum},
    {&AdamStepScalars::one_minus_dampening},
    {nullptr, &AdamStepScalars::nesterov},
    {nullptr, &AdamStepScalars::centered},
    {&AdamStepScalars::initial_accumulator_value},
    {&AdamStepScalars::bias_correction2},
    {&AdamStepScalars::nadam_grad_coef},
    {&AdamStepScalars::nadam_exp_avg_coef},
    {&AdamStepScalars::bias_correction1},
    {nullptr, &AdamStepScalars::rectified},
    {&AdamStepScalars::rect},
};
constexpr int kScalars = sizeof(kScalarFields) / sizeof(kScalarFields[0]);
static_assert(kScalars > kAdamScalars);

// The scalars in[0 .. count), count kScalars or kAdamScalars.
absl::Status ReadAdamScalars(const double* in, int count, AdamStepScalars* s) {
  *s = AdamStepScalars();
  for (int i = 0; i < count; ++i) {
    const ScalarField& f = kScalarFields[i];
    if (f.number != nullptr) {
      s->*f.number = in[i];
    } else if (f.flag != nullptr) {
      s->*f.flag = in[i] != 0;
    } else {
      const double method = in[i];
      if (!(method >= 0 && method < kElementwiseMethods &&
            std::floor(method) == method)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "SLICE_OP_ADAM_STEP: scalars[", i, "] (the method) is ", method,
            "; it must be an integer in [0, ", kElementwiseMethods, ")"));
      }
      s->method = static_cast<ElementwiseMethod>(static_cast<int>(method));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void AdamScalarsToProto(const AdamStepScalars& s,
                        google::protobuf::RepeatedField<double>* out) {
  out->Clear();
  for (const ScalarField& f : kScalarFields) {
    if (f.number != nullptr) {
      out->Add(s.*f.number);
    } else if (f.flag != nullptr) {
      out->Add(s.*f.flag ? 1.0 : 0.0);
    } else {
      out->Add(static_cast<double>(static_cast<int>(s.method)));
    }
  }
}

absl::Status AdamScalarsFromProto(
    const google::protobuf::RepeatedField<double>& in, AdamStepScalars* s) {
  if (in.size() != kScalars && in.size() != kAdamScalars) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SLICE_OP_ADAM_STEP has ", in.size(), " scalars; it takes ", kScalars,
        " (or Adam's ", kAdamScalars, ")"));
  }
  return ReadAdamScalars(in.data(), in.size(), s);
}

void AdamSegmentsToProto(absl::Span<const AdamSegmentStep> segments,
                         int64_t dimension,
                         google::protobuf::RepeatedField<double>* out) {
  if (segments.size() == 1 && segments[0].begin == 0 &&
      segments[0].end == dimension) {
    AdamScalarsToProto(segments[0].scalars, out);
    return;
  }
  out->Clear();
  google::protobuf::RepeatedField<double> scalars;
  for (const AdamSegmentStep& segment : segments) {
    out->Add(static_cast<double>(segment.begin));
    out->Add(static_cast<double>(segment.end));
    AdamScalarsToProto(segment.scalars, &scalars);
    out->Add(scalars.begin(), scalars.end());
  }
}

absl::Status AdamSegmentsFromProto(
    const google::protobuf::RepeatedField<double>& in, ShardRange range,
    std::vector<AdamSegmentStep>* out) {
  out->clear();
  if (in.size() == kScalars || in.size() == kAdamScalars) {
    out->emplace_back();
    out->back().begin = range.begin;
    out->back().end = range.end;
    return ReadAdamScalars(in.data(), in.size(), &out->back().scalars);
  }
  // Per group: begin, end and the scalars (all of them, or Adam's from an
  // older replica; a length both divide is read as the current format).
  const int each =
      in.size() % (kScalars + 2) == 0 ? kScalars + 2 : kAdamScalars + 2;
  if (in.empty() || in.size() % each != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SLICE_OP_ADAM_STEP has ", in.size(), " scalars; it takes ", kScalars,
        ", or ", kScalars + 2, " per parameter group"));
  }
  constexpr double kMaxIndex = 9007199254740992.0;  // 2^53
  for (int at = 0; at < in.size(); at += each) {
    const double begin = in[at], end = in[at + 1];
    if (!(begin >= 0 && begin < end && end <= kMaxIndex &&
          std::floor(begin) == begin && std::floor(end) == end)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SLICE_OP_ADAM_STEP: segment [", begin, ", ", end, ") at scalars[",
          at, "] is not integers 0 <= begin < end <= 2^53"));
    }
    AdamSegmentStep segment;
    segment.begin = static_cast<int64_t>(begin);
    segment.end = static_cast<int64_t>(end);
    OPTD_RETURN_IF_ERROR(
        ReadAdamScalars(in.data() + at + 2, each - 2, &segment.scalars));
    out->push_back(segment);
  }
  return absl::OkStatus();
}

}  // namespace optd::server
