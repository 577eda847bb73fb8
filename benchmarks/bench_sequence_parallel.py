"""Per-rank peak memory and tokens/s of ONE LOGO step at 4k/8k/16k tokens: one process vs DeepSpeed
ZeRO-2 + Ulysses sequence parallelism over 2 CPU ranks (gloo), same random-weight model, same pair.

Each cell runs in fresh processes (one per rank, one thread each), so no run's allocations hide another's
peak. Peak = a rank's VmHWM after the step minus its RSS just before it (heap trimmed and VmHWM reset
right before the step). The step: a prompt of LENGTH - 64 tokens, a chosen and a rejected response of
64 tokens (two sequences of LENGTH tokens), grad cache on, shared prompt off (under SP each rank caches
only its shard's keys, so the trainer runs full sequences there too). Expected: activation memory per
rank about halves under SP=2, with the same loss. Timings on a shared 2-core machine are noisy.

    .venv/bin/python benchmarks/bench_sequence_parallel.py      # writes results/benchmarks/sequence_parallel.{json,md}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

LENGTHS = (4096, 8192, 16384)
RESPONSE_TOKENS = 64
ARCH = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 384,
    "vocab_size": 4096,
}


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_memory import reset_peak, rss_mb  # noqa: E402  (one copy of the memory probes)


def build_model(seed: int = 0):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(
        **ARCH, max_position_embeddings=max(LENGTHS) + 64, tie_word_embeddings=True, attn_implementation="sdpa"
    )
    return Qwen2ForCausalLM(cfg).float()


def example(length: int):
    import random

    from longrm.train.data import Example

    rng = random.Random(length)
    vocab = ARCH["vocab_size"]
    prompt = [rng.randrange(3, vocab) for _ in range(length - RESPONSE_TOKENS)]
    responses = [[rng.randrange(3, vocab) for _ in range(RESPONSE_TOKENS)] for _ in range(2)]
    return Example(id="bench", prompt_ids=prompt, responses=responses, group="bench")


def measure(length: int, sp: int, ds_config: str | None) -> dict:
    """One LOGO step on this rank; {'rank', 'peak_delta_mb', 'seconds', 'loss', ...}."""
    import torch

    from longrm.train import parallel, steps
    from longrm.train.forward import body_of
    from longrm.train.gpu import EngineBackward, deepspeed_engine, load_deepspeed_config

    ranks = parallel.ranks_from_env()
    torch.set_num_threads(1)
    device = parallel.place_on_device(ranks)
    model = build_model()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    body, backward, engine = body_of(model), (lambda loss: loss.backward()), None
    if sp > 1:
        parallel.init_distributed(device)
        mpu = parallel.register_ulysses(model, "sdpa", sp)
        engine = deepspeed_engine(model, optimizer, load_deepspeed_config(ds_config), clip=1.0, mpu=mpu)
        body, backward = parallel.UlyssesBody(body, mpu), EngineBackward(engine, loss_scale=1.0 / sp)
    parts = steps.Parts(
        body=body,
        head=model.get_output_embeddings(),
        amp=None,
        device=device,
        backward=backward,
        chunk=1024,
        grad_cache=True,
        share_prompt=False,
    )
    batch = [example(length)]
    parallel.barrier()
    reset_peak()
    before = rss_mb()
    start = time.perf_counter()
    with backward.step(steps.backward_calls("logo", batch, parts)) if engine is not None else contextlib.nullcontext():
        metrics = steps.logo_step(parts, batch, 2.5, 0.5, "mean_reward", 0.0, "logo")
    if engine is not None:
        engine.step()
    else:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    seconds = time.perf_counter() - start
    peak = rss_mb("VmHWM")
    parallel.barrier()
    return {
        "rank": ranks.rank,
        "length": length,
        "sp": sp,
        "tokens": metrics["tokens"],
        "loss": metrics["loss"],
        "seconds": round(seconds, 3),
        "tokens_per_s": round(metrics["tokens"] / seconds, 1),
        "rss_before_mb": round(before, 1),
        "peak_delta_mb": round(peak - before, 1),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cell(length: int, sp: int, ds_config: Path, timeout: float = 1800) -> list[dict]:
    """Start `sp` rank processes for one cell; their JSON lines, rank order."""
    port = _free_port()
    procs = []
    for rank in range(sp):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(sp),
            "LOCAL_WORLD_SIZE": str(sp),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "DS_ACCELERATOR": "cpu",
            "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
        }
        cmd = [
            sys.executable,
            __file__,
            "--one",
            "--length",
            str(length),
            "--sp",
            str(sp),
            "--ds-config",
            str(ds_config),
        ]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    rows = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        if p.returncode:
            raise RuntimeError(f"rank failed ({p.returncode}):\n{err[-3000:]}")
        rows.append(json.loads(out.strip().splitlines()[-1]))
    return sorted(rows, key=lambda r: r["rank"])


def to_markdown(result: dict) -> str:
    lines = ["| tokens | ranks (SP) | peak per rank, MiB | tokens/s (all ranks) | loss |", "|---|---|---|---|---|"]
    for cell in result["cells"]:
        peaks = ", ".join(f"{r['peak_delta_mb']:.0f}" for r in cell["ranks"])
        lines.append(f"| {cell['length']} | {cell['sp']} | {peaks} | {cell['tokens_per_s']:.0f} | {cell['loss']:.6f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--one", action="store_true", help="(internal) measure this rank and print JSON")
    ap.add_argument("--length", type=int)
    ap.add_argument("--sp", type=int, default=1)
    ap.add_argument("--ds-config")
    ap.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    ap.add_argument("--out-dir", type=Path, default=REPO / "results" / "benchmarks")
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.length, args.sp, args.ds_config)))
        return 0

    from longrm.data.io import atomic_write, write_json

    with tempfile.TemporaryDirectory() as tmp:
        ds = Path(tmp) / "zero2.json"
        ds.write_text(
            json.dumps(
                {
                    "zero_optimization": {
                        "stage": 2,
                        "reduce_bucket_size": 1_000_000,
                        "allgather_bucket_size": 1_000_000,
                    },
                    "bf16": {"enabled": False},
                }
            )
        )
        cells = []
        for length in args.lengths:
            for sp in (1, 2):
                ranks = run_cell(length, sp, ds)
                seconds = max(r["seconds"] for r in ranks)
                cell = {
                    "length": length,
                    "sp": sp,
                    "ranks": ranks,
                    "loss": ranks[0]["loss"],
                    "tokens": ranks[0]["tokens"],
                    "seconds": seconds,
                    "tokens_per_s": round(ranks[0]["tokens"] / seconds, 1),
                    "peak_per_rank_mb": max(r["peak_delta_mb"] for r in ranks),
                }
                cells.append(cell)
                print(
                    f"{length:6d} tokens SP={sp}: peak/rank {cell['peak_per_rank_mb']:8.1f} MiB, "
                    f"{cell['tokens_per_s']:7.0f} tokens/s, loss {cell['loss']:.6f}",
                    file=sys.stderr,
                )
    ratios = {}
    for length in args.lengths:
        one, two = ([c for c in cells if c["length"] == length and c["sp"] == sp][0] for sp in (1, 2))
        ratios[str(length)] = {
            "peak_ratio_sp2_over_1": round(two["peak_per_rank_mb"] / one["peak_per_rank_mb"], 3),
            "loss_abs_diff": abs(two["loss"] - one["loss"]),
        }
    result = {
        "arch": ARCH,
        "response_tokens": RESPONSE_TOKENS,
        "threads_per_rank": 1,
        "step": "LOGO, grad cache, shared prompt off, 1 chosen + 1 rejected",
        "cells": cells,
        "sp2_vs_1": ratios,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.out_dir / "sequence_parallel.json", result)
    with atomic_write(args.out_dir / "sequence_parallel.md") as f:
        f.write(to_markdown(result))
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
