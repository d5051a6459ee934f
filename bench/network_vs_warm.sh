#!/usr/bin/env bash
# Times each example model's problems alone and in its network, side by side in one run: per model, a
# warm `sweep --model` into OUT_DIR/<model>.w.db; a copy of it taken through `sweep --model --cache
# network` (its first half resumes: every point done) into OUT_DIR/<model>.n.db; both files validated
# right after, and ONNX Runtime beside them. The figures of README's "sweep --model ... --cache network".
#
#   bash bench/network_vs_warm.sh OUT_DIR
#
# Writes OUT_DIR/<model>.{w,n}.json (schema/validation.schema.json), <model>.net.txt (the network
# sweep's summary), <model>.ort.txt, and prints one line per model and file. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: network_vs_warm.sh OUT_DIR}
mkdir -p "$OUT"
M=build/models
B=./build/layoutdb
source bench/example_models.sh
for model in mobilenetv2 resnet50 bert_block paddle_cnn paddle_det yolo_det; do
  args=()
  [[ -n "${INPUTS[$model]}" ]] && args=(--input "${INPUTS[$model]}")
  rm -f "$OUT/$model".*
  $B sweep --model "$M/$model.onnx" "${args[@]}" --db "$OUT/$model.w.db" --cache warm --visits 1 --quiet
  # One file to copy: the write-ahead log folded into it.
  python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA wal_checkpoint(TRUNCATE)')" \
    "$OUT/$model.w.db"
  cp "$OUT/$model.w.db" "$OUT/$model.n.db"
  $B sweep --model "$M/$model.onnx" "${args[@]}" --db "$OUT/$model.n.db" --cache network --visits 1 \
    > "$OUT/$model.net.txt"
  for f in w n; do
    $B validate "$M/$model.onnx" "${args[@]}" --db "$OUT/$model.$f.db" --no-store --json > "$OUT/$model.$f.json"
    python3 - "$OUT/$model.$f.json" "$model" "$f" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
n = len(j["subgraphs"])
print("%-12s %s measured %9.1f us  predicted %9.1f us (%+.1f%%)  sub-graphs within 10%%: %d of %d  "
      "selected/oracle %.3f  drift %.3f" % (
      sys.argv[2], sys.argv[3], j["measured_total_us"], j["predicted_total_us"], j["error_pct"],
      round(j["subgraphs_within_10pct"] * n), n, j["selected_over_oracle"] or float("nan"),
      j["machine_drift"]["factor"] or float("nan")))
PY
  done
  if [[ -d bench/ort/node_modules ]]; then
    bash bench/ort/compare.sh "$M/$model.onnx" --db "$OUT/$model.n.db" "${args[@]}" > "$OUT/$model.ort.txt" 2>&1 || true
  fi
done
