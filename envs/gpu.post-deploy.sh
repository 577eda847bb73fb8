#!/usr/bin/env bash
# Run by Snakemake (--sdm conda) inside the env of gpu.yaml once it is created: flash-attn (the `flash`
# extra of pyproject.toml), built against the torch installed there. Its build imports torch, so it
# runs without build isolation; nvcc and the CUDA headers are the env's (CUDA 13.0, torch 2.13.0's).
set -euo pipefail
export CUDA_HOME="${CONDA_PREFIX}"
export MAX_JOBS="${MAX_JOBS:-8}"   # parallel nvcc jobs (several GB of memory each)
python -m pip install --no-build-isolation "flash-attn==2.8.3.post2"
python -c "import flash_attn, torch; assert torch.version.cuda.startswith('13.0'), torch.version.cuda"
