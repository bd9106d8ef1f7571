"""optd.minimize against scipy 1.10's L-BFGS-B evaluation counts and,
bitwise, against the C++ client (optctl demo)."""

import json
import math
import subprocess
import unittest
import warnings

import numpy as np
import scipy.optimize

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import mgh_problems
import optd
from optd_server import OPTCTL, ServerTestCase, TEST_DATA

# optd treats Jennrich-Sampson's overflowing first trial as a failed
# evaluation and reaches the true minimum; scipy stops early
# (docs/solvers.md "Numerical validation").
DIFFERS_FROM_SCIPY = {"jennrich_sampson"}


def load_scipy_references():
    """name -> dict(nfev, nit, fun, status, message) from the reference
    file."""
    references = {}
    with open(TEST_DATA / "scipy_lbfgsb_1.10.txt") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, _, nfev, nit, fun, status, message = line.split()[:7]
            references[name] = dict(nfev=int(nfev), nit=int(nit),
                                    fun=float(fun), status=int(status),
                                    message=message.replace("_", " "))
    return references


def extended_rosenbrock(x):
    """(f, g) with exactly the C++ demo's arithmetic (client/optctl/demo.cc):
    f summed left to right, g[i] = -2a - (400 x_i) b, g[i+1] = 200 b."""
    even, odd = x[0::2], x[1::2]
    a = 1.0 - even
    b = odd - even * even
    f = float(np.add.accumulate(a * a + 100.0 * b * b)[-1])
    g = np.empty_like(x)
    g[0::2] = -2.0 * a - 400.0 * even * b
    g[1::2] = 200.0 * b
    return f, g


class ScipyCountsTest(ServerTestCase):
    """Same evaluations, iterations, status and message as scipy."""

    references = load_scipy_references()

    def check(self, name):
        problem = mgh_problems.find_problem(name)
        expected = self.references[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow probes
            result = optd.minimize(problem.fun, problem.x0, jac=True,
                                   method="L-BFGS-B", client=self.client)
        self.assertEqual(result.nfev, expected["nfev"], name)
        self.assertEqual(result.nit, expected["nit"], name)
        self.assertEqual(result.status, expected["status"], name)
        self.assertEqual(result.message.replace("_", " "),
                         expected["message"], name)
        self.assertTrue(result.success, name)
        self.assertLessEqual(abs(result.fun - expected["fun"]),
                             1e-6 * abs(expected["fun"]) + 1e-12, name)
        # jac is the gradient told at x.
        np.testing.assert_array_equal(result.jac, problem.fun(result.x)[1])
        self.assertEqual(result.x.shape, problem.x0.shape)
        return result

    def test_rosenbrock(self):
        self.check("rosenbrock")

    def test_beale(self):
        self.check("beale")

    def test_extended_rosenbrock_1000(self):
        self.check("extended_rosenbrock_1000")

    def test_every_other_mgh_problem(self):
        for problem in mgh_problems.PROBLEMS:
            if problem.name in DIFFERS_FROM_SCIPY:
                continue
            with self.subTest(problem.name):
                self.check(problem.name)


class CppClientTest(ServerTestCase):
    """The Python client's run is bitwise the C++ client's run."""

    def optctl(self, *args):
        return subprocess.run(
            [str(OPTCTL), f"--server={self.server.address}", *args],
            check=True, capture_output=True, text=True).stdout

    def check(self, n):
        if not OPTCTL.exists():
            self.fail(f"{OPTCTL} does not exist: build optctl or set "
                      "OPTCTL_BINARY")
        demo = self.optctl("demo", f"--n={n}")
        session_id = demo.split()[1]  # "session <id>"
        cpp = json.loads(self.optctl("get", session_id, "--json",
                                     "--include_x"))
        self.optctl("delete", session_id)
        summary = cpp["summary"]

        x0 = np.tile([-1.2, 1.0], n // 2)
        result = optd.minimize(extended_rosenbrock, x0, client=self.client)
        self.assertEqual(result.nfev, int(summary["evaluations"]))
        self.assertEqual(result.nit, int(summary["iterations"]))
        self.assertEqual(result.message, summary["message"])
        # JSON doubles print with 17 significant digits: exact round trip.
        cpp_x = np.array(summary["x"]["values"], dtype=np.float64)
        self.assertTrue(np.array_equal(result.x.view(np.uint64),
                                       cpp_x.view(np.uint64)),
                        f"max |dx| = {np.max(np.abs(result.x - cpp_x))}")
        self.assertEqual(result.fun, summary["value"])

    def test_rosenbrock_matches_optctl_demo_bitwise(self):
        self.check(2)

    def test_extended_rosenbrock_1000_matches_optctl_demo_bitwise(self):
        self.check(1000)


class MinimizeOptionsTest(ServerTestCase):

    def test_separate_jac_is_the_same_run(self):
        x0 = np.array([-1.2, 1.0])
        together = optd.minimize(extended_rosenbrock, x0, client=self.client)
        apart = optd.minimize(lambda x: extended_rosenbrock(x)[0], x0,
                              jac=lambda x: extended_rosenbrock(x)[1],
                              client=self.client)
        np.testing.assert_array_equal(together.x, apart.x)
        self.assertEqual(together.nfev, apart.nfev)

    def test_args_are_passed(self):
        def shifted(x, c):
            return float(np.sum((x - c) ** 2)), 2.0 * (x - c)

        result = optd.minimize(shifted, np.zeros(3), args=(2.0,),
                               client=self.client)
        np.testing.assert_allclose(result.x, [2.0, 2.0, 2.0], atol=1e-6)

    def test_iteration_limit_is_status_1(self):
        result = optd.minimize(extended_rosenbrock, [-1.2, 1.0],
                               options={"maxiter": 5}, client=self.client)
        self.assertEqual(result.status, 1)
        self.assertFalse(result.success)
        self.assertEqual(result.nit, 5)
        self.assertIn("ITERATIONS", result.message)
        self.assertEqual(result.reason, optd.TerminationReason.MAX_ITERATIONS)

    def test_tol_sets_gtol_and_ftol(self):
        loose = optd.minimize(extended_rosenbrock, [-1.2, 1.0], tol=1e-2,
                              client=self.client)
        self.assertLess(loose.nfev, 44)

    def test_failed_evaluations_are_survived(self):
        calls = []

        def sometimes_nan(x):
            calls.append(1)
            if len(calls) in (3, 7):
                return math.nan, np.full_like(x, math.nan)
            return extended_rosenbrock(x)

        result = optd.minimize(sometimes_nan, [-1.2, 1.0], client=self.client)
        self.assertTrue(result.success)
        np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-4)

    def test_adam_runs_max_steps(self):
        result = optd.minimize(lambda x: (float(x @ x), 2.0 * x),
                               np.array([1.0, -2.0]), method="Adam",
                               options={"lr": 0.1, "maxiter": 300},
                               client=self.client)
        self.assertEqual(result.nit, 300)
        self.assertEqual(result.reason, optd.TerminationReason.MAX_STEPS)
        self.assertLess(np.max(np.abs(result.x)), 0.1)

    def test_session_is_deleted_unless_keep(self):
        result = optd.minimize(extended_rosenbrock, [-1.2, 1.0],
                               client=self.client)
        with self.assertRaises(optd.NotFound):
            self.client.get_session(result.session_id)
        kept = optd.minimize(extended_rosenbrock, [-1.2, 1.0],
                             client=self.client, keep=True,
                             labels={"kind": "kept"})
        info = self.client.get_session(kept.session_id)
        self.assertEqual(info.labels, {"kind": "kept"})
        self.client.delete_session(kept.session_id)

    def test_connects_by_address(self):
        result = optd.minimize(extended_rosenbrock, [-1.2, 1.0],
                               address=self.server.address)
        self.assertEqual(result.nfev, 44)

    def test_unsupported_arguments(self):
        with self.assertRaises(optd.InvalidArgument):
            optd.minimize(extended_rosenbrock, [0.0, 0.0],
                          constraints=[{"type": "ineq"}], client=self.client)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "callback is 3; want a callable"):
            optd.minimize(extended_rosenbrock, [0.0, 0.0], callback=3,
                          client=self.client)
        with self.assertRaisesRegex(optd.InvalidArgument, "jac=None"):
            # fun returns (f, g) but jac=None asks for values only.
            optd.minimize(extended_rosenbrock, [0.0, 0.0], jac=None,
                          client=self.client)

    def test_result_reads_like_scipys(self):
        result = optd.minimize(extended_rosenbrock, [-1.2, 1.0],
                               client=self.client)
        for key in ("x", "fun", "jac", "nit", "nfev", "status", "message",
                    "success"):
            self.assertIs(result[key], getattr(result, key))
        self.assertIn("nfev: 44", repr(result))
        self.assertIn("44 evaluations", result.summary.brief_report)


def rosen_value(x):
    return extended_rosenbrock(x)[0]


# A box that cuts off the minimum (1, 1): scipy's pairs, with None for none.
BOX = [(-2.0, 2.0), (None, 0.8)]


class MinimizeBoundsAndDifferencesTest(ServerTestCase):

    def scipy_reference(self):
        return scipy.optimize.minimize(
            extended_rosenbrock, [-1.2, 1.0], jac=True, method="L-BFGS-B",
            bounds=BOX, options={"ftol": 1e-15, "gtol": 1e-12})

    def test_bounds_with_gradients_is_scipys_l_bfgs_b(self):
        result = optd.minimize(extended_rosenbrock, [-1.2, 1.0], jac=True,
                               bounds=BOX, client=self.client)
        reference = scipy.optimize.minimize(
            extended_rosenbrock, [-1.2, 1.0], jac=True, method="L-BFGS-B",
            bounds=BOX)
        self.assertTrue(result.success, result.message)
        self.assertEqual(result.nfev, reference.nfev)
        np.testing.assert_allclose(result.x, reference.x, rtol=1e-10)
        self.assertLessEqual(result.x[1], 0.8)

    def test_finite_differences_find_the_bounded_minimum(self):
        reference = self.scipy_reference()
        calls = []

        def counted(x):
            calls.append(1)
            return rosen_value(x)

        result = optd.minimize(counted, [-1.2, 1.0], jac=None, bounds=BOX,
                               client=self.client)
        self.assertTrue(result.success, result.message)
        np.testing.assert_allclose(result.x, reference.x, atol=1e-4)
        self.assertEqual(result.nfev, len(calls))
        # jac: the server's central-difference gradient at x.
        np.testing.assert_allclose(result.jac,
                                   scipy.optimize.rosen_der(result.x),
                                   rtol=1e-6, atol=1e-7)
        # Every gradient took 2n + 1 = 5 values (central differences).
        self.assertEqual(result.nfev, 5 * result.njev)
        self.assertEqual(result.nfev, result.summary.evaluations)

    def test_forward_differences_take_fewer_values(self):
        central = optd.minimize(rosen_value, [-1.2, 1.0], jac="3-point",
                                bounds=BOX, client=self.client)
        forward = optd.minimize(rosen_value, [-1.2, 1.0], jac="2-point",
                                bounds=BOX, client=self.client)
        np.testing.assert_allclose(forward.x, central.x, atol=1e-3)
        self.assertEqual(forward.nfev, 3 * forward.njev)
        self.assertEqual(central.nfev, 5 * central.njev)

    def test_threads_give_the_same_iterates(self):
        one = optd.minimize(rosen_value, [-1.2, 1.0], jac=None, bounds=BOX,
                            client=self.client)
        four = optd.minimize(rosen_value, [-1.2, 1.0], jac=None, bounds=BOX,
                             workers=4, client=self.client)
        np.testing.assert_array_equal(one.x, four.x)
        self.assertEqual(one.nfev, four.nfev)
        self.assertEqual(one.nit, four.nit)


def plateau(x):
    """f = 1e15 + x_0: every step lowers f by a relative 1e-12 or less, and
    |g| = 1 never meets gtol."""
    return 1e15 + float(x[0]), np.ones(1)


class CompactStencilTest(ServerTestCase):
    """Finite-difference stencil points come as deltas from the batch's
    first point (Trial.delta); the client rebuilds them bit for bit, so
    the runs end exactly where they ended when the server sent every point
    whole (the server of commit 20e5036: the same evaluations, iterations
    and x, bitwise; tests/e2e_finite_difference_test.cc has the same)."""

    X0 = [-1.2, 1.0, -1.2, 1.0]
    BOX = [(-2.0, 0.5), (-2.0, 2.0), (-2.0, 2.0), (-2.0, 2.0)]
    GOLDEN = {
        "3-point": (468, 41, ["0x1.0000000000000p-1", "0x1.fffffcaa0f0d9p-3",
                              "0x1.ffffee2354b95p-1",
                              "0x1.ffffe1b807987p-1"]),
        "2-point": (270, 42, ["0x1.0000000000000p-1", "0x1.0000144268c1dp-2",
                              "0x1.ffff9686e8240p-1",
                              "0x1.ffff30a168cd3p-1"]),
    }

    def test_runs_end_bitwise_where_whole_points_did(self):
        for jac, (nfev, nit, x) in self.GOLDEN.items():
            for workers in (1, 3):
                with self.subTest(jac=jac, workers=workers):
                    result = optd.minimize(
                        lambda v: extended_rosenbrock(v)[0], self.X0,
                        jac=jac, bounds=self.BOX, workers=workers,
                        client=self.client)
                    self.assertTrue(result.success, result.message)
                    self.assertEqual(result.nfev, nfev)
                    self.assertEqual(result.nit, nit)
                    self.assertEqual([v.hex() for v in result.x], x)


class TrustRegionFtolTest(ServerTestCase):
    """The trust region's ftol test, through optd.minimize."""

    def test_ftol_steps_small_steps_end_the_run_as_converged(self):
        result = optd.minimize(plateau, [0.0], jac=True,
                               method="trust-region",
                               options={"ftol_steps": 3}, client=self.client)
        self.assertTrue(result.success, result.message)
        self.assertEqual(result.reason,
                         optd.TerminationReason.FUNCTION_TOLERANCE)
        self.assertIn("ftol_steps accepted steps in a row", result.message)
        self.assertEqual(result.nit, 3)
        self.assertEqual(result.nfev, 4)

    def test_ftol_zero_is_scipys_no_test(self):
        result = optd.minimize(plateau, [0.0], jac=True,
                               method="trust-region",
                               options={"ftol": 0, "maxiter": 30},
                               client=self.client)
        self.assertEqual(result.reason, optd.TerminationReason.MAX_ITERATIONS)
        self.assertEqual(result.nit, 30)

    def test_bad_ftol_names_the_field(self):
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    r"trust_region\.ftol_steps is 0"):
            optd.minimize(plateau, [0.0], jac=True, method="trust-region",
                          options={"ftol_steps": 0}, client=self.client)


if __name__ == "__main__":
    unittest.main()
