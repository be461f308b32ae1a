#!/usr/bin/env bash
# The GPU check of issue 12, in one command (under 8 minutes on one GPU): seconds per step for
# float32/float16 x XLA off/on at 512 and 1024 px, whether float16 matches float32 after 100
# steps, and the plain loop's time to quality against the fast preset at 512 px.
#   bash benchmarks/gpu_check.sh [--weights VGG16.weights.h5] [gpu_check.py options]
# Weights: $NST_WEIGHTS, else ../shared/weights/vgg16_tv_imagenet_notop.weights.h5 (VGG19 is
# timed with random weights). The judge's file is looked for beside it (skipped if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" PYTHONUNBUFFERED=1
weights="${NST_WEIGHTS:-../shared/weights/vgg16_tv_imagenet_notop.weights.h5}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec python3 benchmarks/gpu_check.py --weights "$weights" "$@"
