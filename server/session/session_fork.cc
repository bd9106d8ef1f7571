// SessionManager::Fork (session_manager.h): a new session from a durable step
// of an existing one. The source is exported as ExportSession would (its
// journal synced, so every step it holds is durable), cut after `step` tells,
// and imported under the new id: replay makes the fork's state at that step
// bitwise the source's. Changed solver options need a state that stands
// alone, since replaying the source's tells under other options would give
// another state: the cut snapshot is replayed once under the source's own
// options, saved as a checkpoint, and that checkpoint restored under the new
// ones. Another solver's options make the fork a solver switch into the
// new id (session_switch.cc).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "server/codec/vectors.h"
#include "server/session/first_order_codec.h"
#include "server/session/session_factory.h"
#include "server/session/session_manager.h"
#include "server/session/solver_factory.h"
#include "server/session/solver_revision.h"
#include "server/session/warm_start.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// ForkSessionRequest.overrides' fields beside the solver's options.
constexpr const char* kOverridable[] = {"labels", "ttl_seconds",
                                        "lease_seconds"};

bool IsSolverField(const FieldDescriptor* field) {
  return field->containing_oneof() != nullptr &&
         field->containing_oneof()->name() == "solver";
}

// INVALID_ARGUMENT naming the first field of `overrides` a fork cannot set.
absl::Status CheckOverrideFields(const v1::CreateSessionRequest& overrides) {
  std::vector<const FieldDescriptor*> fields;
  overrides.GetReflection()->ListFields(overrides, &fields);
  for (const FieldDescriptor* field : fields) {
    if (IsSolverField(field)) continue;
    bool allowed = false;
    for (const char* name : kOverridable) allowed |= field->name() == name;
    if (!allowed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "overrides.", field->name(),
          " cannot change in a fork; overrides may set only the solver's "
          "options (as the source's solver field), ",
          absl::StrJoin(kOverridable, ", ")));
    }
  }
  return absl::OkStatus();
}

// Replaces, in `to`, each field `from` sets (a repeated or message field
// whole); `to`'s other fields stay. Both are of one type.
void ReplaceSetFields(const Message& from, Message* to) {
  std::vector<const FieldDescriptor*> fields;
  from.GetReflection()->ListFields(from, &fields);
  if (fields.empty()) return;
  std::unique_ptr<Message> copy(from.New());
  copy->CopyFrom(from);
  to->GetReflection()->SwapFields(copy.get(), to, fields);
}

}  // namespace

absl::StatusOr<SessionManager::Forked> SessionManager::Fork(
    const v1::ForkSessionRequest& request) {
  if (!request.new_session_id().empty()) {
    OPTD_RETURN_IF_ERROR(
        ValidateStoredSessionId(request.new_session_id(), "new_session_id"));
  }
  if (request.shards() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shards is ", request.shards(),
                     "; it must be 0 (the source's) or a shard count >= 1"));
  }
  if (request.has_step() && request.step() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step is ", request.step(), "; it must be >= 0 (tells applied)"));
  }
  const v1::CreateSessionRequest& overrides = request.overrides();
  OPTD_RETURN_IF_ERROR(CheckOverrideFields(overrides));

  v1::SessionSnapshot snapshot;
  OPTD_RETURN_IF_ERROR(Export(request.session_id(), &snapshot));
  const int64_t first =
      snapshot.has_checkpoint() ? snapshot.checkpoint().tells() : 0;
  const int64_t last = first + snapshot.tells_size();
  const int64_t step = request.has_step() ? request.step() : last;
  if (step < first || step > last) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step is ", step, "; session \"", request.session_id(),
        "\" can fork from steps [", first, ", ", last,
        "] (its journal holds no state before its last checkpoint)"));
  }
  snapshot.mutable_tells()->DeleteSubrange(static_cast<int>(step - first),
                                           static_cast<int>(last - step));

  const bool switches =
      overrides.solver_case() != v1::CreateSessionRequest::SOLVER_NOT_SET &&
      overrides.solver_case() != snapshot.create().solver_case();
  if (switches) {
    // Another solver: the fork is a switch into the new id, from `step`
    // (session_switch.cc).
    OPTD_ASSIGN_OR_RETURN(v1::CreateSessionRequest create,
                          SwitchedCreate(snapshot, overrides));
    v1::SessionSnapshot switched;
    switched.set_format_version(1);
    switched.set_solver_revision(kSolverRevision);
    *switched.mutable_create() = std::move(create);
    snapshot = std::move(switched);
  } else if (overrides.solver_case() !=
             v1::CreateSessionRequest::SOLVER_NOT_SET) {
    OPTD_RETURN_IF_ERROR(ApplySolverOverrides(overrides, &snapshot));
  }
  v1::CreateSessionRequest* create = snapshot.mutable_create();
  if (!overrides.labels().empty())
    *create->mutable_labels() = overrides.labels();
  if (overrides.ttl_seconds() != 0) {
    create->set_ttl_seconds(overrides.ttl_seconds());
  }
  if (overrides.lease_seconds() != 0) {
    create->set_lease_seconds(overrides.lease_seconds());
  }
  absl::StatusOr<std::shared_ptr<Session>> built =
      BuildFromSnapshot(snapshot, request.new_session_id(), request.shards());
  if (absl::IsInvalidArgument(built.status()) && switches) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the fork's solver (overrides.", SolverFieldName(overrides),
        ") is refused: ", built.status().message()));
  }
  if (absl::IsInvalidArgument(built.status()) &&
      overrides.solver_case() != v1::CreateSessionRequest::SOLVER_NOT_SET) {
    // The changed options themselves, or the state under them (a layout
    // they change: dtype, amsgrad, ...).
    return absl::InvalidArgumentError(absl::StrCat(
        "the fork's options (overrides.",
        overrides.GetDescriptor()
            ->FindFieldByNumber(overrides.solver_case())
            ->name(),
        " over the source's) are refused: ", built.status().message()));
  }
  OPTD_ASSIGN_OR_RETURN(std::shared_ptr<Session> session, std::move(built));
  spdlog::info(
      "session \"{}\" forked from \"{}\" at step {}: {} n={}{}", session->id(),
      request.session_id(), step, session->solver_name(), session->dimension(),
      switches ? " into another solver"
      : overrides.solver_case() == v1::CreateSessionRequest::SOLVER_NOT_SET
          ? ""
          : " with changed options");
  return Forked{std::move(session), step};
}

absl::Status SessionManager::ApplySolverOverrides(
    const v1::CreateSessionRequest& overrides, v1::SessionSnapshot* snapshot) {
  const v1::CreateSessionRequest& source = snapshot->create();
  const FieldDescriptor* field =
      overrides.GetDescriptor()->FindFieldByNumber(overrides.solver_case());
  const FieldDescriptor* own =
      source.GetDescriptor()->FindFieldByNumber(source.solver_case());
  if (own == nullptr || field != own) {
    return absl::InvalidArgumentError(absl::StrCat(
        "overrides.", field->name(), " is another solver than the source's (",
        own == nullptr ? "none" : own->name(),
        "); a fork keeps its source's solver: set overrides.",
        own == nullptr ? "<solver>" : own->name()));
  }
  // Only the first-order family's state leaves its options out (L-BFGS,
  // trust region and least squares record theirs in their state, or replay
  // their tells under them).
  if (!FirstOrderDefaults(own->name()).has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "overrides.", own->name(), ": ", own->name(),
        " sessions fork with their own options (their state is made under "
        "them and records them); leave overrides.",
        own->name(), " unset"));
  }
  // The source's state at the step, under its own options, on one shard
  // (a sharded source's checkpoint reshards as an import does).
  v1::CreateSessionRequest replayed = source;
  replayed.set_session_id("fork-replay");
  replayed.set_shards(1);
  const int64_t n = [&] {
    absl::StatusOr<ConstVectorView> x0 = DecodeVector(source.x0(), "x0");
    return x0.ok() ? x0->size() : int64_t{0};
  }();
  {
    absl::ReaderMutexLock lock(&mu_);
    OPTD_RETURN_IF_ERROR(registry_.CheckMemoryLeft(
        source.session_id(), EstimateStateBytes(replayed, n),
        absl::StrCat("forking session \"", source.session_id(),
                     "\" with changed options replays its state once more,"),
        "delete sessions first"));
  }
  std::vector<const v1::SnapshotTell*> tells;
  OPTD_ASSIGN_OR_RETURN(
      std::shared_ptr<Session> session,
      factory_.BuildImported(replayed, *snapshot, /*incarnation=*/0, &tells));
  v1::SessionCheckpoint checkpoint;
  absl::Status portable = session->PortableCheckpoint(&checkpoint);
  OPTD_RETURN_IF_ERROR(portable);

  v1::CreateSessionRequest* create = snapshot->mutable_create();
  const google::protobuf::Reflection* reflection = create->GetReflection();
  ReplaceSetFields(overrides.GetReflection()->GetMessage(overrides, field),
                   reflection->MutableMessage(create, field));
  *snapshot->mutable_checkpoint() = std::move(checkpoint);
  snapshot->clear_tells();
  return absl::OkStatus();
}

}  // namespace optd::server
