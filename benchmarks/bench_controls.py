"""What the controls cost and show: each model judged on the held-out set, the swap control and the
no-context control, with wall time per run; writes results/benchmarks/controls.json.

    python benchmarks/bench_controls.py --config config/default.yaml --models sft logo sft-pointwise ...

Needs the held-out split and the model folders (results/splits/bench.jsonl, bench.models[].path); builds
the control files with `longrm bench control` when absent. Runs the real `longrm` commands one after
another (wall times depend on the machine's load: note it with the numbers)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from longrm.data.io import write_json


def longrm(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "longrm.cli", *args], check=True)
    return round(time.perf_counter() - start, 2)


def pairwise(metrics_path: Path) -> dict:
    c = json.loads(metrics_path.read_text())["protocols"]["ours"]["PairWise"]
    return {"acc": c["value"], "lo": c["ci_low"], "hi": c["ci_high"], "n": c["n"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="config/default.yaml")
    ap.add_argument("--results", default="results")
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--sets", nargs="+", default=["heldout", "swap", "nocontext"])
    ap.add_argument("--out", default="results/benchmarks/controls.json")
    a = ap.parse_args()
    r = Path(a.results)
    files = {
        "heldout": r / "splits" / "bench.jsonl",
        "swap": r / "controls" / "swap.jsonl",
        "nocontext": r / "controls" / "nocontext.jsonl",
    }
    for name, kind in (("swap", "swap"), ("nocontext", "none")):
        if name in a.sets and not files[name].exists():
            longrm(
                "bench",
                "control",
                "--config",
                a.config,
                "--kind",
                kind,
                "--bench",
                str(files["heldout"]),
                "--out",
                str(files[name]),
            )
    out = {"models": {}, "note": "wall seconds of `longrm bench run` (threads per bench.threads), one job at a time"}
    for model in a.models:
        row = out["models"].setdefault(model, {})
        for s in a.sets:
            d = r / "bench" / s / model
            run_s = longrm(
                "bench",
                "run",
                "--config",
                a.config,
                "--model",
                model,
                "--bench",
                str(files[s]),
                "--out",
                str(d / "records.jsonl"),
            )
            longrm(
                "bench",
                "score",
                "--config",
                a.config,
                "--records",
                str(d / "records.jsonl"),
                "--bench",
                str(files[s]),
                "--out",
                str(d / "metrics.json"),
                "--item-scores",
                str(d / "item_scores.jsonl"),
            )
            row[s] = {**pairwise(d / "metrics.json"), "run_s": run_s}
            print(model, s, row[s], file=sys.stderr, flush=True)
            write_json(a.out, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
