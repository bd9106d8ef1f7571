"""The examples run against a real optd: the Python ones, the Node.js client
and the optctl transcript."""

import importlib.util
import json
import os
import shutil
import subprocess
import unittest

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import OPTCTL, OPTD, PYTHON, ROOT, ServerTestCase

EXAMPLES = ROOT / "examples"
NODE_DIR = EXAMPLES / "node"


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class ExamplesTest(ServerTestCase):

    def run_example(self, *command, timeout=300):
        env = dict(os.environ, OPTD_BINARY=str(OPTD),
                   OPTCTL_BINARY=str(OPTCTL))
        process = subprocess.run([str(c) for c in command], cwd=ROOT, env=env,
                                 capture_output=True, text=True,
                                 timeout=timeout)
        self.assertEqual(process.returncode, 0,
                         f"{command} failed:\n{process.stdout}\n"
                         f"{process.stderr}")
        return process.stdout

    @unittest.skipUnless(have("sklearn") and have("torch"),
                         "needs python3-sklearn and python3-torch")
    def test_digits_adamw_matches_local_adamw(self):
        out = self.run_example(PYTHON, EXAMPLES / "digits_adamw.py",
                               f"--address={self.server.address}",
                               "--steps=100")
        self.assertIn("OK: remote AdamW follows local AdamW", out)

    @unittest.skipUnless(have("scipy") and have("torch"),
                         "needs python3-scipy and python3-torch")
    def test_fit_lbfgs_torch_matches_scipy(self):
        out = self.run_example(PYTHON, EXAMPLES / "fit_lbfgs_torch.py",
                               f"--address={self.server.address}")
        self.assertIn("OK: optd's L-BFGS took scipy's evaluations", out)

    def run_hpo_loop(self, *flags):
        """The example's last line as a dict, and its whole output."""
        out = self.run_example(PYTHON, EXAMPLES / "hpo_loop.py", *flags)
        last = out.strip().splitlines()[-1]
        fields = dict(item.split("=") for item in last.split())
        self.assertEqual(set(fields),
                         {"optd_best", "optuna_best", "evaluations"}, last)
        return {k: float(v) for k, v in fields.items()}, out

    @unittest.skipUnless(have("sklearn") and have("optuna"),
                         "needs python3-sklearn and python3-optuna")
    def test_hpo_loop_tunes_with_workers_and_runs_optuna(self):
        result, out = self.run_hpo_loop(f"--address={self.server.address}",
                                        "--budget=30", "--workers=3")
        self.assertEqual(result["evaluations"], 30)
        # The validation NLPD at the box's center, where optd starts, is
        # 2.11; both methods must improve on it (the optimum is 1.049).
        for key in ("optd_best", "optuna_best"):
            self.assertLess(result[key], 1.5, out)
            self.assertGreater(result[key], 1.04, out)
        for count in ("10", "20", "30"):
            self.assertRegex(out, rf"\n\s+{count}\s+\d")
        self.assertIn("30 fits counted", out)
        # The script deleted its session.
        self.assertEqual(list(self.client.list_sessions(
            labels={"example": "hpo-loop"})), [])

    @unittest.skipUnless(have("sklearn") and have("optuna"),
                         "needs python3-sklearn and python3-optuna")
    def test_hpo_loop_starts_its_own_optd(self):
        env_address = os.environ.pop("OPTD_ADDRESS", None)
        try:
            result, _ = self.run_hpo_loop("--budget=12", "--workers=2",
                                          "--scheme=central")
        finally:
            if env_address is not None:
                os.environ["OPTD_ADDRESS"] = env_address
        self.assertEqual(result["evaluations"], 12)
        self.assertTrue(np.isfinite(result["optd_best"]))

    def test_optctl_session_transcript(self):
        out = self.run_example("bash", EXAMPLES / "optctl_session.sh",
                               self.server.address)
        for command in ("health", "demo", "list", "get", "watch", "export",
                        "import", "delete"):
            self.assertIn(f"$ optctl {command}", out)
        self.assertIn("(exit status 1, as expected)", out)

    def optctl_demo(self, n):
        out = subprocess.run(
            [str(OPTCTL), f"--server={self.server.address}", "demo",
             f"--n={n}"], check=True, capture_output=True, text=True).stdout
        session_id = out.split()[1]
        info = self.client.get_session(session_id, include_x=True)
        self.client.delete_session(session_id)
        return info.summary

    def test_node_rosenbrock_matches_the_cpp_client_bitwise(self):
        node = shutil.which("node")
        if node is None:
            self.skipTest("node is not installed: the Node.js example "
                          "needs Node.js >= 18 (Debian package nodejs)")
        if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").exists():
            self.fail("examples/node/node_modules is missing: run "
                      "'npm ci --prefix examples/node' first")
        for n in (2, 100):
            with self.subTest(n=n):
                out = self.run_example(node, NODE_DIR / "rosenbrock.js",
                                       self.server.address, f"--n={n}")
                result = json.loads(out.strip().splitlines()[-1])
                self.assertTrue(result["success"])
                cpp = self.optctl_demo(n)
                self.assertEqual(result["evaluations"], cpp.evaluations)
                self.assertEqual(result["iterations"], cpp.iterations)
                self.assertEqual(result["value"], cpp.value)
                np.testing.assert_array_equal(np.array(result["x"]), cpp.x)
                with self.assertRaises(optd.NotFound):  # the script deleted it
                    self.client.get_session(result["session_id"])


if __name__ == "__main__":
    unittest.main()
