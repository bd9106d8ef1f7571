"""optd.curvature and optd.diagnose against numpy.linalg.eigvalsh on
matrices with known spectra, and what they refuse."""

import unittest

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import ServerTestCase


def with_spectrum(eigenvalues, seed):
    q, _ = np.linalg.qr(
        np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    return (q * eigenvalues) @ q.T


class CurvatureTest(ServerTestCase):

    def check(self, result, h):
        lam = np.linalg.eigvalsh(h)
        k = len(result.smallest)
        np.testing.assert_allclose(result.smallest, lam[:k], rtol=1e-6)
        np.testing.assert_allclose(result.largest, lam[::-1][:k], rtol=1e-6)

    def test_hessian_vector_products(self):
        h = with_spectrum(np.geomspace(0.1, 100.0, 60), 1)
        result = optd.curvature(np.zeros(60), hvp=lambda x, v: h @ v,
                                client=self.client)
        self.check(result, h)
        self.assertTrue(result.converged)
        self.assertAlmostEqual(result.condition_number, 1000.0, delta=1e-3)
        self.assertAlmostEqual(result.density_weights.sum(), 1.0, places=12)
        grid = np.linspace(-10.0, 110.0, 2001)
        # The smoothed density integrates to 1 over a grid that covers it.
        self.assertAlmostEqual(
            np.trapz(result.density(grid, sigma=2.0), grid), 1.0, places=3)

    def test_gradient_differences(self):
        h = with_spectrum(np.linspace(-2.0, 7.0, 30), 2)
        result = optd.curvature(np.ones(30), grad=lambda x: h @ x,
                                options={"k": 2}, client=self.client)
        self.check(result, h)
        self.assertEqual(len(result.smallest), 2)
        self.assertEqual(result.condition_number, float("inf"))

    def test_diagnose_an_lbfgs_session_at_its_best_point(self):
        a = np.diag([1.0, 4.0, 9.0])
        with self.client.create_session([1.0, 1.0, 1.0], "lbfgs",
                                        session_id="quad",
                                        keep=True) as session:
            trial = session.ask()
            trial.tell(0.5 * trial.x @ a @ trial.x, a @ trial.x)
        result = optd.diagnose(self.client, "quad", hvp=lambda x, v: a @ v,
                               point="best", keep=False)
        np.testing.assert_allclose(result.x, [1.0, 1.0, 1.0])
        np.testing.assert_allclose(result.smallest, [1.0, 4.0, 9.0],
                                   rtol=1e-12)
        np.testing.assert_allclose(result.largest, [9.0, 4.0, 1.0],
                                   rtol=1e-12)

    def test_errors_name_the_problem(self):
        with self.assertRaises(optd.NotFound) as caught:
            optd.diagnose(self.client, "nobody", hvp=lambda x, v: v)
        self.assertIn('session "nobody" not found', str(caught.exception))
        with self.assertRaises(optd.InvalidArgument) as caught:
            optd.curvature([0.0, 0.0], hvp=lambda x, v: v,
                           options={"probes": 0}, client=self.client)
        self.assertIn("curvature.probes is 0; it must be in [1, 100]",
                      str(caught.exception))
        with self.assertRaises(optd.InvalidArgument) as caught:
            optd.diagnose(self.client, "x", hvp=lambda x, v: v,
                          point="worst")
        self.assertIn("point is 'worst'", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
