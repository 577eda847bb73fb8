"""The cluster path: flash-attention 2 and DeepSpeed ZeRO-2/3 (sequence parallelism: parallel.py).

Every GPU-only package is imported inside the function that needs it; asking for a feature whose
package is missing raises a ConfigError naming the extra to install. The DeepSpeed path also runs on
the CPU accelerator (gloo), which is how the tests exercise it.
"""

from __future__ import annotations

import contextlib
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
            "train.common.attn_implementation: flash_attention_2 needs a CUDA GPU and the flash-attn "
            "package, built against the installed torch (pip install --no-build-isolation 'longrm[flash]'; "
            "envs/gpu.post-deploy.sh)"
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


def engine_config(config: dict, clip: float | None = None) -> dict:
    """The DeepSpeed config the engine (and ZeRO-3's zero-init) runs with: one micro-batch, gas 1 (the
    trainer scales each loss itself), the trainer's own optimizer and lr schedule."""
    cfg = dict(config)
    cfg.pop("train_batch_size", None)  # DeepSpeed derives it from the data-parallel size (SP groups count once)
    cfg.update(train_micro_batch_size_per_gpu=1, gradient_accumulation_steps=1)
    if clip is not None:
        cfg.setdefault("gradient_clipping", clip)
    cfg.pop("optimizer", None)  # the torch optimizer built by the trainer (no op build)
    cfg.pop("scheduler", None)  # the trainer sets the lr itself every step
    return cfg


def zero_stage(config: dict | None) -> int:
    return int(((config or {}).get("zero_optimization") or {}).get("stage", 0))


@contextlib.contextmanager
def zero3_loading(config: dict | None):
    """Under ZeRO-3, models built in this block are created partitioned: transformers' from_pretrained
    runs them under DeepSpeed's zero-init (`deepspeed.zero.Init`) while an HfDeepSpeedConfig of the engine
    config is alive, so no rank ever holds the whole model. Other stages: nothing changes."""
    if zero_stage(config) != 3:
        yield
        return
    from transformers.integrations.deepspeed import HfDeepSpeedConfig, unset_hf_deepspeed_config

    flag = HfDeepSpeedConfig(config)  # transformers keeps a weak reference: it lives as long as the block
    try:
        yield
    finally:
        unset_hf_deepspeed_config()
        del flag


def full_numel(param) -> int:
    """Elements of a parameter, whole: a ZeRO-3 partitioned one keeps its full size in ds_numel."""
    return int(getattr(param, "ds_numel", param.numel()))


def loaded_share(model) -> str:
    """What this rank holds of a model built under zero-init: its partitions' elements of the whole."""
    held = sum(int(p.ds_tensor.numel()) if hasattr(p, "ds_tensor") else p.numel() for p in model.parameters())
    whole = sum(full_numel(p) for p in model.parameters())
    return f"ZeRO-3 zero-init: {held} of {whole} parameter elements on this rank"


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

    engine, _, _, _ = deepspeed.initialize(
        model=model,
        optimizer=optimizer,
        config=engine_config(config, clip),
        mpu=mpu,
        model_parameters=[p for p in model.parameters() if p.requires_grad],
    )
    return engine


class EngineBackward:
    """engine.backward for the backward calls of one optimizer step (`with backward.step(n): ...`).

    The ranks of a data-parallel step back-propagate different numbers of sequences (an example has 2-4
    responses, each its own backward under grad cache), while ZeRO-2/3 reduce gradients on every
    backward: their collectives would stop matching. So with a ZeRO optimizer the step runs inside
    DeepSpeed's gradient-reduction coalescing (`engine.coalesce_grad_reduction`): each backward
    accumulates locally and one reduction pass runs when the step's block closes, the same on every rank.
    The optimizers it does not take (no ZeRO; ZeRO-1 with bf16 weights and fp32 accumulation) reduce once,
    at the accumulation boundary: the step's n-th backward is marked as it."""

    def __init__(self, engine, loss_scale: float = 1.0):
        # under sequence parallelism loss_scale = 1 / sp (parallel.py: the gather's backward sums the group)
        self.engine, self.left, self.loss_scale = engine, 0, loss_scale
        self.coalesce = hasattr(engine.optimizer, "_coalesce_grad_reduction")

    @contextlib.contextmanager
    def step(self, n_calls: int):
        """The block holding one step's backward calls (`n_calls` of them: the boundary without ZeRO)."""
        self.left = n_calls
        if not self.coalesce:
            yield
            return
        self.engine.set_gradient_accumulation_boundary(True)  # restored after the flush: engine.step() steps
        with self.engine.coalesce_grad_reduction():
            yield

    def __call__(self, loss) -> None:
        self.left -= 1
        if not self.coalesce:
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
