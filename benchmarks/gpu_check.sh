#!/usr/bin/env bash
# The GPU check of issue 14 in one call, under 8 minutes: pytest -m gpu, then engine and model
# speed of every model (512x1024 and 1024x2048, fp32/fp16/bf16, batch 1 and 4, eager and CUDA
# graphs; torch.compile on the target cases), then the targets marked met / not met.
#
#   bash benchmarks/gpu_check.sh                   # results into $OUT (the device machine) or
#                                                  # benchmarks/results/gpu_check
#   bash benchmarks/gpu_check.sh --cpu-dry-run     # tiny sizes on the CPU (the suite runs this)
#
# Extra arguments go to python -m frrn_seg_ros.bench.gpu (--help lists them). Python: $PYTHON,
# else this checkout's .venv, else python3 (the device machine's, which holds torch). The package
# need not be installed: the checkout (and training/ as frrn_seg_training) goes on PYTHONPATH.
# A hard timeout (GPU_CHECK_TIMEOUT_S, default 470 s) stops a hang; every case is written as soon
# as it is measured.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
# training/ imports as frrn_seg_training once installed (setup.py's package_dir): a link gives the
# uninstalled checkout the same name (the GPU tests train a demo checkpoint with it).
SHIM=$(mktemp -d)
ln -s "$PWD/training" "$SHIM/frrn_seg_training"
export PYTHONPATH="$PWD:$SHIM${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT_DIR=${OUT:-benchmarks/results/gpu_check}
exec timeout --signal=INT --kill-after=15 "${GPU_CHECK_TIMEOUT_S:-470}" \
  "$PYTHON" -m frrn_seg_ros.bench.gpu --out "$OUT_DIR" "$@"
