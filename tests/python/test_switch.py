"""Session.switch_solver (SwitchSolver, docs/api.md "Switch"): an Adam
session continues under L-BFGS, and an L-BFGS session under the trust
region, with the same id, and what it refuses."""

import unittest

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import ServerTestCase

A = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
CENTER = np.array([0.0, 0.1, 0.2, 0.3, 0.4])


def quadratic(x):
    d = x - CENTER
    return 0.5 * float(d @ (A * d)), A * d


class SwitchSolverTest(ServerTestCase):

    def finish_at_center(self, session):
        while not session.finished:
            trial = session.ask()
            if trial is None:
                break
            trial.tell(*quadratic(trial.x))
        self.assertTrue(session.summary.success)
        np.testing.assert_allclose(session.summary.x, CENTER, atol=1e-5)

    def test_adam_to_lbfgs_keeps_the_id_and_converges(self):
        with self.client.create_session(
                [1.0, -2.0, 0.5, 3.0, -1.0], "adam",
                {"lr": 0.05, "max_steps": 1000}) as session:
            for _ in range(8):
                trial = session.ask()
                trial.tell(*quadratic(trial.x))
            old_id = session.ask().trial_id
            pairs = session.switch_solver("lbfgs", {"memory": 5})
            self.assertEqual(pairs, 5)
            self.assertEqual(len(session.pending), 1)
            self.assertGreater(session.pending[0].trial_id, old_id)
            info = session.info()
            self.assertEqual(info.solver, "lbfgs")
            self.finish_at_center(session)

    def test_lbfgs_to_trust_region_carries_the_pairs(self):
        with self.client.create_session(
                [1.0, -2.0, 0.5, 3.0, -1.0], "lbfgs") as session:
            for _ in range(3):
                trial = session.ask()
                trial.tell(*quadratic(trial.x))
            with self.assertRaisesRegex(optd.InvalidArgument,
                                        "trust_region.subproblem is "
                                        "newton_cg"):
                session.switch_solver("trust_region",
                                      {"subproblem": "newton_cg"})
            self.assertEqual(session.info().solver, "lbfgs")
            pairs = session.switch_solver("trust_region",
                                          {"quasi_newton_update": "lbfgs"})
            self.assertGreaterEqual(pairs, 1)
            info = session.info()
            self.assertEqual(info.solver, "trust_region")
            self.finish_at_center(session)

    def test_refusals(self):
        with self.client.create_session([1.0, 2.0], "lbfgs") as session:
            with self.assertRaisesRegex(optd.InvalidArgument,
                                        "from lbfgs to lbfgs is not "
                                        "supported"):
                session.switch_solver("lbfgs")
            self.assertEqual(session.info().solver, "lbfgs")
        with self.client.create_session([1.0, 2.0], "adam") as session:
            with self.assertRaisesRegex(ValueError,
                                        "takes lbfgs or trust_region, not "
                                        "'sgd'"):
                session.switch_solver("sgd")
            with self.assertRaisesRegex(optd.InvalidArgument,
                                        "lbfgs.memory"):
                session.switch_solver("lbfgs", {"memory": -1})
            self.assertEqual(session.info().solver, "adam")


if __name__ == "__main__":
    unittest.main()
