"""optd.least_squares against scipy 1.10's least_squares(method='lm'): the
same residual and Jacobian evaluations (nfev, njev), status and x, on
Moré-Garbow-Hillstrom problems (tests/data/mgh_problems.py); and what it
refuses."""

import unittest

import numpy as np
import scipy.optimize

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
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

    def test_refusals(self):
        problem = mgh_problems.find_problem("beale")

        def fun(x):
            return problem.residuals(x)[0]

        def jac(x):
            return problem.residuals(x)[1]

        with self.assertRaises(optd.InvalidArgument):
            optd.least_squares(fun, problem.x0, jac="2-point",
                               client=self.client)
        with self.assertRaises(optd.InvalidArgument):
            optd.least_squares(fun, problem.x0, jac=jac, method="trf",
                               client=self.client)
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
