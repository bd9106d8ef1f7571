"""optd.least_squares with finite-difference Jacobians and method 'trf'
(bounds, robust losses) against scipy 1.10's least_squares, which calls
approx_derivative(fun, x, method=jac, f0=f, bounds=bounds) for each J: the
default jac ('2-point') with bounds, '3-point', a robust loss; nfev counts
trf's own residual evaluations and njev its Jacobians, as scipy's; and what
is refused (tr_solver='lsmr')."""

import unittest

import numpy as np
import scipy.optimize

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import bounded_problems
import gen_scipy_trf
import mgh_problems
import optd
from optd_server import ServerTestCase


class LeastSquaresTrfFiniteDifferenceTest(ServerTestCase):

    def compare(self, fun, x0, name, **options):
        expected = scipy.optimize.least_squares(fun, x0, **options)
        result = optd.least_squares(fun, x0, client=self.client, **options)
        self.assertEqual(result.method, "trf", name)
        self.assertEqual(result.nfev, expected.nfev, name)
        self.assertEqual(result.njev, expected.njev, name)
        self.assertEqual(result.status, expected.status, name)
        self.assertEqual(result.success, expected.success, name)
        # The same residuals and steps; the SVDs (Eigen's, LAPACK's) round
        # otherwise.
        np.testing.assert_allclose(result.x, expected.x, rtol=1e-7,
                                   atol=1e-10, err_msg=name)
        np.testing.assert_allclose(result.cost, expected.cost, rtol=1e-7,
                                   atol=1e-20, err_msg=name)
        np.testing.assert_array_equal(result.active_mask,
                                      expected.active_mask, err_msg=name)
        return result

    def test_default_jac_in_boxes(self):
        # Not penalty_1_10_box, trigonometric_10_box, biggs_exp6_box: their
        # '2-point' counts differ from scipy's (finite_difference_jacobian_
        # test.cc says how).
        for name in ("rosenbrock_box", "beale_box", "bard_box", "wood_box"):
            entry = next(e for e in bounded_problems.TABLE if e[0] == name)
            box = bounded_problems.make(entry)
            problem = mgh_problems.find_problem(entry[1])
            x0 = np.clip(problem.x0.astype(float), box.lower, box.upper)
            # No jac: scipy's default '2-point'; bounds make it trf.
            with self.subTest(name):
                result = self.compare(lambda x: problem.residuals(x)[0], x0, name,
                                      bounds=(box.lower, box.upper))
                self.assertTrue(np.any(result.active_mask != 0), name)

    def test_three_point_and_losses(self):
        fun, _, x0 = gen_scipy_trf.rational_outliers()
        box = scipy.optimize.Bounds([-np.inf, -np.inf, 0.0],
                                    [np.inf, 2.5, np.inf])
        self.compare(fun, x0, "3-point", jac="3-point", bounds=box)
        self.compare(fun, x0, "soft_l1", loss="soft_l1", f_scale=0.5,
                     bounds=box)
        self.compare(fun, x0, "huber", jac="3-point", loss="huber",
                     f_scale=0.1)
        problem = mgh_problems.find_problem("bard")
        self.compare(lambda x: problem.residuals(x)[0], problem.x0, "bard",
                     method="trf")

    def test_lsmr_is_refused(self):
        problem = mgh_problems.find_problem("beale")
        with self.assertRaisesRegex(
                optd.InvalidArgument,
                "jac is '2-point': finite-difference Jacobians are not served "
                "with tr_solver='lsmr'"):
            optd.least_squares(lambda x: problem.residuals(x)[0], problem.x0,
                               tr_solver="lsmr", client=self.client)


if __name__ == "__main__":
    unittest.main()
