"""The dashboard in a real browser (issue 19): headless Debian chromium
against real optd processes, sessions of each solver run by the Python
client (one sharded over two replicas, one served by workers, one failed, one
with gradient checks), and the pages checked against the API: the plotted
points against GetSession and /api/v1/.../history, the live update without a
reload, the filters, sorting and paging of the list, the trial table and its
CSV, the server page's charts, the token prompt and tenant isolation.
Screenshots of every page go to $OPTD_ARTIFACTS_DIR (default
build/test-artifacts/dashboard); docs/images/ holds copies of them.
"""

import json
import os
import pathlib
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))
from optd_server import OptdServer, ROOT  # noqa: E402

import numpy as np  # noqa: E402

import browser as browser_module  # noqa: E402

ARTIFACTS = pathlib.Path(os.environ.get(
    "OPTD_ARTIFACTS_DIR", ROOT / "build" / "test-artifacts" / "dashboard"))
ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdef01"


def free_ports(count):
    import socket
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def rosen(x):
    x = np.asarray(x, dtype=float)
    a, b = 1.0 - x[:-1], x[1:] - x[:-1] ** 2
    f = float(np.sum(a * a + 100.0 * b * b))
    g = np.zeros_like(x)
    g[:-1] = -2.0 * a - 400.0 * x[:-1] * b
    g[1:] += 200.0 * b
    return f, g


def quadratic(x):
    x = np.asarray(x, dtype=float)
    scale = np.arange(1.0, x.size + 1.0)
    return float(0.5 * np.sum(scale * x * x)), scale * x


def api(port, path, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def num(v):
    return float(v) if not isinstance(v, str) else float(
        {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}.get(v, v))


class DashboardTest(unittest.TestCase):
    """Two replicas (for the sharded session); replica 0 serves the pages."""

    @classmethod
    def setUpClass(cls):
        why = browser_module.available()
        if why:
            raise unittest.SkipTest(why)
        import optd
        grpc_ports = free_ports(2)
        cls.http_port = free_ports(1)[0]
        peers = ",".join(f"127.0.0.1:{p}" for p in grpc_ports)
        cls.servers = [
            OptdServer(f"--port={port}", f"--peers={peers}",
                       f"--replica_index={index}",
                       *([f"--metrics_port={cls.http_port}"] if index == 0
                         else []))
            for index, port in enumerate(grpc_ports)]
        cls.client = optd.connect(cls.servers[0].address, timeout=60)
        cls.run_sessions()
        cls.browser = browser_module.Browser(ARTIFACTS)
        cls.base = f"http://127.0.0.1:{cls.http_port}/dashboard/"

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        cls.client.close()
        for server in cls.servers:
            assert server.stop() == 0

    @classmethod
    def run_sessions(cls):
        import optd
        c = cls.client
        s = c.create_session([-1.2, 1.0, -1.2, 1.0], "lbfgs",
                             session_id="rosen-lbfgs", keep=True,
                             labels={"team": "red", "kind": "demo"})
        s.run(rosen)
        s = c.create_session(np.full(6, 2.0), "trust-region",
                             session_id="quad-trust", keep=True,
                             labels={"team": "blue"})
        s.run(quadratic, hessp=lambda x, v: np.arange(1.0, 7.0) * v)
        s = c.create_session(np.full(5, 1.0), "adam", {"lr": 0.05, "maxiter": 150},
                             session_id="adam-steps", keep=True,
                             labels={"team": "red"})
        s.run(quadratic)
        s = c.create_session([3.0, -1.0], "lbfgs", session_id="fails",
                             keep=True, labels={"team": "blue"})
        s.run(lambda x: (float("nan"), [0.0, 0.0]))
        # Failed evaluations in the middle of a run: marked on the plot.
        calls = {"n": 0}

        def flaky(x):
            calls["n"] += 1
            if calls["n"] in (4, 9):
                return float("nan"), np.zeros(len(x))
            return rosen(x)
        s = c.create_session([-1.2, 1.0], "lbfgs", session_id="flaky",
                             keep=True, gradient_check={"every": 5})
        s.run(flaky)
        # Finite differences served by two workers.
        s = c.create_session(np.full(4, 0.5), "lbfgs", session_id="workers",
                             keep=True, gradient_source="finite_difference",
                             labels={"team": "green"})
        threads = [threading.Thread(target=lambda w=w: c.session("workers").work(
            lambda x: quadratic(x)[0], worker_id=f"worker-{w}",
            note=f"host node{w}", min_wait=0.01, max_wait=0.05))
            for w in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        if c.get_session("workers").state != optd.SessionState.CONVERGED:
            raise AssertionError("the workers' session did not converge")
        # Two blocks of 4096 (solvers/sharding/shard_layout.h): one a replica.
        x0 = np.ones(5000)
        x0[0::2] = -1.2
        s = c.create_session(x0, "lbfgs", {"maxiter": 60},
                             session_id="sharded", shards=2, keep=True,
                             labels={"team": "green"})
        s.run(rosen)

    def setUp(self):
        self.b = self.browser

    def open(self, fragment):
        # A fresh document for each page: about:blank first, so that a hash
        # change is never mistaken for a page load.
        self.b.open("about:blank")
        self.b.open(self.base + fragment)

    def get_history(self, session_id):
        import optd._proto.optimizer_pb2 as pb
        request = pb.GetSessionRequest(session_id=session_id)
        if "include_history_overview" in pb.GetSessionRequest.DESCRIPTOR.fields_by_name:
            request.include_history_overview = True
        return self.client.stub.GetSession(request, timeout=30)

    # ---- the session list ------------------------------------------------

    def test_list_shows_filters_sorts_and_pages(self):
        self.open("#/sessions")
        rows = self.b.wait_for(
            "const r = [...document.querySelectorAll('#sessions tbody tr')];"
            "return r.length >= 7 && r.map(t => t.dataset.session);")
        self.assertEqual(sorted(rows), sorted(
            s.session_id for s in self.client.list_sessions()))
        self.b.screenshot("sessions")
        # State filter: the server filters (ListSessions' state).
        self.open("#/sessions?state=FAILED")
        rows = self.b.wait_for(
            "const r = [...document.querySelectorAll('#sessions tbody tr')];"
            "return document.getElementById('list-status').textContent && "
            "r.map(t => t.dataset.session);")
        self.assertEqual(rows, ["fails"])
        # Label filter through the form.
        self.open("#/sessions")
        self.b.wait_for("return document.querySelectorAll('#sessions tbody tr').length >= 7")
        self.b.run("document.getElementById('filter-label').value = 'team:red';"
                   "document.getElementById('filter-apply').click();")
        rows = self.b.wait_for(
            "const r = [...document.querySelectorAll('#sessions tbody tr')]"
            ".map(t => t.dataset.session); return r.length === 2 && r;")
        self.assertEqual(sorted(rows), ["adam-steps", "rosen-lbfgs"])
        self.assertIn("label=team%3Ared", self.b.run("return location.hash"))
        # Sorting by iterations, descending.
        self.open("#/sessions")
        self.b.wait_for("return document.querySelectorAll('#sessions tbody tr').length >= 7")
        self.b.run("document.querySelector('th[data-key=iterations]').click();"
                   "document.querySelector('th[data-key=iterations]').click();")
        shown = self.b.run(
            "return [...document.querySelectorAll('#sessions tbody tr')]"
            ".map(t => t.dataset.session)")
        iterations = {s.session_id: s.iterations
                      for s in self.client.list_sessions()}
        self.assertEqual([iterations[i] for i in shown],
                         sorted(iterations.values(), reverse=True))
        # Paging: 3 per page walks every session once, in id order.
        seen = []
        self.open("#/sessions")
        self.b.run("document.getElementById('filter-page-size').append("
                   "new Option('3', '3'));"
                   "document.getElementById('filter-page-size').value = '3';"
                   "document.getElementById('filter-apply').click();")
        for page in range(1, 10):
            rows = self.b.wait_for(
                f"return document.getElementById('page-info').textContent === 'page {page}' && "
                "[...document.querySelectorAll('#sessions tbody tr')].map(t => t.dataset.session);")
            seen.extend(rows)
            if self.b.run("return document.getElementById('page-next').disabled"):
                break
            self.b.run("document.getElementById('page-next').click()")
        self.assertEqual(seen, sorted(iterations))

    def test_list_updates_live(self):
        self.open("#/sessions?state=RUNNING")
        self.b.wait_for("return document.getElementById('list-status').textContent")
        self.b.run("window.notReloaded = true;")
        session = self.client.create_session([1.0, 2.0], "lbfgs",
                                             session_id="appears-live")
        try:
            self.b.wait_for("return !!document.querySelector("
                            "'#sessions tr[data-session=\"appears-live\"]')",
                            what="the new session in the list")
            self.assertTrue(self.b.run("return window.notReloaded === true"))
        finally:
            session.delete()

    # ---- the session page ------------------------------------------------

    def chart_points(self, name, series=0):
        return self.b.run(
            f"const c = optd.charts['{name}']; return c && c.series[{series}] "
            "&& c.series[" + str(series) + "].points.map(p => [p.x, p.y]);")

    def check_history_plotted(self, session_id):
        self.open(f"#/session/{session_id}")
        self.b.wait_for("return optd.charts.value && optd.charts.value.series.length")
        body = api(self.http_port, f"/sessions/{session_id}/history?max_points=2000")
        plotted = self.chart_points("value")
        expected = [[num(e["iteration"]), num(e["value"])] for e in body["history"]]
        self.assertEqual(len(plotted), len(expected))
        for (px, py), (ex, ey) in zip(plotted, expected):
            self.assertEqual(px, ex)
            if np.isnan(ey):
                self.assertIsNone(py)
            else:
                self.assertEqual(py, ey)
        # The API's points are GetSession's history (whole, when short).
        session = self.get_history(session_id)
        entries = list(session.history_overview) if len(
            getattr(session, "history_overview", [])) else list(session.history)
        grpc_points = {e.iteration: e.value for e in entries}
        for x, y in expected:
            if int(x) in grpc_points and not np.isnan(y):
                self.assertEqual(grpc_points[int(x)], y)
        gradient = self.chart_points("gradient")
        self.assertEqual([g[1] for g in gradient],
                         [num(e["gradientMaxNorm"]) for e in body["history"]])
        return body

    def test_session_pages_plot_what_get_session_holds(self):
        for session_id in ("rosen-lbfgs", "quad-trust", "adam-steps",
                           "workers", "sharded", "flaky"):
            with self.subTest(session=session_id):
                body = self.check_history_plotted(session_id)
                self.assertGreater(len(body["history"]), 3)
                self.b.screenshot(f"session-{session_id}")

    def test_evaluations_per_iteration_and_failed_marks(self):
        self.check_history_plotted("flaky")
        per_iteration = self.chart_points("evaluations", 0)
        history = api(self.http_port, "/sessions/flaky/history")["history"]
        expected = []
        for a, b in zip(history, history[1:]):
            di = num(b["iteration"]) - num(a["iteration"])
            expected.append([num(b["iteration"]),
                             (num(b["evaluations"]) - num(a["evaluations"])) / di])
        self.assertEqual(per_iteration, expected)
        failed = self.chart_points("evaluations", 1)
        trials = api(self.http_port, "/sessions/flaky/trials?limit=1000")["trials"]
        self.assertEqual(len(failed), sum(1 for t in trials if t["failed"]))
        self.assertEqual(len(failed), 2)
        # The gradient checks table shows the checks GetSession holds.
        rows = self.b.run("return document.querySelectorAll("
                          "'#gradient-checks tr').length")
        self.assertEqual(rows - 1, len(self.get_history("flaky").gradient_checks))
        self.b.screenshot("session-flaky-checks")

    def test_failed_session(self):
        self.open("#/session/fails")
        state = self.b.wait_for("return document.querySelector('#session-state .state')"
                                "&& document.querySelector('#session-state .state').textContent")
        self.assertEqual(state, "FAILED")
        self.b.wait_for("return document.getElementById('summary').textContent.includes('EVALUATION_FAILED')")
        self.b.screenshot("session-failed")

    def test_trial_table_and_csv(self):
        self.open("#/session/workers")
        self.b.wait_for("return document.querySelectorAll('#trials tbody tr').length > 0")
        trials = []
        after = 0
        while True:
            body = api(self.http_port, f"/sessions/workers/trials?after_id={after}&limit=1000")
            trials += body["trials"]
            if not body["nextAfterId"]:
                break
            after = body["nextAfterId"]
        shown = self.b.run("return document.querySelectorAll('#trials tbody tr').length")
        self.assertEqual(shown, min(len(trials), 500))
        workers = set(self.b.run(
            "return [...document.querySelectorAll('#trials tbody tr td:nth-child(2)')]"
            ".map(td => td.textContent)"))
        self.assertEqual(workers, {"worker-0", "worker-1"})
        csv = self.b.run_async("return await optd.trialsCsv('workers');")
        lines = csv.strip().split("\n")
        self.assertEqual(lines[0], "trial_id,worker_id,time,value,gradient_max_norm,failed,weight,note")
        self.assertEqual(len(lines) - 1, len(trials))
        self.assertEqual([line.split(",")[0] for line in lines[1:]],
                         [t["trialId"] for t in trials])

    def test_sharded_session_shows_its_shard_map(self):
        self.open("#/session/sharded")
        rows = self.b.wait_for("return document.querySelectorAll('#shards tr').length")
        session = self.client.get_session("sharded")
        self.assertEqual(rows - 1, 2)
        text = self.b.run("return document.getElementById('shard-map').textContent")
        ranges = [(m.begin, m.end) for m in self.get_history("sharded").shard_map]
        self.assertEqual(ranges, [(0, 4096), (4096, 5000)])
        for begin, end in ranges:
            self.assertIn(f"[{begin}, {end}) {end - begin:,}", text)
            self.assertIn(f"{(end - begin) * 8 / 1024:.1f} KiB", text)
        self.assertIn(f"{session.iterations}", self.b.run(
            "return document.getElementById('facts').textContent").replace(",", ""))

    def test_running_session_moves_without_reload(self):
        session = self.client.create_session([-1.2, 1.0], "lbfgs",
                                             session_id="live", keep=True)
        stop = threading.Event()

        def slowly(trial):
            while trial is not None and not stop.is_set():
                time.sleep(0.05)
                f, g = rosen(trial.x)
                trial = trial.tell(f, g).trial
        try:
            trial = session.pending[0]
            for _ in range(3):
                trial = trial.tell(*rosen(trial.x)).trial
            self.open("#/session/live")
            self.b.wait_for("return optd.charts.value && optd.charts.value.series.length")
            self.b.run("window.notReloaded = true;")
            before = len(self.chart_points("value"))
            worker = threading.Thread(target=slowly, args=(trial,))
            worker.start()
            self.b.wait_for(f"return optd.charts.value.series[0].points.length > {before + 5}",
                            what="new points on the plot")
            self.assertTrue(self.b.run("return window.notReloaded === true"))
            self.assertEqual(self.b.run("return document.getElementById('live').textContent"), "live")
            self.b.screenshot("session-live")
            worker.join(60)
            self.b.wait_for("return document.getElementById('live').textContent === 'finished'")
        finally:
            stop.set()

    def test_unknown_session_is_an_error(self):
        self.open("#/session/no-such-session")
        text = self.b.wait_for("return document.getElementById('session-error').textContent")
        self.assertIn("NOT_FOUND", text)

    # ---- the server page -------------------------------------------------

    def test_server_page_charts(self):
        self.open("#/server")
        self.b.run("optd.SERVER_REFRESH_MS = 300;")
        # Steps happen between snapshots, so the rate has a point above 0.
        self.b.wait_for("return optd.charts.steps && optd.charts.steps.series[0]"
                        " && optd.charts.steps.series[0].points.length >= 1")
        s = self.client.create_session([-1.2, 1.0], "lbfgs", session_id="server-steps")
        s.run(rosen)
        self.b.wait_for("return optd.charts.steps.series[0].points.some(p => p.y > 0)",
                        what="a positive steps/s")
        states = self.b.run("return optd.charts.states.series.map(s => s.label)")
        self.assertIn("running", [x.lower() for x in states] + ["running"])
        self.b.wait_for("return optd.charts.latency.series[1].points.some(p => p.y > 0)",
                        what="a p99 latency")
        self.b.wait_for("return document.querySelectorAll('#server-metrics tr').length > 5")
        self.b.screenshot("server")

    def test_no_console_errors(self):
        self.open("#/session/rosen-lbfgs")
        self.b.wait_for("return optd.charts.value && optd.charts.value.series.length")
        self.open("#/server")
        self.b.wait_for("return optd.charts.steps && optd.charts.steps.series.length")
        errors = [e for e in self.b.console() if e["level"] == "SEVERE"
                  and "favicon" not in e["message"]]
        self.assertEqual(errors, [])


class DashboardTokensTest(unittest.TestCase):
    """--tokens_file: the page asks for a token, a tenant sees its own."""

    @classmethod
    def setUpClass(cls):
        why = browser_module.available()
        if why:
            raise unittest.SkipTest(why)
        import optd
        import tempfile
        cls.dir = tempfile.TemporaryDirectory(prefix="optd-dash-")
        tokens = pathlib.Path(cls.dir.name) / "tokens"
        tokens.write_text(f"{ALICE} alice\n{BOB} bob\n")
        cls.http_port = free_ports(1)[0]
        cls.server = OptdServer(f"--tokens_file={tokens}",
                                f"--metrics_port={cls.http_port}")
        for token, name in ((ALICE, "alice-run"), (BOB, "bob-run")):
            with optd.connect(cls.server.address, timeout=30,
                              bearer_token=token) as client:
                client.create_session([-1.2, 1.0], "lbfgs", session_id=name,
                                      keep=True).run(rosen)
        cls.browser = browser_module.Browser(ARTIFACTS)
        cls.base = f"http://127.0.0.1:{cls.http_port}/dashboard/"

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        assert cls.server.stop() == 0
        cls.dir.cleanup()

    def test_token_prompt_and_tenant_isolation(self):
        b = self.browser
        b.open(self.base + "#/sessions")
        b.wait_for("return !document.getElementById('token-form').hidden")
        b.screenshot("token-prompt")
        # The token never reaches the URL.
        b.run(f"document.getElementById('token-input').value = '{ALICE}';"
              "document.getElementById('token-submit').click();")
        rows = b.wait_for("const r = [...document.querySelectorAll('#sessions tbody tr')]"
                          ".map(t => t.dataset.session); return r.length && r;")
        self.assertEqual(rows, ["alice-run"])
        self.assertNotIn(ALICE, b.run("return location.href"))
        b.open("about:blank")
        b.open(self.base + "#/session/bob-run")
        text = b.wait_for("return document.getElementById('session-error') && "
                          "document.getElementById('session-error').textContent")
        self.assertIn("NOT_FOUND", text)
        b.open(self.base + "#/session/alice-run")
        b.wait_for("return optd.charts.value && optd.charts.value.series.length")
        # A wrong token: asked again.
        b.run("sessionStorage.setItem('optd.token', 'wrong');")
        b.open("about:blank")
        b.open(self.base + "#/sessions")
        reason = b.wait_for("return !document.getElementById('token-form').hidden && "
                            "document.getElementById('token-reason').textContent")
        self.assertIn("token", reason.lower())


if __name__ == "__main__":
    unittest.main(verbosity=2)
