"""The CreateSessionRequest fields for bounds, gradient sources, gradient
checks and data parallelism, as the client writes them (no server needed),
and the minimize() arguments refused before anything is sent."""

import math
import unittest

import grpc
import numpy as np
from scipy.optimize import Bounds as ScipyBounds

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd import bounds as optd_bounds
from optd._proto import optimizer_pb2 as pb
from optd.vectors import decode

INF = math.inf


def create_request(x0, **kwargs) -> pb.CreateSessionRequest:
    client = optd.Client(grpc.insecure_channel("127.0.0.1:1"))
    try:
        request, _ = client._create_request(
            x0, "lbfgs", None, None, None, None, 0, **kwargs)
        return request
    finally:
        client.close()


class ResolveBoundsTest(unittest.TestCase):

    def check(self, bounds, n, lower, upper, pairs_first=False):
        got = optd.resolve_bounds(bounds, n, pairs_first)
        np.testing.assert_array_equal(got[0], lower)
        np.testing.assert_array_equal(got[1], upper)
        self.assertEqual(got[0].dtype, np.float64)

    def test_lower_and_upper(self):
        self.check(([0, 1, 2], [3, 4, 5]), 3, [0, 1, 2], [3, 4, 5])
        self.check((np.zeros(3), None), 3, [0, 0, 0], [INF] * 3)
        self.check((None, 1.5), 3, [-INF] * 3, [1.5] * 3)
        self.check(([0, None, -INF], [INF, 2, None]), 3, [0, -INF, -INF],
                   [INF, 2, INF])
        self.check((0, 1), 1, [0], [1])  # n = 1: scalars, not a pair list
        self.check({"lower": [1, 2]}, 2, [1, 2], [INF, INF])

    def test_scipy_bounds_and_pairs(self):
        self.check(ScipyBounds([0, -1, -INF], [1, INF, 3]), 3, [0, -1, -INF],
                   [1, INF, 3])
        self.check(ScipyBounds(0, 1), 3, [0, 0, 0], [1, 1, 1])
        self.check([(0, 1), (None, 2), (-1, None)], 3, [0, -INF, -1],
                   [1, 2, INF])
        self.check([(0, 1)], 1, [0], [1])

    def test_two_by_two_reads_as_the_caller_says(self):
        ambiguous = [(0, 1), (2, 3)]
        self.check(ambiguous, 2, [0, 1], [2, 3])  # (lower, upper)
        self.check(ambiguous, 2, [0, 2], [1, 3], pairs_first=True)

    def test_shapes_that_fit_no_form_are_refused(self):
        for bounds in ([(0, 1)] * 3, ([0, 1], [2, 3, 4]), (np.zeros(2),),
                       5.0, [(0, 1, 2)] * 3, ("a", "b")):
            with self.subTest(bounds=bounds):
                with self.assertRaises(optd.InvalidArgument):
                    optd.resolve_bounds(bounds, 4)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "upper side has 2 elements; x0 has 3"):
            optd.resolve_bounds(([0, 0, 0], [1, 1]), 3)

    def test_message_leaves_a_side_that_bounds_nothing_unset(self):
        message = optd_bounds.bounds_message(([0, -INF], None), 2)
        self.assertTrue(message.HasField("lower"))
        self.assertFalse(message.HasField("upper"))
        np.testing.assert_array_equal(decode(message.lower), [0, -INF])
        message = optd_bounds.bounds_message(([-INF, -INF], [INF, 5]), 2)
        self.assertFalse(message.HasField("lower"))
        np.testing.assert_array_equal(decode(message.upper), [INF, 5])
        self.assertIsNone(optd_bounds.bounds_message(None, 2))
        # NaN is sent, for the server to refuse naming the index.
        message = optd_bounds.bounds_message(([0, math.nan], 1), 2)
        self.assertTrue(math.isnan(decode(message.lower)[1]))


class CreateRequestTest(unittest.TestCase):

    def test_defaults_set_nothing_new(self):
        request = create_request([1.0, 2.0])
        for field in ("bounds", "finite_difference", "gradient_check",
                      "data_parallel"):
            self.assertFalse(request.HasField(field), field)
        self.assertEqual(request.gradient_source,
                         pb.GRADIENT_SOURCE_UNSPECIFIED)

    def test_bounds(self):
        request = create_request(np.zeros(3), bounds=(0, [1, 2, 3]))
        np.testing.assert_array_equal(decode(request.bounds.lower), [0] * 3)
        np.testing.assert_array_equal(decode(request.bounds.upper),
                                      [1, 2, 3])

    def test_finite_differences(self):
        request = create_request([0.0], gradient_source="finite_difference")
        self.assertEqual(request.gradient_source,
                         pb.GRADIENT_SOURCE_FINITE_DIFFERENCE)
        self.assertFalse(request.HasField("finite_difference"))
        request = create_request([0.0], finite_difference={
            "scheme": "forward", "relative_step": 1e-7})
        self.assertEqual(request.gradient_source,
                         pb.GRADIENT_SOURCE_FINITE_DIFFERENCE)
        self.assertEqual(request.finite_difference.scheme,
                         pb.FiniteDifferenceOptions.SCHEME_FORWARD)
        self.assertEqual(request.finite_difference.relative_step, 1e-7)
        request = create_request([0.0], gradient_source="client")
        self.assertEqual(request.gradient_source, pb.GRADIENT_SOURCE_CLIENT)
        for source in ("fd", "FINITE-DIFFERENCES",
                       optd.GradientSource.FINITE_DIFFERENCE):
            self.assertEqual(
                create_request([0.0], gradient_source=source).gradient_source,
                pb.GRADIENT_SOURCE_FINITE_DIFFERENCE)

    def test_gradient_check_and_data_parallel(self):
        request = create_request([0.0], gradient_check=True,
                                 data_parallel_workers=4)
        self.assertTrue(request.HasField("gradient_check"))
        self.assertEqual(list(request.gradient_check.at_iterations), [])
        self.assertEqual(request.data_parallel.workers, 4)
        request = create_request([0.0], gradient_check={
            "at_iterations": [0, 5], "every_iterations": 10,
            "relative_step": 1e-5})
        self.assertEqual(list(request.gradient_check.at_iterations), [0, 5])
        self.assertEqual(request.gradient_check.every_iterations, 10)
        self.assertEqual(request.gradient_check.relative_step, 1e-5)
        self.assertFalse(create_request(
            [0.0], gradient_check=False).HasField("gradient_check"))

    def test_bad_options_are_refused_naming_the_field(self):
        cases = [
            (dict(gradient_source="numerical"), "gradient_source"),
            (dict(finite_difference={"scheme": "five-point"}),
             "finite_difference.scheme"),
            (dict(finite_difference={"h": 1e-6}), "finite_difference.h"),
            (dict(gradient_check={"at_iterations": ["x"]}),
             "gradient_check.at_iterations"),
            (dict(bounds=([0, 1, 2], 1)), "bounds"),
        ]
        for kwargs, field in cases:
            with self.subTest(field=field):
                with self.assertRaisesRegex(optd.InvalidArgument, field):
                    create_request([0.0, 0.0], **kwargs)


class MinimizeArgumentsTest(unittest.TestCase):

    def test_refused_before_connecting(self):
        client = optd.Client(grpc.insecure_channel("127.0.0.1:1"))
        self.addCleanup(client.close)
        for kwargs in (dict(jac="cs"), dict(workers=0),
                       dict(constraints=[{"type": "eq"}]),
                       dict(callback=3), dict(callback=print, workers=2),
                       dict(jac=True, options={"finite_diff_rel_step": 1e-6})):
            with self.subTest(kwargs=kwargs):
                with self.assertRaises(optd.InvalidArgument):
                    optd.minimize(lambda x: 0.0, [0.0], client=client,
                                  **kwargs)


if __name__ == "__main__":
    unittest.main()
