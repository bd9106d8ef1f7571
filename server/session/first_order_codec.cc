#include "server/session/first_order_codec.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "optd/v1/options.pb.h"

namespace optd::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The hyperparameters a message may declare, by field name.
struct DoubleField {
  const char* name;
  double AdamHyper::*member;
};
constexpr DoubleField kDoubleFields[] = {
    {"beta1", &AdamHyper::beta1},
    {"beta2", &AdamHyper::beta2},
    {"eps", &AdamHyper::eps},
    {"weight_decay", &AdamHyper::weight_decay},
    {"momentum", &AdamHyper::momentum},
    {"dampening", &AdamHyper::dampening},
    {"alpha", &AdamHyper::alpha},
    {"lr_decay", &AdamHyper::lr_decay},
    {"initial_accumulator_value", &AdamHyper::initial_accumulator_value},
    {"momentum_decay", &AdamHyper::momentum_decay},
};
struct BoolField {
  const char* name;
  bool AdamHyper::*member;
};
constexpr BoolField kBoolFields[] = {
    {"amsgrad", &AdamHyper::amsgrad},
    {"maximize", &AdamHyper::maximize},
    {"nesterov", &AdamHyper::nesterov},
    {"centered", &AdamHyper::centered},
};

constexpr struct {
  const char* name;
  ElementwiseMethod method;
} kMethods[] = {
    {"adam", ElementwiseMethod::kAdam},
    {"adamw", ElementwiseMethod::kAdam},
    {"sgd", ElementwiseMethod::kSgd},
    {"rmsprop", ElementwiseMethod::kRmsprop},
    {"adagrad", ElementwiseMethod::kAdagrad},
    {"adamax", ElementwiseMethod::kAdamax},
    {"nadam", ElementwiseMethod::kNadam},
    {"radam", ElementwiseMethod::kRadam},
    {"lion", ElementwiseMethod::kLion},
};

// Proto3 scalars without `optional` have no presence: there a default value
// means unset (a bool false, a momentum 0), which is also the method's
// default.
bool IsSet(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  if (f->has_presence()) return r->HasField(m, f);
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return r->GetDouble(m, f) != 0.0;
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(m, f);
    default:
      return true;
  }
}

absl::Status OutOfRange(absl::string_view field, absl::string_view value,
                        absl::string_view rule) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is ", value, "; ", rule));
}

absl::Status ReadSchedule(const v1::LrSchedule& schedule,
                          absl::string_view prefix, LrScheduleOptions* out) {
  out->warmup_steps = schedule.warmup_steps();
  if (schedule.has_warmup_start_factor()) {
    out->warmup_start_factor = schedule.warmup_start_factor();
  }
  switch (schedule.decay()) {
    case v1::LrSchedule::DECAY_CONSTANT:
      out->decay = LrScheduleOptions::Decay::kConstant;
      break;
    case v1::LrSchedule::DECAY_COSINE:
      out->decay = LrScheduleOptions::Decay::kCosine;
      break;
    default:
      return OutOfRange(absl::StrCat(prefix, "schedule.decay"),
                        absl::StrCat(static_cast<int>(schedule.decay())),
                        "use DECAY_CONSTANT or DECAY_COSINE");
  }
  out->decay_steps = schedule.decay_steps();
  out->min_lr = schedule.min_lr();
  return absl::OkStatus();
}

void WriteSchedule(const LrScheduleOptions& s, v1::LrSchedule* out) {
  out->set_warmup_steps(s.warmup_steps);
  out->set_warmup_start_factor(s.warmup_start_factor);
  out->set_decay(s.decay == LrScheduleOptions::Decay::kCosine
                     ? v1::LrSchedule::DECAY_COSINE
                     : v1::LrSchedule::DECAY_CONSTANT);
  out->set_decay_steps(s.decay_steps);
  out->set_min_lr(s.min_lr);
}

}  // namespace

std::optional<AdamOptions> FirstOrderDefaults(absl::string_view field_name) {
  if (field_name == "adamw") return AdamOptions::AdamW();
  for (const auto& row : kMethods) {
    if (field_name == row.name) return AdamOptions::For(row.method);
  }
  return std::nullopt;
}

absl::StatusOr<AdamOptions> FirstOrderOptionsFromProto(
    const Message& proto, absl::string_view field_name) {
  std::optional<AdamOptions> defaults = FirstOrderDefaults(field_name);
  if (!defaults.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field_name, " is not a first-order method"));
  }
  AdamOptions options = *std::move(defaults);
  const std::string prefix = absl::StrCat(field_name, ".");
  const google::protobuf::Descriptor* d = proto.GetDescriptor();
  const Reflection* r = proto.GetReflection();
  auto field = [d](const char* name) { return d->FindFieldByName(name); };

  if (const FieldDescriptor* lr = field("lr"); IsSet(proto, lr)) {
    options.lr = r->GetDouble(proto, lr);
  } else if (options.hyper.method == ElementwiseMethod::kSgd) {
    return absl::InvalidArgumentError(
        "sgd.lr is unset; SGD needs a learning rate in (0, inf) (torch's "
        "SGD has no default)");
  }
  for (const DoubleField& hf : kDoubleFields) {
    const FieldDescriptor* f = field(hf.name);
    if (f != nullptr && IsSet(proto, f)) {
      options.hyper.*hf.member = r->GetDouble(proto, f);
    }
  }
  for (const BoolField& hf : kBoolFields) {
    const FieldDescriptor* f = field(hf.name);
    if (f != nullptr) options.hyper.*hf.member = r->GetBool(proto, f);
  }
  if (const FieldDescriptor* f = field("max_grad_norm"); IsSet(proto, f)) {
    // The solver reads 0 as "no clipping"; on the wire that is "unset", so an
    // explicit 0 is a mistake worth reporting.
    const double norm = r->GetDouble(proto, f);
    if (!(norm > 0 && std::isfinite(norm))) {
      return OutOfRange(absl::StrCat(prefix, "max_grad_norm"),
                        absl::StrCat(norm),
                        "it must be in (0, inf), or unset for no clipping");
    }
    options.max_grad_norm = norm;
  }
  OPTD_RETURN_IF_ERROR(
      ReadSchedule(static_cast<const v1::LrSchedule&>(
                       r->GetMessage(proto, field("schedule"))),
                   prefix, &options.schedule));
  switch (r->GetEnumValue(proto, field("dtype"))) {
    case v1::STATE_DTYPE_UNSPECIFIED:
    case v1::STATE_DTYPE_FLOAT64:
      options.dtype = ScalarType::kFloat64;
      break;
    case v1::STATE_DTYPE_FLOAT32:
      options.dtype = ScalarType::kFloat32;
      break;
    default:
      return OutOfRange(absl::StrCat(prefix, "dtype"),
                        absl::StrCat(r->GetEnumValue(proto, field("dtype"))),
                        "use STATE_DTYPE_FLOAT64 or STATE_DTYPE_FLOAT32");
  }
  options.max_steps = r->GetInt64(proto, field("max_steps"));
  const FieldDescriptor* groups = field("groups");
  for (int i = 0; i < r->FieldSize(proto, groups); ++i) {
    const auto& g = static_cast<const v1::AdamGroup&>(
        r->GetRepeatedMessage(proto, groups, i));
    AdamGroup group;
    group.begin = g.begin();
    group.end = g.end();
    if (g.has_lr()) group.lr = g.lr();
    if (g.has_beta1()) group.beta1 = g.beta1();
    if (g.has_beta2()) group.beta2 = g.beta2();
    if (g.has_eps()) group.eps = g.eps();
    if (g.has_weight_decay()) group.weight_decay = g.weight_decay();
    options.groups.push_back(group);
  }
  OPTD_RETURN_IF_ERROR(options.Validate());
  return options;
}

void FirstOrderOptionsToProto(const AdamOptions& options, Message* out) {
  out->Clear();
  const google::protobuf::Descriptor* d = out->GetDescriptor();
  const Reflection* r = out->GetReflection();
  auto field = [d](const char* name) { return d->FindFieldByName(name); };
  r->SetDouble(out, field("lr"), options.lr);
  for (const DoubleField& hf : kDoubleFields) {
    if (const FieldDescriptor* f = field(hf.name); f != nullptr) {
      r->SetDouble(out, f, options.hyper.*hf.member);
    }
  }
  for (const BoolField& hf : kBoolFields) {
    if (const FieldDescriptor* f = field(hf.name); f != nullptr) {
      r->SetBool(out, f, options.hyper.*hf.member);
    }
  }
  if (options.max_grad_norm > 0) {
    r->SetDouble(out, field("max_grad_norm"), options.max_grad_norm);
  }
  WriteSchedule(
      options.schedule,
      static_cast<v1::LrSchedule*>(r->MutableMessage(out, field("schedule"))));
  r->SetEnumValue(out, field("dtype"),
                  options.dtype == ScalarType::kFloat32
                      ? v1::STATE_DTYPE_FLOAT32
                      : v1::STATE_DTYPE_FLOAT64);
  r->SetInt64(out, field("max_steps"), options.max_steps);
  for (const AdamGroup& group : options.groups) {
    auto* g = static_cast<v1::AdamGroup*>(r->AddMessage(out, field("groups")));
    g->set_begin(group.begin);
    g->set_end(group.end);
    if (group.lr.has_value()) g->set_lr(*group.lr);
    if (group.beta1.has_value()) g->set_beta1(*group.beta1);
    if (group.beta2.has_value()) g->set_beta2(*group.beta2);
    if (group.eps.has_value()) g->set_eps(*group.eps);
    if (group.weight_decay.has_value()) {
      g->set_weight_decay(*group.weight_decay);
    }
  }
}

}  // namespace optd::server
