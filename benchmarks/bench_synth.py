"""Benchmark Short-to-Long synthesis and the vote; writes results/benchmarks/synth.{json,md}.

1. Context building at 8k / 32k / 128k tokens: throughput (context tokens per second, distractor pool
   already tokenized once) and peak Python heap (tracemalloc, a separate pass) per item, to show memory
   grows linearly with the context length; plus the gap between the summed per-document token counts
   and an exact tokenization of the joined text.
2. A default-sized run (config/default.yaml): synth, vote run (timed per judge), audit, with the vote's
   label accuracy against the best single judge. Uses results/inputs/{raw.jsonl,distractors.jsonl,
   tokenizer} when they exist, else self-made demo items of the same size.

Timings on a shared machine are noisy: each figure is the best of `--repeats` runs.

    python benchmarks/bench_synth.py [--out-dir results/benchmarks] [--repeats 3] [--skip-default]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from longrm.config import load_config  # noqa: E402
from longrm.data.io import write_json, write_jsonl  # noqa: E402
from longrm.data.records import ShortItem  # noqa: E402
from longrm.synth.build import DistractorPool, Synthesizer, SynthReport, Variant  # noqa: E402
from longrm.synth.demo import demo_distractors, demo_short_items  # noqa: E402
from longrm.synth.tokens import TokenCounter  # noqa: E402

LENGTHS = (8192, 32768, 131072)


def tokenizer_for(inputs: Path, texts):
    from longrm.inputs.tiny import train_tokenizer
    from longrm.modeling import load_tokenizer

    if (inputs / "tokenizer").is_dir():
        return load_tokenizer(inputs / "tokenizer"), str(inputs / "tokenizer")
    return train_tokenizer(texts, vocab_size=4096), "byte-level BPE 4096 trained on the demo documents"


def bench_context(tok, repeats: int, items_per_length: int = 3) -> dict:
    cfg = load_config()
    docs = demo_distractors(1500, seed=7)
    counter = TokenCounter(tok)
    t0 = time.perf_counter()
    pool = DistractorPool.load(docs, counter)
    pool_s = time.perf_counter() - t0
    synth = Synthesizer(cfg, counter, pool)
    items = [ShortItem.from_dict(d) for d in demo_short_items(items_per_length, seed=7, rejected=2)[1:]]
    rows = []
    for L in LENGTHS:
        best = None
        for _ in range(repeats):
            report = SynthReport()
            t = time.perf_counter()
            recs = [synth.build(it, Variant(0, L, "middle", 2, False, "diff"), report, 0) for it in items]
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        tokens = sum(r["length"] for r in recs)
        tracemalloc.start()
        synth.build(items[0], Variant(0, L, "middle", 2, False, "diff"), SynthReport(), 0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        text = recs[0]["prompt_template"][0]["content"]
        exact = counter.exact(text)
        rows.append(
            {
                "target_tokens": L,
                "items": len(recs),
                "context_tokens": tokens,
                "seconds": round(best, 4),
                "tokens_per_s": round(tokens / best),
                "peak_heap_mb": round(peak / 2**20, 2),
                "peak_bytes_per_token": round(peak / recs[0]["length"], 1),
                "counted_tokens": recs[0]["length"],
                "exact_tokens": exact,
                "count_gap": round((exact - recs[0]["length"]) / exact, 5),
                "distractor_reuse": report.distractor_reuse,
            }
        )
        print(f"context {L}: {rows[-1]['tokens_per_s']} tokens/s, peak {rows[-1]['peak_heap_mb']} MB", file=sys.stderr)
    pool_tokens = sum(pool.lengths)
    return {
        "pool_docs": len(pool.lengths),
        "pool_tokens": pool_tokens,
        "pool_tokenize_s": round(pool_s, 3),
        "pool_tokens_per_s": round(pool_tokens / pool_s),
        "lengths": rows,
    }


def bench_default(tok, inputs: Path, out_dir: Path) -> dict:
    from longrm.synth.cli import run as synth_run
    from longrm.vote.cli import audit_cmd, run_cmd

    cfg = load_config()
    work = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    raw, dis = inputs / "raw.jsonl", inputs / "distractors.jsonl"
    source = str(inputs)
    if not (raw.exists() and dis.exists()):
        n = cfg["inputs"]["items_per_task"] * len(cfg["inputs"]["tasks"])
        raw, dis = work / "raw.jsonl", work / "dis.jsonl"
        write_jsonl(raw, demo_short_items(n))
        write_jsonl(dis, demo_distractors(cfg["inputs"]["distractor_docs"]))
        source = f"demo fixture ({n} short items, {cfg['inputs']['distractor_docs']} distractors)"
    t = time.perf_counter()
    srep = synth_run(cfg, raw, dis, tok, work / "items.jsonl", work / "synth.json")
    synth_s = time.perf_counter() - t
    vrep = run_cmd(cfg, work / "items.jsonl", work / "votes.jsonl")
    arep = audit_cmd(
        cfg,
        work / "items.jsonl",
        work / "votes.jsonl",
        out_dir / "synth_default_audit.json",
        str(out_dir / "synth_default_audit.png"),
    )
    return {
        "inputs": source,
        "synth_seconds": round(synth_s, 2),
        "synth_items": srep["items_written"],
        "synth_skipped": srep["skipped"],
        "synth_tokens_per_s": srep["tokens_per_s"],
        "vote_seconds": vrep["seconds"],
        "vote_judge_seconds": vrep["judge_seconds"],
        "vote_accuracy": arep["vote"]["accuracy"],
        "vote_yield": arep["vote"]["yield"],
        "best_single_judge": arep["best_single_judge"],
        "best_single_accuracy": arep["best_single_accuracy"],
        "best_single_accuracy_on_kept": arep["best_single_accuracy_on_kept"],
        "best_consistent_judge": arep["best_consistent_judge"],
        "best_consistent_accuracy": arep["best_consistent_accuracy"],
        "best_consistent_coverage": arep["best_consistent_coverage"],
        "judge_accuracy": {k: v["per_order_accuracy"] for k, v in arep["judge_stats"].items()},
        "by_tasktype": arep["by_group"]["tasktype"],
    }


def markdown(res: dict) -> str:
    lines = [
        "# Synthesis benchmark",
        "",
        f"Tokenizer: {res['tokenizer']}. Timings noisy (shared 2-core machine).",
        "",
        "| target tokens | tokens/s | peak heap MB | bytes/token | counted vs exact gap |",
        "|---|---|---|---|---|",
    ]
    for r in res["context"]["lengths"]:
        lines.append(
            f"| {r['target_tokens']} | {r['tokens_per_s']:,} | {r['peak_heap_mb']} | "
            f"{r['peak_bytes_per_token']} | {r['count_gap']:+.4f} |"
        )
    c = res["context"]
    lines += [
        "",
        f"Distractor pool: {c['pool_docs']} docs, {c['pool_tokens']:,} tokens, tokenized once at "
        f"{c['pool_tokens_per_s']:,} tokens/s.",
    ]
    d = res.get("default")
    if d:
        lines += [
            "",
            "## Default-sized run",
            "",
            f"Inputs: {d['inputs']}",
            "",
            f"- synth: {d['synth_items']} items in {d['synth_seconds']} s (skipped {d['synth_skipped']})",
            f"- vote run: {d['vote_seconds']} s; per judge {d['vote_judge_seconds']}",
            f"- vote label accuracy {d['vote_accuracy']:.3f} on {d['vote_yield']:.1%} kept items; "
            f"best single judge {d['best_single_judge']} {d['best_single_accuracy']:.3f} "
            f"(on kept items {d['best_single_accuracy_on_kept']:.3f})",
            f"- one judge + the consistency filter: {d['best_consistent_judge']} "
            f"{d['best_consistent_accuracy']:.3f} on the {d['best_consistent_coverage']:.1%} of items it is "
            "order-consistent on",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default="results/benchmarks")
    ap.add_argument("--inputs", default="results/inputs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-default", action="store_true")
    args = ap.parse_args()
    out_dir, inputs = Path(args.out_dir), Path(args.inputs)
    tok, tok_name = tokenizer_for(inputs, [d["text"] for d in demo_distractors(300)])
    res = {"tokenizer": tok_name, "context": bench_context(tok, args.repeats)}
    if not args.skip_default:
        res["default"] = bench_default(tok, inputs, out_dir)
    write_json(out_dir / "synth.json", res)
    (out_dir / "synth.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
