"""Throughput of the batched `transformers` judge backend against a naive loop calling `generate` on one
(item, order) at a time, on the same prompts (same truncation, same greedy decoding).

    python benchmarks/bench_throughput.py [--items 64] [--model results/inputs/base_model]

Writes results/benchmarks/bench_throughput.json and .md. The model is results/inputs/base_model when it
exists (the embedded default's pre-trained base), else a random model of the default's architecture
built here (random weights never emit EOS, so every judgment decodes the full max_new_tokens: the worst
case). Timings on a shared 2-core machine are noisy; run twice before trusting a difference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "door code river stone blue green red north south report value answer question context "
    "the a of in is was has with for and to from by on at agent step tool result file line"
).split()


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(40)) + f" code {rng.randint(1000, 9999)}." for _ in range(n)]


def build_model(out: Path, cfg: dict) -> Path:
    from longrm.inputs.tiny import init_model, train_tokenizer

    tok = train_tokenizer(synthetic_texts(4000), vocab_size=cfg["inputs"]["tokenizer"]["vocab_size"], out_dir=out)
    arch = dict(cfg["inputs"]["base_model"])
    model = init_model(tok, seed=0, **arch)
    model.save_pretrained(str(out), safe_serialization=True)
    return out


def make_items(n: int, tokenizer, lengths=(512, 1024, 2048), seed: int = 0):
    """Pairs (3 in 4) and 3-candidate Best-of-N items with contexts of about `lengths` tokens."""
    import random

    from longrm.data.records import BenchItem

    rng = random.Random(seed)
    pool = synthetic_texts(600, seed + 1)
    items = []
    for i in range(n):
        target = lengths[i % len(lengths)]
        doc, toks = [], 0
        while toks < target:
            s = rng.choice(pool)
            doc.append(s)
            toks += len(tokenizer(s, add_special_tokens=False)["input_ids"]) + 1
        d = {
            "id": f"tp-{i}",
            "task": "LongQA",
            "ctx_length_for_length": str(target),
            "prompt_template": [{"role": "user", "content": " ".join(doc) + "\nQuestion: which code?"}],
        }
        if i % 4 == 3:
            d.update(
                tasktype="BestOfN",
                subtype="3",
                candidates=[f"The code is {1000 + k}." for k in range(3)],
                candidates_score=[3.0, 2.0, 1.0],
            )
        else:
            d.update(tasktype="PairWise", subtype="same", chosen="The code is 4812.", rejected="The code is 1234.")
        items.append(BenchItem.from_dict(d))
    return items


def naive_loop(judge, pairs, max_new_tokens: int) -> tuple[list[list[int]], int]:
    """One `model.generate` call per (item, order): no batching."""
    import torch

    outs, tokens = [], 0
    for item, order in pairs:
        ids = judge.fit(item, order).input_ids
        with torch.inference_mode():
            gen = judge.model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                do_sample=False,
                max_new_tokens=max_new_tokens,
                eos_token_id=sorted(judge.eos_ids),
                pad_token_id=judge.pad_id,
            )
        new = gen[0, len(ids) :].tolist()
        cut = next((k for k, t in enumerate(new) if t in judge.eos_ids), len(new))
        outs.append(new[:cut])
        tokens += len(ids) + cut
    return outs, tokens


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(REPO / "config" / "default.yaml"))
    ap.add_argument(
        "--model", default=None, help="checkpoint folder (default: results/inputs/base_model or a random one)"
    )
    ap.add_argument("--items", type=int, default=48, help="items; pairs are judged in 2 orders, BoN in 2-3")
    ap.add_argument("--naive-items", type=int, default=None, help="items for the naive loop (default: all)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: bench.threads)")
    ap.add_argument("--out-dir", default=str(REPO / "results" / "benchmarks"))
    return ap.parse_args(argv)


def load_judge(args, cfg: dict, batch_size: int, max_new: int):
    """(judge, where its model came from, the temporary folder of a model built here or None)."""
    from longrm.judges.transformers_backend import TransformersJudge

    b = cfg["bench"]
    tmp = None
    model_path = Path(args.model) if args.model else REPO / cfg["results_dir"] / "inputs" / "base_model"
    source = "given" if args.model else "results/inputs/base_model"
    if not model_path.is_dir():
        tmp = tempfile.TemporaryDirectory()
        model_path = build_model(Path(tmp.name) / "model", cfg)
        source = "random weights, default architecture (built by this script)"
    judge = TransformersJudge(
        model_path,
        name="throughput",
        max_model_len=b["max_model_len"],
        max_new_tokens=max_new,
        batch_size=batch_size,
        max_batch_tokens=b.get("max_batch_tokens", 32768),
        dtype=b.get("dtype", "auto"),
        threads=args.threads or b.get("threads") or None,
    )
    return judge, source, tmp


def time_batched(judge, pairs) -> tuple[list, float, int]:
    """(records, seconds, prompt + output tokens) of the batched backend on all pairs."""
    start = time.perf_counter()
    recs = judge.judge([p[0] for p in pairs], [p[1] for p in pairs])
    seconds = time.perf_counter() - start
    return recs, seconds, sum(r.prompt_tokens + r.output_tokens for r in recs)


def time_naive(judge, pairs, max_new: int) -> tuple[list[list[int]], float, int]:
    """(outputs, seconds, tokens) of the naive loop."""
    start = time.perf_counter()
    out, tokens = naive_loop(judge, pairs, max_new)
    return out, time.perf_counter() - start, tokens


def count_identical(judge, pairs, naive_out: list[list[int]], batch_size: int, max_new: int) -> int:
    """How many of the naive loop's outputs batched greedy decoding reproduces token for token."""
    from longrm.judges.transformers_backend import greedy_generate, plan_batches

    fitted = [judge.fit(it, o).input_ids for it, o in pairs]
    batched_out = [None] * len(fitted)
    for batch in plan_batches([len(f) for f in fitted], batch_size, judge.max_batch_tokens):
        for i, new in zip(
            batch, greedy_generate(judge.model, [fitted[i] for i in batch], max_new, judge.eos_ids, judge.pad_id)
        ):
            batched_out[i] = new
    return sum(a == b for a, b in zip(batched_out, naive_out))


def result_of(judge, source, items, pairs, naive_pairs, recs, batched, naive, identical, batch_size, max_new) -> dict:
    """The benchmark's JSON. `batched` and `naive`: (seconds, tokens)."""
    import torch

    (batched_s, batched_tokens), (naive_s, naive_tokens) = batched, naive
    return {
        "model": source,
        "params": sum(p.numel() for p in judge.model.parameters()),
        "items": len(items),
        "judgments": len(pairs),
        "naive_judgments": len(naive_pairs),
        "max_model_len": judge.max_model_len,
        "max_new_tokens": max_new,
        "batch_size": batch_size,
        "prompt_tokens_mean": round(sum(r.prompt_tokens for r in recs) / len(recs), 1),
        "output_tokens_mean": round(sum(r.output_tokens for r in recs) / len(recs), 2),
        "batched": {
            "seconds": round(batched_s, 3),
            "judgments_per_s": round(len(pairs) / batched_s, 2),
            "tokens_per_s": round(batched_tokens / batched_s, 1),
        },
        "naive_generate": {
            "seconds": round(naive_s, 3),
            "judgments_per_s": round(len(naive_pairs) / naive_s, 2),
            "tokens_per_s": round(naive_tokens / naive_s, 1),
        },
        "speedup_judgments_per_s": round((len(pairs) / batched_s) / (len(naive_pairs) / naive_s), 2),
        "identical_outputs": f"{identical}/{len(naive_pairs)}",
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "note": "shared 2-core machine: timings are noisy",
    }


def markdown(result: dict) -> str:
    r = result
    md = [
        "# bench backend throughput (transformers, CPU)",
        "",
        f"Model: {r['model']} ({r['params']:,} parameters); {r['judgments']} judgments of "
        f"{r['items']} items, mean prompt {r['prompt_tokens_mean']} tokens, "
        f"max_new_tokens {r['max_new_tokens']}, batch {r['batch_size']}, {r['threads']} threads.",
        "",
        "| backend | judgments | seconds | judgments/s | tokens/s |",
        "|---|---|---|---|---|",
        f"| batched greedy + KV cache | {r['judgments']} | {r['batched']['seconds']} | "
        f"{r['batched']['judgments_per_s']} | {r['batched']['tokens_per_s']} |",
        f"| naive `generate`, one at a time | {r['naive_judgments']} | {r['naive_generate']['seconds']} | "
        f"{r['naive_generate']['judgments_per_s']} | {r['naive_generate']['tokens_per_s']} |",
        "",
        f"Speed-up (judgments/s): {r['speedup_judgments_per_s']}x. Outputs identical token for token: "
        f"{r['identical_outputs']}. {r['note']} (1-minute load average at the end: "
        f"{r['load_avg_1m_at_end']} on {r['cpu_count']} cores).",
        "",
    ]
    return "\n".join(md)


def main(argv=None) -> int:
    # 1. settings, judge, items and the (item, order) pairs to judge
    args = parse_args(argv)

    from longrm.bench.run import plan
    from longrm.config import load_config
    from longrm.data.io import atomic_write, write_json

    cfg = load_config(args.config)
    b = cfg["bench"]
    batch_size = args.batch_size or b["batch_size"]
    max_new = args.max_new_tokens or b["max_new_tokens"]
    judge, source, tmp = load_judge(args, cfg, batch_size, max_new)
    items = make_items(args.items, judge.tokenizer)
    pairs = [(it, o) for it, o, _ in plan(items, b.get("bon_orders", 2), b.get("official_seed", 42))]
    naive_pairs = (
        pairs
        if args.naive_items is None
        else [(it, o) for it, o in pairs if int(it.id.split("-")[1]) < args.naive_items]
    )
    # 2. warm-up (first-call allocations, thread pools), then both backends timed
    judge.judge([pairs[0][0]], [pairs[0][1]])
    recs, batched_s, batched_tokens = time_batched(judge, pairs)
    naive_out, naive_s, naive_tokens = time_naive(judge, naive_pairs, max_new)
    # 3. the same outputs? (batched greedy vs generate, token for token)
    identical = count_identical(judge, naive_pairs, naive_out, batch_size, max_new)
    # 4. written out
    result = result_of(
        judge,
        source,
        items,
        pairs,
        naive_pairs,
        recs,
        (batched_s, batched_tokens),
        (naive_s, naive_tokens),
        identical,
        batch_size,
        max_new,
    )
    out = Path(args.out_dir)
    write_json(out / "bench_throughput.json", result)
    with atomic_write(out / "bench_throughput.md") as f:
        f.write(markdown(result))
    print(json.dumps(result, indent=2))
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
