"""Refused requests raise optd.OptdError subclasses carrying the gRPC code
and the server's message, and change nothing."""

import math
import socket
import unittest

import grpc
import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import ServerTestCase

X0 = np.array([-1.2, 1.0])


def rosen(x):
    a, b = 1.0 - x[0], x[1] - x[0] * x[0]
    return a * a + 100.0 * b * b, np.array([-2.0 * a - 400.0 * x[0] * b,
                                            200.0 * b])


class ErrorsTest(ServerTestCase):

    def assertRefused(self, error_class, code, *fragments):
        """A context manager: the block raises error_class with `code` and a
        message containing every fragment."""
        test = self

        class Check:
            def __enter__(self):
                self.cm = test.assertRaises(error_class)
                self.cm.__enter__()
                return self.cm

            def __exit__(self, *exc):
                suppressed = self.cm.__exit__(*exc)
                error = self.cm.exception
                test.assertIsInstance(error, optd.OptdError)
                test.assertEqual(error.code, code)
                for fragment in fragments:
                    test.assertIn(fragment, error.message)
                test.assertTrue(str(error).startswith(code.name + ": "))
                return suppressed

        return Check()

    # -- bad options ----------------------------------------------------------

    def test_bad_lbfgs_option_names_the_field(self):
        before = len(list(self.client.list_sessions()))
        with self.assertRefused(optd.InvalidArgument,
                                grpc.StatusCode.INVALID_ARGUMENT, "memory"):
            self.client.create_session(X0, "lbfgs", {"memory": 0})
        self.assertEqual(len(list(self.client.list_sessions())), before)

    def test_bad_adam_option_names_the_field(self):
        with self.assertRefused(optd.InvalidArgument,
                                grpc.StatusCode.INVALID_ARGUMENT, "lr"):
            self.client.create_session(X0, "adamw", {"lr": -1.0})
        with self.assertRefused(optd.InvalidArgument,
                                grpc.StatusCode.INVALID_ARGUMENT, "beta1"):
            self.client.create_session(X0, "adam", {"betas": (1.5, 0.9)})

    def test_bad_options_on_the_stream(self):
        with self.assertRefused(optd.InvalidArgument,
                                grpc.StatusCode.INVALID_ARGUMENT, "gtol"):
            self.client.optimize(X0, "lbfgs", {"gtol": -1.0})

    def test_unknown_option_and_solver_are_refused_before_sending(self):
        with self.assertRefused(optd.InvalidArgument,
                                grpc.StatusCode.INVALID_ARGUMENT,
                                "lbfgs.memroy", "memory"):
            self.client.create_session(X0, "lbfgs", {"memroy": 3})
        with self.assertRefused(optd.InvalidArgument,
                                grpc.StatusCode.INVALID_ARGUMENT, "'bfgs'"):
            self.client.create_session(X0, "bfgs")

    def test_bad_x0(self):
        with self.assertRefused(optd.InvalidArgument,
                                grpc.StatusCode.INVALID_ARGUMENT, "x0"):
            self.client.create_session([1.0, math.nan], "lbfgs")
        with self.assertRefused(optd.InvalidArgument,
                                grpc.StatusCode.INVALID_ARGUMENT, "x0"):
            self.client.create_session([], "lbfgs")

    def test_id_in_use_and_bad_id(self):
        with self.client.create_session(X0, "lbfgs", session_id="py-dup"):
            with self.assertRefused(optd.AlreadyExists,
                                    grpc.StatusCode.ALREADY_EXISTS, "py-dup"):
                self.client.create_session(X0, "lbfgs", session_id="py-dup")
        with self.assertRefused(optd.InvalidArgument,
                                grpc.StatusCode.INVALID_ARGUMENT,
                                "session_id"):
            self.client.create_session(X0, "lbfgs", session_id="Bad Id!")

    # -- bad tells ------------------------------------------------------------

    def test_wrong_gradient_length(self):
        with self.client.create_session(X0, "lbfgs",
                                        session_id="py-len") as session:
            with self.assertRefused(
                    optd.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT,
                    'gradient has 3 elements; session "py-len" has '
                    'dimension 2'):
                session.tell(1, 1.0, [1.0, 2.0, 3.0])
            self.assertEqual(session.ask().trial_id, 1)  # unchanged
            self.assertEqual(session.info().evaluations, 0)

    def test_nan_gradient_names_the_index(self):
        with self.client.create_session(X0, "lbfgs") as session:
            with self.assertRefused(optd.InvalidArgument,
                                    grpc.StatusCode.INVALID_ARGUMENT,
                                    "gradient[1] is nan"):
                session.tell(1, 1.0, [0.5, math.nan])
            with self.assertRefused(optd.InvalidArgument,
                                    grpc.StatusCode.INVALID_ARGUMENT,
                                    "gradient"):
                session.tell(1, 1.0, [math.inf, 0.0])
            self.assertEqual(session.info().evaluations, 0)
            # The refused tells left nothing behind: the real one applies.
            self.assertFalse(session.tell(1, *rosen(X0)).duplicate)

    def test_missing_value_or_gradient(self):
        with self.client.create_session(X0, "lbfgs") as session:
            with self.assertRefused(optd.InvalidArgument,
                                    grpc.StatusCode.INVALID_ARGUMENT, "value"):
                session.tell(1, gradient=[1.0, 1.0])
            with self.assertRefused(optd.InvalidArgument,
                                    grpc.StatusCode.INVALID_ARGUMENT,
                                    "gradient"):
                session.tell(1, 1.0)

    def test_stale_and_unissued_trials(self):
        with self.client.create_session(X0, "lbfgs") as session:
            f, g = rosen(X0)
            session.tell(1, f, g)
            with self.assertRefused(optd.FailedPrecondition,
                                    grpc.StatusCode.FAILED_PRECONDITION,
                                    "trial 1", "different payload"):
                session.tell(1, f + 1.0, g)
            with self.assertRefused(optd.FailedPrecondition,
                                    grpc.StatusCode.FAILED_PRECONDITION,
                                    "trial 7", "never issued"):
                session.tell(7, f, g)
            with self.assertRefused(optd.InvalidArgument,
                                    grpc.StatusCode.INVALID_ARGUMENT,
                                    "trial_id is 0"):
                session.tell(0, f, g)
            self.assertEqual(session.ask().trial_id, 2)

    def test_tell_after_the_session_finished(self):
        with self.client.create_session(X0, "lbfgs",
                                        session_id="py-done") as session:
            session.stop()
            with self.assertRefused(optd.FailedPrecondition,
                                    grpc.StatusCode.FAILED_PRECONDITION,
                                    '"py-done" has already finished'):
                session.tell(1, *rosen(X0))

    def test_stream_refusals_raise_and_keep_the_stream(self):
        with self.client.optimize(X0, "lbfgs") as session:
            trial = session.pending[0]
            with self.assertRefused(optd.InvalidArgument,
                                    grpc.StatusCode.INVALID_ARGUMENT,
                                    "gradient"):
                trial.tell(1.0, [math.nan, 0.0])
            with self.assertRefused(optd.FailedPrecondition,
                                    grpc.StatusCode.FAILED_PRECONDITION,
                                    "never issued"):
                session._tell_on_stream(9, 1.0, [0.0, 0.0])
            self.assertEqual(trial.tell(*rosen(trial.x)).trial.trial_id, 2)

    # -- unknown sessions -----------------------------------------------------

    def test_unknown_session_everywhere(self):
        calls = {
            "get": lambda: self.client.get_session("py-nope"),
            "delete": lambda: self.client.delete_session("py-nope"),
            "handle": lambda: self.client.session("py-nope"),
        }
        for name, call in calls.items():
            with self.subTest(name), self.assertRefused(
                    optd.NotFound, grpc.StatusCode.NOT_FOUND, "py-nope"):
                call()
        with self.client.create_session(X0, "lbfgs") as session:
            session.delete()
            for name, call in {"ask": session.ask,
                               "tell": lambda: session.tell(1, 1.0, X0),
                               "stream": lambda: list(session.trials())
                               }.items():
                with self.subTest(name), self.assertRefused(
                        optd.NotFound, grpc.StatusCode.NOT_FOUND,
                        session.session_id):
                    call()

    def test_errors_are_builtin_exceptions_too(self):
        self.assertTrue(issubclass(optd.InvalidArgument, ValueError))
        self.assertTrue(issubclass(optd.NotFound, LookupError))
        self.assertTrue(issubclass(optd.Unavailable, ConnectionError))
        self.assertTrue(issubclass(optd.DeadlineExceeded, TimeoutError))
        with self.assertRaises(LookupError):
            self.client.get_session("py-nope")


class LimitsTest(ServerTestCase):

    server_flags = ("--max_sessions=2", "--max_dimension=10")

    def test_limits_are_resource_exhausted(self):
        with self.assertRaises(optd.ResourceExhausted) as caught:
            self.client.create_session(np.zeros(11), "lbfgs")
        self.assertEqual(caught.exception.code,
                         grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("10", caught.exception.message)
        with self.client.create_session(X0, "lbfgs"), \
                self.client.create_session(X0, "lbfgs"):
            with self.assertRaises(optd.ResourceExhausted) as caught:
                self.client.create_session(X0, "lbfgs")
            self.assertIn("2", caught.exception.message)


class UnavailableTest(unittest.TestCase):

    def test_connect_to_nothing_is_unavailable(self):
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with self.assertRaises(optd.Unavailable) as caught:
            optd.connect(f"127.0.0.1:{port}", connect_timeout=0.5)
        self.assertIn(f"127.0.0.1:{port}", caught.exception.message)
        lazy = optd.connect(f"127.0.0.1:{port}", connect_timeout=None,
                            timeout=5)
        with self.assertRaises(optd.Unavailable) as caught:
            lazy.health()
        self.assertEqual(caught.exception.code, grpc.StatusCode.UNAVAILABLE)
        lazy.close()

    def test_error_from_code_number(self):
        error = optd.errors.error_for_code(9, "stale")
        self.assertIsInstance(error, optd.FailedPrecondition)
        self.assertEqual(error.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(str(error), "FAILED_PRECONDITION: stale")


if __name__ == "__main__":
    unittest.main()
