"""Many workers on one session, end to end: a real optd and real worker
processes (tests/python/worker_process.py) running Session.work.

- A finite-difference L-BFGS-B session served by 4 processes, one of which
  is SIGKILLed while it holds a leased trial: the session still converges to
  the bounded minimum, every trial is told exactly once with no gap, and the
  dead worker's trial is taken over once its lease has expired.
- A data-parallel session whose 4 workers each tell the gradient of their
  own shard, weighted by its size: the iterates are a single process's on
  all the data.
- A gradient check that finds a wrong gradient coordinate; worker ids and
  notes in the trial log; batches, leases and max_trials.
"""

import collections
import datetime
import json
import pathlib
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import numpy as np
from scipy.optimize import minimize as scipy_minimize

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd._proto import optimizer_pb2 as pb
from optd_server import PYTHON, ServerTestCase
from worker_process import (ShardedLeastSquares, rosenbrock,
                            rosenbrock_gradient)

WORKER = pathlib.Path(__file__).resolve().parent / "worker_process.py"

# Bounded Rosenbrock in 5 dimensions: the last coordinate's upper bound cuts
# off (1, ..., 1), so the minimum is on the boundary.
N = 5
LOWER = np.full(N, -2.0)
UPPER = np.array([2.0, 2.0, 2.0, 2.0, 0.7])
X0 = np.array([-1.2, 1.0, -1.2, 1.0, -1.2])


def bounded_reference() -> np.ndarray:
    """scipy's L-BFGS-B with the exact gradient, run to tight tolerances."""
    result = scipy_minimize(
        lambda x: (rosenbrock(x), rosenbrock_gradient(x)), X0, jac=True,
        method="L-BFGS-B", bounds=list(zip(LOWER, UPPER)),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
    assert result.success, result.message
    return result.x


class WorkerProcesses:
    """Worker processes on one session; stops them all on exit."""

    def __init__(self, address: str, session_id: str) -> None:
        self.address, self.session_id = address, session_id
        self.processes = {}

    def start(self, worker: str, *flags: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [PYTHON, str(WORKER), f"--address={self.address}",
             f"--session={self.session_id}", f"--worker={worker}", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.processes[worker] = process
        return process

    def wait(self, worker: str, timeout: float) -> dict:
        """The worker's JSON report; fails unless it exits with status 0."""
        process = self.processes[worker]
        out, err = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise AssertionError(f"worker {worker} exited with "
                                 f"{process.returncode}:\n{out}\n{err}")
        return json.loads(out.strip().splitlines()[-1])

    def __enter__(self) -> "WorkerProcesses":
        return self

    def __exit__(self, *exc_info) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.communicate()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for "
                                 f"{what}")
        time.sleep(0.02)


class FiniteDifferenceWorkersTest(ServerTestCase):

    LEASE = 3.0

    def test_a_killed_worker_loses_no_evaluation(self):
        session = self.client.create_session(
            X0, "lbfgs", {"gtol": 1e-7, "ftol": 1e-13},
            bounds=(LOWER, UPPER), gradient_source="finite_difference",
            lease=self.LEASE, labels={"test": "killed-worker"})
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        hang_file = pathlib.Path(tmp.name) / "hanging"
        with session, WorkerProcesses(self.server.address,
                                      session.session_id) as workers:
            survivors = ["w1", "w2", "w3"]
            for worker in survivors:
                workers.start(worker, "--objective=rosenbrock",
                              "--delay=0.02")
            victim = workers.start("victim", "--objective=rosenbrock",
                                   "--delay=0.02", f"--hang_file={hang_file}",
                                   "--hang_after=12")
            wait_for(hang_file.exists, 60, "the victim to hang")
            # The victim is inside its 12th evaluation: the trial it holds.
            held = [(trial_id, expiry) for trial_id, worker, expiry in
                    session.info().leases if worker == "victim"]
            self.assertEqual(len(held), 1, session.info().leases)
            taken_trial, lease_expiry = held[0]
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            reports = [workers.wait(w, timeout=180) for w in survivors]
            info = self.client.get_session(session.session_id,
                                           include_x=True,
                                           include_trials=True)
        # Converged to the bounded minimum.
        self.assertEqual(info.state, optd.SessionState.CONVERGED,
                         info.summary)
        np.testing.assert_allclose(info.summary.x, bounded_reference(),
                                   atol=2e-4)
        self.assertLessEqual(info.summary.x[-1], UPPER[-1])
        for report in reports:
            self.assertEqual(report["state"], "CONVERGED")
        # Every trial told exactly once, none lost: ids 1..last, each once.
        log = info.trial_log
        self.assertEqual(info.trial_log_dropped, 0)
        ids = [record.trial_id for record in log]
        doubles = [i for i, c in collections.Counter(ids).items() if c > 1]
        self.assertEqual(doubles, [])
        self.assertEqual(sorted(ids), list(range(1, max(ids) + 1)))
        self.assertEqual(info.pending_trial_ids, [])
        self.assertTrue(all(r.wants == optd.Wants.VALUE for r in log))
        self.assertFalse(any(r.failed for r in log))
        # The values told are the objective's at the logged points.
        for record in log[::25]:
            self.assertEqual(record.value, rosenbrock(record.x))
        # The victim told its first 11 evaluations, not the 12th: that trial
        # was told by a survivor once the lease had expired.
        by_id = {record.trial_id: record for record in log}
        counts = collections.Counter(r.worker_id for r in log)
        self.assertEqual(counts["victim"], 11)
        self.assertIn(by_id[taken_trial].worker_id, survivors)
        self.assertGreaterEqual(by_id[taken_trial].time, lease_expiry)
        # The survivors told the rest, as many as each evaluated.
        self.assertEqual(set(counts), {"victim", *survivors})
        self.assertEqual(
            {w: counts[w] for w in survivors},
            {r["worker"]: r["evaluations"] for r in reports})


class CompactTrialsTest(ServerTestCase):
    """Stencil points leased one worker at a time, as deltas from the
    batch's first point (Trial.delta, base_points): rebuilt bit for bit."""

    def test_a_worker_holding_only_stencil_points_rebuilds_them(self):
        x0 = np.array([-1.2, 1.0, 1e-3, 123.25, -0.5, 7.0])
        with self.client.create_session(
                x0, "lbfgs", gradient_source="finite_difference",
                encoding="f32") as session:
            self.assertEqual(len(session.pending), 13)
            whole = {t.trial_id: t.x for t in session.pending}
            center = session.ask_all("center")
            stencil = session.ask_all("stencil", max_trials=4)
            self.assertEqual([t.trial_id for t in center], [1])
            self.assertEqual([t.trial_id for t in stencil], [2, 3, 4, 5])
            for trial in stencil:
                self.assertEqual(trial.x.dtype, np.float32)
                self.assertEqual(trial.x.tobytes(),
                                 whole[trial.trial_id].tobytes())
                self.assertFalse(trial.x.flags.writeable)
                # One coordinate moved from x (rounded to float32).
                moved = np.flatnonzero(trial.x != x0.astype(np.float32))
                self.assertEqual(list(moved), [(trial.trial_id - 2) // 2])
            # A tell's answer (optd/_wire.py) carries the next trial the
            # same way.
            answer = stencil[-1].tell(1.0)
            self.assertEqual([t.trial_id for t in answer.trials],
                             [2, 3, 4])
            self.assertEqual(answer.trials[0].x.tobytes(),
                             whole[2].tobytes())
            for trial in answer.trials:
                trial.tell(1.0, worker_id="stencil")
            # Trial 1 told: the answer's next trial has its base point in
            # base_points.
            answer = session.tell(1, 1.0, worker_id="center")
            self.assertEqual(len(answer.trials), 1)
            trial = answer.trials[0]
            self.assertGreater(trial.trial_id, 5)
            self.assertEqual(trial.x.tobytes(),
                             whole[trial.trial_id].tobytes())

    def test_a_large_stencil_is_linear_on_the_wire(self):
        # n = 20000: the 40001 points whole would be 6.4 GB per answer.
        n = 20000
        x0 = np.where(np.arange(n) % 2 == 0, -1.2, 1.0)
        with self.client.create_session(
                x0, "lbfgs", gradient_source="finite_difference") as session:
            self.assertEqual(len(session.pending), 2 * n + 1)
            held = session.ask_all("w", max_trials=1024)
            self.assertEqual(len(held), 1024)
            for trial in (held[1], held[-1]):
                i = (trial.trial_id - 2) // 2
                expected = x0.copy()
                expected[i] = trial.x[i]
                self.assertEqual(trial.x.tobytes(), expected.tobytes())
                self.assertNotEqual(trial.x[i], x0[i])
            raw = self.client._unary("Ask", pb.AskRequest(
                session_id=session.session_id, worker_id="v",
                max_trials=1024))
            self.assertEqual(len(raw.trials), 1024)
            self.assertEqual(len(raw.base_points), 1)
            self.assertLess(raw.ByteSize(), 8 * n + 64 * 1024 + 1024)


class DataParallelTest(ServerTestCase):

    def run_data_parallel(self, solver, options):
        problem = ShardedLeastSquares()
        x0 = np.linspace(-0.5, 0.5, problem.DIMENSION)
        shards = len(problem.SIZES)
        session = self.client.create_session(
            x0, solver, options, data_parallel_workers=shards, lease=20.0)
        with session, WorkerProcesses(self.server.address,
                                      session.session_id) as workers:
            for k in range(shards):
                workers.start(f"shard-{k}", "--objective=shard",
                              f"--shard={k}")
            for k in range(shards):
                workers.wait(f"shard-{k}", timeout=180)
            info = self.client.get_session(session.session_id,
                                           include_x=True,
                                           include_trials=True)
        # One process on all the data.
        with self.client.create_session(x0, solver, options) as single:
            single.run(problem.loss)
        return info, single.summary, problem

    def check_steps(self, info, problem):
        """Each step was told once per shard, with its shard's weight."""
        steps = collections.defaultdict(list)
        for record in info.trial_log:
            steps[(record.trial_id - 1) // len(problem.SIZES)].append(record)
        self.assertGreater(len(steps), 5)
        for step in steps.values():
            self.assertEqual(sorted(r.note for r in step),
                             [f"shard-{k}" for k in range(len(
                                 problem.SIZES))])
            for record in step:
                # Each worker told its own share: worker shard-k, shard k.
                self.assertEqual(record.worker_id, record.note)
                shard = int(record.note.split("-")[1])
                self.assertEqual(record.weight, problem.SIZES[shard])
            self.assertEqual(len({r.x.tobytes() for r in step}), 1)

    def test_adam_steps_on_the_weighted_mean_of_the_shards(self):
        info, single, problem = self.run_data_parallel(
            "adam", {"lr": 0.05, "max_steps": 40})
        self.assertEqual(info.summary.iterations, 40)
        self.assertEqual(single.iterations, 40)
        np.testing.assert_allclose(info.summary.x, single.x, rtol=1e-10,
                                   atol=1e-12)
        self.check_steps(info, problem)

    def test_lbfgs_converges_to_the_full_data_minimum(self):
        info, single, problem = self.run_data_parallel(
            "lbfgs", {"gtol": 1e-9})
        self.assertTrue(info.summary.success, info.summary)
        np.testing.assert_allclose(info.summary.x, single.x, atol=1e-7)
        self.assertAlmostEqual(info.summary.value, single.value, places=12)
        self.check_steps(info, problem)


def quadratic(x, wrong_coordinate=None):
    """sum_i (i + 1) (x_i - i)^2 + x_0 x_1, and its gradient (coordinate
    `wrong_coordinate` scaled by 1.5: a bug for the check to find)."""
    i = np.arange(x.size)
    f = float(np.sum((i + 1) * (x - i) ** 2) + x[0] * x[1])
    g = 2.0 * (i + 1) * (x - i)
    g[0] += x[1]
    g[1] += x[0]
    if wrong_coordinate is not None:
        g[wrong_coordinate] *= 1.5
    return f, g


class GradientCheckTest(ServerTestCase):

    def run_checked(self, wrong_coordinate):
        x0 = np.full(5, -1.0)
        with self.client.create_session(
                x0, "lbfgs", gradient_check={"at_iterations": [0, 2]}
        ) as session:
            batch = session.pending
            session.run(lambda x: quadratic(x, wrong_coordinate))
            return batch, session.info()

    def test_a_wrong_gradient_coordinate_is_reported(self):
        batch, info = self.run_checked(wrong_coordinate=3)
        # The first batch: the gradient trial and its 2n stencil values.
        self.assertEqual(len(batch), 11)
        self.assertEqual([t.batch_index for t in batch], list(range(11)))
        self.assertEqual({t.batch_size for t in batch}, {11})
        self.assertTrue(batch[0].wants.needs_gradient)
        self.assertEqual({t.wants for t in batch[1:]}, {optd.Wants.VALUE})
        self.assertEqual(info.gradient_check["at_iterations"], [0, 2])
        self.assertEqual([c.iteration for c in info.gradient_checks], [0, 2])
        for check in info.gradient_checks:
            self.assertEqual(int(np.argmax(check.relative_error)), 3)
            self.assertGreater(check.max_relative_error, 0.1)
            self.assertEqual(check.max_relative_error,
                             check.relative_error[3])
            others = np.delete(check.relative_error, 3)
            self.assertLess(np.max(others), 1e-6)
            self.assertAlmostEqual(
                check.told[3] / check.finite_difference[3], 1.5, places=6)

    def test_a_right_gradient_passes(self):
        _, info = self.run_checked(wrong_coordinate=None)
        self.assertTrue(info.summary.success)
        self.assertEqual(len(info.gradient_checks), 2)
        for check in info.gradient_checks:
            self.assertLess(check.max_relative_error, 1e-6)
            np.testing.assert_allclose(check.told, check.finite_difference,
                                       rtol=1e-6, atol=1e-8)


class TrialLogTest(ServerTestCase):

    def test_worker_ids_and_notes_are_in_the_history(self):
        with self.client.create_session([-1.2, 1.0], "lbfgs") as session:
            trial = session.ask(worker_id="alpha")
            self.assertEqual(trial.worker_id, "alpha")
            self.assertIsNotNone(trial.lease_expires)
            answer = trial.tell(*quadratic(trial.x), note="checkpoint-1")
            second = answer.trial
            self.assertEqual(second.worker_id, "alpha")  # leased to alpha
            session.tell(second.trial_id, *quadratic(second.x),
                         worker_id="beta", note="checkpoint-2")
            third = session.ask()
            session.tell(third.trial_id, *quadratic(third.x))
            history = session.history()
            self.assertEqual([r.trial_id for r in history], [1, 2, 3])
            self.assertEqual([r.worker_id for r in history],
                             ["alpha", "beta", ""])
            self.assertEqual([r.note for r in history],
                             ["checkpoint-1", "checkpoint-2", ""])
            np.testing.assert_array_equal(history[0].x, [-1.2, 1.0])
            self.assertEqual(history[0].value, quadratic(trial.x)[0])
            self.assertEqual(history[0].gradient_max_norm,
                             np.max(np.abs(quadratic(trial.x)[1])))
            self.assertEqual(history[0].weight, 1.0)
            self.assertIsInstance(history[0].time, datetime.datetime)
            self.assertEqual([r.trial_id for r in session.history(2)], [3])


class BatchLeaseTest(ServerTestCase):

    def test_workers_hold_parts_of_a_stencil(self):
        with self.client.create_session(
                np.zeros(4), "lbfgs", finite_difference={"scheme": "central"},
                lease=30) as session:
            info = session.info()
            self.assertEqual(info.gradient_source,
                             optd.GradientSource.FINITE_DIFFERENCE)
            self.assertEqual(info.finite_difference["scheme"],
                             "SCHEME_CENTRAL")
            a = session.ask_all(worker_id="a", max_trials=3)
            b = session.ask_all(worker_id="b", max_trials=100)
            self.assertEqual([t.trial_id for t in a], [1, 2, 3])
            self.assertEqual([t.trial_id for t in b], list(range(4, 10)))
            self.assertEqual({t.batch_size for t in a + b}, {9})
            self.assertEqual([t.batch_index for t in a + b], list(range(9)))
            self.assertIsNone(session.ask(worker_id="c"))
            self.assertGreater(session.retry_after, 25)
            # Asking again renews and returns the same trials.
            again = session.ask_all(worker_id="a", max_trials=3)
            self.assertEqual([t.trial_id for t in again], [1, 2, 3])

    def test_work_in_threads_is_the_sequential_run(self):
        """Threads on one handle: the iterates do not depend on who
        evaluates which stencil point, or in which order."""
        def fun(x):
            return rosenbrock(x)

        results = []
        for threads in (1, 4):
            with self.client.create_session(
                    X0, "lbfgs", bounds=(LOWER, UPPER),
                    gradient_source="finite_difference") as session:
                workers = [threading.Thread(
                    target=session.work, args=(fun, f"t{k}"),
                    kwargs={"min_wait": 0.001}) for k in range(threads)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join(120)
                    self.assertFalse(worker.is_alive())
                results.append(session.info(include_x=True))
        self.assertTrue(results[0].summary.success)
        np.testing.assert_array_equal(results[0].summary.x,
                                      results[1].summary.x)
        self.assertEqual(results[0].summary.iterations,
                         results[1].summary.iterations)


if __name__ == "__main__":
    unittest.main()
