#!/usr/bin/env bash
# ON the GPU machine, after setup.sh, from the repo root: the skewed-protocol bench, time-boxed
# (a call may run 10 minutes), then its files packed under $OUT for `--report-only` here.
#   LIMIT=480 bash bench/device/gain.sh [loop_gain.py options...]
set -uo pipefail
: "${OUT:?set OUT (the device call's output folder)}"
LIMIT=${LIMIT:-480}
timeout "$LIMIT" python3 bench/loop_gain.py --runs-dir runs/gain --out "$OUT/loop_gain.json" "$@" \
  > "$OUT/bench.log" 2>&1
echo "bench rc=$? (124 = stopped at ${LIMIT}s; finished steps are kept in runs/gain)"
tail -40 "$OUT/bench.log"
find runs/gain \( -name eval_test.jsonl -o -name '*.summary.json' -o -name round.json -o -name allocation.json \
  -o -name hardware.txt -o -name '*.log' -o -name kept.jsonl -o -name analyses.jsonl \
  -o -name eval_mining.jsonl -o -name train_log.jsonl \) -print0 | tar czf "$OUT/gain_runs.tgz" --null -T -
ls -la "$OUT"
