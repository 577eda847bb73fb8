"""Judgments per second of the two bench protocols on the CPU, same model, same items:
  ours      every position-balanced order (+ the official one), our prompt, last-verdict reading
  official  the released evaluator's single order, its prompts and first-match reading

    python benchmarks/bench_protocols.py [--model DIR] [--bench FILE_OR_FOLDER] [--items N] [--threads 1]

Defaults: the model is results/inputs/base_model when it exists (the embedded default's pre-trained base),
else a random tiny model built here; the benchmark is tests/fixtures/released (Long-RewardBench as
released, 12 items). Writes results/benchmarks/bench_protocols.json. Timings on a shared 2-core machine
are noisy; each protocol is run `--repeats` times and the best is kept.
"""

from __future__ import annotations

import argparse
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


def tiny_model(out: Path) -> Path:
    from longrm.inputs.tiny import build_tiny_checkpoint

    texts = [f"Context: the code of door {k} is {1000 + 37 * k}. [[A]] [[B>A>C]] Question: code?" for k in range(300)]
    return build_tiny_checkpoint(
        out,
        texts,
        vocab_size=512,
        seed=0,
        hidden_size=64,
        num_layers=2,
        num_heads=2,
        num_kv_heads=1,
        intermediate_size=128,
        max_position_embeddings=8192,
    )


def run_protocol(protocol: str, model: Path, items, args, work: Path) -> dict:
    from longrm.bench.run import run_bench
    from longrm.judges.official import OfficialJudge
    from longrm.judges.transformers_backend import TransformersJudge

    best = None
    for rep in range(args.repeats):
        backend = TransformersJudge(
            model,
            name="bench",
            max_model_len=args.max_model_len,
            max_new_tokens=args.max_new_tokens,
            batch_size=16,
            threads=args.threads,
        )
        judge = OfficialJudge(backend) if protocol == "official" else backend
        out = work / f"{protocol}-{rep}.jsonl"
        start = time.perf_counter()
        stats = run_bench(judge, "bench", items, out, chunk=16, progress=False, protocol=protocol)
        seconds = time.perf_counter() - start
        backend.close()
        row = {
            "protocol": protocol,
            "items": stats["items"],
            "judgments": stats["records"],
            "seconds": round(seconds, 3),
            "judgments_per_s": round(stats["records"] / seconds, 2),
            "items_per_s": round(stats["items"] / seconds, 2),
        }
        if best is None or row["seconds"] < best["seconds"]:
            best = row
    return best


def main() -> int:
    from longrm.bench.run import load_items
    from longrm.data.io import write_json
    from longrm.modeling import set_threads

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--bench", default=str(REPO / "tests" / "fixtures" / "released"))
    ap.add_argument("--items", type=int, default=0, help="first N items only (0 = all)")
    ap.add_argument("--max-model-len", dest="max_model_len", type=int, default=4096)
    ap.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "bench_protocols.json"))
    args = ap.parse_args()
    set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        default_model = REPO / "results" / "inputs" / "base_model"
        model = Path(args.model) if args.model else default_model if default_model.is_dir() else tiny_model(work / "m")
        items = load_items(args.bench)
        if args.items:
            items = items[: args.items]
        rows = [run_protocol(p, model, items, args, work) for p in ("ours", "official")]
    result = {
        "model": str(model),
        "bench": args.bench,
        "n_items": len(items),
        "threads": args.threads,
        "max_new_tokens": args.max_new_tokens,
        "protocols": rows,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
    }
    write_json(args.out, result)
    for r in rows:
        print(
            f"{r['protocol']:>8}: {r['judgments']} judgments of {r['items']} items in {r['seconds']} s = "
            f"{r['judgments_per_s']} judgments/s ({r['items_per_s']} items/s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
