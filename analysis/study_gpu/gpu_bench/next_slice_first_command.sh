#!/usr/bin/env bash
# The first command of the next GPU slice (issue 12's order: verify, then the study, then the benchmarks).
# Within one 10-minute command: set the host up, record the versions, run the GPU tests, then start the rest of
# the study with launch/gpu_session.sh for the command's remaining time. Continue with
# `bash launch/gpu_session.sh wait 570` per further command and `bash launch/gpu_session.sh stop` in the last;
# everything lands in $OUT. The benchmarks (bench/launch_levers.py, bench/gpu_concurrency.py at K = 8, 12, 16)
# wait for the slice after the study, `benchmarks_after_study.sh`: nothing they measure can change how the
# study's remaining runs train, which must be the loop its 234 completed runs used.
#   run(command="bash analysis/study_gpu/gpu_bench/next_slice_first_command.sh", carry=[".gpu_bundle"])
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
# 54 tests (the first slice's 32 took 111 s): one line per test as it ends (-v), so a log cut by the timeout
# still says which passed
timeout 300 $PY -m pytest -m gpu tests/test_gpu.py -v -p no:cacheprovider -rfEs --durations=10 > "$OUT/gpu_tests.log" 2>&1
echo "gpu tests (exit $?): $(tail -1 "$OUT/gpu_tests.log")   t=$(( $(date +%s) - T0 ))s"
LEFT=$(( BUDGET - ($(date +%s) - T0) ))
[ $LEFT -lt 60 ] && LEFT=60
exec bash launch/gpu_session.sh start $LEFT analysis/study_gpu/records.tar.gz \
  '+sweep=table1 hydra.launcher.workers_per_job=14' '+sweep=table2 hydra.launcher.workers_per_job=14'
