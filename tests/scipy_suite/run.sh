#!/usr/bin/env bash
# scipy's own optimize tests (Debian's python3-scipy, the installed files) with
# minimize(method="L-BFGS-B" | "trust-exact" | "trust-ncg") routed to
# optd.minimize against a real optd (routing.py). Fails when a routed test
# fails that expected_failures.txt does not list, or a listed one passes.
#
#   tests/scipy_suite/run.sh                 # build/server/optd
#   OPTD_BINARY=build-x/server/optd tests/scipy_suite/run.sh -k lbfgsb
set -euo pipefail
cd "$(dirname "$0")/../.."
tests=$(/usr/bin/python3 -c 'import os, scipy.optimize.tests as t; print(os.path.dirname(t.__file__))')
export OPTD_SCIPY_EXPECTED_FAILURES=${OPTD_SCIPY_EXPECTED_FAILURES:-tests/scipy_suite/expected_failures.txt}
exec env PYTHONPATH=tests/scipy_suite /usr/bin/python3 -m pytest -p routing \
  -p no:cacheprovider -q --no-header -rN \
  "$tests/test_optimize.py" "$tests/test_trustregion.py" \
  "$tests/test_lbfgsb_hessinv.py" "$@"
