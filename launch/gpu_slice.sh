#!/usr/bin/env bash
# One time-limited slice of a sweep on a GPU host that resumes from, and returns, a tarball of records.
# For lent GPU machines with a per-command time limit (see RESULTS.md, Setting 2): the sweep runs for at most
# SECONDS, the records are tarred into $OUT every 40 s and at the end, and the next slice resumes from them.
#   bash launch/gpu_slice.sh SECONDS RECORDS.tar.gz SWEEP_ARGS...
#   e.g. bash launch/gpu_slice.sh 540 analysis/study_gpu/records.tar.gz +sweep=table1 hydra.launcher.workers_per_job=14
# The host needs the offline bundle in .gpu_bundle (bash ../shared/gpu_host/bundle.sh .gpu_bundle, carried along).
# Environment: OUT (default /tmp/gpu_slice_out), PY (python3), MODEL (minilm_l6), SKIP_SETUP=1 where the packages
# are installed already (tests/test_launch_scripts.py rehearses this script on a CPU with a tiny model).
set -u
cd "$(dirname "$0")/.."
LIMIT=$1 RECORDS=$2; shift 2
OUT=${OUT:-/tmp/gpu_slice_out} PY=${PY:-python3}; mkdir -p "$OUT"
if [ -z "${SKIP_SETUP:-}" ]; then
  bash .gpu_bundle/setup_on_host.sh .gpu_bundle >/dev/null && source .gpu_bundle/env.sh || exit 1
fi
mkdir -p results
[ -f "$RECORDS" ] && tar xzf "$RECORDS"
(while sleep 40; do bash launch/save_records.sh "$OUT"; done) &
saver=$!
T0=$(date +%s)
timeout -k 15 -s TERM "$LIMIT" $PY -m stability_bench model=${MODEL:-minilm_l6} results_dir=results \
  hydra/launcher=local hydra.launcher.mps=true "$@" -m > "$OUT/sweep.log" 2>&1
rc=$?
echo "sweep exit $rc after $(( $(date +%s) - T0 ))s"
kill $saver 2>/dev/null; sleep 1
bash launch/save_records.sh "$OUT"
grep -v "^\[job\] worker" "$OUT/sweep.log" | tail -5
for e in results/*/; do [ -f "$e/sweep.json" ] && echo "$e: $($PY -m stability_bench.status "$e" | tail -1)"; done
[ $rc -eq 124 ] && exit 0 || exit $rc  # 124: the slice's time was up (runs in flight are interrupted, not lost)
