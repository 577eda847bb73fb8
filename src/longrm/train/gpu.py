"""The cluster path: flash-attention 2 and DeepSpeed ZeRO-2/3 (sequence parallelism: parallel.py).

Every GPU-only package is imported inside the function that needs it; asking for a feature whose
package is missing raises a ConfigError naming the extra to install. The DeepSpeed path also runs on
the CPU accelerator (gloo), which is how the tests exercise it.
"""

from __future__ import annotations

import json
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
        raise ConfigError(
            "train.common.attn_implementation: flash_attention_2 needs a CUDA GPU and the "
            "flash-attn package (pip install 'longrm[gpu]')"
        )
    if requested:
        return requested
    return "flash_attention_2" if flash_attn_available() else "sdpa"


def load_deepspeed_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(
            f"train.common.deepspeed: {path} not found (a DeepSpeed JSON config, e.g. workflow/deepspeed/zero2.json)"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"train.common.deepspeed: {path} is not valid JSON: {exc}") from None
    stage = cfg.get("zero_optimization", {}).get("stage", 0)
    if stage not in (0, 1, 2, 3):
        raise ConfigError(f"train.common.deepspeed: {path}: zero_optimization.stage must be 0-3, got {stage}")
    return cfg


def deepspeed_engine(model, optimizer, config: dict, clip: float | None = None, mpu=None):
    """Wrap model + a torch optimizer in a DeepSpeed engine (ZeRO stage from the JSON file).

    The trainer calls engine.backward once per sequence and engine.step once per optimizer step, and
    scales each loss itself: so one micro-batch and gas 1; `EngineBackward` marks the last backward
    of each step as the accumulation boundary (ZeRO-2/3 otherwise keep only part of the gradient).
    """
    try:
        import deepspeed
    except ImportError:
        raise ConfigError(
            "train.common.deepspeed is set but DeepSpeed is not installed (pip install 'longrm[gpu]')"
        ) from None

    cfg = dict(config)
    cfg.pop("train_batch_size", None)  # DeepSpeed derives it from the data-parallel size (SP groups count once)
    cfg.update(train_micro_batch_size_per_gpu=1, gradient_accumulation_steps=1)
    if clip is not None:
        cfg.setdefault("gradient_clipping", clip)
    cfg.pop("optimizer", None)  # the torch optimizer built by the trainer (no op build)
    cfg.pop("scheduler", None)  # the trainer sets the lr itself every step
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        optimizer=optimizer,
        config=cfg,
        mpu=mpu,
        model_parameters=[p for p in model.parameters() if p.requires_grad],
    )
    return engine


class EngineBackward:
    """engine.backward for a step that calls backward `n` times (n known in advance): the first n-1
    accumulate locally, the n-th is the gradient-accumulation boundary that reduces/partitions."""

    def __init__(self, engine, loss_scale: float = 1.0):
        # under sequence parallelism loss_scale = 1 / sp (parallel.py: the gather's backward sums the group)
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
