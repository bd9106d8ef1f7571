// `optctl switch ID`: session ID goes on under another solver with the same
// id (optimizer.proto SwitchSolver, docs/api.md "Switch"), --options in
// protobuf text format for the new solver's options.
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/optctl/commands.h"
#include "google/protobuf/text_format.h"

namespace optd::client::optctl {

absl::Status Switch(const Client& client, const std::string& id) {
  v1::SwitchSolverRequest request;
  request.set_session_id(id);
  const std::string solver = absl::GetFlag(FLAGS_solver);
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName(solver);
  if (field == nullptr || field->containing_oneof() == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--solver is \"", solver, "\"; switch takes lbfgs or trust_region"));
  }
  google::protobuf::Message* options =
      request.GetReflection()->MutableMessage(&request, field);
  const std::string text = absl::GetFlag(FLAGS_options);
  if (!google::protobuf::TextFormat::ParseFromString(text, options)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--options=", text, " is not ", options->GetTypeName(),
                     " in protobuf text format (e.g. 'memory: 5')"));
  }
  absl::StatusOr<v1::SwitchSolverResponse> switched =
      client.SwitchSolver(request);
  if (!switched.ok()) return switched.status();
  std::cout << "switched " << switched->session_id() << " to " << solver
            << " after step " << switched->step() << " (" << switched->pairs()
            << " curvature pairs carried)";
  if (switched->trials_size() > 0) {
    std::cout << "; outstanding trial " << switched->trials(0).trial_id();
  }
  std::cout << "\n";
  return absl::OkStatus();
}

}  // namespace optd::client::optctl
