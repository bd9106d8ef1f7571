// The options of the elementwise first-order family (adam, adamw, sgd,
// rmsprop, adagrad, adamax, nadam, radam, lion: solvers/adam/adam.h) on the
// wire. Each method has its own message in options.proto (AdamOptions for
// adam and adamw, SgdOptions, ...), and each message holds a subset of one
// set of field names: lr, weight_decay, max_grad_norm, schedule, dtype,
// max_steps, groups, maximize, beta1, beta2, eps, amsgrad, momentum,
// dampening, nesterov, alpha, centered, lr_decay, initial_accumulator_value,
// momentum_decay. One reflective codec reads and writes all of them, so a
// field means the same in every message that has it, and a method gets
// exactly the fields its message declares.
//
// The field of CreateSessionRequest.solver and of Session.options that holds
// a method's options is named as the method (AdamOptions::name()).
//
// Thread-safety: pure functions.
#ifndef OPTD_SERVER_SESSION_FIRST_ORDER_CODEC_H_
#define OPTD_SERVER_SESSION_FIRST_ORDER_CODEC_H_

#include <optional>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "solvers/adam/adam.h"

namespace optd::server {

// The method `field_name` ("sgd", "adamw", ...) names, with AdamW's
// decoupled weight decay for "adamw"; nullopt for a name outside the family.
std::optional<AdamOptions> FirstOrderDefaults(absl::string_view field_name);

// FirstOrderOptionsFromProto()
//
// `proto` (the message of CreateSessionRequest's field `field_name`) over
// that method's defaults (AdamOptions::For; torch's). INVALID_ARGUMENT naming
// the field ("rmsprop.alpha", "sgd.groups[1].beta1") when a value is out of
// its documented range, when SGD's lr is unset (torch requires one), or when
// a group sets a hyperparameter the method does not have.
absl::StatusOr<AdamOptions> FirstOrderOptionsFromProto(
    const google::protobuf::Message& proto, absl::string_view field_name);

// Every field `out`'s message declares, set from `options`, so a client sees
// what the session runs with. `out` is cleared first.
void FirstOrderOptionsToProto(const AdamOptions& options,
                              google::protobuf::Message* out);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_FIRST_ORDER_CODEC_H_
