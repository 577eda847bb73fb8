#!/usr/bin/env bash
# The paper-scale training step on ONE GPU, at most 8 minutes: DeepSpeed ZeRO-2 + bf16 + gradient
# checkpointing, the lean LOGO step on a Qwen3-8B-shaped model with random weights at 16k/32k/64k tokens.
# Writes peak GPU memory and tokens/s per length to results/benchmarks/gpu_check.json (after every
# length, so a timeout keeps what was measured).
#
#   benchmarks/gpu_check.sh [OUT.json] [extra args for benchmarks/gpu_check.py, e.g. --lengths 16384]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
OUT="${1:-results/benchmarks/gpu_check.json}"
shift || true
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTORCH_CUDA_ALLOC_CONF="${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}"
mkdir -p "$(dirname "$OUT")"
timeout 470 "$PY" benchmarks/gpu_check.py --out "$OUT" "$@"
