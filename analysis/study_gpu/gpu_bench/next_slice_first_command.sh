#!/usr/bin/env bash
# The first command of the next GPU slice (issue 12's order: verify, then the study, then the benchmarks).
# Within one 10-minute command: set the host up, record the versions, run the GPU tests that changed since the
# last slice, then start the rest of the study with launch/gpu_session.sh for the command's remaining time.
# Continue with `bash launch/gpu_session.sh wait 560` per further command and, in the last, `bash
# launch/gpu_session.sh wait W; bash launch/gpu_session.sh drain D`: the runs in flight finish instead of being
# cut; D ≈ 300 s while Mosbach's CoLA runs are in flight (284 s each, median of 17), ≈ 120 s for Table 2's
# (CWGNC on CoLA: 2,675 steps at ~33 steps/s); W is what the budget leaves. Everything lands in $OUT. The slice of 2026-11-24 ran all 54 GPU tests (52 passed; the two that
# failed are fixed and are run here, with the one added since) and Table 1 to 323 of 375 runs. What is left (dry runs on the
# committed records): Table 1's 52 runs (138,835 steps: 8 Mosbach CoLA, 44 Mixout) and Table 2's 150 (401,250;
# with hydra.sweeper.reuse=true its threshold-0.05 row is copied from Table 1's CWGNC CoLA runs, not trained).
# The benchmarks (bench/launch_levers.py, bench/cwgnc_overhead.py's candidate rescale, bench/gpu_concurrency.py at
# K = 8, 12, 16) wait for the slice after the study, `benchmarks_after_study.sh levers` and `... concurrency`:
# nothing they measure may change how the study's remaining runs train, which must be the loop its 323 completed
# runs used.
#   run(command="bash analysis/study_gpu/gpu_bench/next_slice_first_command.sh", carry=[".gpu_bundle"])
# and in the later commands carry nothing: a carried .gpu_bundle would replace the one the running sweeps use.
# Environment (a CPU rehearsal): PY (python3), MODEL (minilm_l6), SKIP_SETUP=1, BUDGET (seconds, 570).
set -u
cd "$(dirname "$0")/../../.."
T0=$(date +%s) OUT=${OUT:-/tmp/gpu_session_out} PY=${PY:-python3} BUDGET=${BUDGET:-570}
mkdir -p "$OUT"
if [ -z "${SKIP_SETUP:-}" ]; then
  bash .gpu_bundle/setup_on_host.sh .gpu_bundle >/dev/null && source .gpu_bundle/env.sh || exit 1
  export SKIP_SETUP=1  # for gpu_session.sh below: set up once
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1; git log -1 --format='commit %H' 2>&1
  $PY -c 'import importlib.metadata as m, platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda)
for p in ("transformers", "tokenizers", "huggingface_hub", "hydra-core", "omegaconf", "datasets", "submitit"):
    print(p, m.version(p))'; } > "$OUT/versions.txt" 2>&1
cat "$OUT/versions.txt"
# the GPU tests fixed or added after the slice of 2026-11-24 (its full run: gpu_tests_2026-11-24.log); a line each
timeout 150 $PY -m pytest -m gpu tests/test_gpu.py -k "every_model_family or out_of_gpu_memory or cwgnc_overhead" -v -p no:cacheprovider \
  -rfEs --durations=5 > "$OUT/gpu_tests.log" 2>&1
echo "gpu tests (exit $?): $(tail -1 "$OUT/gpu_tests.log")   t=$(( $(date +%s) - T0 ))s"
LEFT=$(( BUDGET - ($(date +%s) - T0) ))
[ $LEFT -lt 60 ] && LEFT=60
exec bash launch/gpu_session.sh start $LEFT analysis/study_gpu/records.tar.gz \
  '+sweep=table1 hydra.launcher.workers_per_job=14' '+sweep=table2 hydra.launcher.workers_per_job=14 hydra.sweeper.reuse=true'
