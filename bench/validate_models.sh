#!/usr/bin/env bash
# Validates the plan of every example model and detector against its oracle and baselines, and runs
# ONNX Runtime beside it: the figures of the "Run" issue, from one database, one model at a time.
#
#   bash bench/validate_models.sh DB OUT_DIR [--budget-s S] [--units LIST]
#
# Writes OUT_DIR/<model>.validate.json (schema/validation.schema.json) and OUT_DIR/<model>.ort.txt,
# and prints one summary line per model. Run it on a quiet machine: whole runs shift on a busy one.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${1:?usage: validate_models.sh DB OUT_DIR [--budget-s S] [--units LIST]}
OUT=${2:?usage: validate_models.sh DB OUT_DIR [--budget-s S] [--units LIST]}
shift 2
EXTRA=("$@")
mkdir -p "$OUT"
M=build/models
source bench/example_models.sh
for model in mobilenetv2 resnet50 bert_block paddle_cnn paddle_det yolo_det; do
  args=()
  [[ -n "${INPUTS[$model]}" ]] && args=(--input "${INPUTS[$model]}")
  ./build/layoutdb validate "$M/$model.onnx" --db "$DB" "${args[@]}" "${EXTRA[@]}" --json \
    > "$OUT/$model.validate.json"
  python3 - "$OUT/$model.validate.json" "$model" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
b = {x["name"]: x for x in j["baselines"]}
def ratio(name):
    x = b.get(name)
    return "-" if not x or x.get("measured_us") is None else "%.2f" % (x["measured_us"] / j["measured_total_us"])
print("%-12s measured %9.1f us  predicted %9.1f us (%+.1f%%)  sub-graphs within 10%%: %3.0f%%  "
      "selected/oracle %.3f  nchw/plan %s  any/plan %s  nhwc/plan %s  nChw16c/plan %s  "
      "max|diff| %.2g  memory %d / %d B" % (
      sys.argv[2], j["measured_total_us"], j["predicted_total_us"], j["error_pct"],
      100 * j["subgraphs_within_10pct"], j["selected_over_oracle"] or float("nan"),
      ratio("cpu:nchw"), ratio("cpu:any"), ratio("cpu:nhwc"), ratio("cpu:nChw16c"),
      j["max_abs_diff"], j["peak_activation_bytes"], j["liveness_lower_bound_bytes"]))
PY
  if [[ -d bench/ort/node_modules ]]; then
    bash bench/ort/compare.sh "$M/$model.onnx" --db "$DB" "${args[@]}" > "$OUT/$model.ort.txt" 2>&1 || true
  fi
done
