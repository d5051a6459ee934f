#!/usr/bin/env bash
# How well the cost model plans a model whose problems were never measured: for each example model, a
# copy of DB without the rows of the problems only that model has (its `sweep --model` keys on the cpu,
# every unit's rows of them deleted), then `validate` of that model on its copy. DB should hold the
# `sweep --model` runs of all five models (each model's own keys then come from the other four's
# neighbours, as they would for a model the file was not swept for).
#
#   bash bench/leave_one_model_out.sh DB OUT_DIR [extra validate arguments]
#
# Writes OUT_DIR/<model>.db and OUT_DIR/<model>.validate.json, and prints one line per model and the
# geometric mean of selected/oracle. Run it on a quiet machine: whole runs shift on a busy one.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${1:?usage: leave_one_model_out.sh DB OUT_DIR [extra validate arguments]}
OUT=${2:?usage: leave_one_model_out.sh DB OUT_DIR [extra validate arguments]}
shift 2
EXTRA=("$@")
mkdir -p "$OUT"
M=build/models
MODELS=(mobilenetv2 resnet50 bert_block yolo_det paddle_det)
source bench/example_models.sh
args_of() { [[ -n "${INPUTS[$1]}" ]] && echo "--input ${INPUTS[$1]}"; true; }
for m in "${MODELS[@]}"; do
  rm -f "$OUT/dry.db"
  # shellcheck disable=SC2046
  ./build/layoutdb sweep --model "$M/$m.onnx" $(args_of "$m") --db "$OUT/dry.db" --dry-run 2>/dev/null |
    awk '$1 == "cpu" && $2 != "reorder" { print $2 }' | sort -u > "$OUT/$m.keys"
  rm -f "$OUT/dry.db"
done
for m in "${MODELS[@]}"; do
  for o in "${MODELS[@]}"; do if [[ $o != "$m" ]]; then cat "$OUT/$o.keys"; fi; done | sort -u > "$OUT/others.keys"
  comm -23 "$OUT/$m.keys" "$OUT/others.keys" > "$OUT/$m.only"
  cp "$DB" "$OUT/$m.db"
  python3 - "$OUT/$m.db" "$OUT/$m.only" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
keys = [l.strip() for l in open(sys.argv[2]) if l.strip()]
rows = sum(db.execute("DELETE FROM measurements WHERE problem_id IN (SELECT id FROM problems WHERE key = ?)",
                      (k,)).rowcount for k in keys)
db.commit()
print("%s: %d keys only in this model, %d rows deleted" % (sys.argv[1], len(keys), rows), file=sys.stderr)
PY
  # shellcheck disable=SC2046
  ./build/layoutdb validate "$M/$m.onnx" $(args_of "$m") --db "$OUT/$m.db" "${EXTRA[@]}" --json \
    > "$OUT/$m.validate.json"
done
python3 - "$OUT" "${MODELS[@]}" <<'PY'
import collections, json, math, sys
out, models = sys.argv[1], sys.argv[2:]
logs = []
for m in models:
    j = json.load(open("%s/%s.validate.json" % (out, m)))
    sg = j["subgraphs"]
    conf = collections.Counter(s["confidence"] for s in sg)
    within = sum(1 for s in sg if abs(s["error_pct"]) <= 10)
    logs.append(math.log(j["selected_over_oracle"]))
    print("%-12s measured %9.1f us  predicted %9.1f us (%+.1f%%)  sub-graphs within 10%%: %d/%d  "
          "selected/oracle %.3f  %s" % (m, j["measured_total_us"], j["predicted_total_us"], j["error_pct"],
                                        within, len(sg), j["selected_over_oracle"], dict(conf)))
print("selected/oracle, geometric mean: %.3f" % math.exp(sum(logs) / len(logs)))
PY
