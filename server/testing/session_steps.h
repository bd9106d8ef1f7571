// Steps of a session driven in-process, as the service drives it, for the
// storage tests: the Rosenbrock tell of the outstanding trial, and a tell
// whose answer waits until it is durable (DurableTicket), as a client's does.
//
//   v1::TellResponse answer;
//   EXPECT_OK(TellDurably(*session, NextRosenbrockTell(*session), &answer));
//
// Thread-safety: the functions are thread-compatible (Session's own locks).
#ifndef OPTD_SERVER_TESTING_SESSION_STEPS_H_
#define OPTD_SERVER_TESTING_SESSION_STEPS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "optd/v1/optimizer.pb.h"
#include "server/session/session.h"
#include "server/testing/rosenbrock.h"

namespace optd::server::testing {

// The Rosenbrock tell (value and gradient) for the one outstanding trial of
// `session`.
inline v1::TellRequest NextRosenbrockTell(Session& session) {
  v1::AskResponse ask;
  const absl::Status asked = session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask);
  EXPECT_TRUE(asked.ok()) << asked;
  EXPECT_EQ(ask.trials_size(), 1);
  v1::TellRequest tell;
  tell.set_session_id(session.id());
  if (ask.trials_size() == 0) return tell;
  std::vector<double> g;
  const double f = Rosenbrock(ToDoubles(ask.trials(0).x()), &g);
  tell.set_trial_id(ask.trials(0).trial_id());
  tell.set_value(f);
  *tell.mutable_gradient() = Values(g);
  return tell;
}

// Tells `tell` and waits until the answer may leave (durable), as the
// service does: the tell's own status if refused, else the durability's.
inline absl::Status TellDurably(Session& session, const v1::TellRequest& tell,
                                v1::TellResponse* answer) {
  DurableTicket ticket;
  absl::Status status = session.Tell(tell, answer, &ticket);
  if (!status.ok()) return status;
  absl::Notification done;
  ticket.WhenDurable([&](absl::Status durable) {
    status = std::move(durable);
    done.Notify();
  });
  done.WaitForNotification();
  return status;
}

}  // namespace optd::server::testing

#endif  // OPTD_SERVER_TESTING_SESSION_STEPS_H_
