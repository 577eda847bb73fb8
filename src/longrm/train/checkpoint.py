"""Resumable training checkpoints in a folder of their own (the rule's is results/checkpoints/STAGE/, outside
its output, so a failed or timed-out job keeps them):

    ROOT/step-N/engine/state/...          DeepSpeed's checkpoint: every rank writes its own ZeRO partition
    ROOT/step-N/model.safetensors         without DeepSpeed: weights and optimizer moments (safetensors)
    ROOT/step-N/optimizer.safetensors
    ROOT/step-N/rng/rank-R.safetensors    each rank's torch RNG
    ROOT/step-N/trainer_state.json        written last, by rank 0
    ROOT/latest                           "step-N", written by rank 0 after step-N is complete
    ROOT/train_log.jsonl                  the live training log (rank 0)

Every rank writes into ROOT/.staging-step-N; after a barrier rank 0 writes trainer_state.json, renames the
folder to step-N and only then points `latest` at it. A save killed at any moment leaves a staging folder
that nothing reads (and the next save clears), never a `latest` naming a partial checkpoint.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import torch

from longrm.data.io import atomic_write, read_json, write_json
from longrm.errors import InputError
from longrm.train.parallel import Ranks, barrier

STEP_DIR = re.compile(r"^step-(\d+)$")
STATE = "trainer_state.json"
ENGINE_TAG = "state"


def _complete(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        return []
    return sorted(
        (int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR.match(p.name)) and (p / STATE).is_file()
    )


def latest(ckpt_root: Path) -> Path | None:
    """The checkpoint `latest` names when it is complete, else the highest complete step-N, else None."""
    ckpt_root = Path(ckpt_root)
    pointer = ckpt_root / "latest"
    if pointer.is_file():
        named = ckpt_root / pointer.read_text(encoding="utf-8").strip()
        if STEP_DIR.match(named.name) and (named / STATE).is_file():
            return named
    found = _complete(ckpt_root)
    return found[-1][1] if found else None


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


def save(
    ckpt_root: Path,
    step: int,
    model,
    optimizer,
    trainer_state: dict,
    engine=None,
    keep: int = 2,
    ranks: Ranks = Ranks(),
) -> Path:
    """Write ROOT/step-N as described above; every rank calls it (the engine saves collectively)."""
    from safetensors.torch import save_file, save_model

    ckpt_root = Path(ckpt_root)
    final = ckpt_root / f"step-{step}"
    staging = ckpt_root / f".staging-step-{step}"
    if ranks.main:
        ckpt_root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)  # left by a killed save
        (staging / "rng").mkdir(parents=True)
    barrier()
    if engine is not None:
        engine.save_checkpoint(str(staging / "engine"), tag=ENGINE_TAG, save_latest=False)
    elif ranks.main:
        save_model(model, str(staging / "model.safetensors"))
        save_file(optimizer_tensors(optimizer), str(staging / "optimizer.safetensors"))
    save_file({"torch_rng": torch.get_rng_state()}, str(staging / "rng" / f"rank-{ranks.rank}.safetensors"))
    barrier()
    if ranks.main:
        write_json(staging / STATE, {**trainer_state, "world_size": ranks.world})
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        with atomic_write(ckpt_root / "latest") as f:
            f.write(final.name + "\n")
        prune(ckpt_root, keep)
    barrier()
    return final


def prune(ckpt_root: Path, keep: int) -> None:
    """Delete all but the newest `keep` complete step-N folders (after the new one is in place)."""
    for _, old in _complete(ckpt_root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def check(step_dir: Path, ranks: Ranks, engine_expected: bool) -> dict:
    """Validate a checkpoint before any model is loaded; return its trainer_state. A missing or truncated
    part is an InputError naming the file."""
    from longrm.modeling import check_safetensors_file

    state_path = step_dir / STATE
    try:
        state = read_json(state_path)
    except InputError as exc:
        raise InputError(state_path, f"{exc.reason}; delete {step_dir} to resume from an older checkpoint") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise InputError(state_path, "field 'step' missing or not an integer")
    saved_world = state.get("world_size", 1)
    if engine_expected and saved_world != ranks.world:
        raise InputError(
            state_path,
            f"saved by {saved_world} ranks, this run has {ranks.world}: resume with the same number of ranks",
        )
    for part in sorted(step_dir.rglob("*.safetensors")):
        check_safetensors_file(part)  # a truncated file is named here, not deep inside safetensors
    if engine_expected:
        _check_engine_files(step_dir / "engine" / ENGINE_TAG)
    elif not (step_dir / "model.safetensors").is_file():
        raise InputError(
            step_dir / "model.safetensors",
            "missing (this checkpoint was made with DeepSpeed? set train.common.deepspeed as in that run)",
        )
    return state


def _check_engine_files(tag_dir: Path) -> None:
    if not tag_dir.is_dir():
        raise InputError(tag_dir, "missing: the checkpoint holds no DeepSpeed state (made without DeepSpeed?)")
    files = [p for p in tag_dir.iterdir() if p.is_file()]
    if not files:
        raise InputError(tag_dir, "empty DeepSpeed checkpoint folder")
    for f in files:
        if f.stat().st_size == 0:
            raise InputError(f, "empty file (a truncated DeepSpeed checkpoint part)")


def load(step_dir: Path, model, optimizer, engine=None, ranks: Ranks = Ranks()) -> dict:
    """Restore weights, optimizer moments and this rank's RNG from a step-N folder; return its trainer_state."""
    from safetensors.torch import load_file, load_model

    if engine is not None:
        path, _ = engine.load_checkpoint(str(step_dir / "engine"), tag=ENGINE_TAG)
        if path is None:
            raise InputError(step_dir / "engine", "DeepSpeed could not load this checkpoint")
    else:
        load_model(model, str(step_dir / "model.safetensors"))
        load_optimizer_tensors(optimizer, load_file(str(step_dir / "optimizer.safetensors")))
    rng = step_dir / "rng" / f"rank-{ranks.rank}.safetensors"
    if rng.is_file():
        torch.set_rng_state(load_file(str(rng))["torch_rng"])
    return read_json(step_dir / STATE)
