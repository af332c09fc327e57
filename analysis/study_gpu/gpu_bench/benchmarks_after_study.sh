#!/usr/bin/env bash
# GPU slice commands once the study is complete (issue 12, step 2), two commands of at most 10 minutes each:
#   levers       the launch levers (BENCHMARKS.md §6.4) and CWGNC's overhead per step on the GPU with its candidate
#                rescale (§2: one kernel per tensor as it is, or one host sync and one multi-tensor kernel)
#   concurrency  several runs on one GPU at K = 8, 12, 16 with and without MPS (§6.2)
#   run(command="bash analysis/study_gpu/gpu_bench/benchmarks_after_study.sh levers", carry=[".gpu_bundle"])
#   run(command="bash analysis/study_gpu/gpu_bench/benchmarks_after_study.sh concurrency", carry=[".gpu_bundle"])
# Each benchmark within its own time limit; raw outputs land in $OUT.
# Environment (a CPU rehearsal): PY (python3), MODEL (minilm_l6), SKIP_SETUP=1.
set -u
cd "$(dirname "$0")/../../.."
T0=$(date +%s) OUT=${OUT:-/tmp/gpu_bench_out} PY=${PY:-python3} MODEL=${MODEL:-minilm_l6}
case "${1:-}" in levers|concurrency) ;; *) echo "usage: benchmarks_after_study.sh levers|concurrency" >&2; exit 2 ;; esac
mkdir -p "$OUT"
if [ -z "${SKIP_SETUP:-}" ]; then
  bash .gpu_bundle/setup_on_host.sh .gpu_bundle >/dev/null && source .gpu_bundle/env.sh || exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/nvidia_smi.txt" 2>&1
if [ "$1" = levers ]; then
  timeout 240 $PY bench/launch_levers.py --model "$MODEL" --json "$OUT/launch_levers.json" 2>&1 \
    | grep -v "Warning\|^  attn_output\|^  return Var" > "$OUT/launch_levers.log"
  echo "launch_levers (exit ${PIPESTATUS[0]})   t=$(( $(date +%s) - T0 ))s"; grep "^|" "$OUT/launch_levers.log"
  for length in 21 125; do  # CoLA's and RTE's mean padded lengths
    timeout 100 $PY bench/cwgnc_overhead.py --model "$MODEL" --length $length --steps 100 > "$OUT/cwgnc_overhead_$length.log" 2>&1
    echo "cwgnc_overhead length $length (exit $?)   t=$(( $(date +%s) - T0 ))s"; grep "^cwgnc_overhead\|^|" "$OUT/cwgnc_overhead_$length.log"
  done
else
  timeout 540 $PY bench/gpu_concurrency.py --model "$MODEL" --k 8 12 16 --mps-k 8 12 16 --epochs 1 \
    --json "$OUT/concurrency.json" > "$OUT/concurrency.log" 2>&1
  echo "gpu_concurrency (exit $?)   t=$(( $(date +%s) - T0 ))s"; grep "^gpu_concurrency\|^|" "$OUT/concurrency.log"
fi
