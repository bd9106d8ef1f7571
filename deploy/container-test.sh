#!/usr/bin/env bash
# deploy/container-test.sh: builds the unchanged Dockerfile with podman (the
# recipe of CONTAINERS.md in the design documents: a debian:bookworm base made
# from Debian's archive, chroot isolation, runc, host networking) and checks
# the image end to end from the host:
#   1. one container: a session through the C++ client (optctl demo) and one
#      through the Python client, then health from the image's own optctl;
#   2. three containers as replicas (--peers, a volume each): a K = 3 sharded
#      L-BFGS session through the Python client's direct path, one replica
#      killed (SIGKILL) mid-run and started again on its volume; the session
#      must end bitwise as the same session on one replica.
#
# Where the binaries come from:
#   default        the host's build (build/server/optd, build/client/optctl,
#                  stripped copies) takes the place of the Dockerfile's `build`
#                  stage (podman build --build-context build=DIR): the runtime
#                  stage, the image's user, volume, entrypoint and health check
#                  are the Dockerfile's, without compiling optd a second time.
#                  The host is Debian 12, the image's base, so the binaries
#                  find the same shared libraries. scripts/test.sh (and CI)
#                  run this.
#   --from-source  the Dockerfile's own `build` stage compiles them (what
#                  `docker build .` does; a full Release compile).
# Containers and volumes are removed on exit; the image stays (tag
# $OPTD_TEST_IMAGE, default localhost/optd:test) so that podman's layer cache
# makes the next build incremental.
#
#   deploy/container-test.sh                # needs scripts/build.sh's build/
#   deploy/container-test.sh --from-source  # needs build/client/optctl
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${OPTD_TEST_IMAGE:-localhost/optd:test}
OPTD=${OPTD_BINARY:-build/server/optd}
OPTCTL=${OPTCTL_BINARY:-build/client/optctl}
PY=/usr/bin/python3
PREFIX=optd-ctest-$$
from_source=0
for arg in "$@"; do
  case "$arg" in
    --from-source) from_source=1 ;;
    *)
      echo "container-test: unknown argument $arg (only --from-source)" >&2
      exit 2
      ;;
  esac
done

missing=()
for tool in podman buildah runc debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "container-test: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
for binary in "$OPTCTL" $([ "$from_source" = 1 ] || echo "$OPTD"); do
  [ -x "$binary" ] || { echo "container-test: $binary is missing; run scripts/build.sh" >&2; exit 1; }
done

containers=()
volumes=()
cleanup() {
  for c in "${containers[@]}"; do podman rm -f -t 2 "$c" >/dev/null 2>&1 || true; done
  for v in "${volumes[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  rm -f "/tmp/$PREFIX-build.log"
  rm -rf "/tmp/$PREFIX-binaries"
}
trap cleanup EXIT

# 1. The base image, from the package archive, once.
if ! podman image exists docker.io/library/debian:bookworm; then
  echo "== base image debian:bookworm (debootstrap)"
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$rootfs" >/dev/null
  tar -C "$rootfs" -c . | podman import - docker.io/library/debian:bookworm >/dev/null
  rm -rf "$rootfs"
fi

build_args=()
if [ "$from_source" = 1 ]; then
  echo "== build $IMAGE from the Dockerfile, compiling optd in its build stage"
else
  # The build stage's outputs, at the paths the runtime stage copies them
  # from (/build/server/optd, /build/client/optctl), as the Dockerfile's
  # build stage strips them.
  binaries=/tmp/$PREFIX-binaries
  mkdir -p "$binaries/build/server" "$binaries/build/client"
  strip -o "$binaries/build/server/optd" "$OPTD"
  strip -o "$binaries/build/client/optctl" "$OPTCTL"
  build_args=(--build-context "build=$binaries")
  echo "== build $IMAGE from the Dockerfile, its build stage replaced by $OPTD and $OPTCTL"
fi
start=$(date +%s)
podman build --isolation=chroot --format docker "${build_args[@]}" -t "$IMAGE" . \
  >/tmp/$PREFIX-build.log 2>&1 || { tail -50 /tmp/$PREFIX-build.log; exit 1; }
# The build stage must have been skipped (or run) as asked.
if [ "$from_source" = 1 ] && ! grep -q "cmake --build" /tmp/$PREFIX-build.log; then
  echo "container-test: the build stage did not run" >&2; exit 1
fi
if [ "$from_source" = 0 ] && grep -q "cmake --build" /tmp/$PREFIX-build.log; then
  echo "container-test: the build stage ran although its binaries were given" >&2; exit 1
fi
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
echo "built in $(( $(date +%s) - start )) s; image size $(( size / 1000000 )) MB"
user=$(podman image inspect "$IMAGE" --format '{{.Config.User}}')
[ "$user" = "10001" ] || { echo "container-test: the image runs as '$user', not 10001" >&2; exit 1; }
health=$(podman image inspect "$IMAGE" --format '{{.Config.Healthcheck.Test}}')
case "$health" in
  *optctl*health*) ;;
  *) echo "container-test: the image's HEALTHCHECK is '$health'" >&2; exit 1 ;;
esac

ports=($($PY -c '
import socket
socks = [socket.socket() for _ in range(8)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'))

# ports[0..3]: gRPC of the single container and the three replicas;
# ports[4..7]: their metrics endpoints (the image's 9090 would collide on the
# host network).

# run NAME PORT VOLUME [PODMAN OPTIONS...]: a detached container on the host
# network. podman would run the image's HEALTHCHECK from systemd timers, which
# this sandbox lacks; the same command runs below with `podman exec`.
run() {
  local name=$1 port=$2 volume=$3 metrics=$4
  shift 4
  podman --runtime runc run -d --name "$name" --network host --no-healthcheck \
    --ulimit nofile=1024:1024 --ulimit nproc=1000:1000 \
    -v "$volume:/var/lib/optd" "$@" "$IMAGE" --port="$port" \
    --metrics_port="$metrics" >/dev/null
}

# healthy PORT: waits until optd answers SERVING there.
healthy() {
  for _ in $(seq 1 150); do
    "$OPTCTL" --server=127.0.0.1:$1 --connect_timeout=1s health >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "container-test: nothing healthy on port $1" >&2
  return 1
}

echo "== one container"
single=$PREFIX-single
containers+=("$single"); volumes+=("$single")
run "$single" "${ports[0]}" "$single" "${ports[4]}"
healthy "${ports[0]}"
"$OPTCTL" --server=127.0.0.1:${ports[0]} demo --n=100
# The image's HEALTHCHECK command, inside the container.
podman exec "$single" optctl --server=127.0.0.1:${ports[0]} health
# Its metrics, read by the image's own optctl: the demo's session is there.
stats=$(podman exec "$single" optctl --metrics=127.0.0.1:${ports[4]} stats)
echo "$stats"
case "$stats" in
  *lbfgs*) ;;
  *) echo "container-test: no lbfgs steps in the metrics" >&2; exit 1 ;;
esac
# The dashboard's pages and Chart.js are in the image's binary.
$PY - "${ports[4]}" <<'EOF'
import sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}/dashboard/"
index = urllib.request.urlopen(base, timeout=10).read().decode()
assert '<script src="chart.min.js">' in index, index[:200]
chart = urllib.request.urlopen(base + "chart.min.js", timeout=10).read()
assert b"Chart.js v3" in chart[:200], chart[:200]
print(f"dashboard: index {len(index)} bytes, chart.min.js {len(chart)} bytes")
EOF
PYTHONPATH=client/python $PY client/python/build_stubs.py >/dev/null
PYTHONPATH=client/python $PY - "${ports[0]}" <<'EOF'
import sys
import numpy as np
import optd
res = optd.minimize(lambda x: (float(np.sum((x - 3.0) ** 2)), 2.0 * (x - 3.0)),
                    np.zeros(5), jac=True, method="L-BFGS-B",
                    address=f"127.0.0.1:{sys.argv[1]}")
assert res.success and np.allclose(res.x, 3.0), res
print(f"python client: {res.message}, x = {res.x}, nfev = {res.nfev}")
EOF
podman rm -f -t 10 "$single" >/dev/null

echo "== three replicas, a K=3 sharded session, one replica killed and restarted"
peers="127.0.0.1:${ports[1]},127.0.0.1:${ports[2]},127.0.0.1:${ports[3]}"
for i in 0 1 2; do
  name=$PREFIX-$i
  containers+=("$name"); volumes+=("$name")
  # Configured through the environment (FLAGS_<flag>, the image's
  # --tryfromenv), as a StatefulSet or compose file may do.
  run "$name" "${ports[$((i + 1))]}" "$name" "${ports[$((i + 5))]}" \
    -e FLAGS_peers="$peers" \
    -e FLAGS_replica_index=$i
done
for i in 1 2 3; do healthy "${ports[$i]}"; done
PYTHONPATH=client/python $PY - "$PREFIX" "${ports[@]:1}" <<'EOF'
import subprocess
import sys
import time
import numpy as np
import optd

prefix, ports = sys.argv[1], sys.argv[2:]
n = 3 * 4096 + 100
x0 = np.ones(n)
x0[0::2] = -1.2

def rosen(x):
    a, b = 1.0 - x[0::2], x[1::2] - x[0::2] ** 2
    g = np.empty_like(x)
    g[0::2], g[1::2] = -2.0 * a - 400.0 * x[0::2] * b, 200.0 * b
    return float(np.sum(a * a + 100.0 * b * b)), g

def retry(call):
    for _ in range(100):
        try:
            return call()
        except optd.Unavailable:
            time.sleep(0.2)
    return call()

home = optd.connect(f"127.0.0.1:{ports[0]}", timeout=60)
options = {"maxiter": 30}
with home.create_session(x0, "lbfgs", options) as single:
    reference = []
    trial = single.pending[0]
    while trial is not None:
        reference.append(np.array(trial.x))
        trial = trial.tell(*rosen(trial.x)).trial

session = home.create_session(x0, "lbfgs", options, shards=3,
                              session_id="container-k3", keep=True)
assert session.direct
shard_map = home.get_session("container-k3").proto.shard_map
print("shard map:", [(s.replica, s.address, s.begin, s.end) for s in shard_map])
points, trial = [], session.pending[0]
for _ in range(8):
    points.append(np.array(trial.x))
    trial = trial.tell(*rosen(trial.x)).trial
subprocess.run(["podman", "kill", "-s", "KILL", f"{prefix}-2"], check=True,
               stdout=subprocess.DEVNULL)
try:
    trial.tell(*rosen(trial.x))
    raise SystemExit("a tell with a replica down was accepted")
except optd.Unavailable as e:
    print("replica 2 down:", e)
subprocess.run(["podman", "start", f"{prefix}-2"], check=True,
               stdout=subprocess.DEVNULL)
again = retry(lambda: home.session("container-k3"))
trial = again.pending[0]
while trial is not None:
    points.append(np.array(trial.x))
    trial = retry(lambda: trial.tell(*rosen(trial.x))).trial
summary = again.summary
assert len(points) == len(reference), (len(points), len(reference))
assert all(np.array_equal(a, b) for a, b in zip(points, reference)), \
    "the sharded session diverged from the one-replica run"
print(f"K=3 session after a replica restart: {len(points)} trials bitwise "
      f"equal to one replica; {summary.message}")
again.delete()
home.close()
EOF
echo "container-test: ok"
