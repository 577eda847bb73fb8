"""Learnability of the base judge (issue 11): the short judge's held-out accuracy against its training steps.

The study's own commands, in-process, on a built study's files: `longrm train short` from `--init` (the
pre-trained base, or any checkpoint) on results/short/train.jsonl for each step count of `--steps`
(separate runs: the learning-rate schedule is the one the pipeline would use at that budget), then
`longrm bench run` + `bench score` of the pointwise judge on the held-out short items
(results/short/bench.jsonl: raw evidence, no distractors). Reported per run: pairwise accuracy with its
95% interval, split by easy negatives (the wrong fact is absent from the context) and hard ones (present,
bound to another entity), and the judge's train loss. Chance is 0.5; the `random` baseline of the study
and the response-only probe (benchmarks/learnability_context.md) are the controls.

    python benchmarks/learnability_short_judge.py --results results --steps 100,400 --lr 1e-3 --name pre-lr1e-3

Each setting is merged into --out under its --name; the markdown beside it is redrawn from all runs.
Scratch files (models, records) go to --work (default /tmp/learnability_short_judge).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from learnability_context import merge_run  # noqa: E402


def scratch_config(
    base_config: Path, work: Path, steps: int, lr: float, threads: int, lora_r: int = 0, body_lr_scale: float = 1.0
) -> Path:
    import yaml

    cfg = yaml.safe_load(base_config.read_text(encoding="utf-8"))
    cfg["results_dir"] = str(work)
    cfg["train"]["short"].update(max_steps=steps, lr=lr, lora_r=lora_r, body_lr_scale=body_lr_scale)
    cfg["train"]["common"]["checkpoint_every"] = steps  # one checkpoint: this is not a resumable run
    cfg["bench"]["threads"] = threads
    path = work / f"config-{steps}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def cell(metrics: dict, *keys) -> dict:
    c = metrics["protocols"]["ours"]
    for k in keys:
        c = c.get(k) or {}
    return {k: c.get(k) for k in ("value", "ci_low", "ci_high", "n")}


def one_run(args, steps: int) -> dict:
    from longrm.cli import main as longrm

    work = Path(args.work) / args.name / f"steps-{steps}"
    work.mkdir(parents=True, exist_ok=True)
    cfg = str(scratch_config(Path(args.config), work, steps, args.lr, args.threads, args.lora_r, args.body_lr_scale))
    results = Path(args.results)
    model = work / "models" / "short"
    start = time.monotonic()
    if not model.exists():
        rc = longrm(
            ["train", "short", "--config", cfg, "--data", str(results / "short" / "train.jsonl"), "--init", args.init]
            + ["--out", str(model), "--checkpoints", str(work / "checkpoints")]
        )
        assert rc == 0, f"train short exited {rc}"
    train_s = time.monotonic() - start
    records, metrics_path = work / "bench" / "records.jsonl", work / "bench" / "metrics.json"
    bench = str(results / "short" / "bench.jsonl")
    for argv in (
        ["bench", "run", "--config", cfg, "--model", "base-pointwise", "--model-path", str(model)]
        + ["--bench", bench, "--out", str(records)],
        ["bench", "score", "--config", cfg, "--records", str(records), "--bench", bench, "--out", str(metrics_path)],
    ):
        assert longrm(argv) == 0, f"longrm {' '.join(argv[:2])} failed"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    summary = json.loads((model / "train_summary.json").read_text(encoding="utf-8"))
    return {
        "steps": steps,
        "train_s": round(train_s, 1),
        "final_loss": summary.get("final_loss"),
        "pairwise": cell(metrics, "PairWise"),
        "easy": cell(metrics, "difficulty", "easy"),
        "hard": cell(metrics, "difficulty", "hard"),
    }


def fmt_cell(c: dict) -> str:
    if c.get("value") is None:
        return "n/a"
    return f"{c['value']:.3f} [{c['ci_low']:.3f}, {c['ci_high']:.3f}] (n={c['n']})"


def summary_md(runs: dict) -> str:
    lines = [
        "# Learnability of the short judge (tiny base): held-out short accuracy vs training steps",
        "",
        "Pointwise judge ([Score: k], expected score), held-out raw short pairs (no distractors); chance 0.5.",
        "Easy: the rejected response's fact is absent from the context; hard: present, bound to another entity.",
        "",
        "| setting | init | lr | steps | train s | final loss | pairwise | easy | hard |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(runs):
        r = runs[name]
        for p in r["points"]:
            lines.append(
                f"| {name} | {r['init']} | {r['lr']} | {p['steps']} | {p['train_s']} | {p['final_loss']} | "
                f"{fmt_cell(p['pairwise'])} | {fmt_cell(p['easy'])} | {fmt_cell(p['hard'])} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "config" / "default.yaml"))
    ap.add_argument("--results", default="results", help="a built study's results folder")
    ap.add_argument("--init", default="results/inputs/base_model")
    ap.add_argument("--steps", default="100,400", help="comma-separated step counts, one training run each")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--body-lr-scale", type=float, default=1.0, help="lr of all but the embeddings, x --lr")
    ap.add_argument("--lora-r", type=int, default=0, help="> 0: LoRA of this rank (the base's weights frozen)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--work", default="/tmp/learnability_short_judge")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "learnability_short_judge.json"))
    args = ap.parse_args(argv)
    points = []
    for steps in (int(s) for s in args.steps.split(",")):
        points.append(one_run(args, steps))
        print(json.dumps(points[-1]), file=sys.stderr, flush=True)
    merge_run(Path(args.out), args.name, {"init": args.init, "lr": args.lr, "points": points}, summary_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
