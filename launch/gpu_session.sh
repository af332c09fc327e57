#!/usr/bin/env bash
# Sweeps that outlive one command on a lent GPU machine (RESULTS.md, Setting 2).
# Such a machine stops each command after 10 minutes but stays warm, with the processes that a command started
# in a process session of their own, while the next command follows within ~30 s. So `start` launches the
# sweeps (one after another) in their own session, each later `wait` saves the records into $OUT while they
# run, and `stop` ends them as SLURM would at a time limit (SIGTERM: running runs record `interrupted`) and
# saves. No run is cut at a command's boundary; the next session resumes from the saved records (checkpoints stay
# behind: at 270 MB a MiniLM run they exceed what a command returns, so a stopped run restarts there). So the
# last command drains first: `drain SECONDS` starts no new run, lets the runs in flight finish for up to SECONDS
# (a Mosbach CoLA run on MiniLM takes ~5 minutes under 14 workers), then stops what is left, and saves.
#   bash launch/gpu_session.sh start SECONDS RECORDS.tar.gz 'SWEEP ARGS' ['SWEEP ARGS' ...]
#   bash launch/gpu_session.sh wait SECONDS
#   bash launch/gpu_session.sh drain SECONDS      (in the last command: then as stop)
#   bash launch/gpu_session.sh stop
# Each sweep runs: python3 -m stability_bench model=minilm_l6 results_dir=results hydra/launcher=local
#   hydra.launcher.mps=true SWEEP ARGS -m
# e.g. start 480 analysis/study_gpu/records.tar.gz '+sweep=table1 hydra.launcher.workers_per_job=14' \
#   '+sweep=table2 hydra.launcher.workers_per_job=14'
# The host needs the offline bundle in .gpu_bundle (bash ../shared/gpu_host/bundle.sh .gpu_bundle, carried along).
# Environment: OUT (default /tmp/gpu_session_out), GPU_SESSION_STATE (/tmp/gpu_session), PY (python3), MODEL
# (minilm_l6), SKIP_SETUP=1 where the packages are installed already (tests/test_launch_scripts.py rehearses a
# session on a CPU with a tiny model: start, stop mid-sweep, resume elsewhere from the saved records).
set -u
cd "$(dirname "$0")/.."
usage() { echo "usage: gpu_session.sh start SECONDS RECORDS 'SWEEP ARGS'... | wait SECONDS | drain SECONDS | stop" >&2; exit 2; }
case "${1:-}" in  # checked before anything is written
start) [ $# -ge 4 ] || usage ;;
wait|drain) [ $# -ge 2 ] || usage ;;
stop) ;;
*) usage ;;
esac
OUT=${OUT:-/tmp/gpu_session_out} STATE=${GPU_SESSION_STATE:-/tmp/gpu_session} PY=${PY:-python3}
mkdir -p "$OUT" "$STATE" results
[ -f .gpu_bundle/env.sh ] && source .gpu_bundle/env.sh

save() {
  bash launch/save_records.sh "$OUT"
  [ -f $STATE/sweeps.log ] && grep -v "^\[job\] worker" $STATE/sweeps.log > "$OUT/sweeps.log"
}
alive() { [ -f $STATE/runner.pid ] && kill -0 "$(cat $STATE/runner.pid)" 2>/dev/null; }
watch() {  # save every 40 s until SECONDS have passed or the sweeps have ended, then report
  local end=$(( $(date +%s) + $1 ))
  while alive && [ "$(date +%s)" -lt $end ]; do sleep 10; [ $(( $(date +%s) % 40 )) -lt 10 ] && save; done
  save
  for e in results/*/; do [ -f "$e/sweep.json" ] || continue; echo "$e: $($PY -m stability_bench.status "$e" | tail -1)"; done
  alive && echo "sweeps still running" || { echo "sweeps ended:"; grep -v "^\[job\] worker" $STATE/sweeps.log | tail -4; }
}

halt() {  # as SLURM at a time limit: SIGTERM (runs in flight record `interrupted`), then save
  alive && kill -TERM "$(cat $STATE/sweep.pid)" 2>/dev/null
  for _ in $(seq 90); do alive || break; sleep 1; done
  watch 0
}

case "$1" in
start)
  LIMIT=$2 RECORDS=$3; shift 3
  if [ -z "${SKIP_SETUP:-}" ]; then
    bash .gpu_bundle/setup_on_host.sh .gpu_bundle >/dev/null && source .gpu_bundle/env.sh || exit 1
  fi
  [ -f "$RECORDS" ] && tar xzf "$RECORDS"
  rm -f $STATE/stop
  { echo 'cd "$1"; state=$2; shift 2'
    echo 'for args in "$@"; do [ -f $state/stop ] && break'
    echo "  $PY -m stability_bench model=${MODEL:-minilm_l6} results_dir=results hydra/launcher=local hydra.launcher.mps=true \$args -m &"
    echo '  echo $! > $state/sweep.pid; wait $!; echo "sweep exit $? ($args)"; done'; } > $STATE/runner.sh
  setsid bash $STATE/runner.sh "$PWD" "$STATE" "$@" > $STATE/sweeps.log 2>&1 < /dev/null &
  echo $! > $STATE/runner.pid
  echo "started $(date -u +%T): $*"
  watch "$LIMIT" ;;
wait) watch "$2" ;;
drain)  # no new run starts; the runs in flight finish (up to SECONDS, then as stop) and are saved
  touch $STATE/stop
  alive && kill -USR1 "$(cat $STATE/sweep.pid)" 2>/dev/null
  watch "$2"
  if alive; then halt; fi ;;
stop)
  touch $STATE/stop
  halt ;;
esac
