#!/usr/bin/env bash
# Which cache mode prices plans closer to their runs: sweeps one spec hot and warm, one after the
# other, into two files, then validates every example model on both, alternating file by file, and
# prints per model and file the total error, the sub-graphs within ±10% and selected / oracle.
#
#   bash bench/cache_modes.sh OUT_DIR [--spec quick|default|FILE] [other sweep options]
#
# Run it on a quiet machine. Writes OUT_DIR/{hot,warm}.db and OUT_DIR/<mode>.<model>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: cache_modes.sh OUT_DIR [sweep options]}
shift
mkdir -p "$OUT"
source bench/example_models.sh
for mode in hot warm; do
  start=$SECONDS
  ./build/layoutdb sweep --db "$OUT/$mode.db" --cache "$mode" --quiet "$@"
  echo "sweep $mode: $((SECONDS - start)) s"
done
for model in mobilenetv2 resnet50 bert_block paddle_cnn paddle_det yolo_det; do
  args=()
  [[ -n "${INPUTS[$model]}" ]] && args=(--input "${INPUTS[$model]}")
  for mode in hot warm; do
    ./build/layoutdb validate "build/models/$model.onnx" --db "$OUT/$mode.db" "${args[@]}" --json --no-store \
      > "$OUT/$mode.$model.json"
    python3 - "$OUT/$mode.$model.json" "$model" "$mode" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
n = len(j["subgraphs"])
print("%-12s %-4s measured %9.1f us  predicted %9.1f us (%+.1f%%)  within 10%%: %d of %d  selected/oracle %.3f" % (
    sys.argv[2], sys.argv[3], j["measured_total_us"], j["predicted_total_us"], j["error_pct"],
    round(j["subgraphs_within_10pct"] * n), n, j["selected_over_oracle"] or float("nan")))
PY
  done
done
