#!/usr/bin/env bash
# Create .venv beside this checkout and install stability_bench with its test extras.
# TORCH_SPEC picks the torch build: the default is the CPU wheel used by CI; on a GPU cluster use e.g.
# TORCH_SPEC="torch>=2.1" (a CUDA build) or load a site-provided torch and set TORCH_SPEC="".
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
TORCH_SPEC=${TORCH_SPEC-torch==2.13.0}
if [ -n "$TORCH_SPEC" ]; then .venv/bin/python -m pip install -q "$TORCH_SPEC"; fi
# -qq: setuptools prints an information banner on every editable install; errors still show
.venv/bin/python -m pip install -qq -e ".[test]"
echo "stability_bench installed in $(pwd)/.venv"
