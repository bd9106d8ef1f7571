#!/usr/bin/env bash
# Runs the Python client tests, which also run the examples (Python, Node.js,
# optctl), against real optd processes. From scripts/test.sh or by hand:
#
#   tests/python/run_tests.sh            # build/server/optd, build/client/optctl
#   OPTD_BINARY=build-x/server/optd OPTCTL_BINARY=build-x/client/optctl \
#     tests/python/run_tests.sh
#
# Generates the Python stubs, installs the Node.js example's packages from
# its package-lock.json (npm ci; needs the npm registry) when npm is present,
# then runs unittest discovery. Extra arguments go to unittest.
set -euo pipefail
cd "$(dirname "$0")/../.."
/usr/bin/python3 client/python/build_stubs.py
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix examples/node --no-audit --no-fund --loglevel=error
fi
exec /usr/bin/python3 -m unittest discover -s tests/python -v "$@"
