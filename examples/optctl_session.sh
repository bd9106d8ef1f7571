#!/usr/bin/env bash
# A session with optctl, optd's command-line client: health, demo, list, get,
# watch, export, import, delete. Every command is echoed before it runs, like
# a transcript.
#
#   examples/optctl_session.sh                  # starts its own optd
#   examples/optctl_session.sh localhost:50051  # uses a running server
#
# Without an address it starts $OPTD_BINARY (default build/server/optd) on a
# free loopback port and stops it with SIGTERM at the end. optctl is
# $OPTCTL_BINARY (default build/client/optctl). Exits non-zero if any step
# does not behave as shown.
set -euo pipefail
cd "$(dirname "$0")/.."
optd_binary=${OPTD_BINARY:-build/server/optd}
optctl_binary=${OPTCTL_BINARY:-build/client/optctl}
[ -x "$optctl_binary" ] || { echo "no $optctl_binary: build optctl first" >&2; exit 1; }

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
server=${1:-}
if [ -z "$server" ]; then
  [ -x "$optd_binary" ] || { echo "no $optd_binary: build optd first" >&2; exit 1; }
  "$optd_binary" --port=0 --port_file="$workdir/port" \
    --data_dir="$workdir/data" >"$workdir/optd.log" 2>&1 &
  optd_pid=$!
  trap 'kill -TERM $optd_pid 2>/dev/null; wait $optd_pid 2>/dev/null; rm -rf "$workdir"' EXIT
  for _ in $(seq 200); do [ -s "$workdir/port" ] && break; sleep 0.05; done
  [ -s "$workdir/port" ] || { cat "$workdir/optd.log" >&2; exit 1; }
  server="127.0.0.1:$(cat "$workdir/port")"
  echo "# started optd on $server"
fi

# optctl with the server flag; the transcript shows it without the path.
optctl() {
  echo "\$ optctl $*"
  "$optctl_binary" --server="$server" "$@"
}

echo "# Is the server up? (grpc.health.v1)"
optctl health

echo
echo "# Minimize Rosenbrock from (-1.2, 1) with L-BFGS over the Optimize stream."
optctl demo | tee "$workdir/demo"
rosen=$(awk '/^session /{print $2}' "$workdir/demo")

echo
echo "# The same in 100 dimensions (extended Rosenbrock)."
optctl demo --n=100 | tee "$workdir/demo100"
rosen100=$(awk '/^session /{print $2}' "$workdir/demo100")

echo
echo "# Every session on the server."
optctl list

echo
echo "# One session in detail: options, counters, recent history, summary."
optctl get "$rosen"

echo
echo "# The same as JSON (protobuf's JSON mapping), with the best point."
optctl get "$rosen" --json --include_x >"$workdir/json"
sed -n 1,30p "$workdir/json"
echo "  ..."

echo
echo "# watch returns at once for a finished session, with its summary."
optctl watch "$rosen"

echo
echo "# Export a session to a file (its creation request and every tell), and"
echo "# import it under another id: the copy is the same session, bit for bit."
optctl export "$rosen" --out="$workdir/rosen.snapshot"
optctl import "$workdir/rosen.snapshot" --id=rosen-copy
optctl get rosen-copy | sed -n 1,4p

echo
echo "# Delete the sessions (and their journals)."
optctl delete "$rosen"
optctl delete "$rosen100"
optctl delete rosen-copy

echo
echo "# A deleted session is gone: NOT_FOUND, exit status 1."
if optctl get "$rosen"; then
  echo "expected NOT_FOUND" >&2
  exit 1
fi
echo "(exit status 1, as expected)"
