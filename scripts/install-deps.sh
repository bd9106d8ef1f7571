#!/usr/bin/env bash
# Installs the Debian 12 packages optd needs to build, run and test, if any are
# missing. Safe to run again: it does nothing when everything is there.
#   scripts/install-deps.sh          # build, run and test
set -euo pipefail

packages=(
  # C++ build
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libeigen3-dev libspdlog-dev libgtest-dev libgmock-dev zlib1g-dev
  libcpp-httplib-dev  # the /metrics HTTP endpoint
  libjs-chart.js      # the dashboard's charts (MIT), embedded in optd
  # libFuzzer targets (scripts/fuzz.sh): clang and its fuzzer/sanitizer runtimes
  clang libclang-rt-dev
  # the TLS tests make their certificates with openssl
  openssl
  # Python client, its tests and examples (always /usr/bin/python3)
  python3 python3-grpcio python3-protobuf python3-numpy python3-scipy
  python3-torch python3-sklearn python3-optuna
  # scipy's own optimize tests run against optd (tests/scipy_suite) with pytest
  python3-pytest
  # the dashboard's browser test (tests/dashboard): headless chromium and its
  # driver through selenium; a font for legible screenshots
  chromium chromium-driver python3-selenium fonts-dejavu-core
  # deploy/ manifest checks (tests/deploy)
  python3-yaml python3-kubernetes
)
# Node.js for the JavaScript example: Debian's nodejs + npm unless a node with
# npm is already there (e.g. NodeSource's, which conflicts with Debian's npm).
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
