#!/usr/bin/env bash
# A GPU slice's command once the study is complete (issue 12, step 2): the launch levers (BENCHMARKS.md §6.4) and
# several runs on one GPU at K = 8, 12, 16 with and without MPS (§6.2). Each within its own time limit, so that
# one command of at most 10 minutes returns both; raw outputs land in $OUT.
#   run(command="bash analysis/study_gpu/gpu_bench/benchmarks_after_study.sh", carry=[".gpu_bundle"])
# Environment (a CPU rehearsal): PY (python3), MODEL (minilm_l6), SKIP_SETUP=1.
set -u
cd "$(dirname "$0")/../../.."
T0=$(date +%s) OUT=${OUT:-/tmp/gpu_bench_out} PY=${PY:-python3}
mkdir -p "$OUT"
if [ -z "${SKIP_SETUP:-}" ]; then
  bash .gpu_bundle/setup_on_host.sh .gpu_bundle >/dev/null && source .gpu_bundle/env.sh || exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/nvidia_smi.txt" 2>&1
timeout 180 $PY bench/launch_levers.py --model "${MODEL:-minilm_l6}" --json "$OUT/launch_levers.json" 2>&1 \
  | grep -v "Warning\|^  attn_output\|^  return Var" > "$OUT/launch_levers.log"
echo "launch_levers (exit ${PIPESTATUS[0]})   t=$(( $(date +%s) - T0 ))s"; grep "^|" "$OUT/launch_levers.log"
timeout 360 $PY bench/gpu_concurrency.py --model "${MODEL:-minilm_l6}" --k 8 12 16 --mps-k 8 12 16 --epochs 1 \
  --json "$OUT/concurrency.json" > "$OUT/concurrency.log" 2>&1
echo "gpu_concurrency (exit $?)   t=$(( $(date +%s) - T0 ))s"; grep "^gpu_concurrency\|^|" "$OUT/concurrency.log"
