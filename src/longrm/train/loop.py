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

from longrm.config import with_defaults
from longrm.data.io import dumps, read_jsonl, write_json, write_jsonl
from longrm.errors import ConfigError, InputError
from longrm.seeding import derive_seed, rng_for
from longrm.train import checkpoint as ckpt
from longrm.train import parallel
from longrm.train.data import read_records, tokenize
from longrm.train.timing import result_log, result_summary

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


def rope_overrides(stage: str, params: dict, init: Path) -> dict:
    """train.<stage>.rope_scaling as config overrides of the init checkpoint, through the function the
    bench uses (judges/model_args.model_overrides): the trained model's config.json then carries the
    scaling, and the bench applies it once (an init already scaled the same way is left as it is)."""
    from longrm.judges.model_args import model_overrides, stored_config

    spec = {"name": f"train.{stage}", "rope_scaling": params.get("rope_scaling")}
    return model_overrides(spec, stored_config(init))


def check_positions(stage: str, max_length: int, init: Path, overrides: dict) -> None:
    """Refuse a max_length past the positions the model has (with its RoPE scaling), before any load."""
    from longrm.judges.model_args import stored_config

    conf = stored_config(init)
    limit = overrides.get("max_position_embeddings") or (conf.get("text_config") or conf).get("max_position_embeddings")
    if isinstance(limit, int) and max_length > limit:
        raise ConfigError(
            f"train.common.max_length {max_length} is past the {limit} positions of {init} "
            f"(config.json max_position_embeddings): lower it, or set train.{stage}.rope_scaling "
            "(e.g. YaRN: {rope_type: yarn, factor: 4.0, original_max_position_embeddings: 32768} for Qwen3)"
        )


def build_model(
    stage: str, init: Path, common: dict, params: dict, tokenizer, seed: int, trust: bool, zero: dict | None = None
):
    """The model to train (+ a frozen reference for dpo). disrm: AutoModelForSequenceClassification(num_labels=1).
    train.<stage>.rope_scaling is set on the config before the model is built (rope_overrides). `zero`: the
    engine's DeepSpeed config; under ZeRO-3 the model is built partitioned (gpu.zero3_loading)."""
    from longrm.train.gpu import zero3_loading

    with zero3_loading(zero):
        model = _trained_model(stage, init, common, params, tokenizer, seed, trust)
    ref = None
    if stage == "logo" and params["loss"] == "dpo":  # whole on every rank: no engine gathers its weights
        from longrm.modeling import load_causal_lm
        from longrm.train.gpu import pick_attn_implementation

        attn = pick_attn_implementation(common["attn_implementation"])
        ref = load_causal_lm(
            init, trust_remote_code=trust, attn_implementation=attn, overrides=rope_overrides(stage, params, init)
        )
        ref.eval().requires_grad_(False)
    return model, ref


def _trained_model(stage: str, init: Path, common: dict, params: dict, tokenizer, seed: int, trust: bool):
    import torch

    from longrm.modeling import check_checkpoint, load_causal_lm
    from longrm.train.gpu import pick_attn_implementation

    attn = pick_attn_implementation(common["attn_implementation"])
    overrides = rope_overrides(stage, params, init)
    torch.manual_seed(derive_seed(seed, "train", stage, "init"))
    if stage == "disrm":
        from transformers import AutoConfig, AutoModelForSequenceClassification

        check_checkpoint(init)
        config = AutoConfig.from_pretrained(str(init), trust_remote_code=trust, local_files_only=True)
        for key, value in {**overrides, "num_labels": 1, "pad_token_id": tokenizer.pad_token_id}.items():
            setattr(config, key, value)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(init),
            config=config,
            local_files_only=True,
            use_safetensors=True,
            trust_remote_code=trust,
            attn_implementation=attn,
        )
        model.config.pad_token_id = tokenizer.pad_token_id
        if params["lora_r"] > 0:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=params["lora_r"],
                lora_alpha=2 * params["lora_r"],
                lora_dropout=0.0,
                target_modules="all-linear",
                modules_to_save=["score"],
                task_type="SEQ_CLS",
            )
            model = get_peft_model(model, lora)
    else:
        model = load_causal_lm(init, trust_remote_code=trust, attn_implementation=attn, overrides=overrides)
        if params["lora_r"] > 0:  # the base's weights (and its tied embeddings) stay as pre-training left them
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=params["lora_r"],
                lora_alpha=2 * params["lora_r"],
                lora_dropout=0.0,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, lora)
    if common["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


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
    # timings and where it resumed are facts of this run, not of the model: the job's log has them (train/timing.py)
    write_jsonl(staging / "train_log.jsonl", result_log(log))
    write_json(staging / "train_summary.json", json.loads(dumps(result_summary(summary))))
    old = out.with_name(f".{out.name}.old")
    if out.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


class Run:
    """What one training run holds between its steps (settings, data, model, optimizer, progress)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


# ---------------------------------------------------------------- 1. settings and inputs (before any model)
def _prepare(stage: str, cfg: dict, data, init, out, resume, checkpoints) -> Run:
    """Every check that can fail on bad input runs here, before any model is loaded."""
    from longrm.modeling import load_tokenizer, set_threads
    from longrm.train.gpu import load_deepspeed_config, pick_attn_implementation

    if stage not in STAGES:
        raise ConfigError(f"unknown train stage {stage!r}; expected one of {STAGES}")
    mode = {False: "never", True: "require"}.get(resume, resume)
    if mode not in ("never", "require", "auto"):
        raise ConfigError(f"resume must be never, require or auto, got {resume!r}")
    common, params = settings(cfg, stage)
    run = Run(
        stage=stage,
        mode=mode,
        common=common,
        params=params,
        seed=int(cfg["seed"]),
        data=Path(data),
        init=Path(init),
        out=Path(out),
        trust=bool(cfg["trust_remote_code"]),
        ranks=parallel.ranks_from_env(),
        use_chat_template=bool(cfg["bench"]["use_chat_template"]),  # prompts rendered as the benchmark does
    )
    run.ckpt_root = Path(checkpoints) if checkpoints else default_checkpoints(run.out)
    set_threads(parallel.threads_per_rank(run.ranks))
    run.device = parallel.place_on_device(run.ranks)
    run.ds_config = load_deepspeed_config(common["deepspeed"]) if common["deepspeed"] else None
    run.sp = common["sequence_parallel"]
    run.attn = pick_attn_implementation(common["attn_implementation"])
    parallel.check_sequence_parallel(run.sp, run.init, run.ranks.world, run.ds_config, run.attn)
    check_positions(stage, common["max_length"], run.init, rope_overrides(stage, params, run.init))
    run.last, run.saved = _checkpoint_to_resume(run.ckpt_root, mode, run.ranks, run.ds_config is not None)
    if run.ranks.world > 1 and run.ds_config is None:
        raise ConfigError(f"{run.ranks.world} ranks need train.common.deepspeed (DeepSpeed owns the ranks)")
    zero = (run.ds_config or {}).get("zero_optimization", {}).get("stage", 0)
    run.tokenizer = load_tokenizer(run.init, trust_remote_code=run.trust)
    records = read_records(run.data, stage)
    run.examples, run.skipped = tokenize(
        records,
        run.tokenizer,
        stage,
        common["max_length"],
        params["num_negatives"],
        use_chat_template=run.use_chat_template,
    )
    if not run.examples:
        raise InputError(run.data, f"no usable training examples (skipped: {run.skipped})")
    parallel.check_even_forwards(zero, run.ranks.world // run.sp, [len(ex.responses) for ex in run.examples])
    if run.ds_config is not None:
        parallel.init_distributed(run.device)
    return run


# ---------------------------------------------------------------- 2. schedule and the checkpoint to resume
def _schedule(run: Run) -> None:
    params = run.params
    run.per_step = params["batch_size"] * params["grad_accum"]
    run.steps_per_epoch = math.ceil(len(run.examples) / run.per_step)
    run.total = run.steps_per_epoch * params["epochs"]
    if params.get("max_steps"):
        run.total = min(run.total, params["max_steps"])
    run.warmup = int(run.common["warmup_ratio"] * run.total)


def _choose_checkpoint(run: Run) -> None:
    """Keep the checkpoint to resume from only when it continues this run (same data, init, settings)."""
    run.fingerprint = _broadcast(
        {
            "data": _data_fingerprint(run.data),
            "init": _init_fingerprint(run.init),
            "config": _fingerprint(
                {"common": run.common, "stage": run.params, "use_chat_template": run.use_chat_template}
            ),
            "stage": run.stage,
            "examples": len(run.examples),
        }
        if run.ranks.main
        else None
    )
    if run.saved is not None and run.mode == "auto" and run.saved["step"] >= run.total:
        # a finished run: a rule reruns only when something (code included) changed, so train again
        print(f"longrm train {run.stage}: {run.last} is the end of a finished run: starting over", file=sys.stderr)
        run.last = run.saved = None
    if run.saved is not None and (why := _mismatch(run.saved, run.fingerprint)):
        if run.mode == "require":
            raise ConfigError(f"--resume: {run.last} was made with {why}; rerun without --resume to start over")
        print(f"longrm train {run.stage}: {run.last} was made with {why}: starting over", file=sys.stderr)
        run.last = run.saved = None
    if run.last is None:
        _start_over(run.ckpt_root, run.ranks)


# ---------------------------------------------------------------- 3. model, optimizer, engine, step parts
def _build(run: Run) -> None:
    import torch

    from longrm.train.gpu import EngineBackward, deepspeed_engine, engine_config, loaded_share, zero_stage

    common = run.common
    run.zero = engine_config(run.ds_config, common["max_grad_norm"]) if run.ds_config is not None else None
    run.model, run.ref = build_model(
        run.stage, run.init, common, run.params, run.tokenizer, run.seed, run.trust, zero=run.zero
    )
    run.mpu = parallel.register_ulysses(run.model, run.attn, run.sp) if run.sp > 1 else None
    if zero_stage(run.zero) == 3:  # zero-init placed the partitions on this rank's device already
        print(f"longrm train {run.stage}: rank {run.ranks.rank}: {loaded_share(run.model)}", file=sys.stderr)
    else:
        run.model.to(run.device)
    if run.ref is not None:
        run.ref.to(run.device)
    run.trainable = [p for p in run.model.parameters() if p.requires_grad]
    run.optimizer = torch.optim.AdamW(
        param_groups(run.model, run.params.get("body_lr_scale", 1.0)),
        lr=run.params["lr"],
        betas=tuple(common["adam_betas"]),
        weight_decay=common["weight_decay"],
    )
    run.engine = None
    if run.ds_config is not None:
        run.engine = deepspeed_engine(
            run.model, run.optimizer, run.ds_config, clip=common["max_grad_norm"], mpu=run.mpu
        )
    run.bf16 = _use_bf16(common["bf16"], run.device.type)
    run.backward = (
        EngineBackward(run.engine, loss_scale=1.0 / run.sp)
        if run.engine is not None
        else (lambda loss: loss.backward())
    )
    run.dp_rank, run.dp_size = data_parallel_position(run.sp)
    run.parts = _step_parts(run)


def _step_parts(run: Run):
    """The pieces a training step uses (steps.Parts), for the model and a DPO reference."""
    from longrm.train import steps
    from longrm.train.forward import autocast, body_of

    common = run.common

    def amp():
        return autocast(run.device.type, run.bf16)

    def body_for(m):
        return parallel.UlyssesBody(body_of(m), run.mpu) if run.mpu is not None else body_of(m)

    # a shared prompt needs the KV cache: HF gradient checkpointing gives none, and under sequence
    # parallelism each rank caches only its shard's keys; those runs take the full-sequence path
    share = bool(common["share_prompt"]) and not common["gradient_checkpointing"] and run.sp == 1
    if common["share_prompt"] and not share and run.ranks.main:
        print(
            f"longrm train {run.stage}: share_prompt off (needs the KV cache: not with gradient checkpointing "
            "or sequence parallelism); each response runs with its full prompt",
            file=sys.stderr,
        )
    parts = steps.Parts(
        body=body_for(run.model),
        head=_head(run.model, run.stage),
        amp=amp,
        device=run.device,
        backward=run.backward,
        chunk=common["logit_chunk"],
        grad_cache=common["grad_cache"],
        share_prompt=share,
    )
    if run.ref is not None:
        parts.ref = steps.Parts(
            body=body_for(run.ref),
            head=run.ref.get_output_embeddings(),
            amp=amp,
            device=run.device,
            backward=None,
            chunk=common["logit_chunk"],
            share_prompt=share,
        )
    return parts


def _restore(run: Run) -> None:
    """Progress counters, fresh or from the checkpoint chosen (model and optimizer state loaded)."""
    run.state = {
        "step": 0,
        "epoch": 0,
        "batch_in_epoch": 0,
        "examples_seen": 0,
        "tokens_seen": 0,
        "wall_s": 0.0,
        "resumed_from": None,
        **run.fingerprint,
    }
    run.log = []
    run.log_path = run.ckpt_root / "train_log.jsonl"
    if run.last is not None:
        run.state = ckpt.load(run.last, run.model, run.optimizer, run.engine, run.ranks)
        run.state["resumed_from"] = run.state["step"]
        run.log = [
            r for r in (read_jsonl(run.log_path) if run.log_path.exists() else []) if r["step"] <= run.state["step"]
        ]
        if run.ranks.main:
            print(f"longrm train {run.stage}: resuming from {run.last}", file=sys.stderr)


# ---------------------------------------------------------------- 4. one optimizer step
def _step_fn(run: Run):
    from longrm.train import steps

    parts, params = run.parts, run.params
    return {
        "sft": lambda b: steps.sft_step(parts, b),
        "disrm": lambda b: steps.disrm_step(parts, b),
        "logo": lambda b: steps.logo_step(
            parts, b, params["beta"], params["gamma"], params["aggregation"], params["sft_weight"], params["loss"]
        ),
    }[run.stage]


def _batch(run: Run, step: int, order_cache: dict) -> tuple[int, list]:
    """(epoch, this rank's examples of `step`): each data-parallel group (the ranks of one SP group share a
    sample) takes its slice of the step."""
    epoch, b = divmod(step, run.steps_per_epoch)
    order = order_cache.setdefault(epoch, epoch_order([ex.group for ex in run.examples], run.seed, run.stage, epoch))
    batch = [run.examples[i] for i in order[b * run.per_step : (b + 1) * run.per_step]]
    if run.dp_size > 1:  # every group must run (collectives): a short last batch wraps round
        batch = (batch * run.dp_size)[: math.ceil(len(batch) / run.dp_size) * run.dp_size][run.dp_rank :: run.dp_size]
    return epoch, batch


def param_groups(model, body_lr_scale: float) -> list[dict]:
    """The trainable parameters: the embeddings (and a tied LM head) at the stage's lr, the rest (the
    layers, norms and any head) at body_lr_scale x lr. Below 1, a judge learns its verdict format through
    the vocabulary while the pre-trained body keeps what it computes (benchmarks/verify_scout.md)."""
    from longrm.train.forward import unwrap

    embed = unwrap(model).get_input_embeddings().weight
    trainable = [p for p in model.parameters() if p.requires_grad]
    vocab = [p for p in trainable if p is embed]
    body = [p for p in trainable if p is not embed]
    return [g for g in ({"params": vocab, "lr_scale": 1.0}, {"params": body, "lr_scale": body_lr_scale}) if g["params"]]


def _optimizer_step(run: Run, step_fn, batch: list, lr: float) -> dict:
    import torch

    from longrm.train import steps

    for group in run.optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    if run.engine is not None:
        # one gradient reduction per step on every rank, however many backward calls each made (gpu.py)
        with run.backward.step(steps.backward_calls(run.stage, batch, run.parts)):
            metrics = step_fn(batch)
        run.engine.step()
        return metrics
    run.optimizer.zero_grad(set_to_none=True)
    metrics = step_fn(batch)
    if run.common["max_grad_norm"]:
        torch.nn.utils.clip_grad_norm_(run.trainable, run.common["max_grad_norm"])
    run.optimizer.step()
    return metrics


# ---------------------------------------------------------------- 5. logging
def _log_line(run: Run, step: int, epoch: int, lr: float, window: list[dict], elapsed: float) -> dict:
    """One train_log.jsonl record: the window's mean metrics since the last record."""
    line = {
        "step": step,
        "epoch": epoch,
        "lr": lr,
        "tokens_per_s": round(sum(w["tokens"] for w in window) / max(elapsed, 1e-9), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "examples": run.state["examples_seen"],
        "tokens": run.state["tokens_seen"],
    }
    for key in ("loss", "accuracy", "nll", "margin"):
        if key in window[0]:
            line[key] = round(sum(w[key] for w in window) / len(window), 6)
    run.log.append(line)
    if run.ranks.main:
        write_jsonl(run.log_path, run.log)
    return line


# ---------------------------------------------------------------- 6. the loop
def _loop(run: Run, interrupt_after: int | None) -> float:
    """Steps from the restored one to the total: log, checkpoint, stop when told; return the wall seconds."""
    from tqdm import tqdm

    common, state = run.common, run.state
    step_fn = _step_fn(run)
    run.model.train()
    window: list[dict] = []
    window_start = run_start = time.perf_counter()
    wall_before, step = state["wall_s"], state["step"]
    bar = tqdm(
        total=run.total,
        initial=step,
        desc=f"train {run.stage}",
        disable=None if run.ranks.main else True,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    order_cache: dict[int, list[int]] = {}
    while step < run.total:
        epoch, batch = _batch(run, step, order_cache)
        lr = lr_at(step, run.total, run.params["lr"], common["min_lr_ratio"], run.warmup)
        metrics = _optimizer_step(run, step_fn, batch, lr)
        step += 1
        state.update(step=step, epoch=step // run.steps_per_epoch, batch_in_epoch=step % run.steps_per_epoch)
        state["examples_seen"] += metrics["examples"]
        state["tokens_seen"] += metrics["tokens"]
        window.append({**metrics, "lr": lr, "epoch": epoch})
        if step % common["log_every"] == 0 or step == run.total:
            line = _log_line(run, step, epoch, lr, window, time.perf_counter() - window_start)
            bar.set_postfix(
                loss=f"{line['loss']:.4f}", acc=f"{line['accuracy']:.3f}", tok_s=f"{line['tokens_per_s']:.0f}"
            )
            window, window_start = [], time.perf_counter()
            trim_heap()
        bar.update(1)
        if step % common["checkpoint_every"] == 0 or step == run.total:
            state["wall_s"] = wall_before + time.perf_counter() - run_start
            ckpt.save(run.ckpt_root, step, run.model, run.optimizer, state, run.engine, ranks=run.ranks)
        _kill_after_step(step)
        if interrupt_after is not None and step == interrupt_after:
            bar.close()
            raise Interrupted(f"interrupted after step {step}")
    bar.close()
    return wall_before + time.perf_counter() - run_start


# ---------------------------------------------------------------- 7. summary and the final model
def _summary(run: Run, wall: float) -> dict:
    from longrm.train.gpu import full_numel

    state, stage, n = run.state, run.stage, len(run.examples)
    tail = run.log[-max(1, len(run.log) // 10) :]
    return {
        "stage": stage,
        "loss_type": {"sft": "sft", "disrm": "bt"}.get(stage, run.params["loss"]),
        "steps": state["step"],
        "epochs_run": round(state["examples_seen"] / n, 4),
        "examples_seen": state["examples_seen"],
        "tokens_seen": state["tokens_seen"],
        "train_examples": n,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(state["tokens_seen"] / max(wall, 1e-9), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "final_loss": round(sum(r["loss"] for r in tail) / len(tail), 6) if tail else None,
        "final_accuracy": round(sum(r["accuracy"] for r in tail) / len(tail), 6) if tail else None,
        "params": sum(full_numel(p) for p in run.model.parameters()),  # whole, not this rank's ZeRO-3 part
        "trainable_params": sum(full_numel(p) for p in run.trainable),
        "resumed_from": state.get("resumed_from"),
        "init": str(run.init),
        "data": str(run.data),
        "config": {"common": run.common, stage: run.params},
        "deepspeed": run.engine is not None,
        "bf16": run.bf16,
        "skipped": run.skipped,
        "ranks": run.ranks.world,
        "sequence_parallel": run.sp,
        "checkpoints": str(run.ckpt_root),
    }


def _final_model(run: Run, state_dict: dict | None):
    """(the model to save, the state dict to save it with; None: its own). A LoRA model is merged:
    under ZeRO-3 (`state_dict`: the gathered weights) into a fresh whole copy on this rank, since the
    partitioned modules hold no weights to merge."""
    from longrm.train.forward import unwrap

    if not hasattr(run.model, "merge_and_unload"):
        return unwrap(run.model), state_dict
    if state_dict is None:
        return run.model.merge_and_unload(), None
    whole, _ = build_model(run.stage, run.init, run.common, run.params, run.tokenizer, run.seed, run.trust)
    whole.load_state_dict(state_dict)
    return whole.merge_and_unload(), None


def _finish(run: Run, summary: dict) -> None:
    from longrm.train.gpu import zero3_state_dict

    state_dict = zero3_state_dict(run.engine)  # collective under ZeRO-3: every rank calls it
    if run.ranks.main:
        final, state_dict = _final_model(run, state_dict)
        with contextlib.suppress(AttributeError):
            final.generation_config.pad_token_id = run.tokenizer.pad_token_id
        _write_final(run.out, final, run.tokenizer, state_dict, run.log, summary)
    parallel.barrier()


def train(
    stage: str,
    cfg: dict,
    data: str | Path,
    init: str | Path,
    out: str | Path,
    resume: bool | str = False,
    interrupt_after: int | None = None,
    checkpoints: str | Path | None = None,
) -> dict:
    """Run one training stage end to end; return the summary (also written to OUT/train_summary.json).

    resume: False/"never" starts over; True/"require" continues from the latest checkpoint and refuses one
    made with other data, init or settings; "auto" continues when a matching checkpoint exists and
    otherwise starts over (the workflow's mode: a retried job picks up where the last one stopped; a
    finished run's last checkpoint is not resumed, since a rule reruns only when something changed).
    """
    cfg = with_defaults(cfg)  # a config changed after loading gets the schema's defaults too
    run = _prepare(stage, cfg, data, init, out, resume, checkpoints)  # 1. settings, data (checks first)
    _schedule(run)  # 2. steps, warmup
    _choose_checkpoint(run)  #    resume or start over
    _build(run)  # 3. model, optimizer, engine
    _restore(run)  #    counters (and state) to start from
    wall = _loop(run, interrupt_after)  # 4-6. steps, logs, checkpoints
    summary = _summary(run, wall)  # 7. summary, final model
    _finish(run, summary)
    return summary
