#include "server/session/session_id.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/session/tenant.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

constexpr size_t kMaxIdLength = 63;

bool IsIdChar(char c) {
  return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
}

}  // namespace

absl::Status ValidateSessionId(absl::string_view id, absl::string_view field) {
  bool ok = !id.empty() && id.size() <= kMaxIdLength && id[0] != '-';
  for (char c : id) ok = ok && IsIdChar(c);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " \"", absl::CHexEscape(id),
                     "\" is not a valid session id; use 1-63 characters of "
                     "[a-z0-9-] starting "
                     "with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidateStoredSessionId(absl::string_view id,
                                     absl::string_view field) {
  const size_t dot = id.find('.');
  if (dot == absl::string_view::npos) return ValidateSessionId(id, field);
  const absl::string_view tenant = id.substr(0, dot);
  if (!ValidateTenantName(tenant).ok() || tenant == kReplicaTenant) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " \"", absl::CHexEscape(id),
                     "\" is not a valid stored session id: \"",
                     absl::CHexEscape(tenant), "\" is not a tenant name"));
  }
  return ValidateSessionId(id.substr(dot + 1), field);
}

std::string NewSessionId() {
  uint64_t words[2];
  size_t filled = 0;
  while (filled < sizeof(words)) {
    const ssize_t got = getrandom(reinterpret_cast<char*>(words) + filled,
                                  sizeof(words) - filled, 0);
    if (got > 0) {
      filled += static_cast<size_t>(got);
    } else if (errno != EINTR) {
      // getrandom cannot fail after boot with flags 0 on Linux >= 3.17.
      spdlog::critical("getrandom failed: {}", std::strerror(errno));
      std::abort();
    }
  }
  return absl::StrFormat("%016x%016x", words[0], words[1]);
}

}  // namespace optd::server
