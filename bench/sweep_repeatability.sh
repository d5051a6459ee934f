#!/bin/bash
# How well does a sweep repeat itself? The ceiling of any interpolator's held-out accuracy.
#
#   bash bench/sweep_repeatability.sh OUT [sweep options...]
#
# Sweeps the same points twice, one sweep right after the other, into OUT/a.db and OUT/b.db (default
# options: the default spec's convolutions on the cpu in f32, about 80 s each on 2 cores), then
# prints, per op family and layout, the share of points whose two medians agree within 5% and 10%,
# and beside it the leave-one-out accuracy of the first file (bench_select): an estimate judged
# against one measurement cannot be expected to agree with it more often than a second measurement
# of the same point does. Needs a build (build/layoutdb, build/bench/bench_select) and sqlite3.
set -euo pipefail
out=${1:?usage: sweep_repeatability.sh OUT [sweep options...]}
shift
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--spec default --ops conv2d --units cpu --dtypes f32)
root=$(cd "$(dirname "$0")/.." && pwd)
layoutdb=$root/build/layoutdb
bench=$root/build/bench/bench_select
for tool in "$layoutdb" "$bench"; do
  [ -x "$tool" ] || { echo "sweep_repeatability.sh: $tool is missing: build first (bash scripts/build.sh)" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "sweep_repeatability.sh: sqlite3 is missing (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$out"
for run in a b; do
  rm -f "$out/$run.db"
  start=$(date +%s)
  "$layoutdb" sweep --db "$out/$run.db" --quiet "${args[@]}"
  echo "sweep $run: $(( $(date +%s) - start )) s"
done

echo
echo "the same points swept twice: |b / a - 1| (usable rows of both files)"
sqlite3 -separator ' ' "$out/a.db" "attach '$out/b.db' as b;
  select substr(p.key, 1, instr(p.key, ':') - 1), u.name, m.layout, m.dtype, m.median_us, mb.median_us
  from measurements m join problems p on p.id = m.problem_id join units u on u.id = m.unit_id
  join b.problems pb on pb.key = p.key join b.units ub on ub.name = u.name
  join b.measurements mb on mb.problem_id = pb.id and mb.unit_id = ub.id and mb.layout = m.layout
                         and mb.dtype = m.dtype
  where m.status = 'ok' and mb.status = 'ok' and m.is_reference = 0 and mb.is_reference = 0" |
  awk '{ g = $1 " " $2 " " $3 " " $4; r = $6 / $5; e = r > 1 ? r - 1 : 1 - r;
         n[g]++; w5[g] += e <= 0.05; w10[g] += e <= 0.10; N++; W5 += e <= 0.05; W10 += e <= 0.10 }
       END { for (g in n) printf "%-36s %6d %8.1f%% %8.1f%%\n", g, n[g], 100 * w5[g] / n[g], 100 * w10[g] / n[g] | "sort";
             close("sort");
             if (N) printf "%-36s %6d %8.1f%% %8.1f%%\n", "(all)", N, 100 * W5 / N, 100 * W10 / N }' > "$out/repeat.txt"
printf "%-36s %6s %9s %9s\n" "op unit layout dtype" "points" "within 5%" "within 10%"
cat "$out/repeat.txt"

echo
echo "leave-one-out on the first file (bench_select: each point predicted without itself)"
"$bench" --db "$out/a.db" --benchmark_filter=NONE 2>/dev/null | sed -n '/^held-out accuracy/,/^cost model load/p'
