"""The shipped base's targets (issue 24), measured on held-out rows in the study's fact form.

Rows: held-out corpus prose with N facts of one kind and attribute slipped in ("The tag of heapq is
stream." ...: every other fact's value is in the context, the hard case), then restatements of facts
drawn with replacement; the model's top-1 at each restated value is scored:
- binding (first restatement of a row, nothing restated before it) and binding over all restatements;
- presence: the top-1 is one of the row's stated values (bound to the entity or not);
- its control, the presence shortcut without binding: 1/N (a stated value at random).
At the pre-training length (targets: binding >= 0.90 the goal, presence >= 0.95 the floor) and at 4x and
8x (no target: the toy's context boundary). 95% Wilson intervals.

    python benchmarks/base_targets.py [--base models/base] [--config config/base.yaml] [--rows 256]
Writes benchmarks/results/base_targets.json and .md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def wilson(hits: int, n: int, z: float = 1.96) -> list[float]:
    if n == 0:
        return [float("nan"), float("nan")]
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def score(model, ids, targets, first, values) -> dict:
    from longrm.base.train import recall_scores

    return {
        k: {"value": round(h / n, 4), "ci95": wilson(h, n), "n": n}
        for k, (h, n) in recall_scores(model, ids, targets, first, values).items()
    }


def measure(base: Path, config: Path, rows: int) -> dict:
    from longrm.base import text
    from longrm.base.config import load_base_config
    from longrm.base.rows import Rows
    from longrm.modeling import load_causal_lm, load_tokenizer

    cfg = load_base_config(config)
    cfg["train"]["eval_rows"] = rows
    tok = load_tokenizer(base)
    model = load_causal_lm(base)
    model.eval()
    train_texts, held = text.split_documents(text.read_documents(cfg["corpus"]))
    r = Rows(cfg, tok, train_texts, held)
    L = cfg["train"]["seq_len"]
    out = {
        "base": str(base),
        "rows": rows,
        "facts": cfg["train"]["facts"],
        "seq_len": L,
        "presence_shortcut_control": round(1 / cfg["train"]["facts"], 4),
        "by_kind": {},
    }
    for kind in r.kinds:
        for k in cfg["train"]["eval_lengths"]:
            print(f"base_targets: {kind} at {k}x", file=sys.stderr)
            out["by_kind"].setdefault(kind, {})[f"{k}x"] = score(model, *r.heldout(L * k, kind, rows))
    return out


def markdown(res: dict) -> str:
    lines = [
        f"# The shipped base's targets ({res['base']})",
        "",
        f"Held-out rows in the study's fact form, {res['facts']} facts of one kind and attribute a row (the "
        f"hard case), {res['rows']} rows per cell; pre-training length {res['seq_len']} tokens. Control: the "
        f"presence shortcut (a stated value at random) scores {res['presence_shortcut_control']}. 95% Wilson intervals.",
        "",
        "| kind | length | binding (first) | binding (all) | presence |",
        "|---|---|---|---|---|",
    ]
    for kind, by_len in res["by_kind"].items():
        for length, m in by_len.items():
            cells = [
                f"{m[k]['value']:.3f} [{m[k]['ci95'][0]:.3f}, {m[k]['ci95'][1]:.3f}]"
                for k in ("binding_first", "binding", "presence")
            ]
            lines.append(f"| {kind} | {length} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=str(REPO / "models" / "base"))
    ap.add_argument("--config", default=str(REPO / "config" / "base.yaml"))
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "base_targets.json"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    res = measure(Path(a.base), Path(a.config), a.rows)
    out = Path(a.out)
    out.write_text(json.dumps(res, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
