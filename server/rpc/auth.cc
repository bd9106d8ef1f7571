#include "server/rpc/auth.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace optd::server {
namespace {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 512;

bool IsTokenChar(char c) { return c > ' ' && c <= '~'; }

}  // namespace

std::string Caller::Scope(absl::string_view visible) const {
  return ScopedSessionId(tenant, visible);
}

std::string Caller::ScopePrefix() const { return TenantScope(tenant); }

std::string Caller::Unscope(absl::string_view stored) const {
  if (!tenant.empty()) absl::ConsumePrefix(&stored, ScopePrefix());
  return std::string(stored);
}

absl::Status Caller::Unscope(const absl::Status& status) const {
  if (status.ok() || tenant.empty()) return status;
  // Messages quote session ids: "session \"alice.exp1\" not found".
  const std::string scoped = absl::StrCat("\"", ScopePrefix());
  if (!absl::StrContains(status.message(), scoped)) return status;
  return absl::Status(status.code(),
                      absl::StrReplaceAll(status.message(), {{scoped, "\""}}));
}

absl::StatusOr<TokenTable> ParseTokens(absl::string_view text,
                                       absl::string_view path) {
  TokenTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    const std::string where = absl::StrCat(path, ":", line_number);
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected \"<token> <tenant>\", found ",
                       fields.size(), " fields"));
    }
    const absl::string_view token = fields[0];
    const absl::string_view tenant = fields[1];
    bool token_ok =
        token.size() >= kMinTokenLength && token.size() <= kMaxTokenLength;
    for (char c : token) token_ok = token_ok && IsTokenChar(c);
    if (!token_ok) {
      // The token itself is a secret: never echo it.
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the token has ", token.size(), " characters; use ",
          kMinTokenLength, "-", kMaxTokenLength,
          " printable ASCII characters without spaces"));
    }
    if (absl::Status s = ValidateTenantName(tenant); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
    }
    if (!table.tenants.emplace(token, tenant).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          where,
          ": this token is already given on an earlier line; every "
          "token names one tenant"));
    }
    if (tenant == kReplicaTenant && table.replica_token.empty()) {
      table.replica_token = std::string(token);
    }
  }
  return table;
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(
    std::string tokens_file) {
  std::unique_ptr<Authenticator> auth(
      new Authenticator(std::move(tokens_file)));
  if (auth->enabled()) {
    if (absl::Status s = auth->Load(); !s.ok()) return s;
  }
  return auth;
}

absl::Status Authenticator::Load() {
  std::ifstream in(tokens_file_, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string message = absl::StrCat(
        "cannot read --tokens_file=", tokens_file_, ": ", std::strerror(error));
    return error == ENOENT   ? absl::NotFoundError(message)
           : error == EACCES ? absl::PermissionDeniedError(message)
                             : absl::UnavailableError(message);
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<TokenTable> table = ParseTokens(text.str(), tokens_file_);
  if (!table.ok()) return table.status();
  absl::MutexLock lock(&mu_);
  table_ = *std::move(table);
  return absl::OkStatus();
}

absl::Status Authenticator::Reload() {
  if (!enabled()) return absl::OkStatus();
  return Load();
}

absl::StatusOr<Caller> Authenticator::Authenticate(
    const grpc::ServerContextBase& context) const {
  if (!enabled()) return Caller{};
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return AuthenticateBearer(nullptr, "metadata");
  absl::string_view value(it->second.data(), it->second.size());
  return AuthenticateBearer(&value, "metadata");
}

absl::StatusOr<Caller> Authenticator::AuthenticateBearer(
    absl::string_view* authorization, absl::string_view carrier) const {
  if (!enabled()) return Caller{};
  if (authorization == nullptr) {
    return absl::UnauthenticatedError(absl::StrCat(
        "this server requires a bearer token: send the ", carrier,
        " \"authorization: Bearer <token>\" with a token of --tokens_file"));
  }
  const absl::string_view value = *authorization;
  // RFC 6750 §2.1: the scheme is case-insensitive.
  if (value.size() < 7 ||
      !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the authorization ", carrier, " is not \"Bearer <token>\""));
  }
  const absl::string_view token = absl::StripAsciiWhitespace(value.substr(7));
  absl::MutexLock lock(&mu_);
  auto found = table_.tenants.find(token);
  if (found == table_.tenants.end()) {
    return absl::UnauthenticatedError(
        "the bearer token is not valid here (unknown, or revoked)");
  }
  return Caller{found->second};
}

absl::StatusOr<Caller> Authenticator::RefuseReplica(
    absl::StatusOr<Caller> caller, absl::string_view api) {
  if (caller.ok() && caller->replica()) {
    return absl::PermissionDeniedError(
        absl::StrCat("the replicas' token (tenant @replicas) cannot call ", api,
                     "; use a tenant's token"));
  }
  return caller;
}

absl::StatusOr<Caller> Authenticator::AuthenticateTenant(
    const grpc::ServerContextBase& context) const {
  return RefuseReplica(Authenticate(context), "optd.v1.Optimizer");
}

absl::StatusOr<Caller> Authenticator::AuthenticateHttpTenant(
    const std::string* authorization) const {
  if (authorization == nullptr) {
    return RefuseReplica(AuthenticateBearer(nullptr, "header"), "the JSON API");
  }
  absl::string_view value = *authorization;
  return RefuseReplica(AuthenticateBearer(&value, "header"), "the JSON API");
}

absl::StatusOr<Caller> Authenticator::AuthenticateReplica(
    const grpc::ServerContextBase& context) const {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (caller.ok() && enabled() && !caller->replica()) {
    return absl::PermissionDeniedError(
        "optd.v1.Shard is for other replicas only; it needs the token of "
        "tenant @replicas");
  }
  return caller;
}

std::string Authenticator::ReplicaToken() const {
  absl::MutexLock lock(&mu_);
  return table_.replica_token;
}

size_t Authenticator::size() const {
  absl::MutexLock lock(&mu_);
  return table_.tenants.size();
}

}  // namespace optd::server
