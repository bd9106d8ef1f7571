"""pytest plugin: scipy's own optimize tests with minimize() routed to optd.

Loaded with ``-p routing`` (tests/scipy_suite/run.sh). Before collection it
starts one optd server (tests/python/optd_server.py) and replaces
``scipy.optimize.minimize`` with a wrapper that sends the methods optd serves
(ROUTED) to ``optd.minimize`` against that server and every other method to
scipy. Each test that made at least one routed call is recorded; at the end
the plugin prints the routed tests that failed and
``routed=N passed=P failed=F expected_failures=E unexpected=U``. With
$OPTD_SCIPY_EXPECTED_FAILURES (run.sh sets it) the run's exit status is the
verdict on the routed tests alone: 0 when exactly the listed ones failed.
"""

import inspect
import os
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))

from optd_server import OptdServer  # noqa: E402

import optd  # noqa: E402  (optd_server put client/python on sys.path)
import scipy.optimize  # noqa: E402
import scipy.optimize._minimize  # noqa: E402

#: scipy method names (lower case) that go to optd.
ROUTED = {"l-bfgs-b", "trust-exact", "trust-ncg", "trust-krylov"}

_state = {"server": None, "client": None, "routed": False}
_routed_tests = {}


def _routed_minimize(original):
    signature = inspect.signature(original)

    def minimize(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        call = dict(bound.arguments)
        method = call["method"]
        if method is None and call["bounds"] is not None and not call[
                "constraints"]:
            method = "L-BFGS-B"  # scipy's own default choice
        if not isinstance(method, str) or method.lower() not in ROUTED:
            return original(*args, **kwargs)
        _state["routed"] = True
        fun, x0 = call.pop("fun"), call.pop("x0")
        call["method"] = method
        return optd.minimize(fun, x0, client=_state["client"], **call)

    minimize.__wrapped__ = original
    return minimize


def pytest_configure(config):
    server = OptdServer()
    _state["server"] = server
    _state["client"] = optd.connect(server.address)
    original = scipy.optimize._minimize.minimize
    routed = _routed_minimize(original)
    scipy.optimize.minimize = routed
    scipy.optimize._minimize.minimize = routed


def pytest_unconfigure(config):
    if _state["client"] is not None:
        _state["client"].close()
    if _state["server"] is not None:
        _state["server"].stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _state["routed"] = False
    yield


def _short(nodeid: str) -> str:
    """'<any path>/test_x.py::Class::test[param]' -> 'test_x.py::Class::...'"""
    path, _, rest = nodeid.partition("::")
    return f"{os.path.basename(path)}::{rest}"


def _expected_failures():
    """{short test id: reason} from $OPTD_SCIPY_EXPECTED_FAILURES: one
    '<id>  # <reason>' per line."""
    path = os.environ.get("OPTD_SCIPY_EXPECTED_FAILURES")
    expected = {}
    if path:
        for line in pathlib.Path(path).read_text().splitlines():
            name, _, reason = line.partition("#")
            if name.strip() and not line.lstrip().startswith("#"):
                expected[name.strip()] = reason.strip()
    return expected


def pytest_runtest_logreport(report):
    routed = _state["routed"] and report.when == "call"
    if routed or (report.when == "call" and
                  _short(report.nodeid) in _routed_tests):
        _routed_tests[_short(report.nodeid)] = report.outcome
    elif report.failed and _short(report.nodeid) in _routed_tests:
        _routed_tests[_short(report.nodeid)] = "failed"


def pytest_sessionfinish(session, exitstatus):
    expected = _expected_failures()
    failed = {k for k, v in _routed_tests.items() if v == "failed"}
    passed = {k for k, v in _routed_tests.items() if v == "passed"}
    _state["unexpected"] = sorted(failed - set(expected))
    _state["now_passing"] = sorted(set(expected) & passed)
    _state["missing"] = sorted(set(expected) - set(_routed_tests))
    _state["counts"] = (len(_routed_tests), len(passed), len(failed))
    # The verdict is about the routed tests only: scipy's tests of other
    # methods run on scipy and are not optd's to pass or fail.
    clean = not (_state["unexpected"] or _state["now_passing"]
                 or _state["missing"])
    if os.environ.get("OPTD_SCIPY_EXPECTED_FAILURES"):
        session.exitstatus = 0 if clean else 1


def pytest_terminal_summary(terminalreporter):
    expected = _expected_failures()
    write = terminalreporter.write_line
    for name in sorted(k for k, v in _routed_tests.items() if v == "failed"):
        reason = expected.get(name)
        write(f"routed test failed: {name}"
              + (f"  (expected: {reason})" if reason else "  (UNEXPECTED)"))
    for name in _state.get("now_passing", []):
        write(f"listed as failing but passed: {name} "
              "(remove it from expected_failures.txt)")
    for name in _state.get("missing", []):
        write(f"listed as failing but did not reach optd: {name}")
    routed, passed, failed = _state.get("counts", (0, 0, 0))
    write(f"routed={routed} passed={passed} failed={failed} "
          f"expected_failures={len(expected)} "
          f"unexpected={len(_state.get('unexpected', []))}")
