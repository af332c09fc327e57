#!/usr/bin/env bash
# One time-limited slice of a sweep on a GPU host that resumes from, and returns, a tarball of records.
# For lent GPU machines with a per-command time limit (see RESULTS.md, Setting 2): the sweep runs for at most
# SECONDS, the records are tarred into $OUT every 40 s and at the end, and the next slice resumes from them.
# With DRAIN=D, no run starts in the last D seconds (SIGUSR1, as `gpu_session.sh drain`): the runs in flight
# finish instead of being cut at SECONDS (a run cut there records `interrupted` and trains again next slice).
#   [DRAIN=D] bash launch/gpu_slice.sh SECONDS RECORDS.tar.gz SWEEP_ARGS...
#   e.g. DRAIN=300 bash launch/gpu_slice.sh 540 analysis/study_gpu/records.tar.gz +sweep=table1 hydra.launcher.workers_per_job=14
# The host needs the offline bundle in .gpu_bundle (bash ../shared/gpu_host/bundle.sh .gpu_bundle, carried along).
# Environment: OUT (default /tmp/gpu_slice_out), PY (python3), MODEL (minilm_l6), SKIP_SETUP=1 where the packages
# are installed already (tests/test_launch_scripts.py rehearses this script on a CPU with a tiny model).
set -u
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: [DRAIN=D] bash launch/gpu_slice.sh SECONDS RECORDS.tar.gz SWEEP_ARGS..." >&2; exit 2; }
LIMIT=$1 RECORDS=$2; shift 2
OUT=${OUT:-/tmp/gpu_slice_out} PY=${PY:-python3}; mkdir -p "$OUT"
if [ -z "${SKIP_SETUP:-}" ]; then
  bash .gpu_bundle/setup_on_host.sh .gpu_bundle >/dev/null && source .gpu_bundle/env.sh || exit 1
fi
mkdir -p results
[ -f "$RECORDS" ] && tar xzf "$RECORDS"
(while sleep 40; do bash launch/save_records.sh "$OUT"; done) &
saver=$!
T0=$(date +%s) DRAIN=${DRAIN:-0}
$PY -m stability_bench model=${MODEL:-minilm_l6} results_dir=results \
  hydra/launcher=local hydra.launcher.mps=true "$@" -m > "$OUT/sweep.log" 2>&1 &
sweep=$!
until_() { while kill -0 $sweep 2>/dev/null && [ "$(date +%s)" -lt $(( T0 + $1 )) ]; do sleep 1; done; }
until_ $(( LIMIT - DRAIN ))
[ "$DRAIN" -gt 0 ] && kill -USR1 $sweep 2>/dev/null && echo "draining after $(( $(date +%s) - T0 ))s: no new run starts"
until_ "$LIMIT"
cut=0
if kill -0 $sweep 2>/dev/null; then  # time is up: as SLURM at a time limit, runs in flight record `interrupted`
  cut=1; kill -TERM $sweep; until_ $(( LIMIT + 15 )); kill -KILL $sweep 2>/dev/null
fi
wait $sweep; rc=$?
echo "sweep exit $rc after $(( $(date +%s) - T0 ))s$([ $cut = 1 ] && echo ', stopped at the slice'"'"'s end')"
kill $saver 2>/dev/null; sleep 1
bash launch/save_records.sh "$OUT"
grep -v "^\[job\] worker" "$OUT/sweep.log" | tail -5
for e in results/*/; do [ -f "$e/sweep.json" ] && echo "$e: $($PY -m stability_bench.status "$e" | tail -1)"; done
[ $cut = 1 ] && exit 0 || exit $rc  # the slice's time was up: runs in flight are interrupted, not lost
