"""Every RPC of optd.v1.Optimizer (and grpc.health.v1) through the Python
client, against a real optd process."""

import unittest

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import ServerTestCase


def rosen(x):
    """Rosenbrock's (f, g) with the arithmetic of optctl's demo."""
    a = 1.0 - x[0]
    b = x[1] - x[0] * x[0]
    return a * a + 100.0 * b * b, np.array([-2.0 * a - 400.0 * x[0] * b,
                                            200.0 * b])


X0 = np.array([-1.2, 1.0])


class HealthTest(ServerTestCase):

    def test_server_is_serving(self):
        self.assertEqual(self.client.health(), "SERVING")


class CreateGetDeleteTest(ServerTestCase):

    def test_create_returns_the_first_trial_at_x0(self):
        with self.client.create_session(X0, "lbfgs") as session:
            self.assertEqual(session.dimension, 2)
            self.assertEqual(len(session.pending), 1)
            trial = session.pending[0]
            self.assertEqual(trial.trial_id, 1)
            self.assertEqual(trial.wants, optd.Wants.VALUE_AND_GRADIENT)
            self.assertEqual(trial.x.dtype, np.float64)
            np.testing.assert_array_equal(trial.x, X0)
            self.assertFalse(trial.x.flags.writeable)

    def test_requested_id_labels_and_resolved_options(self):
        with self.client.create_session(
                X0, "L-BFGS-B", {"maxcor": 5, "gtol": 1e-7},
                session_id="py-get-1", labels={"team": "py"}) as session:
            self.assertEqual(session.session_id, "py-get-1")
            info = self.client.get_session("py-get-1")
            self.assertEqual(info.solver, "lbfgs")
            self.assertEqual(info.state, optd.SessionState.RUNNING)
            self.assertEqual(info.dimension, 2)
            self.assertEqual(info.labels, {"team": "py"})
            self.assertEqual(info.options["memory"], 5)
            self.assertEqual(info.options["gtol"], 1e-7)
            self.assertEqual(info.options["max_line_search"], 20)  # default
            self.assertEqual(info.pending_trial_ids, [1])
            self.assertEqual(info.vector_encoding, optd.VectorEncoding.F64)
            self.assertIsNotNone(info.create_time)
            self.assertIsNone(info.best_x)

    def test_get_session_after_the_end_has_summary_history_and_best_x(self):
        with self.client.create_session(X0, "lbfgs") as session:
            summary = session.run(rosen)
            info = self.client.get_session(session.session_id, include_x=True)
            self.assertEqual(info.state, optd.SessionState.CONVERGED)
            self.assertEqual(info.iterations, summary.iterations)
            self.assertEqual(info.evaluations, summary.evaluations)
            self.assertEqual(len(info.history), summary.iterations)
            self.assertEqual(info.history[-1].iteration, summary.iterations)
            np.testing.assert_array_equal(info.best_x, summary.x)
            np.testing.assert_array_equal(info.summary.x, summary.x)
            self.assertEqual(info.summary.brief_report, summary.brief_report)
            values = self.client.get_session(session.session_id,
                                             include_x=True, encoding="values")
            np.testing.assert_array_equal(values.best_x, summary.x)

    def test_get_session_history_overview_only_when_asked(self):
        with self.client.create_session(X0, "lbfgs") as session:
            summary = session.run(rosen)
            plain = self.client.get_session(session.session_id)
            self.assertEqual(plain.history_overview, [])
            info = self.client.get_session(session.session_id,
                                           include_history_overview=True)
            # A short run: every iterate, as in the recent history.
            self.assertEqual(len(info.history_overview), summary.iterations)
            self.assertEqual(info.history_overview, info.history)

    def test_context_manager_deletes_unless_keep(self):
        with self.client.create_session(X0, "lbfgs") as session:
            pass
        with self.assertRaises(optd.NotFound):
            self.client.get_session(session.session_id)
        with self.client.create_session(X0, "lbfgs", keep=True) as kept:
            pass
        self.assertEqual(self.client.get_session(kept.session_id).state,
                         optd.SessionState.RUNNING)
        self.client.delete_session(kept.session_id)
        with self.assertRaises(optd.NotFound):
            self.client.delete_session(kept.session_id)

    def test_handle_on_an_existing_session(self):
        with self.client.create_session(X0, "lbfgs") as owner:
            other = self.client.session(owner.session_id)
            self.assertTrue(other.keep)
            self.assertEqual(other.dimension, 2)
            self.assertEqual(other.pending[0].trial_id, 1)
            other.tell(1, *rosen(other.pending[0].x))
            self.assertEqual(owner.ask().trial_id, 2)
            other.close()  # keep: the session stays
            self.assertEqual(owner.info().state, optd.SessionState.RUNNING)


class ListSessionsTest(ServerTestCase):

    def test_pages_state_and_label_filters(self):
        sessions = [self.client.create_session(
            X0, "lbfgs", session_id=f"py-list-{i}",
            labels={"group": "list", "parity": str(i % 2)}) for i in range(5)]
        try:
            sessions[0].run(rosen)
            every = list(self.client.list_sessions(labels={"group": "list"},
                                                   page_size=2))
            self.assertEqual([s.session_id for s in every],
                             [f"py-list-{i}" for i in range(5)])
            self.assertIsNone(every[0].best_x)
            self.assertEqual(every[0].history, [])
            odd = list(self.client.list_sessions(
                labels={"group": "list", "parity": "1"}))
            self.assertEqual([s.session_id for s in odd],
                             ["py-list-1", "py-list-3"])
            converged = list(self.client.list_sessions(
                state=optd.SessionState.CONVERGED, labels={"group": "list"}))
            self.assertEqual([s.session_id for s in converged], ["py-list-0"])
            running = list(self.client.list_sessions(
                state="running", labels={"group": "list"}))
            self.assertEqual(len(running), 4)
        finally:
            for session in sessions:
                session.close()


class AskTellTest(ServerTestCase):

    def test_loop_converges_like_scipy(self):
        with self.client.create_session(X0, "lbfgs") as session:
            trial = session.ask()
            while trial is not None:
                answer = session.tell(trial.trial_id, *rosen(trial.x))
                self.assertFalse(answer.duplicate)
                trial = answer.trial
            summary = session.summary
            self.assertIs(answer.summary, summary)
            self.assertTrue(answer.finished)
            self.assertEqual(session.state, optd.SessionState.CONVERGED)
            self.assertEqual(summary.reason,
                             optd.TerminationReason.FUNCTION_TOLERANCE)
            self.assertEqual(summary.evaluations, 44)  # scipy 1.10
            self.assertEqual(summary.iterations, 36)
            self.assertTrue(summary.success)
            np.testing.assert_allclose(summary.x, [1.0, 1.0], atol=1e-5)
            self.assertIsNone(session.ask())
            self.assertIn("44 evaluations", str(summary))

    def test_ask_is_idempotent(self):
        with self.client.create_session(X0, "lbfgs") as session:
            session.tell(1, *rosen(X0))
            first, second = session.ask(), session.ask()
            self.assertEqual(first.trial_id, 2)
            self.assertEqual(second.trial_id, 2)
            np.testing.assert_array_equal(first.x, second.x)
            self.assertEqual(len(session.ask_all()), 1)

    def test_retry_returns_the_same_answer_with_duplicate(self):
        with self.client.create_session(X0, "lbfgs") as session:
            f, g = rosen(X0)
            answer = session.tell(1, f, g)
            retry = session.tell(1, f, g)
            self.assertFalse(answer.duplicate)
            self.assertTrue(retry.duplicate)
            self.assertEqual(retry.trial.trial_id, answer.trial.trial_id)
            np.testing.assert_array_equal(retry.trial.x, answer.trial.x)
            self.assertEqual(session.info().evaluations, 1)

    def test_retry_of_the_final_tell_returns_the_summary_again(self):
        with self.client.create_session(X0, "lbfgs",
                                        {"maxiter": 1}) as session:
            trial = session.ask()
            while True:
                f, g = rosen(trial.x)
                answer = trial.tell(f, g)
                if answer.trial is None:
                    break
                trial = answer.trial
            retry = session.tell(trial.trial_id, f, g)
            self.assertTrue(retry.duplicate)
            self.assertEqual(retry.summary.evaluations,
                             answer.summary.evaluations)
            self.assertEqual(retry.state, optd.SessionState.LIMIT_REACHED)

    def test_failed_evaluation_backtracks(self):
        with self.client.create_session(X0, "lbfgs") as session:
            session.tell(1, *rosen(X0))
            first = session.ask()
            second = session.tell(first.trial_id, failed=True).trial
            self.assertEqual(second.trial_id, first.trial_id + 1)
            self.assertLess(np.linalg.norm(second.x - X0),
                            np.linalg.norm(first.x - X0))
            nan = session.tell(second.trial_id, float("nan"), [0.0, 0.0])
            self.assertEqual(nan.state, optd.SessionState.RUNNING)

    def test_stop_ends_the_session(self):
        with self.client.create_session(X0, "lbfgs") as session:
            answer = session.tell(1, *rosen(X0), stop=True)
            self.assertEqual(answer.state, optd.SessionState.STOPPED)
            self.assertEqual(answer.summary.reason,
                             optd.TerminationReason.STOPPED_BY_CLIENT)
        with self.client.create_session(X0, "lbfgs") as session:
            summary = session.stop()
            self.assertEqual(summary.reason,
                             optd.TerminationReason.STOPPED_BY_CLIENT)
            self.assertEqual(session.info().state, optd.SessionState.STOPPED)

    def test_gradient_from_a_list_or_float32_array(self):
        with self.client.create_session(X0, "lbfgs") as a, \
                self.client.create_session(X0, "lbfgs") as b:
            f, g = rosen(X0)
            x_list = a.tell(1, f, list(g)).trial.x
            x_array = b.tell(1, f, g).trial.x
            np.testing.assert_array_equal(x_list, x_array)


class EncodingTest(ServerTestCase):

    def test_float32_adam_session_sends_float32(self):
        x0 = np.linspace(-1, 1, 7, dtype=np.float32)
        with self.client.create_session(
                x0, "adam", {"lr": 0.1, "dtype": "float32"}) as session:
            self.assertEqual(session.dtype, np.float32)
            trial = session.pending[0]
            self.assertEqual(trial.wants, optd.Wants.GRADIENT)
            self.assertEqual(trial.x.dtype, np.float32)
            np.testing.assert_array_equal(trial.x, x0)
            nxt = session.tell(trial.trial_id, gradient=2 * trial.x).trial
            self.assertEqual(nxt.x.dtype, np.float32)
            # Adam's first step moves every coordinate by lr against the sign.
            np.testing.assert_allclose(
                nxt.x, x0 - np.float32(0.1) * np.sign(x0), rtol=1e-6)
            self.assertEqual(session.info().options["dtype"],
                             "STATE_DTYPE_FLOAT32")

    def test_values_encoding_decodes_the_same_points(self):
        with self.client.create_session(X0, "lbfgs",
                                        encoding="values") as values, \
                self.client.create_session(X0, "lbfgs") as raw:
            self.assertEqual(values.info().vector_encoding,
                             optd.VectorEncoding.VALUES)
            for _ in range(5):
                tv, tr = values.ask(), raw.ask()
                np.testing.assert_array_equal(tv.x, tr.x)
                values.tell(tv.trial_id, *rosen(tv.x))
                raw.tell(tr.trial_id, *rosen(tr.x))


class OptimizeStreamTest(ServerTestCase):

    def test_stream_created_session_matches_unary_loop(self):
        with self.client.optimize(X0, "lbfgs") as streamed:
            for trial in streamed.trials():
                trial.tell(*rosen(trial.x))
            self.assertEqual(streamed.state, optd.SessionState.CONVERGED)
            stream_summary = streamed.summary
        with self.client.create_session(X0, "lbfgs") as unary:
            trial = unary.ask()
            while trial is not None:
                trial = unary.tell(trial.trial_id, *rosen(trial.x)).trial
        np.testing.assert_array_equal(stream_summary.x, unary.summary.x)
        self.assertEqual(stream_summary.value, unary.summary.value)
        self.assertEqual(stream_summary.evaluations, 44)

    def test_attach_after_unary_tells_and_after_break(self):
        with self.client.create_session(X0, "lbfgs") as session:
            session.tell(1, *rosen(X0))
            seen = []
            for trial in session.trials():  # attaches at trial 2
                seen.append(trial.trial_id)
                trial.tell(*rosen(trial.x))
                if len(seen) == 3:
                    break
            self.assertEqual(seen, [2, 3, 4])
            self.assertEqual(session.info().state, optd.SessionState.RUNNING)
            self.assertEqual(session.ask().trial_id, 5)
            summary = session.run(rosen)
            self.assertEqual(summary.evaluations, 44)

    def test_refused_tell_keeps_the_stream_open(self):
        with self.client.optimize(X0, "lbfgs") as session:
            iterator = session.trials()
            trial = next(iterator)
            with self.assertRaises(optd.InvalidArgument) as caught:
                trial.tell(1.0, [1.0, 2.0, 3.0])
            self.assertIn("gradient has 3 elements", caught.exception.message)
            answer = trial.tell(*rosen(trial.x))
            self.assertEqual(answer.trial.trial_id, 2)
            iterator.close()

    def test_forgetting_to_tell_raises(self):
        with self.client.optimize(X0, "lbfgs") as session:
            with self.assertRaises(optd.FailedPrecondition):
                for _ in session.trials():
                    pass

    def test_run_with_separate_jac(self):
        with self.client.optimize(X0, "lbfgs") as session:
            summary = session.run(lambda x: rosen(x)[0],
                                  jac=lambda x: rosen(x)[1])
            self.assertEqual(summary.evaluations, 44)


class DurabilityTest(ServerTestCase):
    """Export/import, worker leases, and what GetSession says of durability."""

    def test_export_then_import_continues_bitwise(self):
        with self.client.create_session(X0, "lbfgs") as session:
            for _ in range(6):
                trial = session.ask()
                session.tell(trial.trial_id, *rosen(trial.x))
            info = session.info()
            self.assertEqual(info.tells, 6)
            self.assertEqual(info.durable_step, 6)
            snapshot = self.client.export_session(session.session_id)
            self.assertEqual(snapshot.format_version, 1)
            self.assertEqual(len(snapshot.tells), 6)
            with self.client.import_session(snapshot.SerializeToString(),
                                            session_id="imported",
                                            keep=False) as copy:
                for _ in range(4):
                    a, b = session.ask(), copy.ask()
                    self.assertEqual(a.trial_id, b.trial_id)
                    self.assertEqual(a.x.tobytes(), b.x.tobytes())
                    session.tell(a.trial_id, *rosen(a.x))
                    copy.tell(b.trial_id, *rosen(b.x))

    def test_import_refuses_an_unknown_version(self):
        with self.client.create_session(X0, "lbfgs") as session:
            snapshot = self.client.export_session(session.session_id)
        snapshot.format_version = 7
        with self.assertRaises(optd.InvalidArgument) as caught:
            self.client.import_session(snapshot, session_id="v7")
        self.assertIn("snapshot.format_version is 7", caught.exception.message)

    def test_fork_continues_from_its_step_and_takes_new_options(self):
        # L-BFGS: the fork at step 3 hands out what the source did after 3
        # tells, and goes on as it did.
        with self.client.create_session(X0, "lbfgs") as session:
            seen = []
            for _ in range(6):
                trial = session.ask()
                seen.append(trial)
                session.tell(trial.trial_id, *rosen(trial.x))
            with self.client.fork_session(session.session_id, 3,
                                          new_session_id="branch",
                                          keep=False) as branch:
                for k in range(3, 6):
                    trial = branch.ask()
                    self.assertEqual(trial.trial_id, seen[k].trial_id)
                    self.assertEqual(trial.x.tobytes(), seen[k].x.tobytes())
                    branch.tell(trial.trial_id, *rosen(trial.x))
                self.assertEqual(branch.info().tells, 6)
            self.assertEqual(session.info().tells, 6)  # the source is as it was
            with self.assertRaises(optd.InvalidArgument) as caught:
                self.client.fork_session(session.session_id,
                                         options={"maxcor": 3})
            self.assertIn("lbfgs sessions fork with their own options",
                          caught.exception.message)
            with self.assertRaises(optd.InvalidArgument) as caught:
                self.client.fork_session(session.session_id, 7)
            self.assertIn("can fork from steps [0, 6]",
                          caught.exception.message)
        # Adam: changed options by their torch names, the rest kept.
        with self.client.create_session(X0, "adam", {"lr": 0.05}) as adam:
            for _ in range(4):
                trial = adam.ask()
                adam.tell(trial.trial_id, *rosen(trial.x))
            with self.client.fork_session(
                    adam.session_id, options={"lr": 0.2, "betas": (0.5, 0.99)},
                    keep=False) as hot:
                options = hot.info().options
                self.assertEqual(options["lr"], 0.2)
                self.assertEqual(options["beta1"], 0.5)
                self.assertEqual(options["beta2"], 0.99)
                self.assertEqual(hot.ask().x.tobytes(), adam.ask().x.tobytes())

    def test_a_leased_trial_is_withheld_from_other_workers(self):
        with self.client.create_session(X0, "lbfgs", lease=30) as session:
            mine = session.ask(worker_id="a")
            self.assertEqual(mine.trial_id, 1)
            self.assertIsNone(session.ask(worker_id="b"))
            self.assertGreater(session.retry_after, 29)
            info = session.info()
            self.assertEqual([(t, w) for t, w, _ in info.leases], [(1, "a")])
            session.tell(mine.trial_id, *rosen(mine.x))
            self.assertEqual(session.ask(worker_id="b").trial_id, 2)

    def test_checkpoint_interval_is_reported(self):
        with self.client.create_session(X0, "lbfgs", checkpoint_interval=10,
                                        ttl=3600) as session:
            info = session.info()
            self.assertEqual(info.proto.durability.checkpoint_interval, 10)
            self.assertEqual(info.proto.ttl_seconds, 3600)


class InMemoryServerTest(ServerTestCase):
    server_flags = ("--data_dir=",)

    def test_export_needs_a_data_dir(self):
        with self.client.create_session(X0, "lbfgs") as session:
            with self.assertRaises(optd.FailedPrecondition) as caught:
                self.client.export_session(session.session_id)
            self.assertIn("--data_dir", caught.exception.message)


if __name__ == "__main__":
    unittest.main()
