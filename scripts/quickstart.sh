#!/usr/bin/env bash
# Installs the dependencies, builds, profiles this machine with the quick spec into layout.db,
# shows what was stored, and selects a plan for a bundled example model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/layoutdb devices
./build/layoutdb sweep --db layout.db --spec quick
./build/layoutdb info --db layout.db
./build/layoutdb select build/models/mobilenetv2.onnx --db layout.db --input input:1,3,224,224
