"""Test helper: a real optd process on a loopback port it picks itself.

    server = OptdServer()          # starts build/server/optd --port=0
    client = optd.connect(server.address)
    ...
    server.stop()                  # SIGTERM; checks the exit status is 0

The binary is $OPTD_BINARY (default build/server/optd), optctl is
$OPTCTL_BINARY (default build/client/optctl), both relative to the repository
root. Importing this module puts client/python and tests/data on sys.path and
(re)generates the Python stubs when they are missing or older than the protos.
"""

import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from typing import List, Optional

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIENT_PYTHON = ROOT / "client" / "python"
TEST_DATA = ROOT / "tests" / "data"
PYTHON = "/usr/bin/python3"


def _stubs_stale() -> bool:
    # build_stubs.py writes optimizer_pb2.py last; it is stale when any proto
    # (optimizer.proto, the files it imports, the health proto) is newer.
    stub = CLIENT_PYTHON / "optd" / "_proto" / "optimizer_pb2.py"
    protos = (list((ROOT / "proto").rglob("*.proto")) +
              list((ROOT / "client" / "proto").rglob("*.proto")))
    return not stub.exists() or any(
        stub.stat().st_mtime < proto.stat().st_mtime for proto in protos)


if _stubs_stale():
    subprocess.run([PYTHON, str(CLIENT_PYTHON / "build_stubs.py")], check=True)
for path in (str(CLIENT_PYTHON), str(TEST_DATA)):
    if path not in sys.path:
        sys.path.insert(0, path)


def binary(variable: str, default: str) -> pathlib.Path:
    path = pathlib.Path(os.environ.get(variable, default))
    return path if path.is_absolute() else ROOT / path


OPTD = binary("OPTD_BINARY", "build/server/optd")
OPTCTL = binary("OPTCTL_BINARY", "build/client/optctl")


class OptdServer:
    """An optd process listening on 127.0.0.1 at a port of its choosing."""

    def __init__(self, *flags: str, startup_timeout: float = 20.0) -> None:
        if not OPTD.exists():
            raise FileNotFoundError(
                f"{OPTD} does not exist: build it (scripts/build.sh) or point "
                "OPTD_BINARY at an optd binary")
        self._dir = tempfile.TemporaryDirectory(prefix="optd-py-test-")
        port_file = pathlib.Path(self._dir.name) / "port"
        self.log_path = pathlib.Path(self._dir.name) / "optd.log"
        self._log = open(self.log_path, "w")
        self.data_dir = pathlib.Path(self._dir.name) / "data"
        command: List[str] = [str(OPTD), "--port=0",
                              f"--port_file={port_file}",
                              f"--data_dir={self.data_dir}", *flags]
        self.process = subprocess.Popen(command, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"optd exited with {self.process.returncode}:\n"
                    f"{self.log()}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"optd did not start:\n{self.log()}")
            time.sleep(0.02)
        self.port = int(port_file.read_text().strip())
        self.address = f"127.0.0.1:{self.port}"

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """SIGTERM, then waits; returns the exit status (0 expected)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        code = self.process.returncode
        self._dir.cleanup()
        return code


class ServerTestCase(unittest.TestCase):
    """Starts one optd for the test class; ``self.client`` talks to it."""

    server_flags: tuple = ()

    @classmethod
    def setUpClass(cls) -> None:
        import optd  # noqa: F401  (after the sys.path setup above)
        cls.server = OptdServer(*cls.server_flags)
        cls.client = optd.connect(cls.server.address, timeout=60)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()
        code = cls.server.stop()
        if code != 0:
            raise AssertionError(f"optd exited with {code} on SIGTERM")
