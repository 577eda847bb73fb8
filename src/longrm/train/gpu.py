"""The cluster path: flash-attention 2, ring-flash-attn sequence parallelism, DeepSpeed ZeRO-2/3.

Every GPU-only package is imported inside the function that needs it; asking for a feature whose
package is missing raises a ConfigError naming the extra to install. The DeepSpeed path also runs on
the CPU accelerator (gloo), which is how the tests exercise it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from longrm.errors import ConfigError


def flash_attn_available() -> bool:
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    import torch

    return torch.cuda.is_available()


def pick_attn_implementation(requested: str | None) -> str:
    """flash_attention_2 when requested (must import) or when available on a GPU; sdpa otherwise."""
    if requested == "flash_attention_2" and not flash_attn_available():
        raise ConfigError("train.common.attn_implementation: flash_attention_2 needs a CUDA GPU and the "
                          "flash-attn package (pip install 'longrm[gpu]')")
    if requested:
        return requested
    return "flash_attention_2" if flash_attn_available() else "sdpa"


def _init_distributed(backend: str) -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        return
    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"),
                       ("MASTER_PORT", "29533")):
        os.environ.setdefault(key, value)
    import deepspeed

    deepspeed.init_distributed(dist_backend=backend)


class SequenceParallelBody:
    """Runs a transformer body with its sequence split over `size` ranks (ring-flash-attn, llama3 varlen).

    Each rank embeds and attends over a contiguous 1/size of the tokens (attention to the other shards
    goes round the ring inside flash-attn), then the hidden states are all-gathered with autograd so the
    LM head / score head code stays the same as on one device. Hidden states cost L x hidden per rank:
    linear in length; the attention and MLP activations are split size ways.
    """

    def __init__(self, body, size: int):
        try:
            from ring_flash_attn import substitute_hf_flash_attn, update_ring_flash_attn_params
        except ImportError:
            raise ConfigError("train.common.sequence_parallel > 1 needs the ring-flash-attn package "
                              "(pip install 'longrm[gpu]') and flash_attention_2") from None
        import torch.distributed as dist

        _init_distributed("nccl")
        world, rank = dist.get_world_size(), dist.get_rank()
        if world % size:
            raise ConfigError(f"train.common.sequence_parallel={size} does not divide the world size {world}")
        self.group = None
        for start in range(0, world, size):
            ranks = list(range(start, start + size))
            group = dist.new_group(ranks)
            if rank in ranks:
                self.group = group
        self.size, self.local = size, rank % size
        self.body = body
        self._update = update_ring_flash_attn_params
        substitute_hf_flash_attn(self.group, heads_k_stride=1)

    def __call__(self, input_ids, use_cache=False):
        import torch
        import torch.distributed.nn.functional as dist_fn
        from transformers.modeling_outputs import BaseModelOutput

        length = input_ids.shape[1]
        pad = (-length) % self.size
        if pad:  # the padding is its own varlen segment, so it attends to nothing real
            input_ids = torch.cat([input_ids, input_ids.new_zeros((1, pad))], dim=1)
            cu = torch.tensor([0, length, length + pad], dtype=torch.int32, device=input_ids.device)
        else:
            cu = torch.tensor([0, length], dtype=torch.int32, device=input_ids.device)
        self._update(cu, self.group)
        shard = input_ids.shape[1] // self.size
        lo = self.local * shard
        positions = torch.arange(lo, lo + shard, device=input_ids.device).unsqueeze(0)
        out = self.body(input_ids=input_ids[:, lo:lo + shard], position_ids=positions, use_cache=False)
        parts = dist_fn.all_gather(out.last_hidden_state.contiguous(), group=self.group)
        return BaseModelOutput(last_hidden_state=torch.cat(parts, dim=1)[:, :length])


def load_deepspeed_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"train.common.deepspeed: {path} not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"train.common.deepspeed: {path} is not valid JSON: {exc}") from None
    stage = cfg.get("zero_optimization", {}).get("stage", 0)
    if stage not in (0, 1, 2, 3):
        raise ConfigError(f"train.common.deepspeed: {path}: zero_optimization.stage must be 0-3, got {stage}")
    return cfg


def deepspeed_engine(model, optimizer, config_path: str | Path, clip: float | None = None):
    """Wrap model + a torch optimizer in a DeepSpeed engine (ZeRO stage from the JSON file).

    The trainer calls engine.backward once per sequence and engine.step once per optimizer step, and
    scales each loss itself: so one micro-batch and gas 1; `EngineBackward` marks the last backward
    of each step as the accumulation boundary (ZeRO-2/3 otherwise keep only part of the gradient).
    """
    try:
        import deepspeed
    except ImportError:
        raise ConfigError("train.common.deepspeed is set but DeepSpeed is not installed "
                          "(pip install 'longrm[gpu]')") from None
    import torch

    cfg = load_deepspeed_config(config_path)
    _init_distributed("nccl" if torch.cuda.is_available() else "gloo")
    world = torch.distributed.get_world_size()
    cfg.update(train_micro_batch_size_per_gpu=1, gradient_accumulation_steps=1, train_batch_size=world)
    if clip is not None:
        cfg.setdefault("gradient_clipping", clip)
    cfg.pop("optimizer", None)  # the torch optimizer built by the trainer (no op build)
    cfg.pop("scheduler", None)  # the trainer sets the lr itself every step
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=cfg,
                                           model_parameters=[p for p in model.parameters() if p.requires_grad])
    return engine


class EngineBackward:
    """engine.backward for a step that calls backward `n` times (n known in advance): the first n-1
    accumulate locally, the n-th is the gradient-accumulation boundary that reduces/partitions."""

    def __init__(self, engine, loss_scale: float = 1.0):
        # DeepSpeed averages gradients over every rank; the ranks of one sequence-parallel ring each hold
        # part of one sample's gradient, so their losses are scaled up by the ring size to sum, not average
        self.engine, self.left, self.loss_scale = engine, 0, loss_scale

    def begin(self, n_calls: int) -> None:
        self.left = n_calls

    def __call__(self, loss) -> None:
        self.left -= 1
        self.engine.set_gradient_accumulation_boundary(self.left <= 0)
        self.engine.backward(loss * self.loss_scale if self.loss_scale != 1 else loss, scale_wrt_gas=False)
        # engine.forward() does this before each forward; the trainer calls the body directly, and
        # without it ZeRO-3 never advances its micro-step, so it overwrites instead of accumulating
        clear = getattr(self.engine.optimizer, "clear_backward_seen_flag", None)
        if clear is not None:
            clear()


def zero3_state_dict(engine) -> dict | None:
    """Full (gathered) weights under ZeRO-3, else None (the module's own state dict is complete)."""
    if engine is None or engine.zero_optimization_stage() != 3:
        return None
    return engine._zero3_consolidated_16bit_state_dict()
