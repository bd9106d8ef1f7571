"""optd.minimize as a drop-in for scipy.optimize.minimize (issue 20):
callbacks in both of scipy's forms, scipy's trust-region method names,
hess for trust-ncg, tol and option edge values, variables all fixed by
bounds, return_all, and the refusal of jac="cs". Each result is held to
scipy 1.10's own run of the same problem where scipy runs it."""

import unittest

import numpy as np
import scipy.optimize
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import rosen, rosen_der, rosen_hess, rosen_hess_prod

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import ServerTestCase

X0 = np.array([-1.2, 1.0, -1.2, 1.0])


def rosen_fg(x):
    return rosen(x), rosen_der(x)


class CallbackTest(ServerTestCase):

    def test_callback_sees_each_iterate_in_order_as_scipy(self):
        ours, theirs = [], []
        result = optd.minimize(rosen_fg, X0, jac=True, method="L-BFGS-B",
                               callback=lambda xk: ours.append(xk.copy()),
                               client=self.client)
        expected = scipy.optimize.minimize(
            rosen_fg, X0, jac=True, method="L-BFGS-B",
            callback=lambda xk: theirs.append(xk.copy()))
        self.assertTrue(result.success, result.message)
        self.assertEqual(len(ours), result.nit)
        self.assertEqual(len(ours), len(theirs))
        # optd's L-BFGS is scipy's, evaluation for evaluation; the
        # iterates agree to rounding (measured: 7.5e-11 relative at most).
        assert_allclose(np.array(ours), np.array(theirs), rtol=1e-9,
                        atol=1e-12)
        assert_array_equal(ours[-1], result.x)

    def test_intermediate_result_form(self):
        seen = []

        def callback(intermediate_result):
            seen.append(intermediate_result)

        result = optd.minimize(rosen_fg, X0, jac=True, callback=callback,
                               client=self.client)
        self.assertEqual(len(seen), result.nit)
        for k, res in enumerate(seen, start=1):
            self.assertIsInstance(res, optd.OptimizeResult)
            self.assertEqual(res.nit, k)
            self.assertEqual(res.fun, rosen(res.x))

    def test_stop_iteration_stops_the_session(self):
        calls = []

        def callback(xk):
            calls.append(xk)
            if len(calls) == 3:
                raise StopIteration

        result = optd.minimize(rosen_fg, X0, jac=True, callback=callback,
                               keep=True, client=self.client)
        self.assertEqual(len(calls), 3)
        self.assertFalse(result.success)
        self.assertEqual(result.status, 99)
        self.assertEqual(result.message, "`callback` raised `StopIteration`.")
        self.assertEqual(result.nit, 3)
        info = self.client.session(result.session_id).info()
        self.assertEqual(info.state, optd.SessionState.STOPPED)

    def test_trust_region_callback_and_return_all(self):
        seen = []
        result = optd.minimize(rosen, X0, jac=rosen_der, hess=rosen_hess,
                               method="trust-exact",
                               callback=lambda xk: seen.append(xk),
                               options={"return_all": True},
                               client=self.client)
        expected = scipy.optimize.minimize(
            rosen, X0, jac=rosen_der, hess=rosen_hess, method="trust-exact",
            options={"return_all": True})
        self.assertEqual(len(seen), result.nit)
        self.assertEqual(len(result.allvecs), result.nit + 1)
        assert_array_equal(result.allvecs[0], X0)
        self.assertEqual(len(result.allvecs), len(expected.allvecs))
        assert_allclose(result.allvecs[-1], expected.allvecs[-1], rtol=1e-9)

    def test_callback_needs_one_worker(self):
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "callback and options.return_all need "
                                    "workers=1"):
            optd.minimize(rosen, X0, jac=None, callback=print, workers=2,
                          client=self.client)


class ScipyMethodNamesTest(ServerTestCase):

    def test_trust_exact_is_scipys(self):
        result = optd.minimize(rosen, X0, jac=rosen_der, hess=rosen_hess,
                               method="trust-exact", client=self.client)
        expected = scipy.optimize.minimize(rosen, X0, jac=rosen_der,
                                           hess=rosen_hess,
                                           method="trust-exact")
        self.assertTrue(result.success, result.message)
        self.assertEqual(result.nit, expected.nit)
        self.assertEqual(result.nfev, expected.nfev)
        assert_allclose(result.x, expected.x, rtol=1e-9)

    def test_trust_ncg_with_hess_is_the_hessp_run(self):
        by_hessp = optd.minimize(rosen, X0, jac=rosen_der,
                                 hessp=rosen_hess_prod, method="trust-ncg",
                                 client=self.client)
        by_hess = optd.minimize(rosen, X0, jac=rosen_der, hess=rosen_hess,
                                method="trust-ncg", client=self.client)
        expected = scipy.optimize.minimize(rosen, X0, jac=rosen_der,
                                           hess=rosen_hess,
                                           method="trust-ncg")
        self.assertTrue(by_hess.success, by_hess.message)
        self.assertEqual(by_hess.nit, by_hessp.nit)
        assert_allclose(by_hess.x, by_hessp.x, rtol=1e-12)
        self.assertEqual(by_hess.nit, expected.nit)
        assert_allclose(by_hess.x, expected.x, rtol=1e-7)

    def test_trust_ncg_takes_scipys_hessian_approximations(self):
        # "2-point" etc.: H p from gradient differences; BFGS() / SR1():
        # the limited-memory quasi-Newton model with that update.
        for hess in ("2-point", "3-point", "cs", scipy.optimize.BFGS(),
                     scipy.optimize.SR1()):
            result = optd.minimize(rosen, X0, jac=rosen_der, hess=hess,
                                   method="trust-ncg", keep=True,
                                   client=self.client)
            self.assertTrue(result.success, (hess, result.message))
            assert_allclose(result.x, np.ones(4), rtol=1e-4)
            options = self.client.get_session(result.session_id).options
            self.client.delete_session(result.session_id)
            if isinstance(hess, str):
                self.assertEqual(options["subproblem"],
                                 "SUBPROBLEM_NEWTON_CG_FD")
            else:
                self.assertEqual(options["subproblem"],
                                 "SUBPROBLEM_QUASI_NEWTON")

    def test_trust_ncg_needs_second_derivatives_as_scipy(self):
        with self.assertRaisesRegex(
                ValueError, "Either the Hessian or the Hessian-vector "
                "product is required"):
            optd.minimize(rosen, X0, jac=rosen_der, method="trust-ncg",
                          client=self.client)

    def test_trust_krylov_is_served(self):
        result = optd.minimize(rosen, X0, jac=rosen_der,
                               hessp=rosen_hess_prod, method="trust-krylov",
                               options={"inexact": False},
                               client=self.client)
        self.assertTrue(result.success, result.message)
        assert_allclose(result.x, np.ones(4), rtol=1e-4)

    def test_trust_exact_needs_hess(self):
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "Hessian matrix is required for trust "
                                    "region exact minimization"):
            optd.minimize(rosen, X0, jac=rosen_der, method="trust-exact",
                          client=self.client)

    def test_trust_methods_take_tol_as_gtol(self):
        loose = optd.minimize(rosen, X0, jac=rosen_der, hess=rosen_hess,
                              method="trust-exact", tol=1e-1,
                              client=self.client)
        expected = scipy.optimize.minimize(rosen, X0, jac=rosen_der,
                                           hess=rosen_hess,
                                           method="trust-exact", tol=1e-1)
        self.assertEqual(loose.nit, expected.nit)
        self.assertLessEqual(np.linalg.norm(rosen_der(loose.x)), 1e-1)


class EdgeValuesTest(ServerTestCase):

    def test_tol_one_is_scipys(self):
        result = optd.minimize(rosen_fg, X0, jac=True, method="L-BFGS-B",
                               tol=1, client=self.client)
        expected = scipy.optimize.minimize(rosen_fg, X0, jac=True,
                                           method="L-BFGS-B", tol=1)
        self.assertEqual(result.nit, expected.nit)
        self.assertEqual(result.nfev, expected.nfev)
        self.assertEqual(result.message, expected.message)

    def test_every_variable_fixed_by_bounds(self):
        bounds = [(0.5, 0.5), (2.0, 2.0)]
        result = optd.minimize(rosen_fg, [0.0, 0.0], jac=True,
                               bounds=bounds, client=self.client)
        expected = scipy.optimize.minimize(rosen_fg, [0.0, 0.0], jac=True,
                                           bounds=bounds, method="L-BFGS-B")
        self.assertTrue(result.success)
        self.assertEqual(result.message, expected.message)
        self.assertEqual(result.message,
                         "All independent variables were fixed by bounds.")
        assert_array_equal(result.x, expected.x)
        self.assertEqual(result.fun, expected.fun)
        self.assertEqual(result.nfev, 1)

    def test_complex_step_is_refused_with_the_reason(self):
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "jac is 'cs'.*'2-point', '3-point'"):
            optd.minimize(rosen, X0, jac="cs", client=self.client)

    def test_negative_ftol_names_the_field(self):
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    r"lbfgs\.ftol is -1; it must be in "
                                    r"\[0, inf\)"):
            optd.minimize(rosen_fg, X0, jac=True, options={"ftol": -1},
                          client=self.client)


class HessInvTest(ServerTestCase):
    """res.hess_inv: scipy's LbfgsInvHessProduct of the session's pairs."""

    def test_scipys_pairs_and_the_final_steps(self):
        # Before the memory wraps, scipy's pairs are optd's but for the
        # final step's: L-BFGS-B tests convergence before its memory update
        # and leaves that pair out; optd's hess_inv has it.
        options = {"maxcor": 50}
        result = optd.minimize(rosen_fg, X0, jac=True, options=options,
                               keep=True, client=self.client)
        expected = scipy.optimize.minimize(rosen_fg, X0, jac=True,
                                           method="L-BFGS-B",
                                           options=options)
        s, y = self.client.session(result.session_id).curvature_pairs()
        self.client.delete_session(result.session_id)
        self.assertEqual(result.nit, expected.nit)
        self.assertLess(result.nit, 50)
        self.assertIsInstance(result.hess_inv,
                              scipy.optimize.LbfgsInvHessProduct)
        self.assertEqual(len(s), result.nit)
        assert_allclose(s[:-1], expected.hess_inv.sk, rtol=1e-8, atol=1e-12)
        assert_allclose(y[:-1], expected.hess_inv.yk, rtol=1e-7, atol=1e-10)
        assert_allclose(
            scipy.optimize.LbfgsInvHessProduct(s[:-1], y[:-1]).todense(),
            expected.hess_inv.todense(), rtol=1e-6, atol=1e-9)
        assert_allclose(result.hess_inv.todense(),
                        scipy.optimize.LbfgsInvHessProduct(s, y).todense())

    def test_after_the_wrap_the_newest_pair_satisfies_the_secant(self):
        # 33 iterations with memory 5: scipy's ring buffer has wrapped; the
        # pairs optd sends are oldest first, so H y = s for the newest.
        result = optd.minimize(rosen_fg, X0, jac=True,
                               options={"maxcor": 5}, keep=True,
                               client=self.client)
        self.assertGreater(result.nit, 5)
        s, y = self.client.session(result.session_id).curvature_pairs()
        self.client.delete_session(result.session_id)
        self.assertEqual(s.shape, (5, 4))
        assert_allclose(result.hess_inv.matvec(y[-1]), s[-1], rtol=1e-9)
        assert_allclose(result.hess_inv.todense(),
                        scipy.optimize.LbfgsInvHessProduct(s, y).todense())

    def test_finite_difference_runs_have_it_and_the_servers_jac(self):
        result = optd.minimize(rosen, X0, jac=None, client=self.client)
        self.assertTrue(result.success, result.message)
        assert_allclose(result.jac, rosen_der(result.x), atol=1e-4)
        self.assertEqual(result.hess_inv.shape, (4, 4))

    def test_fixed_variables_have_no_finite_difference_derivative(self):
        bounds = [(-2, 2), (1.0, 1.0), (-2, 2), (1.0, 1.0)]
        result = optd.minimize(rosen, X0, jac="2-point", bounds=bounds,
                               client=self.client)
        self.assertTrue(np.isnan(result.jac[1]) and np.isnan(result.jac[3]))
        self.assertTrue(np.all(np.isfinite(result.jac[[0, 2]])))

    def test_opting_out_and_other_solvers(self):
        result = optd.minimize(rosen_fg, X0, jac=True, hess_inv=False,
                               client=self.client)
        self.assertNotIn("hess_inv", result)
        result = optd.minimize(rosen, X0, jac=rosen_der, hess=rosen_hess,
                               method="trust-exact", client=self.client)
        self.assertNotIn("hess_inv", result)

    def test_solvers_without_pairs_are_failed_precondition(self):
        with self.client.create_session(X0, "adam") as session:
            with self.assertRaisesRegex(
                    optd.FailedPrecondition,
                    "solver adam keeps no curvature pairs"):
                session.curvature_pairs()
            with self.assertRaisesRegex(
                    optd.FailedPrecondition,
                    "solver adam holds no gradient at its point"):
                self.client.get_session(session.session_id,
                                        include_gradient=True)


class ReportIterateTest(ServerTestCase):
    """Session.report_iterates on unary tells (the _wire path)."""

    def test_unary_tells_report_each_iterate(self):
        with self.client.create_session(X0, "lbfgs") as session:
            session.report_iterates = True
            iterates = []
            trial = session.ask()
            while trial is not None:
                answer = trial.tell(*rosen_fg(trial.x))
                if answer.iterate is not None:
                    iterates.append(answer.iterate)
                trial = answer.trial
            summary = session.summary
        self.assertEqual([it.iteration for it in iterates],
                         list(range(1, summary.iterations + 1)))
        self.assertEqual(iterates[-1].value, summary.value)
        self.assertEqual(iterates[-1].value, rosen(iterates[-1].x))

    def test_no_iterate_unless_asked(self):
        with self.client.create_session(X0, "lbfgs") as session:
            trial = session.ask()
            for _ in range(10):
                answer = trial.tell(*rosen_fg(trial.x))
                self.assertIsNone(answer.iterate)
                trial = answer.trial


if __name__ == "__main__":
    unittest.main()
