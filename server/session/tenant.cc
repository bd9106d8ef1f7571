#include "server/session/tenant.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace optd::server {
namespace {

constexpr size_t kMaxTenantLength = 32;

}  // namespace

absl::Status ValidateTenantName(absl::string_view tenant) {
  if (tenant == kReplicaTenant) return absl::OkStatus();
  bool ok =
      !tenant.empty() && tenant.size() <= kMaxTenantLength && tenant[0] != '-';
  for (char c : tenant) {
    ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tenant \"", absl::CHexEscape(tenant),
        "\" is not valid; use 1-32 characters of [a-z0-9-] starting with a "
        "letter or digit, or ",
        kReplicaTenant, " for the replicas' token"));
  }
  return absl::OkStatus();
}

std::string TenantScope(absl::string_view tenant) {
  return tenant.empty() ? std::string() : absl::StrCat(tenant, ".");
}

std::string ScopedSessionId(absl::string_view tenant,
                            absl::string_view visible) {
  if (tenant.empty()) return std::string(visible);
  return absl::StrCat(tenant, ".", visible);
}

}  // namespace optd::server
