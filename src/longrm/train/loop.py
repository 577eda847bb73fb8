"""The training loop shared by the three stages: seeded data order, cosine schedule, logging,
atomic resumable checkpoints (outside the output folder), final save_pretrained written atomically.
The same code runs as one process or as every rank of a DeepSpeed job (ZeRO data parallel, Ulysses
sequence parallel): rank 0 alone writes logs, summaries and the final model. Layout: docs/formats/train.md."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import resource
import shutil
import signal
import sys
import time
from pathlib import Path

from longrm.data.io import dumps, read_jsonl, write_json, write_jsonl
from longrm.errors import ConfigError, InputError
from longrm.seeding import derive_seed, rng_for
from longrm.train import checkpoint as ckpt
from longrm.train import parallel
from longrm.train.data import read_records, tokenize

STAGES = ("sft", "logo", "disrm")


class Interrupted(Exception):
    """Raised by `interrupt_after` (tests): a crash right after a step, before anything else is saved."""


def settings(cfg: dict, stage: str) -> tuple[dict, dict]:
    """train.common and train.<stage> (defaults filled by longrm.config.load_config)."""
    return cfg["train"]["common"], cfg["train"][stage]


def trim_heap() -> None:
    """Hand freed heap back to the OS: sequences of varying length otherwise grow RSS by fragmentation."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def lr_at(step: int, total: int, lr: float, min_ratio: float, warmup: int) -> float:
    """Linear warmup over `warmup` steps, then cosine decay from lr to min_ratio * lr at the last step."""
    if step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, total - 1 - warmup)
    progress = min(1.0, (step - warmup) / span)
    return lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def epoch_order(groups: list[str], seed: int, stage: str, epoch: int) -> list[int]:
    """Example indices for one epoch: the groups in a seeded shuffle, each group's examples side by side
    (file order). A judge item's presentation orders then meet in the same step, so a verdict that
    follows the position earns nothing there (position-balanced batches); ungrouped examples (the
    released data) are each their own group."""
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    keys = list(members)
    rng_for(seed, "train", stage, "epoch", epoch).shuffle(keys)
    return [i for k in keys for i in members[k]]


def data_parallel_position(sequence_parallel: int) -> tuple[int, int]:
    """(index, count) of this rank's data-parallel group; (0, 1) without torch.distributed."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank() // sequence_parallel, max(1, dist.get_world_size() // sequence_parallel)


def _use_bf16(setting, device_type: str) -> bool:
    from longrm.modeling import cpu_supports_bf16

    if setting == "auto":
        return device_type == "cuda" or cpu_supports_bf16()
    return bool(setting)


def _fingerprint(obj) -> str:
    return hashlib.sha256(dumps(obj).encode()).hexdigest()[:16]


def _data_fingerprint(path: Path) -> str:
    from longrm.provenance import file_sha256

    if path.is_file():
        return file_sha256(path)[:16]
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return _fingerprint([[str(p.relative_to(path)), p.stat().st_size] for p in files])


def _init_fingerprint(path: Path) -> str:
    """Names, sizes and times of the starting checkpoint's files: a rebuilt init changes it (no 16 GB read)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != "provenance.json")
    return _fingerprint([[str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns] for p in files])


def default_checkpoints(out: Path) -> Path:
    """OUT.checkpoints beside OUT (the workflow passes results/checkpoints/STAGE)."""
    return out.with_name(out.name + ".checkpoints")


def _broadcast(obj):
    """Rank 0's value on every rank (computed once, e.g. a data hash)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _kill_after_step(step: int) -> None:
    """Test hook (LONGRM_TRAIN_KILL_AFTER=k): SIGKILL this rank right after step k, as a cluster would."""
    if os.environ.get("LONGRM_TRAIN_KILL_AFTER") == str(step):
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def build_model(stage: str, init: Path, common: dict, params: dict, tokenizer, seed: int, trust: bool):
    """The model to train (+ a frozen reference for dpo). disrm: AutoModelForSequenceClassification(num_labels=1)."""
    import torch

    from longrm.modeling import check_checkpoint, load_causal_lm
    from longrm.train.gpu import pick_attn_implementation

    attn = pick_attn_implementation(common["attn_implementation"])
    torch.manual_seed(derive_seed(seed, "train", stage, "init"))
    if stage == "disrm":
        from transformers import AutoModelForSequenceClassification

        check_checkpoint(init)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(init), num_labels=1, local_files_only=True, use_safetensors=True, trust_remote_code=trust,
            attn_implementation=attn, pad_token_id=tokenizer.pad_token_id)
        model.config.pad_token_id = tokenizer.pad_token_id
        if params["lora_r"] > 0:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(r=params["lora_r"], lora_alpha=2 * params["lora_r"], lora_dropout=0.0,
                              target_modules="all-linear", modules_to_save=["score"], task_type="SEQ_CLS")
            model = get_peft_model(model, lora)
    else:
        model = load_causal_lm(init, trust_remote_code=trust, attn_implementation=attn)
    if common["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    ref = None
    if stage == "logo" and params["loss"] == "dpo":
        ref = load_causal_lm(init, trust_remote_code=trust, attn_implementation=attn)
        ref.eval().requires_grad_(False)
    return model, ref


def _head(model, stage: str):
    from longrm.train.forward import unwrap

    m = model
    if stage == "disrm":
        # with PEFT, the trainable copy of the score head lives on the PEFT wrapper's module tree
        return unwrap(m).score
    return unwrap(m).get_output_embeddings()


def _checkpoint_to_resume(ckpt_root: Path, mode: str, ranks, deepspeed_on: bool):
    """(step folder, its trainer_state) to resume from, checked before any model is loaded; (None, None)."""
    if mode == "never":
        return None, None
    last = ckpt.latest(ckpt_root)
    if last is None:
        return None, None
    return last, ckpt.check(last, ranks, engine_expected=deepspeed_on)


def _start_over(ckpt_root: Path, ranks) -> None:
    """A fresh run must not later resume from an older run's checkpoints (rank 0 clears, all wait)."""
    if ranks.main and ckpt_root.exists():
        shutil.rmtree(ckpt_root)
    parallel.barrier()


def _mismatch(state: dict, fingerprint: dict) -> str | None:
    for key, value in fingerprint.items():
        if state.get(key) != value:
            return f"a different {key} ({state.get(key)} != {value})"
    return None


def _write_final(out: Path, final_model, tokenizer, state_dict, log: list[dict], summary: dict) -> None:
    """Model, tokenizer, log and summary into a hidden sibling, then renamed to OUT: OUT is complete or
    absent (an old OUT is moved aside first, then removed)."""
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    final_model.save_pretrained(str(staging), safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(str(staging))
    write_jsonl(staging / "train_log.jsonl", log)
    write_json(staging / "train_summary.json", json.loads(dumps(summary)))
    old = out.with_name(f".{out.name}.old")
    if out.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def train(stage: str, cfg: dict, data: str | Path, init: str | Path, out: str | Path, resume: bool | str = False,
          interrupt_after: int | None = None, checkpoints: str | Path | None = None) -> dict:
    """Run one training stage end to end; return the summary (also written to OUT/train_summary.json).

    resume: False/"never" starts over; True/"require" continues from the latest checkpoint and refuses one
    made with other data, init or settings; "auto" continues when a matching checkpoint exists and
    otherwise starts over (the workflow's mode: a retried job picks up where the last one stopped; a
    finished run's last checkpoint is not resumed, since a rule reruns only when something changed).
    """
    import torch
    from tqdm import tqdm

    from longrm.modeling import load_tokenizer, set_threads
    from longrm.train import steps
    from longrm.train.forward import autocast, body_of, unwrap
    from longrm.train.gpu import (
        EngineBackward,
        deepspeed_engine,
        load_deepspeed_config,
        pick_attn_implementation,
        zero3_state_dict,
    )

    if stage not in STAGES:
        raise ConfigError(f"unknown train stage {stage!r}; expected one of {STAGES}")
    mode = {False: "never", True: "require"}.get(resume, resume)
    if mode not in ("never", "require", "auto"):
        raise ConfigError(f"resume must be never, require or auto, got {resume!r}")
    common, params = settings(cfg, stage)
    seed = int(cfg["seed"])
    data, init, out = Path(data), Path(init), Path(out)
    ckpt_root = Path(checkpoints) if checkpoints else default_checkpoints(out)
    trust = bool(cfg["trust_remote_code"])
    ranks = parallel.ranks_from_env()
    set_threads(parallel.threads_per_rank(ranks))
    device = parallel.place_on_device(ranks)

    # every check that can fail on bad input runs before any model is loaded
    ds_config = load_deepspeed_config(common["deepspeed"]) if common["deepspeed"] else None
    sp = common["sequence_parallel"]
    attn = pick_attn_implementation(common["attn_implementation"])
    parallel.check_sequence_parallel(sp, init, ranks.world, ds_config, attn)
    last, saved = _checkpoint_to_resume(ckpt_root, mode, ranks, ds_config is not None)
    if ranks.world > 1 and ds_config is None:
        raise ConfigError(f"{ranks.world} ranks need train.common.deepspeed (DeepSpeed owns the ranks)")

    tokenizer = load_tokenizer(init, trust_remote_code=trust)
    records = read_records(data, stage)
    examples, skipped = tokenize(records, tokenizer, stage, common["max_length"], params["num_negatives"])
    if not examples:
        raise InputError(data, f"no usable training examples (skipped: {skipped})")
    if ds_config is not None:
        parallel.init_distributed(device)

    per_step = params["batch_size"] * params["grad_accum"]
    steps_per_epoch = math.ceil(len(examples) / per_step)
    total = steps_per_epoch * params["epochs"]
    if params.get("max_steps"):
        total = min(total, params["max_steps"])
    warmup = int(common["warmup_ratio"] * total)
    fingerprint = _broadcast({"data": _data_fingerprint(data), "init": _init_fingerprint(init),
                              "config": _fingerprint({"common": common, "stage": params}),
                              "stage": stage, "examples": len(examples)} if ranks.main else None)
    if saved is not None and mode == "auto" and saved["step"] >= total:
        # a finished run: a rule reruns only when something (code included) changed, so train again
        print(f"longrm train {stage}: {last} is the end of a finished run: starting over", file=sys.stderr)
        last = saved = None
    if saved is not None and (why := _mismatch(saved, fingerprint)):
        if mode == "require":
            raise ConfigError(f"--resume: {last} was made with {why}; rerun without --resume to start over")
        print(f"longrm train {stage}: {last} was made with {why}: starting over", file=sys.stderr)
        last = saved = None
    if last is None:
        _start_over(ckpt_root, ranks)

    model, ref = build_model(stage, init, common, params, tokenizer, seed, trust)
    mpu = parallel.register_ulysses(model, attn, sp) if sp > 1 else None
    model.to(device)
    if ref is not None:
        ref.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params["lr"], betas=tuple(common["adam_betas"]),
                                  weight_decay=common["weight_decay"])
    engine = None
    if ds_config is not None:
        engine = deepspeed_engine(model, optimizer, ds_config, clip=common["max_grad_norm"], mpu=mpu)
    bf16 = _use_bf16(common["bf16"], device.type)

    def amp():
        return autocast(device.type, bf16)

    def body_for(m):
        return parallel.UlyssesBody(body_of(m), mpu) if mpu is not None else body_of(m)

    backward = EngineBackward(engine, loss_scale=1.0 / sp) if engine is not None else (lambda loss: loss.backward())
    dp_rank, dp_size = data_parallel_position(sp)
    # a shared prompt needs the KV cache: HF gradient checkpointing gives none, and under sequence
    # parallelism each rank caches only its shard's keys; those runs take the full-sequence path
    share = bool(common["share_prompt"]) and not common["gradient_checkpointing"] and sp == 1
    if common["share_prompt"] and not share and ranks.main:
        print(f"longrm train {stage}: share_prompt off (needs the KV cache: not with gradient checkpointing "
              "or sequence parallelism); each response runs with its full prompt", file=sys.stderr)
    parts = steps.Parts(body=body_for(model), head=_head(model, stage), amp=amp, device=device, backward=backward,
                        chunk=common["logit_chunk"], grad_cache=common["grad_cache"], share_prompt=share)
    if ref is not None:
        parts.ref = steps.Parts(body=body_for(ref), head=ref.get_output_embeddings(), amp=amp, device=device,
                                backward=None, chunk=common["logit_chunk"], share_prompt=share)

    state = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "examples_seen": 0, "tokens_seen": 0, "wall_s": 0.0,
             "resumed_from": None, **fingerprint}
    log: list[dict] = []
    log_path = ckpt_root / "train_log.jsonl"
    if last is not None:
        state = ckpt.load(last, model, optimizer, engine, ranks)
        state["resumed_from"] = state["step"]
        log = [r for r in (read_jsonl(log_path) if log_path.exists() else []) if r["step"] <= state["step"]]
        if ranks.main:
            print(f"longrm train {stage}: resuming from {last}", file=sys.stderr)

    step_fn = {"sft": lambda b: steps.sft_step(parts, b),
               "disrm": lambda b: steps.disrm_step(parts, b),
               "logo": lambda b: steps.logo_step(parts, b, params["beta"], params["gamma"], params["aggregation"],
                                                 params["sft_weight"], params["loss"])}[stage]
    model.train()
    window: list[dict] = []
    window_start = time.perf_counter()
    run_start = time.perf_counter()
    wall_before = state["wall_s"]
    step = state["step"]
    bar = tqdm(total=total, initial=step, desc=f"train {stage}", disable=None if ranks.main else True,
               file=sys.stderr, dynamic_ncols=True)
    order_cache: dict[int, list[int]] = {}
    while step < total:
        epoch, b = divmod(step, steps_per_epoch)
        order = order_cache.setdefault(epoch, epoch_order([ex.group for ex in examples], seed, stage, epoch))
        # each data-parallel group (the ranks of one SP group share a sample) takes its slice of the step
        batch = [examples[i] for i in order[b * per_step:(b + 1) * per_step]]
        if dp_size > 1:  # every group must run (collectives): a short last batch wraps round
            batch = (batch * dp_size)[:math.ceil(len(batch) / dp_size) * dp_size][dp_rank::dp_size]
        lr = lr_at(step, total, params["lr"], common["min_lr_ratio"], warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if engine is None:
            optimizer.zero_grad(set_to_none=True)
        else:
            backward.begin(steps.backward_calls(stage, batch, parts))
        metrics = step_fn(batch)
        if engine is not None:
            engine.step()
        else:
            if common["max_grad_norm"]:
                torch.nn.utils.clip_grad_norm_(trainable, common["max_grad_norm"])
            optimizer.step()
        step += 1
        state.update(step=step, epoch=step // steps_per_epoch, batch_in_epoch=step % steps_per_epoch)
        state["examples_seen"] += metrics["examples"]
        state["tokens_seen"] += metrics["tokens"]
        window.append({**metrics, "lr": lr, "epoch": epoch})
        if step % common["log_every"] == 0 or step == total:
            elapsed = max(time.perf_counter() - window_start, 1e-9)
            line = {"step": step, "epoch": epoch, "lr": lr,
                    "tokens_per_s": round(sum(w["tokens"] for w in window) / elapsed, 2),
                    "peak_rss_mb": round(peak_rss_mb(), 1),
                    "examples": state["examples_seen"], "tokens": state["tokens_seen"]}
            for key in ("loss", "accuracy", "nll", "margin"):
                if key in window[0]:
                    line[key] = round(sum(w[key] for w in window) / len(window), 6)
            log.append(line)
            if ranks.main:
                write_jsonl(log_path, log)
            bar.set_postfix(loss=f"{line['loss']:.4f}", acc=f"{line['accuracy']:.3f}",
                            tok_s=f"{line['tokens_per_s']:.0f}")
            window, window_start = [], time.perf_counter()
            trim_heap()
        bar.update(1)
        if step % common["checkpoint_every"] == 0 or step == total:
            state["wall_s"] = wall_before + time.perf_counter() - run_start
            ckpt.save(ckpt_root, step, model, optimizer, state, engine, ranks=ranks)
        _kill_after_step(step)
        if interrupt_after is not None and step == interrupt_after:
            bar.close()
            raise Interrupted(f"interrupted after step {step}")
    bar.close()
    wall = wall_before + time.perf_counter() - run_start

    final = unwrap(model)
    if stage == "disrm" and hasattr(model, "merge_and_unload"):
        final = model.merge_and_unload()
    state_dict = zero3_state_dict(engine)  # collective under ZeRO-3: every rank calls it
    tail = log[-max(1, len(log) // 10):]
    summary = {
        "stage": stage, "loss_type": {"sft": "sft", "disrm": "bt"}.get(stage, params["loss"]),
        "steps": step, "epochs_run": round(state["examples_seen"] / len(examples), 4),
        "examples_seen": state["examples_seen"], "tokens_seen": state["tokens_seen"],
        "train_examples": len(examples), "wall_s": round(wall, 2),
        "tokens_per_s": round(state["tokens_seen"] / max(wall, 1e-9), 2), "peak_rss_mb": round(peak_rss_mb(), 1),
        "final_loss": round(sum(r["loss"] for r in tail) / len(tail), 6) if tail else None,
        "final_accuracy": round(sum(r["accuracy"] for r in tail) / len(tail), 6) if tail else None,
        "params": sum(p.numel() for p in model.parameters()), "trainable_params": sum(p.numel() for p in trainable),
        "resumed_from": state.get("resumed_from"), "init": str(init), "data": str(data),
        "config": {"common": common, stage: params}, "deepspeed": engine is not None, "bf16": bf16,
        "skipped": skipped, "ranks": ranks.world, "sequence_parallel": sp, "checkpoints": str(ckpt_root),
    }
    if ranks.main:
        with contextlib.suppress(AttributeError):
            final.generation_config.pad_token_id = tokenizer.pad_token_id
        _write_final(out, final, tokenizer, state_dict, log, summary)
    parallel.barrier()
    return summary
