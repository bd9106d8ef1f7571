// Authentication and tenants: who makes a call, and which sessions are theirs.
//
// With --tokens_file, every call to optd.v1.Optimizer and optd.v1.Shard must
// carry the metadata "authorization: Bearer <token>". The file maps tokens to
// tenants, one "<token> <tenant>" per line (blank lines and # comments
// allowed):
//
//   # optd tokens (reloaded on SIGHUP)
//   c2f9e0d4a1b7c3e5f8a2   alice
//   9b8e7d6c5f4a3b2c1d0e   bob
//   0f1e2d3c4b5a69788796   @replicas
//
// A token is 16-512 characters of printable ASCII without spaces; a tenant 1-32
// characters of [a-z0-9-] starting with a letter or digit. The reserved tenant
// "@replicas" is the replicas' own credential: only it may call the internal
// optd.v1.Shard service, and each replica sends the first such token on its
// calls to the others. Without --tokens_file authentication is off: every
// caller is the anonymous tenant "", which sees every session.
//
// Tenants are namespaces (their names and stored ids: server/session/tenant.h).
// A session created by tenant alice under the id "exp1" is stored as
// "alice.exp1"; alice names it "exp1" in every call and
// answer, and another tenant asking for "exp1" reaches its own "bob.exp1",
// which does not exist: NOT_FOUND, and no way to learn that alice's exists.
//
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Authenticator> auth,
//                         Authenticator::Create("/etc/optd/tokens"));
//   OPTD_ASSIGN_OR_RETURN(Caller caller, auth->Authenticate(*context));
//   sessions->Find(caller.Scope(request->session_id()));
//
// Thread-safety: thread-safe; Reload() may run while calls authenticate.
#ifndef OPTD_SERVER_RPC_AUTH_H_
#define OPTD_SERVER_RPC_AUTH_H_

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/session/tenant.h"

namespace optd::server {

// Caller: the authenticated identity of one call.
struct Caller {
  // "" when authentication is off (every session is visible), kReplicaTenant
  // for another replica, else the tenant's name.
  std::string tenant;

  bool replica() const { return tenant == kReplicaTenant; }

  // Caller::Scope()
  //
  // The stored id of the caller's session `visible`: "<tenant>.<visible>", or
  // `visible` itself when authentication is off.
  std::string Scope(absl::string_view visible) const;

  // Caller::Unscope()
  //
  // The caller's name for the stored id `stored` (its tenant prefix removed).
  // An id without the prefix is returned as is.
  std::string Unscope(absl::string_view stored) const;

  // Caller::ScopePrefix()
  //
  // What every stored id of the caller's sessions starts with ("" when
  // authentication is off).
  std::string ScopePrefix() const;

  // Caller::Unscope(absl::Status)
  //
  // `status` with the caller's stored ids in its message written as the
  // caller names them.
  absl::Status Unscope(const absl::Status& status) const;
};

// TokenTable: a parsed tokens file.
struct TokenTable {
  // token -> tenant.
  absl::flat_hash_map<std::string, std::string> tenants;
  // The first "@replicas" token, or empty.
  std::string replica_token;
};

// ParseTokens()
//
// The table of a tokens file's `text`; INVALID_ARGUMENT naming `path`, the
// line and what is wrong (a malformed token or tenant, a token given twice, a
// line without exactly two fields).
absl::StatusOr<TokenTable> ParseTokens(absl::string_view text,
                                       absl::string_view path);

class Authenticator {
 public:
  // Authenticator::Create()
  //
  // Reads `tokens_file`; empty turns authentication off. INVALID_ARGUMENT for
  // a malformed file, NOT_FOUND/PERMISSION_DENIED when it cannot be read.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(
      std::string tokens_file);

  // Authenticator::Reload()
  //
  // Reads the tokens file again (SIGHUP): added tokens work and removed ones
  // are refused from the next call on. On error the old table stays in force
  // and the error is returned. OK and nothing done when authentication is off.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);

  bool enabled() const { return !tokens_file_.empty(); }
  const std::string& tokens_file() const { return tokens_file_; }

  // Authenticator::Authenticate()
  //
  // The caller of a call, from its "authorization: Bearer <token>" metadata.
  // UNAUTHENTICATED, saying which, when the header is missing or malformed or
  // the token is unknown (wrong or revoked).
  absl::StatusOr<Caller> Authenticate(
      const grpc::ServerContextBase& context) const ABSL_LOCKS_EXCLUDED(mu_);

  // Authenticator::AuthenticateTenant(), Authenticator::AuthenticateReplica()
  //
  // Authenticate(), and PERMISSION_DENIED when the caller is a replica
  // (Optimizer service) or not one (Shard service).
  absl::StatusOr<Caller> AuthenticateTenant(
      const grpc::ServerContextBase& context) const;
  absl::StatusOr<Caller> AuthenticateReplica(
      const grpc::ServerContextBase& context) const;

  // Authenticator::AuthenticateHttpTenant()
  //
  // AuthenticateTenant() for an HTTP request (the JSON API,
  // server/http/json_api.h): `authorization` is its "Authorization" header,
  // null when it has none.
  absl::StatusOr<Caller> AuthenticateHttpTenant(
      const std::string* authorization) const ABSL_LOCKS_EXCLUDED(mu_);

  // Authenticator::ReplicaToken()
  //
  // The token this replica sends to the others: the first "@replicas" token
  // of the file; empty when there is none (or authentication is off).
  std::string ReplicaToken() const ABSL_LOCKS_EXCLUDED(mu_);

  // Number of tokens in force.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit Authenticator(std::string tokens_file)
      : tokens_file_(std::move(tokens_file)) {}
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);
  // The caller whose "Bearer <token>" is `authorization` (null: absent);
  // `carrier` names where it travels in the messages ("metadata" for gRPC,
  // "header" for HTTP).
  absl::StatusOr<Caller> AuthenticateBearer(absl::string_view* authorization,
                                            absl::string_view carrier) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // PERMISSION_DENIED for the replicas' token on the tenants' API.
  static absl::StatusOr<Caller> RefuseReplica(absl::StatusOr<Caller> caller,
                                              absl::string_view api);

  const std::string tokens_file_;
  mutable absl::Mutex mu_;
  TokenTable table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace optd::server

#endif  // OPTD_SERVER_RPC_AUTH_H_
