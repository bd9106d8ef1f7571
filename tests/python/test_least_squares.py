"""optd.least_squares against scipy 1.10's least_squares(method='lm') and
(method='trf'): the same residual and Jacobian evaluations (nfev, njev),
status and x, on Moré-Garbow-Hillstrom problems (tests/data/mgh_problems.py),
in boxes (tests/data/bounded_problems.py) and with each robust loss on a fit
with outliers (tests/data/gen_scipy_trf.py's rational_outliers); and what it
refuses."""

import unittest

import numpy as np
import scipy.optimize

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import bounded_problems
import gen_scipy_trf
import mgh_problems
import optd
from optd_server import ServerTestCase


class LeastSquaresTest(ServerTestCase):

    def compare(self, name, **options):
        problem = mgh_problems.find_problem(name)

        def fun(x):
            return problem.residuals(x)[0]

        def jac(x):
            return problem.residuals(x)[1]

        expected = scipy.optimize.least_squares(
            fun, problem.x0, jac=jac, method="lm", **options)
        result = optd.least_squares(fun, problem.x0, jac=jac,
                                    client=self.client, **options)
        self.assertEqual(result.nfev, expected.nfev, name)
        self.assertEqual(result.njev, expected.njev, name)
        self.assertEqual(result.status, expected.status, name)
        self.assertEqual(result.success, expected.success, name)
        self.assertEqual(result.message, expected.message, name)
        np.testing.assert_allclose(result.x, expected.x, rtol=1e-7,
                                   atol=1e-10, err_msg=name)
        np.testing.assert_allclose(result.cost, expected.cost, rtol=1e-7,
                                   atol=1e-20, err_msg=name)
        np.testing.assert_allclose(result.fun, expected.fun, rtol=1e-6,
                                   atol=1e-10, err_msg=name)
        np.testing.assert_allclose(result.jac, expected.jac, rtol=1e-6,
                                   atol=1e-10, err_msg=name)
        np.testing.assert_allclose(result.grad, expected.grad, rtol=1e-5,
                                   atol=1e-8, err_msg=name)
        np.testing.assert_array_equal(result.active_mask,
                                      expected.active_mask)
        self.assertEqual(result.covariance.shape,
                         (problem.x0.size, problem.x0.size))
        return result

    def test_rosenbrock(self):
        result = self.compare("rosenbrock")
        np.testing.assert_allclose(result.x, [1.0, 1.0])
        self.assertTrue(np.all(np.isinf(result.covariance)))  # m == n

    def test_beale(self):
        self.compare("beale")

    def test_bard(self):
        result = self.compare("bard")
        self.assertTrue(np.all(np.isfinite(result.covariance)))

    def test_osborne_1(self):
        self.compare("osborne_1")

    def test_options(self):
        self.compare("bard", ftol=1e-4, xtol=1e-6, x_scale="jac")
        self.compare("beale", max_nfev=5)

    def compare_trf(self, fun, jac, x0, **options):
        expected = scipy.optimize.least_squares(fun, x0, jac=jac,
                                                method="trf", **options)
        result = optd.least_squares(fun, x0, jac=jac, method="trf",
                                    client=self.client, **options)
        # scipy_trf_1.10.txt: the counts of these runs are scipy's in C++ too.
        self.assertEqual(result.method, "trf")
        self.assertEqual(result.nfev, expected.nfev)
        self.assertEqual(result.njev, expected.njev)
        self.assertEqual(result.status, expected.status)
        self.assertEqual(result.message, expected.message)
        np.testing.assert_array_equal(result.active_mask,
                                      expected.active_mask)
        np.testing.assert_allclose(result.x, expected.x, rtol=1e-6,
                                   atol=1e-9)
        np.testing.assert_allclose(result.cost, expected.cost, rtol=1e-7,
                                   atol=1e-20)
        np.testing.assert_allclose(result.fun, expected.fun, rtol=1e-5,
                                   atol=1e-8)
        np.testing.assert_allclose(result.jac, expected.jac, rtol=1e-5,
                                   atol=1e-8)
        np.testing.assert_allclose(result.optimality, expected.optimality,
                                   rtol=1e-3, atol=1e-10)
        return result

    def test_trf_unbounded(self):
        for name in ("rosenbrock", "bard", "osborne_1"):
            problem = mgh_problems.find_problem(name)
            self.compare_trf(lambda x: problem.residuals(x)[0],
                             lambda x: problem.residuals(x)[1], problem.x0)

    def test_trf_in_boxes(self):
        for name in ("rosenbrock_box", "beale_box", "bard_box", "wood_box"):
            entry = next(e for e in bounded_problems.TABLE if e[0] == name)
            box = bounded_problems.make(entry)
            problem = mgh_problems.find_problem(entry[1])
            x0 = np.clip(problem.x0.astype(float), box.lower, box.upper)
            result = self.compare_trf(
                lambda x: problem.residuals(x)[0],
                lambda x: problem.residuals(x)[1], x0,
                bounds=(box.lower, box.upper))
            self.assertTrue(np.any(result.active_mask != 0), name)

    def test_trf_losses_on_outliers(self):
        fun, jac, x0 = gen_scipy_trf.rational_outliers()
        for loss in ("soft_l1", "huber", "cauchy", "arctan"):
            self.compare_trf(fun, jac, x0, loss=loss, f_scale=0.1)
        # A box that cuts the fit, as scipy.optimize.Bounds.
        self.compare_trf(fun, jac, x0, loss="huber", f_scale=0.5,
                         bounds=scipy.optimize.Bounds([-np.inf, -np.inf, 0.0],
                                                      [np.inf, 2.5, np.inf]))

    def test_method_none_lets_the_server_choose(self):
        problem = mgh_problems.find_problem("beale")

        def fun(x):
            return problem.residuals(x)[0]

        def jac(x):
            return problem.residuals(x)[1]

        self.assertEqual(optd.least_squares(fun, problem.x0, jac=jac,
                                            client=self.client).method, "lm")
        self.assertEqual(optd.least_squares(fun, problem.x0, jac=jac,
                                            loss="cauchy",
                                            client=self.client).method, "trf")
        self.assertEqual(optd.least_squares(fun, problem.x0, jac=jac,
                                            bounds=(-5.0, 5.0),
                                            client=self.client).method, "trf")
        # All-infinite bounds are no bounds.
        self.assertEqual(optd.least_squares(fun, problem.x0, jac=jac,
                                            bounds=(-np.inf, np.inf),
                                            client=self.client).method, "lm")

    def test_refusals(self):
        problem = mgh_problems.find_problem("beale")

        def fun(x):
            return problem.residuals(x)[0]

        def jac(x):
            return problem.residuals(x)[1]

        with self.assertRaises(optd.InvalidArgument):
            optd.least_squares(fun, problem.x0, jac="2-point",
                               client=self.client)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "method is 'dogbox'; optd serves"):
            optd.least_squares(fun, problem.x0, jac=jac, method="dogbox",
                               client=self.client)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "loss is 'l1'; optd serves"):
            optd.least_squares(fun, problem.x0, jac=jac, loss="l1",
                               method="trf", client=self.client)
        with self.assertRaisesRegex(
                optd.InvalidArgument,
                "bounds are not supported by least_squares method LM"):
            optd.least_squares(fun, problem.x0, jac=jac, method="lm",
                               bounds=(0.0, 2.0), client=self.client)
        with self.assertRaisesRegex(
                optd.InvalidArgument,
                "least_squares.loss is LOSS_HUBER; method LM supports only "
                "the linear loss"):
            optd.least_squares(fun, problem.x0, jac=jac, method="lm",
                               loss="huber", client=self.client)
        with self.assertRaisesRegex(
                optd.InvalidArgument,
                r"least_squares: x0\[0\] = 1 is outside the bounds \[2, 3\] "
                r"\(scipy: `x0` is infeasible\)"):
            optd.least_squares(fun, problem.x0, jac=jac, method="trf",
                               bounds=([2.0, -1.0], [3.0, 2.0]),
                               client=self.client)
        with self.assertRaisesRegex(
                optd.InvalidArgument,
                "least_squares.f_scale is -1; it must be in"):
            optd.least_squares(fun, problem.x0, jac=jac, loss="cauchy",
                               f_scale=-1.0, client=self.client)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "least_squares.ftol is 0"):
            optd.least_squares(fun, problem.x0, jac=jac, ftol=0.0,
                               client=self.client)
        with self.assertRaisesRegex(optd.InvalidArgument, r"jacobian\[1\]"):
            optd.least_squares(
                fun, problem.x0,
                jac=lambda x: np.where(np.arange(6).reshape(3, 2) == 1,
                                       np.nan, jac(x)),
                client=self.client)


if __name__ == "__main__":
    unittest.main()
