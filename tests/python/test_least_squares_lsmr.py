"""optd.least_squares(tr_solver='lsmr') against scipy 1.10's matrix-free
least_squares(method='trf', tr_solver='lsmr') with a LinearOperator jac
(tests/data/gen_scipy_trf_lsmr.py's runs): the same nfev, njev, status and
x on runs whose counts are not rounding-chaotic (see
solvers/least_squares/trf_lsmr_test.cc), with and without bounds and a
robust loss; a jac returning a LinearOperator picks 'lsmr' as scipy does;
tr_options; the generic Trial API's product tells; and what it refuses."""

import unittest

import numpy as np
import scipy.optimize
from scipy.sparse.linalg import LinearOperator

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import bounded_problems
import gen_scipy_trf
import mgh_problems
import optd
from optd_server import ServerTestCase


def operator(jac):
    """jac(x) -> a LinearOperator of the dense J, as a large-problem client
    would hand scipy one."""
    def op(x):
        j = jac(x)
        return LinearOperator(j.shape, matvec=lambda v: j.dot(np.ravel(v)),
                              rmatvec=lambda u: j.T.dot(np.ravel(u)))
    return op


class LeastSquaresLsmrTest(ServerTestCase):

    def compare(self, fun, jac, x0, name, **options):
        expected = scipy.optimize.least_squares(
            fun, x0.copy(), jac=operator(jac), method="trf",
            tr_solver="lsmr", **options)
        result = optd.least_squares(fun, x0.copy(), jac=operator(jac),
                                    tr_solver="lsmr", client=self.client,
                                    **options)
        self.assertEqual(result.method, "trf", name)
        self.assertEqual(result.nfev, expected.nfev, name)
        self.assertEqual(result.njev, expected.njev, name)
        self.assertEqual(result.status, expected.status, name)
        # Runs that stop on ftol end anywhere on a flat bottom: x agrees to
        # 1e-3 (soft_l1's fit: 7e-5), the cost to 1e-6.
        np.testing.assert_allclose(result.x, expected.x, rtol=1e-3,
                                   atol=1e-8, err_msg=name)
        np.testing.assert_allclose(result.cost, expected.cost, rtol=1e-6,
                                   atol=1e-12, err_msg=name)
        np.testing.assert_array_equal(result.active_mask,
                                      expected.active_mask)
        self.assertIsNone(result.jac)
        self.assertIsNone(result.covariance)
        self.assertGreater(result.lsmr_iterations, 0)
        return result

    def test_unbounded_boxes_and_losses(self):
        for name in ("rosenbrock", "beale", "bard", "kowalik_osborne"):
            p = mgh_problems.find_problem(name)
            self.compare(lambda x: p.residuals(x)[0],
                         lambda x: p.residuals(x)[1], p.x0.astype(float),
                         name)
        for name in ("rosenbrock_box", "bard_box", "wood_box"):
            entry = next(e for e in bounded_problems.TABLE if e[0] == name)
            box = bounded_problems.make(entry)
            p = mgh_problems.find_problem(entry[1])
            x0 = np.clip(p.x0.astype(float), box.lower, box.upper)
            self.compare(lambda x: p.residuals(x)[0],
                         lambda x: p.residuals(x)[1], x0, name,
                         bounds=(box.lower, box.upper))
        fun, jac, x0 = gen_scipy_trf.rational_outliers()
        self.compare(fun, jac, x0, "soft_l1", loss="soft_l1", f_scale=0.1)

    def test_a_linear_operator_jac_picks_lsmr(self):
        p = mgh_problems.find_problem("beale")
        calls = []

        def jac(x):
            calls.append(x.copy())
            return operator(lambda y: p.residuals(y)[1])(x)

        result = optd.least_squares(lambda x: p.residuals(x)[0], p.x0,
                                    jac=jac, client=self.client,
                                    tr_options={"atol": 1e-8, "btol": 1e-8,
                                                "maxiter": 4,
                                                "regularize": False})
        expected = scipy.optimize.least_squares(
            lambda x: p.residuals(x)[0], p.x0, jac=operator(
                lambda y: p.residuals(y)[1]),
            tr_options={"atol": 1e-8, "btol": 1e-8, "maxiter": 4,
                        "regularize": False})
        self.assertEqual(result.nfev, expected.nfev)
        self.assertEqual(result.njev, expected.njev)
        np.testing.assert_allclose(result.x, expected.x, rtol=1e-6)
        # jac is called once per point, as scipy's njev counts.
        self.assertEqual(len(calls), result.njev)

    def test_trial_api_tells_products(self):
        p = mgh_problems.find_problem("rosenbrock")
        with self.client.create_session(
                p.x0, "least_squares",
                {"residuals": 2, "tr_solver": "TR_SOLVER_LSMR"}) as session:
            trial = session.pending[0]
            self.assertEqual(trial.wants, optd.Wants.RESIDUALS)
            answer = trial.tell(residuals=p.residuals(np.array(trial.x))[0])
            seen = set()
            while not answer.finished:
                t = answer.trial
                seen.add(t.wants)
                r, j = p.residuals(np.array(t.x))
                if t.wants == optd.Wants.RESIDUALS:
                    answer = t.tell(residuals=r)
                elif t.wants == optd.Wants.JACOBIAN_VECTOR:
                    self.assertEqual(t.vector.size, 2)
                    answer = session.tell(t.trial_id,
                                          jacobian_vector=j @ t.vector)
                else:
                    answer = t.tell(jacobian_transpose_vector=j.T @ t.vector)
            self.assertEqual(seen, {optd.Wants.RESIDUALS,
                                    optd.Wants.JACOBIAN_VECTOR,
                                    optd.Wants.JACOBIAN_TRANSPOSE_VECTOR})
            lsq = answer.summary.proto.least_squares
            self.assertEqual(lsq.nfev, 25)
            self.assertEqual(lsq.njev, 18)

    def test_refusals(self):
        p = mgh_problems.find_problem("beale")

        def fun(x):
            return p.residuals(x)[0]

        jac = operator(lambda x: p.residuals(x)[1])
        with self.assertRaisesRegex(
                optd.InvalidArgument,
                "least_squares.tr_solver is TR_SOLVER_LSMR, which method LM "
                "does not serve"):
            optd.least_squares(fun, p.x0, jac=jac, method="lm",
                               client=self.client)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "optd takes one LSMR tolerance"):
            optd.least_squares(fun, p.x0, jac=jac, client=self.client,
                               tr_options={"atol": 1e-6, "btol": 1e-8})
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "tr_options 'damp' is not served"):
            optd.least_squares(fun, p.x0, jac=jac, client=self.client,
                               tr_options={"damp": 1.0})
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "tr_options are lsmr's"):
            optd.least_squares(fun, p.x0, jac=lambda x: p.residuals(x)[1],
                               tr_solver="exact", client=self.client,
                               tr_options={"maxiter": 3})
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "tr_solver is 'qr'"):
            optd.least_squares(fun, p.x0, jac=jac, tr_solver="qr",
                               client=self.client)
        with self.assertRaisesRegex(
                optd.InvalidArgument,
                "least_squares.x_scale_jac cannot be used with tr_solver"):
            optd.least_squares(fun, p.x0, jac=jac, x_scale="jac",
                               client=self.client)


if __name__ == "__main__":
    unittest.main()
