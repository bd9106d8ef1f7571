// Session ids: what a client may name a session, what the server stores
// (a tenant's sessions are "<tenant>.<id>", tenant.h), and random new ones.
#ifndef OPTD_SERVER_SESSION_SESSION_ID_H_
#define OPTD_SERVER_SESSION_SESSION_ID_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace optd::server {

// ValidateSessionId()
//
// 1-63 characters of [a-z0-9-], starting with a letter or digit; else
// INVALID_ARGUMENT naming `field`.
absl::Status ValidateSessionId(absl::string_view id, absl::string_view field);

// ValidateStoredSessionId()
//
// A session id as the server stores it: a valid session id, or a tenant's
// "<tenant>.<id>" (tenant.h). INVALID_ARGUMENT naming `field` otherwise.
absl::Status ValidateStoredSessionId(absl::string_view id,
                                     absl::string_view field);

// NewSessionId()
//
// A random session id: 32 hexadecimal digits (128 bits) from the operating
// system's cryptographic random source (getrandom(2)), so that ids cannot be
// guessed.
std::string NewSessionId();

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SESSION_ID_H_
