#!/usr/bin/env bash
# Configures and builds optd into a build directory (default: build/).
#   scripts/build.sh                 # RelWithDebInfo into build/
#   BUILD_DIR=build-asan CMAKE_ARGS="-DOPTD_SANITIZE=ON" scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
# ccache keeps rebuilds (and CI reruns on the same machine) fast. BASEDIR and
# NOHASHDIR let clones at different paths share cached objects (the debug info
# then names paths relative to the clone).
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} \
  ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -- ${NINJA_ARGS:-}
