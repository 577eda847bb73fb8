#!/usr/bin/env bash
# DeepSpeed's launcher for a multi-GPU training job: ranks on exactly the GPUs Slurm gave the job
# (CUDA_VISIBLE_DEVICES, never --num_gpus), a port of its own per job, then `longrm ARGS...` on each.
# A script, not an inline command: DVC reads ${...} in a stage's cmd as its own interpolation.
set -euo pipefail
: "${CUDA_VISIBLE_DEVICES:?this job was given no GPUs}"
exec deepspeed --include "localhost:${CUDA_VISIBLE_DEVICES}" --master_port $((29500 + ${SLURM_JOB_ID:-0} % 20000)) \
    --no_local_rank --module longrm.cli "$@"
