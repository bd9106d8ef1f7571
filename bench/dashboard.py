#!/usr/bin/python3
"""The dashboard's JSON API at scale (docs/dashboard.md, "Scale").

Starts an optd with its HTTP port, then measures, through the same endpoints
the pages call:

  - the session list: a page of 100 (the page's default) and of 1000 out of
    --sessions sessions (default 10,000), against the same page when the
    server holds only 100 sessions (the baseline, same process, same
    script): ListSessions pages by id, so the ratio should stay near 1;
  - the history of one session of --iterations accepted iterates (default
    10^6, an Adam session told on the Optimize stream): the points the page
    plots (max_points=2000), their bytes, and the request's time against the
    same request after 100 iterations (the baseline).

Last line: key=value pairs, e.g.
  sessions=10000 page100_ms=.. page100_ratio=.. page1000_ms=..
  iterations=1000000 history_points=.. history_bytes=.. history_ms=..
  history_ratio=..

Usage: bench/dashboard.py [--sessions N] [--iterations N] [--repeat R]
(build/server/optd, or $OPTD_BINARY).
"""

import argparse
import json
import pathlib
import socket
import statistics
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from optd_server import OptdServer  # noqa: E402

import numpy as np  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path):
    start = time.perf_counter()
    with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1{path}", timeout=120) as r:
        body = r.read()
    return time.perf_counter() - start, body


def median_ms(port, path, repeat):
    times = [get(port, path)[0] for _ in range(repeat)]
    return 1000 * statistics.median(times)


def create(client, count, start):
    for i in range(start, start + count):
        client.create_session([1.0, 2.0], "lbfgs", session_id=f"s{i:06d}",
                              keep=True, labels={"group": str(i % 10)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--iterations", type=int, default=1000000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    import optd
    port = free_port()
    server = OptdServer(f"--metrics_port={port}", "--max_sessions=100000",
                        "--session_ttl_seconds=86400")
    client = optd.connect(server.address, timeout=60)
    try:
        create(client, 100, 0)
        base100 = median_ms(port, "/sessions?page_size=100", args.repeat)
        base1000 = median_ms(port, "/sessions?page_size=1000", args.repeat)
        start = time.perf_counter()
        create(client, args.sessions - 100, 100)
        print(f"created {args.sessions} sessions in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        page100 = median_ms(port, "/sessions?page_size=100", args.repeat)
        page1000 = median_ms(port, "/sessions?page_size=1000", args.repeat)
        # The last page (a page token deep into the ids) costs the same.
        _, body = get(port, "/sessions?page_size=1000")
        token = json.loads(body)["nextPageToken"]
        deep = median_ms(port, f"/sessions?page_size=100&page_token={token}",
                         args.repeat)
        print(f"list: page of 100 {page100:.2f} ms (at 100 sessions "
              f"{base100:.2f} ms), of 1000 {page1000:.2f} ms (at 100 "
              f"sessions, a page of all 100: {base1000:.2f} ms), a page "
              f"deep in the ids {deep:.2f} ms", flush=True)

        session = client.create_session(np.ones(4), "adam",
                                         {"lr": 1e-3,
                                          "maxiter": args.iterations},
                                         session_id="long", keep=True,
                                         checkpoint_interval=100000)
        told = {"n": 0}
        history_base = None

        def fun(x):
            told["n"] += 1
            return float(x @ x), 2 * x
        trial = session.pending[0]
        start = time.perf_counter()
        stream = session.trials()
        for trial in stream:
            trial.tell(*fun(np.asarray(trial.x)))
            if told["n"] == 100:
                history_base = median_ms(
                    port, "/sessions/long/history?max_points=2000",
                    args.repeat)
        elapsed = time.perf_counter() - start
        print(f"told {told['n']} iterations in {elapsed:.1f} s", flush=True)
        history_ms = median_ms(port, "/sessions/long/history?max_points=2000",
                               args.repeat)
        _, body = get(port, "/sessions/long/history?max_points=2000")
        history = json.loads(body)
        points = len(history["history"])
        print(f"history: {points} points of {history['totalPoints']} "
              f"iterations, {len(body)} bytes, {history_ms:.2f} ms (after "
              f"100 iterations: {history_base:.2f} ms)", flush=True)
        print(f"sessions={args.sessions} page100_ms={page100:.2f} "
              f"page100_ratio={page100 / base100:.2f} "
              f"page1000_ms={page1000:.2f} deep_page100_ms={deep:.2f} "
              f"iterations={history['totalPoints']} history_points={points} "
              f"history_bytes={len(body)} history_ms={history_ms:.2f} "
              f"history_ratio={history_ms / history_base:.2f}")
    finally:
        client.close()
        server.stop()


if __name__ == "__main__":
    main()
