#!/usr/bin/env bash
# Installs the Debian 12 packages layoutdb builds and tests with. Run as root (or with sudo).
set -euo pipefail
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# libxgboost-dev: the selector's learned cost model (XGBoost's C API).
# libjs-vega: the plots of `layoutdb report` (compiled in); chromium: the report tests draw the page.
# clang, libclang-rt-14-dev (libFuzzer), llvm (llvm-symbolizer): scripts/sanitize.sh and scripts/fuzz.sh.
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build pkg-config ca-certificates \
  libdnnl-dev \
  ocl-icd-opencl-dev opencl-headers opencl-clhpp-headers pocl-opencl-icd \
  libsqlite3-dev sqlite3 \
  libxgboost-dev \
  libbenchmark-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev \
  libonnx-dev libprotobuf-dev protobuf-compiler nlohmann-json3-dev libonnx-testdata \
  clang libclang-rt-14-dev llvm \
  libjs-vega chromium
