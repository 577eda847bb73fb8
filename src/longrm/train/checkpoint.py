"""Resumable training checkpoints, safetensors + JSON only (no pickles): OUT/checkpoints/step-N/.

Written into a temporary sibling folder, then renamed, so a checkpoint folder is complete or absent.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from longrm.data.io import read_json, write_json

STEP_DIR = re.compile(r"^step-(\d+)$")


def latest(ckpt_root: Path) -> Path | None:
    """The highest complete step-N folder (one with trainer_state.json), or None."""
    if not ckpt_root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in ckpt_root.iterdir()
             if (m := STEP_DIR.match(p.name)) and (p / "trainer_state.json").exists()]
    return max(found)[1] if found else None


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for idx, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            out[f"{idx}.{name}"] = t.detach().cpu().contiguous()
    return out


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    sd = optimizer.state_dict()
    state: dict[int, dict] = {}
    for key, t in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = t
    sd["state"] = state
    optimizer.load_state_dict(sd)


def save(ckpt_root: Path, step: int, model, optimizer, trainer_state: dict, engine=None, keep: int = 2) -> Path:
    """Write OUT/checkpoints/step-N atomically. With a DeepSpeed engine its own checkpoint goes in deepspeed/."""
    from safetensors.torch import save_file, save_model

    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"step-{step}"
    tmp = Path(tempfile.mkdtemp(prefix=f".step-{step}.", dir=ckpt_root))
    try:
        if engine is not None:
            engine.save_checkpoint(str(tmp / "deepspeed"), tag="state")
        else:
            save_model(model, str(tmp / "model.safetensors"))
            save_file(optimizer_tensors(optimizer), str(tmp / "optimizer.safetensors"))
        save_file({"torch_rng": torch.get_rng_state()}, str(tmp / "rng.safetensors"))
        write_json(tmp / "trainer_state.json", trainer_state)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(ckpt_root, keep)
    return final


def prune(ckpt_root: Path, keep: int) -> None:
    """Delete all but the newest `keep` complete step-N folders (after the new one is in place)."""
    found = sorted((int(m.group(1)), p) for p in ckpt_root.iterdir()
                   if (m := STEP_DIR.match(p.name)) and (p / "trainer_state.json").exists())
    for _, old in found[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def load(step_dir: Path, model, optimizer, engine=None) -> dict:
    """Restore weights, optimizer moments and RNG from a step-N folder; return its trainer_state."""
    from safetensors.torch import load_file, load_model

    from longrm.modeling import check_safetensors_file

    for part in sorted(step_dir.glob("*.safetensors")):
        check_safetensors_file(part)  # a truncated file is named here, not deep inside safetensors
    if engine is not None:
        engine.load_checkpoint(str(step_dir / "deepspeed"), tag="state")
    else:
        load_model(model, str(step_dir / "model.safetensors"))
        load_optimizer_tensors(optimizer, load_file(str(step_dir / "optimizer.safetensors")))
    torch.set_rng_state(load_file(str(step_dir / "rng.safetensors"))["torch_rng"])
    return read_json(step_dir / "trainer_state.json")
