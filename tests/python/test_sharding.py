"""Sharded sessions through the Python client, against three real optd
replicas on loopback: the direct data path (each replica's slice sent and
read straight from it) gives bitwise the trials of a one-replica session, as
does the gateway path; export/import reshards; Adafactor with a matrix
cut mid-row."""

import socket
import unittest

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import OptdServer

N = 3 * 4096 + 500  # three full blocks and a short one


def free_ports(count):
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def rosen(x):
    """Extended Rosenbrock (f, g)."""
    x = np.asarray(x, dtype=np.float64)
    a = 1.0 - x[0::2]
    b = x[1::2] - x[0::2] ** 2
    g = np.empty_like(x)
    g[0::2] = -2.0 * a - 400.0 * x[0::2] * b
    g[1::2] = 200.0 * b
    return float(np.sum(a * a + 100.0 * b * b)), g


def rosen_hessian_blocks(x):
    """The extended Rosenbrock Hessian's 2 x 2 blocks: (h11, h12, h22)."""
    x1, x2 = x[0::2], x[1::2]
    return (2.0 - 400.0 * x2 + 1200.0 * x1 * x1, -400.0 * x1,
            np.full_like(x1, 200.0))


def rosen_hvp(x, v):
    """H(x) v of the extended Rosenbrock function."""
    h11, h12, h22 = rosen_hessian_blocks(np.asarray(x, dtype=np.float64))
    v = np.asarray(v, dtype=np.float64)
    hv = np.empty_like(v)
    hv[0::2] = h11 * v[0::2] + h12 * v[1::2]
    hv[1::2] = h12 * v[0::2] + h22 * v[1::2]
    return hv


def start_point():
    x0 = np.ones(N)
    x0[0::2] = -1.2
    return x0


class ShardingTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        ports = free_ports(3)
        peers = ",".join(f"127.0.0.1:{p}" for p in ports)
        cls.servers = [OptdServer(f"--port={port}", f"--peers={peers}",
                                  f"--replica_index={index}")
                       for index, port in enumerate(ports)]
        cls.clients = [optd.connect(s.address, timeout=60)
                       for s in cls.servers]

    @classmethod
    def tearDownClass(cls):
        for client in cls.clients:
            client.close()
        for server in cls.servers:
            code = server.stop()
            if code != 0:
                raise AssertionError(f"optd exited with {code} on SIGTERM")

    def run_lbfgs(self, session, tells=None):
        points = []
        trial = session.pending[0]
        count = 0
        while trial is not None and (tells is None or count < tells):
            points.append(np.array(trial.x))
            f, g = rosen(trial.x)
            trial = trial.tell(f, g).trial
            count += 1
        return points, trial

    def test_direct_and_gateway_paths_match_one_replica_bitwise(self):
        options = {"maxiter": 15}
        with self.clients[0].create_session(start_point(), "lbfgs",
                                            options) as single:
            reference, _ = self.run_lbfgs(single)
        for direct in (True, False):
            with self.clients[1].create_session(
                    start_point(), "lbfgs", options, shards=3,
                    direct=direct) as sharded:
                self.assertEqual(sharded.direct, direct)
                info = self.clients[1].get_session(sharded.session_id)
                self.assertEqual([s.replica for s in info.proto.shard_map],
                                 [1, 2, 0])
                points, _ = self.run_lbfgs(sharded)
                self.assertEqual(len(points), len(reference))
                for a, b in zip(points, reference):
                    self.assertTrue(np.array_equal(a, b))
                summary = sharded.summary
                self.assertIsNotNone(summary)

    def test_bounded_lbfgs_on_shards_matches_one_replica_bitwise(self):
        # L-BFGS-B (lbfgs with bounds) on three shards, both data paths: the
        # same trials, bit for bit, as on one replica; the box holds.
        options = {"maxiter": 15}
        lower = np.full(N, -1.1)
        upper = np.full(N, np.inf)
        upper[0::3] = 0.9
        bounds = (lower, upper)
        with self.clients[0].create_session(start_point(), "lbfgs", options,
                                            bounds=bounds) as single:
            reference, _ = self.run_lbfgs(single)
        self.assertGreater(len(reference), 10)
        self.assertTrue(all(np.all(p >= lower) and np.all(p <= upper)
                            for p in reference))
        # x0 (x_2i = -1.2) was projected onto the lower bound.
        self.assertEqual(reference[0][0], -1.1)
        for direct in (True, False):
            with self.clients[2].create_session(
                    start_point(), "lbfgs", options, shards=3, bounds=bounds,
                    direct=direct) as sharded:
                info = self.clients[2].get_session(sharded.session_id)
                self.assertEqual(len(info.proto.shard_map), 3)
                points, _ = self.run_lbfgs(sharded)
                self.assertEqual(len(points), len(reference))
                for a, b in zip(points, reference):
                    self.assertTrue(np.array_equal(a, b))

    def test_gradient_difference_diagnosis_on_shards_as_one_replica(self):
        # The gradient-difference source on three shards, direct path (the
        # default): each batch's points x +- h v come whole, the gradients go
        # to the replicas as slices; bitwise the one-replica diagnosis.
        results = []
        for shards in (1, 3):
            with self.clients[1].create_session(
                    start_point(), "lbfgs", {"maxiter": 2}, shards=shards,
                    session_id=f"gd-source-k{shards}", keep=True) as session:
                self.run_lbfgs(session, tells=3)
                results.append(optd.diagnose(
                    self.clients[1], session.session_id,
                    grad=lambda x: rosen(x)[1],
                    options={"k": 2, "max_steps": 12}, keep=False))
                session.delete()
        one, three = results
        self.assertGreater(one.products, 12)
        self.assertEqual(one.products, three.products)
        self.assertTrue(np.array_equal(one.smallest, three.smallest))
        self.assertTrue(np.array_equal(one.largest, three.largest))

    def test_diagnose_a_sharded_session_as_one_replica(self):
        # optd.diagnose of a K = 3 session: the diagnosis runs on three
        # shards, DiagnoseResponse.x is empty, and the client reads the
        # point back; the spectrum is bitwise the one-replica diagnosis.
        options = {"maxiter": 4}
        curvature = {"k": 2, "max_steps": 40}
        results = []
        for shards in (1, 3):
            with self.clients[0].create_session(
                    start_point(), "lbfgs", options, shards=shards,
                    session_id=f"diagnosed-k{shards}", keep=True) as session:
                self.run_lbfgs(session, tells=6)
                result = optd.diagnose(self.clients[0], session.session_id,
                                       hvp=rosen_hvp, options=curvature,
                                       keep=False)
                results.append(result)
                session.delete()
        one, three = results
        self.assertEqual(three.x.shape, (N,))
        self.assertTrue(np.array_equal(one.x, three.x))
        self.assertEqual(one.products, three.products)
        self.assertTrue(np.array_equal(one.smallest, three.smallest))
        self.assertTrue(np.array_equal(one.largest, three.largest))
        self.assertEqual(one.condition_number, three.condition_number)
        self.assertEqual(len(three.largest), 2)
        # Ritz values lie within the exact spectrum, the eigenvalues of the
        # Hessian's 2 x 2 blocks.
        h11, h12, h22 = rosen_hessian_blocks(three.x)
        mean = (h11 + h22) / 2
        root = np.sqrt(((h11 - h22) / 2) ** 2 + h12**2)
        low, high = np.min(mean - root), np.max(mean + root)
        slack = 1e-9 * max(abs(low), abs(high))
        self.assertLessEqual(three.largest[0], high + slack)
        self.assertGreaterEqual(three.smallest[0], low - slack)

    def test_pairs_and_gradient_of_a_sharded_session_are_refused(self):
        # They live on the replicas and are not gathered: FAILED_PRECONDITION
        # naming why, and the session goes on unchanged.
        with self.clients[0].create_session(start_point(), "lbfgs",
                                            {"maxiter": 15},
                                            shards=3) as sharded:
            self.run_lbfgs(sharded)
            before = self.clients[0].get_session(sharded.session_id)
            with self.assertRaisesRegex(optd.FailedPrecondition,
                                        "curvature pairs of a sharded"):
                sharded.curvature_pairs()
            with self.assertRaisesRegex(optd.FailedPrecondition,
                                        "gradient of a sharded"):
                self.clients[0].get_session(sharded.session_id,
                                            include_gradient=True)
            after = self.clients[0].get_session(sharded.session_id)
            self.assertEqual(after.tells, before.tells)
            self.assertEqual(after.iterations, before.iterations)

    def test_data_parallel_steps_match_one_replica_bitwise(self):
        """Three workers' gradients averaged on the slices (docs/sharding.md
        "Data parallelism and finite differences"), told last worker first
        with weights k + 1.5: the one-replica session's iterates."""
        def run(client, **kwargs):
            with client.create_session(start_point(), "adam",
                                       {"lr": 1e-2, "max_steps": 8},
                                       data_parallel_workers=3,
                                       **kwargs) as session:
                points = []
                trials = list(session.pending)
                while trials:
                    self.assertEqual(len(trials), 3)
                    points.append(np.array(trials[0].x))
                    for trial in reversed(trials):
                        self.assertTrue(np.array_equal(trial.x, trials[0].x))
                        scale = 1.0 + 0.25 * trial.batch_index
                        f, g = rosen(trial.x)
                        answer = trial.tell(scale * f, scale * g,
                                            weight=trial.batch_index + 1.5)
                    trials = list(answer.trials)
                return points, np.array(session.summary.x)

        reference, x = run(self.clients[0])
        self.assertEqual(len(reference), 8)
        for direct in (True, False):
            points, sharded_x = run(self.clients[1], shards=3, direct=direct)
            self.assertEqual(len(points), len(reference))
            for a, b in zip(points, reference):
                self.assertTrue(np.array_equal(a, b))
            self.assertTrue(np.array_equal(sharded_x, x))

    def test_float32_adam_on_the_direct_path(self):
        options = {"lr": 1e-2, "dtype": "float32", "max_steps": 5}
        x0 = np.linspace(-1, 1, N).astype(np.float32)
        with self.clients[0].create_session(x0, "adam", options) as single:
            expected = []
            trial = single.pending[0]
            while trial is not None:
                expected.append(np.array(trial.x))
                trial = trial.tell(gradient=2.0 * trial.x).trial
        with self.clients[2].create_session(x0, "adam", options,
                                            shards=2) as sharded:
            self.assertTrue(sharded.direct)
            trial = sharded.pending[0]
            got = []
            while trial is not None:
                self.assertEqual(trial.x.dtype, np.float32)
                got.append(np.array(trial.x))
                trial = trial.tell(gradient=2.0 * trial.x).trial
            self.assertEqual(len(got), len(expected))
            for a, b in zip(got, expected):
                self.assertTrue(np.array_equal(a, b))

    def test_adafactor_with_a_matrix_cut_mid_row_on_both_paths(self):
        # A vector, a 96 x 130 matrix whose rows the shard boundaries (8192,
        # 12288) cut, and a vector: the row and column sums go from replica
        # to replica, bitwise as on one.
        layers = [(88, 0), (96, 130), (N - 88 - 96 * 130, 0)]
        options = {"beta1": 0.9, "dtype": "float32", "max_steps": 6}
        x0 = np.linspace(-1, 1, N).astype(np.float32)

        def run(session):
            points = []
            trial = session.pending[0]
            while trial is not None:
                points.append(np.array(trial.x))
                trial = trial.tell(gradient=2.0 * trial.x + 0.5).trial
            return points

        with self.clients[0].create_session(x0, "adafactor", options,
                                            layers=layers) as single:
            expected = run(single)
        self.assertEqual(len(expected), 6)
        for direct in (True, False):
            with self.clients[1].create_session(
                    x0, "adafactor", options, layers=layers, shards=3,
                    direct=direct) as sharded:
                self.assertEqual(sharded.direct, direct)
                got = run(sharded)
                self.assertEqual(len(got), len(expected))
                for a, b in zip(got, expected):
                    self.assertEqual(a.dtype, np.float32)
                    self.assertTrue(np.array_equal(a, b))

    def test_missing_slice_is_refused_and_changes_nothing(self):
        with self.clients[0].create_session(start_point(), "lbfgs",
                                            shards=2) as sharded:
            trial = sharded.pending[0]
            f, _ = rosen(trial.x)
            request = optd._proto.optimizer_pb2.TellRequest(
                session_id=sharded.session_id, trial_id=trial.trial_id,
                value=f, sliced=True)
            with self.assertRaises(optd.FailedPrecondition) as raised:
                self.clients[0]._unary("Tell", request)
            self.assertIn("has no gradient slice of trial 1",
                          str(raised.exception))
            info = self.clients[0].get_session(sharded.session_id)
            self.assertEqual(info.tells, 0)
            self.assertEqual(info.pending_trial_ids, [trial.trial_id])

    def test_export_and_import_reshards(self):
        options = {"maxiter": 12}
        with self.clients[0].create_session(start_point(), "lbfgs",
                                            options) as single:
            reference, _ = self.run_lbfgs(single)
        sharded = self.clients[0].create_session(
            start_point(), "lbfgs", options, shards=3, session_id="py-reshard")
        points, _ = self.run_lbfgs(sharded, tells=5)
        snapshot = self.clients[0].export_session("py-reshard")
        sharded.delete()
        moved = self.clients[1].import_session(snapshot, "py-reshard-2",
                                               keep=False, shards=2)
        self.assertTrue(moved.direct)
        more, _ = self.run_lbfgs(moved)
        moved.delete()
        points += more
        self.assertEqual(len(points), len(reference))
        for a, b in zip(points, reference):
            self.assertTrue(np.array_equal(a, b))


if __name__ == "__main__":
    unittest.main()
