#!/usr/bin/python3
"""bench/python_client: one Adam step of n = 10^7 float32 parameters from the
Python client vs from the C++ client, against the same optd, in the same run.

Each step sends the 40 MB gradient as raw float32 bytes and receives the 40 MB
new parameters the same way. Starts `optd` itself (port 0 + port file), runs
bench/client_adam_step (C++), then the same steps from Python, and again C++
and Python, taking the median of each side. Last line:
    py_ms=... cpp_ms=... ratio=...

    /usr/bin/python3 bench/python_client.py [--build build] [--n 10000000]
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "client" / "python"))


def python_steps(address: str, n: int, steps: int) -> list:
    import numpy as np
    import optd

    rng = np.random.default_rng(2)
    gradient = rng.uniform(-1.0, 1.0, n).astype(np.float32)
    client = optd.connect(address)
    samples = []
    with client.create_session(np.full(n, 0.5, dtype=np.float32), "adam",
                               {"dtype": "float32"}) as session:
        trial = session.ask()
        for i in range(steps + 2):  # two warm-up steps
            t0 = time.perf_counter()
            trial = session.tell(trial.trial_id, gradient=gradient).trial
            ms = (time.perf_counter() - t0) * 1000
            assert trial is not None and trial.x.shape == (n,)
            if i >= 2:
                samples.append(ms)
    client.close()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    build = pathlib.Path(args.build)
    subprocess.run([sys.executable, str(ROOT / "client/python/build_stubs.py")],
                   check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        port_file = pathlib.Path(tmp) / "port"
        server = subprocess.Popen(
            [str(build / "server/optd"), "--port=0", f"--port_file={port_file}",
             "--log_level=warn", "--data_dir="],  # in memory: clients compared
            stdout=subprocess.DEVNULL)
        try:
            for _ in range(600):
                if port_file.exists() and port_file.read_text().strip():
                    break
                time.sleep(0.05)
            address = f"127.0.0.1:{port_file.read_text().strip()}"
            py, cpp = [], []
            for _ in range(2):  # alternate so that noise hits both sides
                out = subprocess.run(
                    [str(build / "bench/client_adam_step"), f"--server={address}",
                     f"--n={args.n}", f"--steps={args.steps}"],
                    check=True, capture_output=True, text=True).stdout
                cpp.append(float(out.strip().splitlines()[-1].split("=")[1]))
                py.append(statistics.median(python_steps(address, args.n, args.steps)))
        finally:
            server.terminate()
            server.wait()
    py_ms, cpp_ms = statistics.median(py), statistics.median(cpp)
    print(f"Adam step, n={args.n} float32: Python {py} ms, C++ {cpp} ms (medians per round)")
    print(f"py_ms={py_ms:.1f} cpp_ms={cpp_ms:.1f} ratio={py_ms / cpp_ms:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
