#!/usr/bin/env bash
# The GPU check, one run of a few minutes on a machine with a GPU and this checkout (set up as the
# README says). Prints: Gs img/s at 1024x1024, batch 1 and 8, with and without XLA, in fp32, bf16
# and fp16 (both families, with each precision's max |diff| to fp32); the training step at 256x256
# and 1024x1024, batch 8, with and without XLA (StyleGAN in fp32 and bf16, and StyleGAN2 config F);
# and the parity errors of every fixture network computed on the GPU (the CPU figures are in the
# closing notes: all below 5e-6 for outputs).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=2
$PY -c "import tensorflow as tf; print('GPUs:', tf.config.list_physical_devices('GPU'))"
for family in stylegan stylegan2; do
  $PY benchmarks/bench_generator.py --family=$family --resolutions=1024 --batch_sizes=1,8 \
      --modes=function,xla --precisions=fp32,bf16,fp16 --min_seconds=5
done
$PY benchmarks/bench_training.py --resolutions=256,1024 --modes=function,xla --precisions=fp32,bf16 \
    --replica_modes= --steps=3
$PY benchmarks/bench_training.py --family=stylegan2 --configs=f --resolutions=256,1024 \
    --modes=function,xla --replica_modes= --steps=3
PYTHONPATH=. $PY tests/original_fixtures.py
