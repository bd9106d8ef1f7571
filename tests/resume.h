// AskAfterRestart(): the client's side of a replica killed and restarted in
// the end-to-end tests. The session is attached again from a new connection;
// its direct path enabled (when `direct`) and its outstanding trials asked
// for, each call retried while it answers UNAVAILABLE (the session is being
// rebuilt, or a call met the killed process), every 100 ms up to 5 s, as a
// client would.
//
//   Session attached = Session::Attach(Connect(0), id);
//   absl::StatusOr<Answer> resumed = AskAfterRestart(attached, direct);
//
// Thread-safety: as Session.
#ifndef OPTD_TESTS_RESUME_H_
#define OPTD_TESTS_RESUME_H_

#include <functional>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/session.h"

namespace optd::testing {

// `call` until it answers other than UNAVAILABLE, or 50 tries.
template <typename Call>
auto RetryWhileUnavailable(const Call& call) -> decltype(call()) {
  auto result = call();
  for (int i = 0; i < 50; ++i) {
    absl::Status status;
    if constexpr (std::is_same_v<decltype(result), absl::Status>) {
      status = result;
    } else {
      status = result.status();
    }
    if (!absl::IsUnavailable(status)) break;
    absl::SleepFor(absl::Milliseconds(100));
    result = call();
  }
  return result;
}

// The session's outstanding trials after a restart (Ask, or AskAsWorker of
// `worker` when it is not empty).
inline absl::StatusOr<client::Answer> AskAfterRestart(
    client::Session& session, bool direct, const std::string& worker = "") {
  if (direct) {
    absl::Status enabled =
        RetryWhileUnavailable([&] { return session.EnableDirectPath(); });
    if (!enabled.ok()) return enabled;
  }
  return RetryWhileUnavailable([&]() -> absl::StatusOr<client::Answer> {
    return worker.empty() ? session.Ask() : session.AskAsWorker(worker);
  });
}

}  // namespace optd::testing

#endif  // OPTD_TESTS_RESUME_H_
