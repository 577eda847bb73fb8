"""Do the readers stream? Peak RSS while reading Long-RewardBench JSONL files of 30, 100 and 300 MB
(about the size of the released LongQA file), generated in a temp dir; writes
results/benchmarks/streaming.{json,md}.

Each (reader, size) runs in a fresh child process, which reports its peak RSS (VmHWM) after the imports
and after the read: a streaming reader's growth stays flat as the file grows; one that holds the file grows
with it. Readers: `longrm.data.official.iter_bench` (the streaming reader), `longrm.data.validate.summarize`
(what `longrm data validate` runs), `longrm.bench.run.index_bench` (pass 1 of `longrm bench run`),
`longrm.bench.run.run_bench` with the seeded 'random' baseline (all of `bench run` but the model: items
re-read one batch at a time, records written to a temp dir), `longrm.bench.score.load_score_items` (what
`longrm bench score` loads: ids, labels and n, no texts) and `longrm.bench.run.load_items` (every item in
memory, as `bench run` loaded before it streamed).

    python benchmarks/bench_streaming.py [--out-dir results/benchmarks] [--sizes-mb 30 100 300]
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

from longrm.data.io import dumps, write_json

CHILD = r"""
import json, sys, tempfile, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
reader, path = sys.argv[1], sys.argv[2]
from longrm.data.official import iter_bench
from longrm.data.validate import summarize
from longrm.bench.run import index_bench, load_items, run_bench
from longrm.bench.score import load_score_items
from longrm.judges.baselines import BaselineJudge
before = hwm()
t0 = time.perf_counter()
if reader == "iter_bench":
    n = sum(1 for _ in iter_bench(path))
elif reader == "data validate (summarize)":
    n = sum(g["count"] for g in summarize(path).values())
elif reader == "bench run pass 1 (index_bench)":
    n = len(index_bench(path))
elif reader == "bench run --model random (run_bench)":
    with tempfile.TemporaryDirectory() as tmp:
        n = run_bench(BaselineJudge("random", seed=42), "random", index_bench(path), tmp + "/records.jsonl",
                      progress=False)["items"]
elif reader == "bench score (load_score_items)":
    n = len(load_score_items(path))
else:
    n = len(load_items(path))
print(json.dumps({"items": n, "rss_before_mb": before, "rss_peak_mb": hwm(), "seconds": time.perf_counter() - t0}))
"""

READERS = (
    "iter_bench",
    "data validate (summarize)",
    "bench run pass 1 (index_bench)",
    "bench run --model random (run_bench)",
    "bench score (load_score_items)",
    "every item in memory (load_items)",
)


def make_file(path: Path, mb: int) -> int:
    """Official-schema lines with ~64 KB prompts until the file reaches `mb` MB; returns the line count."""
    filler = " ".join(f"Fact {i}: the door {i} has code {1000 + i}." for i in range(2000))  # ~64 KB
    n, size = 0, 0
    with path.open("w", encoding="utf-8") as f:
        while size < mb * 1024 * 1024:
            obj = {
                "id": f"lqa-{n:06d}",
                "task": "LongQA",
                "tasktype": "PairWise",
                "subtype": "same" if n % 2 else "diff",
                "prompt_template": [{"role": "user", "content": f"{filler}\nQuestion {n}: which code?"}],
                "question": f"Question {n}",
                "source": "longqa",
                "subtask": "",
                "chosen": f"code {n}",
                "rejected": f"code {n + 1}",
                "chosen_model": "m1",
                "rejected_model": "m2",
                "ctx_length_for_length": "16k",
                "ctx_length_for_words": "16k",
                "length": 16000,
                "words_count": 12000,
                "candidates": None,
                "candidates_model": None,
                "candidates_score": None,
            }
            line = dumps(obj) + "\n"
            f.write(line)
            size += len(line.encode())
            n += 1
    return n


def measure(reader: str, path: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, reader, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default="results/benchmarks")
    ap.add_argument("--sizes-mb", type=int, nargs="+", default=[30, 100, 300])
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mb in args.sizes_mb:
            path = Path(tmp) / f"LongQA_{mb}MB.jsonl"
            t0 = time.perf_counter()
            lines = make_file(path, mb)
            print(f"{path.name}: {lines} lines in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            for reader in READERS:
                m = measure(reader, path)
                rows.append(
                    {
                        "reader": reader,
                        "file_mb": round(path.stat().st_size / 2**20, 1),
                        "lines": lines,
                        "items": m["items"],
                        "rss_after_imports_mb": round(m["rss_before_mb"], 1),
                        "rss_peak_mb": round(m["rss_peak_mb"], 1),
                        "growth_mb": round(m["rss_peak_mb"] - m["rss_before_mb"], 1),
                        "seconds": round(m["seconds"], 2),
                    }
                )
                print(rows[-1], file=sys.stderr)
            path.unlink()
    verdict = {}
    for reader in READERS:
        mine = sorted((r for r in rows if r["reader"] == reader), key=lambda r: r["file_mb"])
        small, big = mine[0], mine[-1]
        ratio = big["file_mb"] / small["file_mb"]
        grew = big["growth_mb"] - small["growth_mb"]
        # streaming: growth from smallest to largest file is a small fraction of the extra bytes read
        verdict[reader] = {
            "streams": grew < 0.1 * (big["file_mb"] - small["file_mb"]),
            "extra_growth_mb": round(grew, 1),
            "file_ratio": round(ratio, 1),
        }
    out = Path(args.out_dir)
    write_json(
        out / "streaming.json",
        {
            "rows": rows,
            "verdict": verdict,
            "note": "peak RSS (VmHWM) of a fresh process per row; shared 2-core machine, timings noisy",
        },
    )
    md = [
        "# Streaming readers: peak RSS vs benchmark file size",
        "",
        "Generated by `python benchmarks/bench_streaming.py`. Each row: a fresh process reading one file; "
        "growth = peak RSS minus RSS after imports. Timings are noisy (shared 2-core machine).",
        "",
        "| reader | file MB | items | RSS after imports MB | peak RSS MB | growth MB | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    md += [
        f"| {r['reader']} | {r['file_mb']} | {r['items']} | {r['rss_after_imports_mb']} | {r['rss_peak_mb']} | "
        f"{r['growth_mb']} | {r['seconds']} |"
        for r in rows
    ]
    md += [
        "",
        "| reader | streams (growth < 10% of the extra MB read) | extra growth MB, smallest -> largest file |",
        "|---|---|---|",
    ]
    md += [f"| {k} | {'yes' if v['streams'] else 'NO'} | {v['extra_growth_mb']} |" for k, v in verdict.items()]
    (out / "streaming.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
