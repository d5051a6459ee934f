#!/usr/bin/env bash
# Side-by-side: layoutdb's runtime vs ONNX Runtime (CPU) on the same model,
# the same inputs and the same thread count.  Benchmark only: nothing in the
# C++ build or its tests uses ONNX Runtime.
#
#   bash bench/ort/compare.sh MODEL --db DB [--input NAME:D1,D2,...]...
#        [--repeat R] [--warmup W] [--threads N] [--keep] [-- EXTRA LAYOUTDB RUN ARGS...]
#
# 1. installs onnxruntime-node into bench/ort/node_modules if it is missing
#    (npm ci --ignore-scripts: the Linux x64 CPU library ships in the package);
# 2. runs `build/layoutdb run MODEL --db DB --input ... --save-inputs TMP/in
#    --save-outputs TMP/out --repeat R --warmup W --json` (LAYOUTDB=path
#    overrides the binary; --threads N runs it with OMP_NUM_THREADS=N);
# 3. runs ort_bench.js on TMP/in, comparing ORT's outputs with TMP/out, with
#    the thread count layoutdb reported;
# 4. prints one table: engine / level, median, p10, p90 (µs), ORT median /
#    layoutdb median, and the max abs diff of the outputs against layoutdb's.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LAYOUTDB="${LAYOUTDB:-$ROOT/build/layoutdb}"

usage() {
  sed -n '6,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo "  (LAYOUTDB=/path/to/layoutdb to use another binary; --threads N sets OMP_NUM_THREADS"
  echo "   for layoutdb, and ORT uses the thread count layoutdb reports; --keep keeps the temporary folder)"
}
die() { echo "compare.sh: $*" >&2; exit 1; }

MODEL="" DB="" REPEAT=50 WARMUP=5 KEEP=0 THREADS_ARG=""
INPUT_ARGS=() EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --db) [ $# -ge 2 ] || die "--db needs a value"; DB="$2"; shift 2 ;;
    --input) [ $# -ge 2 ] || die "--input needs NAME:D1,D2,..."; INPUT_ARGS+=(--input "$2"); shift 2 ;;
    --repeat) [ $# -ge 2 ] || die "--repeat needs a value"; REPEAT="$2"; shift 2 ;;
    --warmup) [ $# -ge 2 ] || die "--warmup needs a value"; WARMUP="$2"; shift 2 ;;
    --threads) [ $# -ge 2 ] || die "--threads needs a value"; THREADS_ARG="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) [ -z "$MODEL" ] || die "one MODEL only (got '$MODEL' and '$1')"; MODEL="$1"; shift ;;
  esac
done
[ -n "$MODEL" ] || { usage >&2; die "MODEL is required"; }
[ -n "$DB" ] || { usage >&2; die "--db DB is required"; }
[ -f "$MODEL" ] || die "model '$MODEL' not found"
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "--repeat expects a positive integer, got '$REPEAT'"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "--warmup expects an integer, got '$WARMUP'"
[ -z "$THREADS_ARG" ] || [[ "$THREADS_ARG" =~ ^[1-9][0-9]*$ ]] || die "--threads expects a positive integer, got '$THREADS_ARG'"
command -v node >/dev/null || die "node (Node.js >= 20) is required"

# 1. ONNX Runtime for Node.js, pinned by package-lock.json
if [ ! -d "$HERE/node_modules/onnxruntime-node" ]; then
  command -v npm >/dev/null || die "npm is required to install onnxruntime-node"
  echo "compare.sh: installing onnxruntime-node into bench/ort/node_modules ..." >&2
  (cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund >&2) || die "npm ci failed in $HERE"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/layoutdb-vs-ort.XXXXXX")"
if [ "$KEEP" = 1 ]; then
  echo "compare.sh: keeping $TMP" >&2
else
  trap 'rm -rf "$TMP"' EXIT
fi

# 2. layoutdb's runtime: timing, plus the inputs it used and the outputs it got
[ -x "$LAYOUTDB" ] || die "layoutdb binary '$LAYOUTDB' not found: build it first (cmake --build build), or set LAYOUTDB=/path/to/layoutdb"
LDB_CMD=("$LAYOUTDB" run "$MODEL" --db "$DB" "${INPUT_ARGS[@]}" \
         --save-inputs "$TMP/in" --save-outputs "$TMP/out" --repeat "$REPEAT" --warmup "$WARMUP" --json "${EXTRA[@]}")
if [ -n "$THREADS_ARG" ]; then
  export OMP_NUM_THREADS="$THREADS_ARG"
  echo "compare.sh: OMP_NUM_THREADS=$OMP_NUM_THREADS ${LDB_CMD[*]}" >&2
else
  echo "compare.sh: ${LDB_CMD[*]}" >&2
fi
set +e
"${LDB_CMD[@]}" >"$TMP/layoutdb.out" 2>"$TMP/layoutdb.err"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  {
    echo "compare.sh: the layoutdb step failed (exit $rc): ${LDB_CMD[*]}"
    help_text="$("$LAYOUTDB" --help 2>/dev/null || true)"
    if ! grep -qE '^[[:space:]]+run[[:space:]]' <<<"$help_text"; then
      echo "compare.sh: this layoutdb build has no 'run' subcommand (layoutdb --help lists none): build a version with the runtime first."
    fi
    echo "--- layoutdb stderr (last 20 lines) ---"
    tail -n 20 "$TMP/layoutdb.err"
    if [ -s "$TMP/layoutdb.out" ]; then
      echo "--- layoutdb stdout (last 10 lines) ---"
      tail -n 10 "$TMP/layoutdb.out"
    fi
  } >&2
  exit 1
fi
[ -f "$TMP/in/input_0.pb" ] || die "layoutdb run wrote no $TMP/in/input_0.pb (--save-inputs)"
[ -f "$TMP/out/output_0.pb" ] || die "layoutdb run wrote no $TMP/out/output_0.pb (--save-outputs)"

# layoutdb's JSON: the whole stdout, or else the last tail of it that starts
# with a line beginning with "{" and parses as an object
node -e '
  const fs = require("fs");
  const txt = fs.readFileSync(process.argv[1], "utf8");
  let j = null;
  try { j = JSON.parse(txt); } catch (e) {
    const lines = txt.split("\n");
    for (let i = lines.length - 1; i >= 0 && !j; i--) {
      if (!lines[i].startsWith("{")) continue;
      try { const v = JSON.parse(lines.slice(i).join("\n")); if (v && typeof v === "object") j = v; } catch (e2) {}
    }
  }
  if (!j) { console.error("compare.sh: no JSON object in layoutdb run --json output"); process.exit(1); }
  for (const k of ["median_us", "p10_us", "p90_us"]) {
    if (typeof j[k] !== "number") { console.error(`compare.sh: layoutdb JSON has no number "${k}"`); process.exit(1); }
  }
  fs.writeFileSync(process.argv[2], JSON.stringify(j));
' "$TMP/layoutdb.out" "$TMP/layoutdb.json" || die "cannot read layoutdb's JSON (kept in $TMP/layoutdb.out with --keep)"

THREADS="$(node -e 'const j=require(process.argv[1]); process.stdout.write(String(Number.isInteger(j.threads) && j.threads > 0 ? j.threads : ""))' "$TMP/layoutdb.json")"
if [ -z "$THREADS" ]; then
  THREADS="$(nproc)"
  echo "compare.sh: warning: layoutdb's JSON has no 'threads'; ORT uses $THREADS (nproc)" >&2
fi

# 3. ONNX Runtime on the same inputs and threads, outputs checked against layoutdb's
node "$HERE/ort_bench.js" --model "$MODEL" --inputs "$TMP/in" --outputs "$TMP/out" \
  --threads "$THREADS" --repeat "$REPEAT" --warmup "$WARMUP" --json >"$TMP/ort.json" \
  || die "ort_bench.js failed (see above)"

# 4. one table
node - "$TMP/layoutdb.json" "$TMP/ort.json" "$MODEL" <<'EOF'
const fs = require('fs');
const [ldbFile, ortFile, model] = process.argv.slice(2);
const ldb = JSON.parse(fs.readFileSync(ldbFile, 'utf8'));
const ort = JSON.parse(fs.readFileSync(ortFile, 'utf8'));
const num = (v) => (typeof v === 'string' ? Number(v) : v);
const f1 = (v) => (v === null || v === undefined || Number.isNaN(num(v)) ? '-' : num(v).toFixed(1));
const fdiff = (v) => {
  v = num(v);
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (!Number.isFinite(v)) return String(v);
  return v === 0 ? '0' : v.toExponential(2);
};
const base = ldb.median_us;
const rows = [['layoutdb', f1(ldb.median_us), f1(ldb.p10_us), f1(ldb.p90_us), '1.00', '(reference)']];
for (const l of ort.levels) {
  rows.push([`onnxruntime ${l.level}`, f1(l.median_us), f1(l.p10_us), f1(l.p90_us),
    base > 0 ? (l.median_us / base).toFixed(2) : '-', fdiff(l.max_abs_diff)]);
}
const header = ['engine / level', 'median_us', 'p10_us', 'p90_us', 'x layoutdb', 'max_abs_diff'];
const all = [header, ...rows];
const w = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
const line = (r) => r.map((cell, c) => (c === 0 ? cell.padEnd(w[c]) : cell.padStart(w[c]))).join('  ');
console.log(`model ${model}, ${ort.threads} thread(s), onnxruntime-node ${ort.version}, ${ort.repeat} timed runs each`);
console.log(line(header));
console.log(w.map((x) => '-'.repeat(x)).join('  '));
for (const r of rows) console.log(line(r));
console.log('x layoutdb: ORT median / layoutdb median (> 1: ORT is slower). max_abs_diff: ORT outputs vs layoutdb outputs, worst output.');
const bad = ort.outputs.filter((o) => o.error);
for (const o of bad) console.log(`output ${o.name}: ${o.error}`);
for (const o of ort.outputs) {
  if (!o.error) console.log(`  output ${o.name} [${o.shape}] (ORT level ${ort.outputs_level}): max_abs_diff ${fdiff(o.max_abs_diff)}, max_rel_diff ${fdiff(o.max_rel_diff)}`);
}
if (bad.length) process.exitCode = 1;
EOF
