// Tenants: their names, and how a tenant's sessions are named in storage.
//
// Tenants are namespaces (the callers that rpc/auth.h authenticates). A session
// that tenant alice calls "exp1" is stored, journaled and registered as
// "alice.exp1"; the anonymous tenant "" of a server without authentication
// stores "exp1" as is. The replicas' own credential is the reserved tenant
// kReplicaTenant, which holds no sessions.
//
//   OPTD_RETURN_IF_ERROR(ValidateTenantName(tenant));
//   sessions->Find(ScopedSessionId(tenant, "exp1"));   // "alice.exp1"
//   sessions->List(request, &response, TenantScope(tenant));
//
// Thread-safety: functions of their arguments only.
#ifndef OPTD_SERVER_SESSION_TENANT_H_
#define OPTD_SERVER_SESSION_TENANT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace optd::server {

// The tenant name of the replicas' credential.
inline constexpr char kReplicaTenant[] = "@replicas";

// ValidateTenantName()
//
// 1-32 characters of [a-z0-9-], starting with a letter or digit, or
// kReplicaTenant. INVALID_ARGUMENT otherwise.
absl::Status ValidateTenantName(absl::string_view tenant);

// TenantScope()
//
// What every stored id of `tenant`'s sessions starts with: "<tenant>.", or
// "" for the anonymous tenant "".
std::string TenantScope(absl::string_view tenant);

// ScopedSessionId()
//
// The stored id of `tenant`'s session `visible`: "<tenant>.<visible>", or
// `visible` itself for the anonymous tenant "".
std::string ScopedSessionId(absl::string_view tenant,
                            absl::string_view visible);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_TENANT_H_
