"""optd.least_squares against scipy 1.10's least_squares(method='lm') and
(method='trf'): the same residual and Jacobian evaluations (nfev, njev),
status and x, on Moré-Garbow-Hillstrom problems (tests/data/mgh_problems.py),
with callable Jacobians and with jac='2-point' (server-side MINPACK forward
differences, nfev counting them as scipy's lmdif does), in boxes
(tests/data/bounded_problems.py) and with each robust loss on a fit with
outliers (tests/data/gen_scipy_trf.py's rational_outliers); the generic
Session API's residual and Jacobian tells; and what it refuses."""

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

        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "jac is 'cs'; use a callable"):
            optd.least_squares(fun, problem.x0, jac="cs",
                               client=self.client)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "diff_step is for finite-difference"):
            optd.least_squares(fun, problem.x0, jac=jac, diff_step=1e-6,
                               client=self.client)
        with self.assertRaisesRegex(
                optd.InvalidArgument,
                r"finite_difference.relative_step is 0.5; it must be in "
                r"\(0, 0.1\]"):
            optd.least_squares(fun, problem.x0, diff_step=0.5,
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


# Problems of mgh_problems.py for the '2-point' comparison: small and large
# n, m == n and m > n, zero and nonzero residual, ftol, xtol and gtol ends.
TWO_POINT_PROBLEMS = ("rosenbrock", "freudenstein_roth", "beale", "bard",
                      "gaussian", "box_3d", "powell_singular", "biggs_exp6",
                      "osborne_1", "watson_6", "linear_rank_1_10",
                      "brown_almost_linear_10")


class LeastSquaresTwoPointTest(ServerTestCase):
    """jac='2-point': the server's forward differences against scipy's
    lmdif, on the same Python residuals, so the arithmetic is the same and
    every count must be equal."""

    def compare(self, name, **options):
        problem = mgh_problems.find_problem(name)

        def fun(x):
            return problem.residuals(x)[0]

        expected = scipy.optimize.least_squares(
            fun, problem.x0, jac="2-point", method="lm", **options)
        result = optd.least_squares(fun, problem.x0, jac="2-point",
                                    client=self.client, **options)
        self.assertEqual(result.nfev, expected.nfev, name)
        self.assertIsNone(result.njev, name)
        self.assertIsNone(expected.njev, name)
        self.assertEqual(result.status, expected.status, name)
        self.assertEqual(result.message, expected.message, name)
        np.testing.assert_array_equal(result.x, expected.x, err_msg=name)
        np.testing.assert_array_equal(result.fun, expected.fun,
                                      err_msg=name)
        # 0.5 r.r: Eigen's dot and numpy's sum in other orders.
        np.testing.assert_allclose(result.cost, expected.cost, rtol=1e-15,
                                   atol=1e-300, err_msg=name)
        # scipy's result.jac is a fresh approx_derivative '3-point' J; optd's
        # is fdjac2's at x (documented in docs/api.md): bit for bit what
        # MINPACK's rule gives with these residuals.
        np.testing.assert_array_equal(
            result.jac, self.fdjac2(fun, result.x, options.get("diff_step")),
            err_msg=name)
        return result

    @staticmethod
    def fdjac2(fun, x, diff_step=None):
        """MINPACK fdjac2 as scipy's lmdif runs it: eps = sqrt(max(epsfcn,
        dpmpar(1))), dpmpar(1) = 2.22044604926e-16."""
        epsfcn = np.finfo(float).eps if diff_step is None else diff_step**2
        eps = np.sqrt(max(epsfcn, 2.22044604926e-16))
        f0 = fun(x)
        jac = np.empty((f0.size, x.size))
        for j in range(x.size):
            h = eps * abs(x[j]) or eps
            xh = x.copy()
            xh[j] = x[j] + h
            jac[:, j] = (fun(xh) - f0) / h
        return jac

    def test_mgh_problems(self):
        for name in TWO_POINT_PROBLEMS:
            with self.subTest(name):
                self.compare(name)

    def test_default_jac_is_two_point(self):
        problem = mgh_problems.find_problem("beale")

        def fun(x):
            return problem.residuals(x)[0]

        expected = scipy.optimize.least_squares(fun, problem.x0, method="lm")
        result = optd.least_squares(fun, problem.x0, client=self.client)
        self.assertEqual(result.nfev, expected.nfev)
        np.testing.assert_array_equal(result.x, expected.x)
        # '3-point' and None run lmdif too, in scipy and here.
        for jac in ("3-point", None):
            result = optd.least_squares(fun, problem.x0, jac=jac,
                                        client=self.client)
            self.assertEqual(result.nfev, expected.nfev, jac)

    def test_options(self):
        # diff_step: epsfcn = diff_step**2; max_nfev counts the differences.
        self.compare("bard", diff_step=1e-6)
        self.compare("osborne_1", max_nfev=40)
        self.compare("bard", x_scale="jac", ftol=1e-4)


class LeastSquaresSessionTest(ServerTestCase):
    """Residuals and Jacobians through the generic Session API."""

    def setUp(self):
        super().setUp()
        self.problem = mgh_problems.find_problem("bard")  # n = 3, m = 15

    def residuals(self, x):
        return self.problem.residuals(np.array(x))[0]

    def jacobian(self, x):
        return self.problem.residuals(np.array(x))[1]

    def test_trial_and_session_tell_residuals_and_jacobians(self):
        p = self.problem
        with self.client.create_session(
                p.x0, "least_squares", {"residuals": 15}) as session:
            trial = session.pending[0]
            self.assertEqual(trial.wants, optd.Wants.RESIDUALS_AND_JACOBIAN)
            answer = trial.tell(residuals=self.residuals(trial.x),
                                jacobian=self.jacobian(trial.x))
            tells = 1
            while not answer.finished:
                t = answer.trial
                told = {}
                if t.wants in (optd.Wants.RESIDUALS,
                               optd.Wants.RESIDUALS_AND_JACOBIAN):
                    told["residuals"] = self.residuals(t.x).tolist()
                if t.wants in (optd.Wants.JACOBIAN,
                               optd.Wants.RESIDUALS_AND_JACOBIAN):
                    told["jacobian"] = self.jacobian(t.x)
                # Alternate the two paths: Session.tell and Trial.tell.
                answer = (session.tell(t.trial_id, **told) if tells % 2
                          else t.tell(**told))
                tells += 1
            expected = scipy.optimize.least_squares(
                self.residuals, p.x0, jac=self.jacobian, method="lm")
            lsq = answer.summary.proto.least_squares
            self.assertEqual(lsq.nfev, expected.nfev)
            self.assertEqual(lsq.njev, expected.njev)
            self.assertEqual(lsq.cost, expected.cost)

    def test_wrong_lengths_are_refused(self):
        p = self.problem
        with self.client.create_session(
                p.x0, "least_squares", {"residuals": 15}) as session:
            trial = session.pending[0]
            with self.assertRaisesRegex(
                    optd.InvalidArgument,
                    r'residuals has 14 elements; session "[^"]+" has '
                    r'm = 15'):
                trial.tell(residuals=self.residuals(trial.x)[:14],
                           jacobian=self.jacobian(trial.x))
            with self.assertRaisesRegex(optd.InvalidArgument,
                                        "the tell has no jacobian"):
                trial.tell(residuals=self.residuals(trial.x))

    def test_finite_difference_batches_in_any_order(self):
        p = self.problem
        with self.client.create_session(
                p.x0, "least_squares", {"residuals": 15},
                gradient_source="finite_difference") as session:
            trials = session.pending
            # x0 and its n forward-difference points, all wanting residuals.
            self.assertEqual(len(trials), 4)
            self.assertEqual({t.batch_size for t in trials}, {4})
            while trials:
                answer = None
                for t in reversed(trials):
                    self.assertEqual(t.wants, optd.Wants.RESIDUALS)
                    answer = t.tell(residuals=self.residuals(t.x))
                trials = answer.trials
            expected = scipy.optimize.least_squares(
                self.residuals, p.x0, jac="2-point", method="lm")
            lsq = answer.summary.proto.least_squares
            self.assertEqual(lsq.nfev, expected.nfev)
            self.assertEqual(lsq.cost, expected.cost)
            info = session.info()
            self.assertEqual(info.proto.least_squares.max_nfev, 100 * 3 * 4)


if __name__ == "__main__":
    unittest.main()
