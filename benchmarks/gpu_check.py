"""The paper-scale step on one GPU: DeepSpeed ZeRO-2, bf16, gradient checkpointing, the lean LOGO step
(response-only chunked fp32 logits, grad cache) on a Qwen3-8B-shaped model with random weights, at
16k/32k/64k tokens: peak GPU memory and tokens/s per length, written to JSON after every length (a
timeout keeps what was measured). The ZeRO stage, bf16, parameter dtype and gradient checkpointing in
the JSON are read back from the engine and model once built (engine_settings), not the settings asked
for. Run through benchmarks/gpu_check.sh.

Optimizer: torch SGD (no moments): Adam's states (an fp32 master copy and two moments, 12 bytes a
parameter) of an 8B model do not fit one GPU next to its bf16 weights and gradients without CPU offload;
the step's activation memory and speed, the point of this check, do not depend on it.

    python benchmarks/gpu_check.py --out results/benchmarks/gpu_check.json
    python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check.json    # the same code path on the CPU, tiny shape
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

QWEN3_8B = {
    "hidden_size": 4096,
    "intermediate_size": 12288,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 512,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}
LENGTHS = (16384, 32768, 65536)
TINY_LENGTHS = (128, 256)
RESPONSE_TOKENS = 256


def attn_kernel(device) -> str:
    if device.type != "cuda":
        return "sdpa"
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return "sdpa"
    return "flash_attention_2"


def build(arch: dict, max_len: int, device, attn: str):
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(**arch, max_position_embeddings=max_len, attn_implementation=attn)
    torch.manual_seed(0)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = Qwen3ForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    return model


def example(length: int, vocab: int):
    import random

    from longrm.train.data import Example

    rng = random.Random(length)
    answer = min(RESPONSE_TOKENS, length // 4)
    prompt = [rng.randrange(3, vocab) for _ in range(length - answer)]
    responses = [[rng.randrange(3, vocab) for _ in range(answer)] for _ in range(2)]
    return Example(id=f"len{length}", prompt_ids=prompt, responses=responses, group="gpu_check")


def engine_for(model):
    import torch

    from longrm.train.gpu import deepspeed_engine

    ds = {
        "bf16": {"enabled": True},
        "zero_allow_untested_optimizer": True,
        "zero_optimization": {
            "stage": 2,
            "contiguous_gradients": True,
            "overlap_comm": False,
            "reduce_bucket_size": 50_000_000,
        },
    }
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    return deepspeed_engine(model, optimizer, ds, clip=1.0)


def engine_settings(engine) -> dict:
    """What the built engine and the model it wraps report: ZeRO stage, bf16, parameter dtype, gradient
    checkpointing."""
    module = engine.module
    return {
        "zero_stage": engine.zero_optimization_stage(),
        "bf16": bool(engine.bfloat16_enabled()),
        "param_dtype": str(next(module.parameters()).dtype).removeprefix("torch."),
        "gradient_checkpointing": bool(module.is_gradient_checkpointing),
    }


def one_step(engine, length: int, vocab: int, device) -> dict:
    import torch

    from longrm.train import steps
    from longrm.train.forward import autocast, body_of
    from longrm.train.gpu import EngineBackward

    backward = EngineBackward(engine)
    parts = steps.Parts(
        body=body_of(engine.module),
        head=engine.module.get_output_embeddings(),
        amp=lambda: autocast(device.type, True),
        device=device,
        backward=backward,
        chunk=1024,
        grad_cache=True,
        share_prompt=False,
    )
    batch = [example(length, vocab)]
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with backward.step(steps.backward_calls("logo", batch, parts)):
        metrics = steps.logo_step(parts, batch, 2.5, 0.5, "mean_reward", 0.1, "logo")
    engine.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    row = {
        "length": length,
        "tokens": metrics["tokens"],
        "seconds": round(seconds, 2),
        "tokens_per_s": round(metrics["tokens"] / seconds, 1),
        "loss": metrics["loss"],
    }
    if device.type == "cuda":
        row["peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        row["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "gpu_check.json")
    ap.add_argument("--tiny", action="store_true", help="a tiny Qwen3 shape on the CPU (tests this code path)")
    ap.add_argument("--lengths", type=int, nargs="+")
    ap.add_argument("--layers", type=int, help="override the number of layers (default: Qwen3-8B's 36)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from longrm.data.io import write_json
    from longrm.train import parallel

    arch = dict(TINY if args.tiny else QWEN3_8B)
    if args.layers:
        arch["num_hidden_layers"] = args.layers
    lengths = args.lengths or (TINY_LENGTHS if args.tiny else LENGTHS)
    device = parallel.place_on_device(parallel.ranks_from_env())
    if device.type != "cuda" and not args.tiny:
        print("gpu_check: no CUDA GPU here; use --tiny for the CPU code-path check", file=sys.stderr)
        return 2
    parallel.init_distributed(device)
    attn = attn_kernel(device)
    result = {
        "model": "Qwen3-8B shape, random weights" if not args.tiny else "tiny Qwen3 shape",
        "arch": arch,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "attn_implementation": attn,
        "response_tokens": RESPONSE_TOKENS,
        "step": "LOGO, 1 chosen + 1 rejected, grad cache, lean logits",
        "optimizer": "torch SGD",
        "cells": [],
    }
    start = time.perf_counter()
    model = build(arch, max(lengths) + 64, device, attn)
    result["params"] = sum(p.numel() for p in model.parameters())
    engine = engine_for(model)
    result.update(engine_settings(engine))
    result["setup_s"] = round(time.perf_counter() - start, 1)
    write_json(args.out, result)
    for length in lengths:
        try:
            row = one_step(engine, length, arch["vocab_size"], device)
        except torch.OutOfMemoryError as exc:
            row = {"length": length, "error": f"out of memory: {str(exc)[:300]}"}
            engine.optimizer.zero_grad()
            torch.cuda.empty_cache()
        except Exception as exc:  # keep the lengths measured so far, say what failed
            row = {"length": length, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
        result["cells"].append(row)
        write_json(args.out, result)
        print(json.dumps(row), file=sys.stderr)
    result["total_s"] = round(time.perf_counter() - start, 1)
    write_json(args.out, result)
    return 0 if all("error" not in c for c in result["cells"]) else 1


if __name__ == "__main__":
    sys.exit(main())
