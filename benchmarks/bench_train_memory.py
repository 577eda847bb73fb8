"""Peak memory and tokens/s of ONE LOGO (SimPO) step at 1k-16k tokens: our trainer vs TRL's
`trl.experimental.cpo.CPOTrainer(loss_type="simpo")`, on the same tiny model and the same pair.

Each measurement runs in a fresh subprocess, so one run's allocations never hide another's peak.
Peak = the process's VmHWM after the step minus its RSS just before it (free heap is trimmed and
VmHWM reset through /proc/self/clear_refs right before the step; large tensors are mmapped, so RSS
follows live tensors; both sides include creating the optimizer state).
Timings on a shared 2-core machine are noisy; memory is the point.

    .venv/bin/python benchmarks/bench_train_memory.py            # writes results/benchmarks/train_memory.{json,md}
    .venv/bin/python benchmarks/bench_train_memory.py --one ours --length 4096 --model DIR
    .venv/bin/python benchmarks/bench_train_memory.py --one ours --samples DIR --max-length 16384 --model DIR
    .venv/bin/python benchmarks/bench_train_memory.py --released-only   # train_memory_released.json; exit 1 over the bound

The released check (key `released`, run when the released LongRM sample is in ../shared): one LOGO step on a
released item (1 chosen + 4 rejected judgments, prompt re-tokenised and cut to RELEASED_MAX_LENGTH tokens)
against the linear fit of one synthetic pair at RELEASED_FIT_LENGTHS, read at the item's length: with the
grad cache, five sequences cost what one sequence of that length costs. `within_bound`: the item's peak is
at most RELEASED_SLACK x the prediction + RELEASED_NOISE_MB (RSS noise).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

LENGTHS = (1024, 4096, 8192, 16384)
# ours = grad cache (one sequence's activations at a time); ours_joint = all sequences' graphs at once;
# ours_shared = the prompt run once, each response on its KV cache (the trainer's default)
IMPLS = ("ours", "ours_joint", "ours_shared", "trl")
RESPONSE_TOKENS = 64
BETA, GAMMA = 2.5, 0.5
RELEASED = REPO.parent / "shared" / "data" / "longrm-official-samples" / "SimPO_Data_Sampled20"
RELEASED_MAX_LENGTH = 4096
RELEASED_FIT_LENGTHS = (1024, 3072)
RELEASED_SLACK, RELEASED_NOISE_MB = 1.3, 32.0


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> bool:
    """Give freed heap back to the OS, then reset VmHWM, so the peak counts only what the step adds."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def warm_up(model) -> None:
    """One small forward/backward first, so neither side's measured step pays one-off kernel setup."""
    import torch

    ids = torch.arange(10, 266).unsqueeze(0) % model.config.vocab_size
    model(input_ids=ids).logits.float().mean().backward()
    model.zero_grad(set_to_none=True)


def synthetic_texts(tokenizer, length: int, seed: int = 0) -> tuple[str, str, str]:
    """A prompt of about length - RESPONSE_TOKENS tokens and two responses of about RESPONSE_TOKENS, as
    text (both trainers tokenise the same strings); natural-looking text so decode/encode is stable."""
    import random

    rng = random.Random(seed)
    words = (
        "the quick brown fox jumps over the lazy dog code context question answer response "
        "analysis door secret blue cites python library def return"
    ).split()

    def text(n_tokens: int) -> str:
        out, count = [], 0
        while count < n_tokens:
            chunk = " ".join(rng.choice(words) for _ in range(64)) + f" {rng.randint(0, 9999)}."
            out.append(chunk)
            count += len(tokenizer(chunk, add_special_tokens=False)["input_ids"])
        ids = tokenizer(" ".join(out), add_special_tokens=False)["input_ids"][:n_tokens]
        return tokenizer.decode(ids)

    return text(length - RESPONSE_TOKENS), text(RESPONSE_TOKENS), text(RESPONSE_TOKENS)


def measure_ours(
    model_dir: Path, length: int | None, samples: Path | None, max_length: int, bf16: bool, variant: str = "ours"
) -> dict:
    import torch

    from longrm.modeling import load_causal_lm, load_tokenizer, set_threads
    from longrm.train import steps
    from longrm.train.data import Example, read_records, tokenize
    from longrm.train.forward import autocast, body_of

    set_threads()
    tok = load_tokenizer(model_dir)
    if samples is not None:
        records = read_records(samples, "logo")[:1]
        (example,), _ = tokenize(records, tok, "logo", max_length, num_negatives=None)
    else:
        prompt, chosen, rejected = synthetic_texts(tok, length)
        ids = [tok(t, add_special_tokens=False)["input_ids"] for t in (prompt, chosen, rejected)]
        example = Example("bench", ids[0], [ids[1] + [tok.eos_token_id], ids[2] + [tok.eos_token_id]])
    model = load_causal_lm(model_dir)
    model.train()
    warm_up(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    parts = steps.Parts(
        body=body_of(model),
        head=model.get_output_embeddings(),
        amp=lambda: autocast("cpu", bf16),
        device=torch.device("cpu"),
        backward=lambda loss: loss.backward(),
        grad_cache=variant == "ours",
        share_prompt=variant == "ours_shared",
    )
    before = rss_mb()
    reset_peak()
    t0 = time.perf_counter()
    out = steps.logo_step(parts, [example], BETA, GAMMA, "mean_reward", 0.0)
    optimizer.step()
    seconds = time.perf_counter() - t0
    longest = max(len(example.prompt_ids) + len(r) for r in example.responses)
    return {
        "impl": variant,
        "length": longest,
        "sequences": len(example.responses),
        "tokens": out["tokens"],
        "rss_before_mb": round(before, 1),
        "peak_delta_mb": round(rss_mb("VmHWM") - before, 1),
        "step_s": round(seconds, 3),
        "tokens_per_s": round(out["tokens"] / seconds, 1),
        "loss": out["loss"],
    }


def measure_trl(model_dir: Path, length: int, bf16: bool) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    from longrm.modeling import load_causal_lm, load_tokenizer, set_threads

    set_threads()
    tok = load_tokenizer(model_dir)
    prompt, chosen, rejected = synthetic_texts(tok, length)
    row = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    model = load_causal_lm(model_dir)
    model.train()
    warm_up(model)
    with tempfile.TemporaryDirectory() as tmp:
        args = CPOConfig(
            output_dir=tmp,
            loss_type="simpo",
            beta=BETA,
            simpo_gamma=GAMMA,
            cpo_alpha=0.0,
            per_device_train_batch_size=1,
            max_steps=1,
            learning_rate=1e-4,
            max_length=4 * length,
            max_completion_length=4 * RESPONSE_TOKENS,
            report_to=[],
            save_strategy="no",
            logging_steps=1,
            bf16=bf16,
            use_cpu=True,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = CPOTrainer(model=model, args=args, train_dataset=Dataset.from_list([row]), processing_class=tok)
        first = trainer.train_dataset[0]
        # chosen_input_ids / rejected_input_ids are full sequences (prompt + response)
        tokens = len(first["chosen_input_ids"]) + len(first["rejected_input_ids"])
        before = rss_mb()
        reset_peak()
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
    return {
        "impl": "trl",
        "length": len(first["chosen_input_ids"]),
        "sequences": 2,
        "tokens": tokens,
        "rss_before_mb": round(before, 1),
        "peak_delta_mb": round(rss_mb("VmHWM") - before, 1),
        "step_s": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
        "loss": result.training_loss,
    }


def run_one_subprocess(
    impl: str,
    model: Path,
    length: int | None = None,
    samples: Path | None = None,
    max_length: int = 16384,
    bf16: bool = False,
) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        impl,
        "--model",
        str(model),
        "--max-length",
        str(max_length),
    ]
    if length is not None:
        cmd += ["--length", str(length)]
    if samples is not None:
        cmd += ["--samples", str(samples)]
    if bf16:
        cmd.append("--bf16")
    # a fixed mmap threshold: every large tensor is its own mapping, returned to the OS when freed, so
    # RSS follows live tensors instead of glibc's reused heap (otherwise a peak can hide in free heap)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MALLOC_MMAP_THRESHOLD_": "131072",
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} at {length}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def linear_fit(xs: list[float], ys: list[float]) -> dict:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    icept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys) or 1e-12
    r2 = 1 - sum((y - (icept + slope * x)) ** 2 for x, y in zip(xs, ys)) / ss_tot
    return {"intercept_mb": round(icept, 2), "mb_per_1k_tokens": round(slope * 1000, 3), "r2": round(r2, 4)}


def predict_mb(fit: dict, length: int) -> float:
    return fit["intercept_mb"] + fit["mb_per_1k_tokens"] * length / 1000


def released_check(model: Path, samples: Path, max_length: int = RELEASED_MAX_LENGTH) -> dict:
    """A released item's one-step peak against the synthetic pair's linear fit (module docstring)."""
    sample = run_one_subprocess("ours", model, samples=samples, max_length=max_length)
    cells = [run_one_subprocess("ours", model, length=n) for n in RELEASED_FIT_LENGTHS]
    fit = linear_fit([c["length"] for c in cells], [c["peak_delta_mb"] for c in cells])
    predicted = predict_mb(fit, sample["length"])
    bound = RELEASED_SLACK * predicted + RELEASED_NOISE_MB
    return {
        "samples": str(samples),
        "sample": sample,
        "fit_cells": cells,
        "fit": fit,
        "predicted_mb": round(predicted, 1),
        "bound_mb": round(bound, 1),
        "within_bound": sample["peak_delta_mb"] <= bound,
    }


def released_text(r: dict) -> str:
    s = r["sample"]
    return (
        f"Released item ({s['sequences']} sequences, {s['length']} tokens): peak +{s['peak_delta_mb']} MiB, "
        f"one synthetic sequence of that length predicts {r['predicted_mb']} MiB (bound {r['bound_mb']} MiB: "
        f"{'within' if r['within_bound'] else 'OVER'})."
    )


def to_markdown(result: dict) -> str:
    rows = [
        "| tokens | ours (shared) peak MiB | ours (grad cache) | ours (joint) | TRL peak MiB | TRL / ours (shared) "
        "| ours (shared) tokens/s | ours (grad cache) | ours (joint) | TRL tokens/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o, j, sh, t in zip(result["ours"], result["ours_joint"], result["ours_shared"], result["trl"]):
        ratio = t["peak_delta_mb"] / max(sh["peak_delta_mb"], 1e-9)
        rows.append(
            f"| {o['length']} | {sh['peak_delta_mb']:.1f} | {o['peak_delta_mb']:.1f} | {j['peak_delta_mb']:.1f} "
            f"| {t['peak_delta_mb']:.1f} | {ratio:.1f}x | {sh['tokens_per_s']:.0f} | {o['tokens_per_s']:.0f} "
            f"| {j['tokens_per_s']:.0f} | {t['tokens_per_s']:.0f} |"
        )
    fit, shared = result["fit_ours"], result["fit_ours_shared"]
    return "\n".join(
        [
            "# One LOGO/SimPO step: peak memory and throughput",
            "",
            f"Model: {result['model']} ({result['params']} parameters, vocab {result['vocab']}), one prompt with "
            f"one chosen and one rejected response of {RESPONSE_TOKENS} tokens, fp32"
            f"{' + bf16 autocast' if result['bf16'] else ''}, {result['threads']} threads. Peak = VmHWM minus RSS "
            "before the step, each cell a fresh process. Timings are noisy (shared 2-core machine).",
            "",
            *rows,
            "",
            f"Linear fits: ours (shared) {shared['intercept_mb']} MiB + {shared['mb_per_1k_tokens']} MiB per 1k tokens "
            f"(R^2 = {shared['r2']}); ours (grad cache) {fit['intercept_mb']} + {fit['mb_per_1k_tokens']} per 1k "
            f"(R^2 = {fit['r2']}); TRL {result['fit_trl']['mb_per_1k_tokens']} MiB per 1k tokens. "
            "ours (shared) = the prompt run once and each response on its KV cache (the trainer's default); "
            "ours (grad cache) = one sequence's activations at a time, one extra forward per sequence; "
            "ours (joint) = every sequence's graph held at once. tokens/s counts every sequence's tokens "
            "(prompt + response per response), the same work for all.",
            "",
            *([released_text(result["released"]), ""] if result.get("released") else []),
        ]
    )


def model_info(model: Path) -> dict:
    from longrm.modeling import load_causal_lm

    m = load_causal_lm(model)
    return {
        "params": sum(p.numel() for p in m.parameters()),
        "vocab": m.config.vocab_size,
        "hidden": m.config.hidden_size,
        "layers": m.config.num_hidden_layers,
    }


def sweep(model: Path, lengths: list[int], bf16: bool) -> dict:
    """Every implementation at every length (a fresh process each), and each one's linear fit."""
    result = {impl: [] for impl in IMPLS}
    for length in lengths:
        for impl in IMPLS:
            cell = run_one_subprocess(impl, model, length, bf16=bf16)
            result[impl].append(cell)
            print(
                f"{impl:5s} {length:6d} tokens: peak +{cell['peak_delta_mb']:8.1f} MiB, "
                f"{cell['tokens_per_s']:8.0f} tokens/s",
                file=sys.stderr,
            )
    for impl in IMPLS:
        result[f"fit_{impl}"] = linear_fit(
            [c["length"] for c in result[impl]], [c["peak_delta_mb"] for c in result[impl]]
        )
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--one", choices=IMPLS, help="measure one cell in this process and print JSON")
    ap.add_argument("--length", type=int)
    ap.add_argument("--samples", type=Path, help="(with --one ours) the first example of a released folder")
    ap.add_argument("--max-length", type=int, default=16384)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    ap.add_argument("--released", type=Path, default=RELEASED if RELEASED.is_dir() else None)
    ap.add_argument("--released-only", action="store_true", help="only the released check; exit 1 over its bound")
    ap.add_argument("--out-dir", type=Path, default=REPO / "results" / "benchmarks")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    if args.one:
        if args.one.startswith("ours"):
            res = measure_ours(args.model, args.length, args.samples, args.max_length, args.bf16, variant=args.one)
        else:
            res = measure_trl(args.model, args.length, args.bf16)
        print(json.dumps(res))
        return 0
    if args.released_only and args.released is None:
        print(f"bench_train_memory: no released sample ({RELEASED} absent; pass --released DIR)", file=sys.stderr)
        return 2

    from longrm.data.io import atomic_write, write_json

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from tests.helpers import tiny_checkpoint

            model = tiny_checkpoint(Path(tmp) / "tiny")
        result = {
            "model": "tests.helpers.tiny_checkpoint" if args.model is None else str(args.model),
            **model_info(model),
            "bf16": args.bf16,
            "threads": int(os.environ.get("LONGRM_THREADS", "0")) or os.cpu_count(),
            "response_tokens": RESPONSE_TOKENS,
        }
        if not args.released_only:
            result.update(sweep(model, args.lengths, args.bf16))
        if args.released is not None:
            result["released"] = released_check(model, args.released)
            print(released_text(result["released"]), file=sys.stderr)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.released_only:
        write_json(args.out_dir / "train_memory_released.json", result)
        return 0 if result["released"]["within_bound"] else 1
    write_json(args.out_dir / "train_memory.json", result)
    with atomic_write(args.out_dir / "train_memory.md") as f:
        f.write(to_markdown(result))
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
