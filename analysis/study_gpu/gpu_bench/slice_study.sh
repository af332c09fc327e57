#!/usr/bin/env bash
# GPU slice: continue the MiniLM study from the carried records (resume), for at most $1 seconds of sweeping.
# usage: bash .gpu_carry/study.sh SECONDS SWEEP_ARGS...
cd "$(dirname "$0")/.."
LIMIT=$1; shift
bash .gpu_bundle/setup_on_host.sh .gpu_bundle >/dev/null && source .gpu_bundle/env.sh
mkdir -p results
[ -f .gpu_carry/records.tar.gz ] && tar xzf .gpu_carry/records.tar.gz
T0=$(date +%s)
(while sleep 40; do tar czf $OUT/records.tmp.tar.gz results 2>/dev/null && mv $OUT/records.tmp.tar.gz $OUT/records.tar.gz; done) &
timeout -k 15 -s TERM "$LIMIT" python3 -m stability_bench model=minilm_l6 results_dir=results \
  hydra/launcher=local hydra.launcher.mps=true "$@" -m > $OUT/sweep.log 2>&1
echo "sweep exit $? after $(( $(date +%s) - T0 ))s"
grep -v "^\[job\] worker" $OUT/sweep.log | tail -8
grep -c " completed " $OUT/sweep.log
kill %1 2>/dev/null; sleep 1; tar czf $OUT/records.tar.gz results; rm -f $OUT/records.tmp.tar.gz
for e in results/table*; do python3 -m stability_bench.status $e | tail -20; done
ls -la $OUT
