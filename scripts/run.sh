#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, starts the
# optd server on 127.0.0.1:${OPTD_PORT:-50051}, runs a demo session (L-BFGS on
# Rosenbrock) against it with `optctl demo`, and keeps the server in the
# foreground until Ctrl-C (SIGINT/SIGTERM drain it cleanly). Sessions are
# journaled in ${OPTD_DATA_DIR:-optd-data} and survive a restart. The
# dashboard (docs/dashboard.md) is served on 127.0.0.1:${OPTD_HTTP_PORT:-9090}
# (with /metrics and the JSON API); the script prints its URL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
port=${OPTD_PORT:-50051}
http_port=${OPTD_HTTP_PORT:-9090}
build/server/optd --port="$port" --data_dir="${OPTD_DATA_DIR:-optd-data}" \
  --metrics_port="$http_port" --dashboard "$@" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server' INT TERM
for _ in $(seq 100); do
  build/client/optctl --server="127.0.0.1:$port" health >/dev/null 2>&1 && break
  sleep 0.1
done
build/client/optctl --server="127.0.0.1:$port" demo
echo "optd is serving on 127.0.0.1:$port (Ctrl-C to stop)"
echo "dashboard: http://127.0.0.1:$http_port/dashboard/"
wait $server
