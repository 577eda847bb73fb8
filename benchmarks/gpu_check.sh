#!/usr/bin/env bash
# The paper path on a GPU machine, at most 8 minutes in all:
# 1. (<= 220 s) the paper-scale training step on ONE GPU: DeepSpeed ZeRO-2 + bf16 + gradient checkpointing,
#    the lean LOGO step on a Qwen3-8B-shaped model with random weights at 16k/32k/64k tokens; peak GPU
#    memory and tokens/s per length to OUT (after every length, so a timeout keeps what was measured).
# 2. (<= 240 s) benchmarks/gpu_check_paper.py, to OUT's folder/gpu_check_paper.json: Ulysses SP=2 vs SP=1
#    loss and gradient norm with flash_attention_2 at ~8k tokens (2 GPUs; else "not measured"), vLLM's
#    context (131,072) and YaRN x4 for Qwen3 (the entry's scaling, and a trained checkpoint carrying it),
#    the GLM tokenizer under transformers 5 (when its checkpoint is here).
#
#   benchmarks/gpu_check.sh [OUT.json] [extra args for benchmarks/gpu_check.py, e.g. --lengths 16384]
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
OUT="${1:-results/benchmarks/gpu_check.json}"
shift || true
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTORCH_CUDA_ALLOC_CONF="${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}"
mkdir -p "$(dirname "$OUT")"
status=0
timeout 220 "$PY" benchmarks/gpu_check.py --out "$OUT" "$@" || status=1
timeout 240 "$PY" benchmarks/gpu_check_paper.py --out "$(dirname "$OUT")/gpu_check_paper.json" || status=1
exit "$status"
