"""Does a grown base's verdict reach the judge's prompt? (issue 24, stage II of `make base`)

Two measures of one model (a shipped folder, or a stage II checkpoint with --layers):
1. Held-out verification rows of its build config, first claim, by fact kind, in four layouts: as trained; the
   claim alone after the context; the claim wrapped as the pointwise judge's response (instructions,
   "[Response]"); and, for the attr kind, with the judge's "Question: What is the ATTR of E?" line too.
   AUC of the " true" - " false" margin, true claims vs false ones (chance 0.5).
2. Zero-shot pairwise accuracy of the verdict judge (`kind: verdict`, the study's own code) on a built study's
   short set, by task and difficulty, with the item's own context and under the study's swap control (another
   item's context, `longrm.bench.control`); chance 0.5.

    python benchmarks/verify_layouts.py --model /tmp/s2C/checkpoints/step-2500 --layers 4 \\
        --config /tmp/s2C.yaml --name C-2500

Results merge into --out (one entry per --name); the markdown beside it is redrawn from all of them.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def hf_folder(model: Path, layers: int | None, tmp: Path) -> Path:
    """A stage II checkpoint (weights only) as a loadable folder: the shipped base's config with `layers`."""
    if not layers:
        return model
    cfg = json.loads((REPO / "models/base/config.json").read_text())
    cfg["num_hidden_layers"] = layers
    if cfg.get("layer_types"):
        cfg["layer_types"] = [cfg["layer_types"][0]] * layers
    (tmp / "config.json").write_text(json.dumps(cfg))
    shutil.copy(model / "model.safetensors", tmp / "model.safetensors")
    for f in (REPO / "models/base").iterdir():
        if f.name.startswith("tokenizer") or f.name == "generation_config.json":
            shutil.copy(f, tmp / f.name)
    return tmp


def auc(scores: list[tuple[float, bool]]) -> float:
    pos = [s for s, y in scores if y]
    neg = [s for s, y in scores if not y]
    return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / max(len(pos) * len(neg), 1)


def row_layouts(model, cfg: dict, tok, n: int) -> dict:
    from longrm.base import text
    from longrm.base.rows import Rows, verify_row
    from longrm.base.train import verdict_ids
    from longrm.judges.prompts import POINT_INSTRUCTIONS
    from longrm.seeding import derive_seed

    train_texts, held = text.split_documents(text.read_documents(cfg["corpus"]))
    rows = Rows(cfg, tok, train_texts, held)
    false_id, true_id = verdict_ids(rows)

    def ids_of(s: str) -> list[int]:
        return tok(s, add_special_tokens=False)["input_ids"]

    newline = ids_of("\n")[0]
    prefix = ids_of(POINT_INSTRUCTIONS.format(analysis="") + "[Context and question]\n")
    scores: dict[str, list] = {}
    for kind in rows.kinds:
        for j in range(n):
            rng = random.Random(derive_seed(cfg["seed"], "verify_layouts", kind, j))
            ids, kinds, types = verify_row(
                rng, rows.facts, rows.held_stream, 256, cfg["train"]["facts"], cfg["grow"], kind
            )
            first = kinds.index(1)  # the first verdict
            end = max(i for i in range(first) if ids[i] == newline)  # the newline after the context
            context, claim = ids[:end], ids[end + 1 : first]
            layouts = {
                "as trained": ids[:first],
                "claim alone": context + [newline] + claim,
                "judge prompt": prefix + context + ids_of("\n\n[Response]\n") + claim,
            }
            if kind == "attr":  # " The ATTR of E is V": the judge's question about it
                attr, entity = tok.decode([claim[1]]).strip(), tok.decode([claim[3]]).strip()
                question = ids_of(f"\n\nQuestion: What is the {attr} of {entity}?\n\n[Response]\n")
                layouts["judge prompt + question"] = prefix + context + question + claim
            for name, seq in layouts.items():
                with torch.inference_mode():
                    logits = model(input_ids=torch.tensor([seq]), logits_to_keep=1).logits[0, -1]
                scores.setdefault(f"{kind} / {name}", []).append(
                    (float(logits[true_id] - logits[false_id]), types[0] == "true")
                )
    return {k: round(auc(v), 3) for k, v in scores.items()}


def pairwise_hits(judge, items) -> dict[str, list[bool]]:
    pairs = [it for it in items if it.tasktype == "PairWise"]
    hits: dict[str, list[bool]] = {}
    for it, judgment in zip(pairs, judge.judge(pairs, [[0, 1]] * len(pairs))):
        chosen, rejected = judgment.scores
        for key in ("all", it.task, f"difficulty {it.extra.get('difficulty')}"):
            hits.setdefault(key, []).append(chosen > rejected)
    return hits


def short_set(path: Path, short: Path, seed: int = 1234) -> dict:
    """{key: [accuracy with the item's own context, n, accuracy under the study's swap control, n]}."""
    from longrm.bench.control import control_items
    from longrm.data.records import BenchItem
    from longrm.judges.verdict import VerdictJudge

    own = [BenchItem.from_dict(json.loads(line)) for line in short.open()]
    swap = [BenchItem.from_dict(r) for r in control_items(short, "swap", seed)[0]]
    # one judge a set: a judge caches its scores by item id, and a swapped item keeps its id
    own, swapped = (pairwise_hits(VerdictJudge(path, use_chat_template=False), s) for s in (own, swap))

    def share(v: list[bool]) -> list:
        return [round(sum(v) / len(v), 3), len(v)] if v else [None, 0]

    return {k: share(v) + share(swapped.get(k, [])) for k, v in sorted(own.items())}


def redraw(results: dict, md: Path) -> None:
    lines = [
        "# A grown base's verdict in the judge's prompt (`benchmarks/verify_layouts.py`)",
        "",
        "AUC of the verdict margin on held-out verification rows (true vs false claims), by kind and layout;",
        "zero-shot pairwise accuracy of `kind: verdict` on the study's short set (n in brackets). Chance 0.5.",
        "",
    ]
    for name, r in results.items():
        lines += [
            f"## {name}",
            "",
            f"model: `{r['model']}`, config: `{r['config']}`",
            "",
            "| rows: kind / layout | AUC |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v} |" for k, v in r["rows"].items()]
        lines += ["", "| short set | pairwise (n) | swap control (n) |", "|---|---|---|"]
        lines += [
            f"| {k} | {v[0]} ({v[1]}) | " + (f"{v[2]} ({v[3]})" if len(v) > 2 else "not run") + " |"
            for k, v in r["short"].items()
        ]
        lines.append("")
    md.write_text("\n".join(lines))


def main() -> int:
    sys.path.insert(0, str(REPO / "src"))
    from longrm.base.config import load_base_config
    from longrm.data.io import write_json
    from longrm.modeling import load_causal_lm, load_tokenizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--layers", type=int, default=0, help="> 0: --model is a stage II checkpoint of this many layers")
    ap.add_argument("--config", required=True, help="the build's base config (its rows)")
    ap.add_argument("--short", type=Path, default=REPO / "results/short/bench.jsonl")
    ap.add_argument("--rows", type=int, default=48, help="held-out rows a kind")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/verify_layouts.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = hf_folder(a.model, a.layers, Path(tmp))
        tok = load_tokenizer(path)
        model = load_causal_lm(path).eval()
        result = {
            "model": str(a.model),
            "config": a.config,
            "rows": row_layouts(model, load_base_config(a.config), tok, a.rows),
            "short": short_set(path, a.short),
        }
    results = json.loads(a.out.read_text()) if a.out.is_file() else {}
    results[a.name] = result
    write_json(a.out, results)
    redraw(results, a.out.with_suffix(".md"))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
