#!/usr/bin/env bash
# Regenerates python/tests/fixtures/sd-tiny in a throwaway environment of its own (torch, diffusers
# and transformers are never LatentLab's dependencies). PyPI's Linux torch pulls the CUDA
# libraries (several GB); the CPU index is tried first where it is reachable.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SD_FIXTURE_VENV:-/tmp/sd-fixture-venv}"
TORCH=2.9.1 DIFFUSERS=0.35.2 TRANSFORMERS=4.57.1 SAFETENSORS=0.8.0 NUMPY=2.4.6 ACCELERATE=1.16.0
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  timeout 120 "$venv/bin/pip" install -q "torch==$TORCH" --index-url https://download.pytorch.org/whl/cpu \
    || "$venv/bin/pip" install -q "torch==$TORCH"
  "$venv/bin/pip" install -q "diffusers==$DIFFUSERS" "transformers==$TRANSFORMERS" \
    "safetensors==$SAFETENSORS" "numpy==$NUMPY" "accelerate==$ACCELERATE"
fi
"$venv/bin/python" "$here/make_fixtures.py" "$root/python/tests/fixtures/sd-tiny"
