// Adafactor's options (solvers/adafactor/adafactor_options.h) on the wire:
// AdafactorOptions in options.proto, and the model's parameter shapes, which
// CreateSessionRequest.layers gives and Session.layers echoes.
//
//   OPTD_ASSIGN_OR_RETURN(AdafactorOptions options,
//                         AdafactorOptionsFromProto(request.adafactor(),
//                                                   request.layers()));
//
// Thread-safety: pure functions.
#ifndef OPTD_SERVER_SESSION_ADAFACTOR_CODEC_H_
#define OPTD_SERVER_SESSION_ADAFACTOR_CODEC_H_

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "optd/v1/options.pb.h"
#include "solvers/adafactor/adafactor_options.h"

namespace optd::server {

// Unset fields take transformers' defaults. INVALID_ARGUMENT naming the field
// ("adafactor.eps1", "adafactor.dtype") for a value out of range or a
// combination transformers refuses (AdafactorOptions::Validate); the layers'
// sizes are checked against the dimension later (ValidateLayers).
absl::StatusOr<AdafactorOptions> AdafactorOptionsFromProto(
    const v1::AdafactorOptions& proto,
    const google::protobuf::RepeatedPtrField<v1::Layer>& layers);

// Every field set, defaults resolved (lr and beta1 only when set); the
// layers are written by AdafactorLayersToProto.
v1::AdafactorOptions AdafactorOptionsToProto(const AdafactorOptions& options);
void AdafactorLayersToProto(const AdafactorOptions& options,
                            google::protobuf::RepeatedPtrField<v1::Layer>* out);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_ADAFACTOR_CODEC_H_
