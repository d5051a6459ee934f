#!/usr/bin/env bash
# Installs the dependencies, builds, profiles this machine with the quick spec into layout.db,
# shows what was stored, selects a plan for a bundled example model, runs the model under that plan
# and validates it (measured against predicted, its oracle and its baselines, interleaved).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/layoutdb devices
./build/layoutdb sweep --db layout.db --spec quick
./build/layoutdb info --db layout.db
./build/layoutdb select build/models/mobilenetv2.onnx --db layout.db --input input:1,3,224,224 \
  --out mobilenetv2.plan.json
./build/layoutdb run build/models/mobilenetv2.onnx --plan mobilenetv2.plan.json --input input:1,3,224,224
./build/layoutdb validate build/models/mobilenetv2.onnx --db layout.db --plan mobilenetv2.plan.json \
  --input input:1,3,224,224
