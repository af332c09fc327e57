#!/usr/bin/env bash
# GPU slice 1: verify (gpu tests), then measure (step times, bert-large shape, concurrency, reference).
cd "$(dirname "$0")/.."
bash .gpu_bundle/setup_on_host.sh .gpu_bundle >/dev/null && source .gpu_bundle/env.sh
T0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/nvidia_smi.txt
which nvidia-cuda-mps-control | tee -a $OUT/nvidia_smi.txt
python3 - <<'PY' | tee $OUT/versions.txt
import importlib.metadata as m, platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())
for p in ("transformers", "tokenizers", "huggingface_hub", "hydra-core", "omegaconf", "datasets", "submitit", "numpy", "pandas", "scipy", "accelerate"):
    try: print(p, m.version(p))
    except Exception as e: print(p, "missing")
PY
timeout 170 python3 -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider -rfE 2>&1 | tail -40 | tee $OUT/gpu_tests.log
echo "t=$(( $(date +%s) - T0 ))s"
timeout 100 python3 bench/gpu_steps.py --model minilm_l6 --steps 150 --json $OUT/steps_minilm.json 2>&1 | grep -v Warning | tee $OUT/steps.log
echo "t=$(( $(date +%s) - T0 ))s"
timeout 60 python3 bench/gpu_steps.py --model bert_large_shape --task rte --precision bf16 tf32 --steps 30 --json $OUT/steps_large.json 2>&1 | grep -v Warning | tee -a $OUT/steps.log
echo "t=$(( $(date +%s) - T0 ))s"
timeout 170 python3 bench/gpu_concurrency.py --k 1 4 8 12 --mps-k 8 12 --json $OUT/concurrency.json 2>&1 | tee $OUT/concurrency.log
echo "t=$(( $(date +%s) - T0 ))s"
timeout 60 python3 bench/reference_pipeline.py --task rte --epochs 1 2>&1 | grep reference_pipeline | tee $OUT/reference.log
echo "t=$(( $(date +%s) - T0 ))s"
