#!/usr/bin/env bash
# One time-limited slice of a sweep on a GPU host that resumes from, and returns, a tarball of records.
# For lent GPU machines with a per-command time limit (see RESULTS.md, Setting 2): the sweep runs for at most
# SECONDS, the records are tarred into $OUT every 40 s and at the end, and the next slice resumes from them.
#   bash launch/gpu_slice.sh SECONDS RECORDS.tar.gz SWEEP_ARGS...
#   e.g. bash launch/gpu_slice.sh 540 analysis/study_gpu/records.tar.gz +sweep=table1 hydra.launcher.workers_per_job=14
# The host needs the offline bundle in .gpu_bundle (bash ../shared/gpu_host/bundle.sh .gpu_bundle, carried along).
set -u
cd "$(dirname "$0")/.."
LIMIT=$1 RECORDS=$2; shift 2
OUT=${OUT:-/tmp/gpu_slice_out}; mkdir -p "$OUT"
bash .gpu_bundle/setup_on_host.sh .gpu_bundle >/dev/null && source .gpu_bundle/env.sh || exit 1
mkdir -p results
[ -f "$RECORDS" ] && tar xzf "$RECORDS"
(while sleep 40; do tar czf "$OUT/records.tmp.tar.gz" --exclude=.hydra --exclude=.claims --exclude=checkpoint.pt results 2>/dev/null \
   && mv "$OUT/records.tmp.tar.gz" "$OUT/records.tar.gz"; done) &
saver=$!
T0=$(date +%s)
timeout -k 15 -s TERM "$LIMIT" python3 -m stability_bench model=minilm_l6 results_dir=results \
  hydra/launcher=local hydra.launcher.mps=true "$@" -m > "$OUT/sweep.log" 2>&1
echo "sweep exit $? after $(( $(date +%s) - T0 ))s"
kill $saver 2>/dev/null; sleep 1
tar czf "$OUT/records.tar.gz" --exclude=.hydra --exclude=.claims --exclude=checkpoint.pt results && rm -f "$OUT/records.tmp.tar.gz"
grep -v "^\[job\] worker" "$OUT/sweep.log" | tail -5
for e in results/table*; do python3 -m stability_bench.status "$e" | tail -1; done
