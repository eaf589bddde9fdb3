#!/usr/bin/env bash
# bench/gpu_check.py as one command on the GPU machine: install the carried wheels offline, then run it.
#
#   scripts/fetch-gpu-wheels              # here, once (PyPI): fills .gpu-wheels/
#   bash bench/gpu_check.sh [ARGS...]     # there, with .gpu-wheels/ carried; ARGS go to gpu_check.py
#
# The wheels go into a folder of their own put first on PYTHONPATH, so the machine's packages are never
# changed and torch is never reinstalled; transformers stays the machine's unless it cannot import what
# diffusers' LTX-2 pipelines need. The project runs from src/ (the same files an install would copy,
# without a build step that would need setuptools offline). The check's --budget-seconds is what is left
# of 450 s after the install, so the whole command stays under 8 minutes.
# Both families by default (ltx2, then magihuman: bench/gpu_check_magihuman.py); --engine picks one.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
wheels=${GPU_WHEELS:-.gpu-wheels}
site=${GPU_SITE:-/tmp/gpu-check-site}
if ! compgen -G "$wheels/diffusers-*.whl" >/dev/null; then
  echo "gpu_check.sh: no wheels in $wheels/: run scripts/fetch-gpu-wheels here first, and carry $wheels" >&2
  exit 2
fi
install() {
  "$python" -m pip install -q --root-user-action=ignore --upgrade --no-index --find-links "$wheels" --no-deps \
    --no-compile --target "$site" "$@"
}
install diffusers av pydantic pydantic-core annotated-types typing-inspection typing-extensions
export PYTHONPATH="$site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
ltx2_pipelines="from diffusers import LTX2Pipeline, LTX2ImageToVideoPipeline, LTX2InContextPipeline"
if ! "$python" -c "$ltx2_pipelines, LTX2LatentUpsamplePipeline" 2>/dev/null; then
  echo "gpu_check.sh: this machine's transformers cannot load diffusers' LTX-2 pipelines; using the carried one"
  install transformers
fi
"$python" -c 'import sys, torch, transformers
print(f"gpu_check.sh: wheels installed in {sys.argv[1]} s;", "torch", torch.__version__,
      "transformers", transformers.__version__)' \
  "$SECONDS"
exec "$python" -u bench/gpu_check.py --budget-seconds "$((450 - SECONDS))" "$@"
