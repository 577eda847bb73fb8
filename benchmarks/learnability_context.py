"""Learnability check (issue 11): can the tiny judge learn to judge TELL-FREE pairs from the context?

Pairs: the context (distractor prose, `facts` statements "The code word of E is V." inserted at random
document boundaries) is followed by "Question: What is the code word of E?". Both responses use the same
template "The code word of E is X."; chosen X = the value the context gives E; rejected X = the value it
gives ANOTHER entity (hard: needs binding) or a value absent from the context (easy). Entities and values
are single-token words, right and wrong values drawn from the same pool, so no response-only cue exists.

The judge sees the study's own prompts (longrm.judges.prompts) and learns the verdict tokens
([[A]]/[[B]] pairwise, or [Score: 9]/[Score: 2] pointwise; loss on the target only). Evaluation is teacher
forced: pairwise = P(A) vs P(B) at the verdict letter, pointwise = expected score at the digit; ties
count half. Each eval cell (context length x easy/hard) has `--eval-pairs` pairs, each shown once, with
the chosen response at A for half of them. A run is a list of phases (seq length, steps), e.g.
"256:300" or a curriculum "256:200,1024:100"; curves are written at every `--eval-every` steps.

    python benchmarks/learnability_context.py --tokenizer results/inputs/tokenizer \
        --distractors results/inputs/distractors.jsonl --init results/inputs/base_model \
        --phases 256:300 --eval-lengths 256,1024 --name tiny-pre --out results/benchmarks/learnability_context.json

Each run is merged into the JSON under its --name (a rerun replaces it) and the markdown summary beside it
is redrawn from all runs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ATTR = "code word"


def single_token_words(tok, words: list[str]) -> list[str]:
    return [w for w in words if len(tok(" " + w, add_special_tokens=False)["input_ids"]) == 1]


def word_pools(tok, seed: int) -> tuple[list[str], list[str]]:
    """(entities, values): disjoint single-token word lists from the study's answer vocabulary."""
    from longrm.inputs.sources import answer_words

    words = single_token_words(tok, answer_words(seed, skip=50, count=1200))
    rng = random.Random(seed)
    rng.shuffle(words)
    half = len(words) // 2
    return words[:half], words[half:]


def distractor_stream(tok, path: Path) -> list[list[int]]:
    docs = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [tok(d, add_special_tokens=False)["input_ids"] for d in docs]


def make_context(rng, tok, docs, facts: list[str], length: int) -> str:
    """Distractor documents (cut to about `length` tokens) with each fact inserted between documents."""
    fact_ids = [tok(" " + f, add_special_tokens=False)["input_ids"] for f in facts]
    room = length - sum(len(f) for f in fact_ids)
    pieces, n = [], 0
    while n < room:
        d = docs[rng.randrange(len(docs))]
        piece = d[: room - n]
        pieces.append(piece)
        n += len(piece)
    for f in fact_ids:
        pieces.insert(rng.randint(0, len(pieces)), f)
    return tok.decode([t for p in pieces for t in p])


def make_pair(rng, tok, docs, entities, values, length: int, kind: str, n_facts: int) -> dict:
    ents = rng.sample(entities, n_facts)
    vals = rng.sample(values, n_facts + 1)
    facts = [f"The {ATTR} of {e} is {v}." for e, v in zip(ents, vals)]
    wrong = vals[rng.randrange(1, n_facts)] if kind == "hard" else vals[-1]
    context = make_context(rng, tok, docs, facts, length)
    resp = "The {a} of {e} is {v}."
    return {
        "context": context,
        "question": f"What is the {ATTR} of {ents[0]}?",
        "chosen": resp.format(a=ATTR, e=ents[0], v=vals[0]),
        "rejected": resp.format(a=ATTR, e=ents[0], v=wrong),
        "kind": kind,
        "length": length,
    }


def bench_item(pair: dict):
    from longrm.data.records import BenchItem

    content = pair["context"] + "\n\nQuestion: " + pair["question"]
    return BenchItem.from_dict(
        {
            "id": "x",
            "task": "LongQA",
            "tasktype": "PairWise",
            "subtype": "same",
            "prompt_template": [{"role": "user", "content": content}],
            "chosen": pair["chosen"],
            "rejected": pair["rejected"],
        },
        "<learnability>",
        1,
    )


def encode(tok, fmt: str, pair: dict, chosen_first: bool) -> list[tuple[list[int], list[int]]]:
    """[(prompt ids, target ids)]: one pairwise sequence, or one pointwise sequence per response."""
    from longrm.judges.prompts import build_point_prompt, build_prompt, format_score, format_verdict

    item = bench_item(pair)
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    if fmt == "pairwise":
        order = [0, 1] if chosen_first else [1, 0]
        return [(enc(build_prompt(item, order)), enc(format_verdict([order.index(0), order.index(1)])))]
    return [(enc(build_point_prompt(item, i)), enc(format_score(9 if i == 0 else 2))) for i in (0, 1)]


def batch_tensors(tok, seqs):
    """Right-padded (ids, attention, labels) with labels only on the target tokens."""
    import torch

    T = max(len(p) + len(t) for p, t in seqs)
    ids = torch.full((len(seqs), T), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros_like(ids)
    lab = torch.full_like(ids, -100)
    for b, (p, t) in enumerate(seqs):
        x = p + t
        ids[b, : len(x)] = torch.tensor(x)
        att[b, : len(x)] = 1
        lab[b, len(p) : len(x)] = torch.tensor(t)
    return ids, att, lab


def train_step(model, opt, tok, seqs, bf16: bool) -> float:
    import torch
    import torch.nn.functional as F

    ids, att, lab = batch_tensors(tok, seqs)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=ids, attention_mask=att).logits
    loss = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), lab[:, 1:], ignore_index=-100)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def decision_logits(model, tok, seqs, bf16: bool, probe: int):
    """fp32 logits at target position `probe` (the verdict letter / the score digit) per sequence."""
    import torch

    ids, att, _ = batch_tensors(tok, seqs)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=ids, attention_mask=att).logits
    pos = torch.tensor([len(p) + probe - 1 for p, _ in seqs])
    return logits[torch.arange(len(seqs)), pos].float()


def evaluate(model, tok, fmt: str, cell: list[dict], bf16: bool, ids: dict) -> float:
    import torch

    model.eval()
    score = 0.0
    for i in range(0, len(cell), 8):
        chunk = cell[i : i + 8]
        if fmt == "pairwise":
            seqs = [encode(tok, fmt, p, (i + k) % 2 == 0)[0] for k, p in enumerate(chunk)]
            lg = decision_logits(model, tok, seqs, bf16, ids["letter_at"])
            a_minus_b = lg[:, ids["A"]] - lg[:, ids["B"]]
            for k, d in enumerate(a_minus_b.tolist()):
                good = d if (i + k) % 2 == 0 else -d
                score += 1.0 if good > 0 else 0.5 if good == 0 else 0.0
        else:
            seqs = [s for p in chunk for s in encode(tok, fmt, p, True)]
            lg = decision_logits(model, tok, seqs, bf16, ids["digit_at"])[:, ids["digits"]]
            expected = (lg.softmax(-1) * torch.arange(1, 10, dtype=torch.float32)).sum(-1).view(-1, 2)
            for c, r in expected.tolist():
                score += 1.0 if c > r else 0.5 if c == r else 0.0
    model.train()
    return round(score / len(cell), 4)


def probe_ids(tok) -> dict:
    """Where the decision token sits in each target, and the token ids compared there."""
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    a, b = enc("[[A]]"), enc("[[B]]")
    letter_at = next(i for i in range(len(a)) if a[i] != b[i])
    s9, s2 = enc("[Score: 9]"), enc("[Score: 2]")
    digit_at = next(i for i in range(len(s9)) if s9[i] != s2[i])
    digits = [enc(f"[Score: {k}]")[digit_at] for k in range(1, 10)]
    return {"A": a[letter_at], "B": b[letter_at], "letter_at": letter_at, "digit_at": digit_at, "digits": digits}


def run(args) -> dict:
    import torch

    from longrm.inputs.tiny import init_model
    from longrm.modeling import cpu_supports_bf16, load_causal_lm, load_tokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    tok = load_tokenizer(args.tokenizer)
    docs = distractor_stream(tok, Path(args.distractors))
    entities, values = word_pools(tok, args.seed)
    eval_lengths = [int(x) for x in args.eval_lengths.split(",")]
    rng = random.Random(f"{args.seed}-eval")
    cells = {
        (L, kind): [make_pair(rng, tok, docs, entities, values, L, kind, args.facts) for _ in range(args.eval_pairs)]
        for L in eval_lengths
        for kind in ("easy", "hard")
    }
    if args.init:
        model = load_causal_lm(args.init)
    else:
        model = init_model(
            tok,
            seed=args.seed,
            hidden_size=args.hidden,
            num_layers=args.layers,
            num_heads=args.heads,
            num_kv_heads=max(1, args.heads // 2),
            intermediate_size=4 * args.hidden,
        )
    bf16 = cpu_supports_bf16() and not args.fp32
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    ids = probe_ids(tok)
    curve, losses = [], []
    train_rng = random.Random(f"{args.seed}-train")
    phases = [(int(L), int(n)) for L, n in (p.split(":") for p in args.phases.split(","))]
    total, step, start = sum(n for _, n in phases), 0, time.monotonic()

    def record():
        row = {
            "step": step,
            "elapsed_s": round(time.monotonic() - start, 1),
            "loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
        }
        for (L, kind), cell in cells.items():
            row[f"{L}/{kind}"] = evaluate(model, tok, args.format, cell, bf16, ids)
        curve.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    if not args.skip_initial_eval:
        record()
    for L, n in phases:
        for _ in range(n):
            lr = args.lr * min(1.0, (step + 1) / 20) * (0.1 + 0.9 * (1 - step / total))
            for g in opt.param_groups:
                g["lr"] = lr
            seqs = []
            for _ in range(args.batch):
                kind = "hard" if train_rng.random() < args.hard_share else "easy"
                pair = make_pair(train_rng, tok, docs, entities, values, L, kind, args.facts)
                seqs += encode(tok, args.format, pair, train_rng.random() < 0.5)
            losses.append(train_step(model, opt, tok, seqs, bf16))
            step += 1
            if step % args.eval_every == 0 or step == total:
                record()
    return {
        "name": args.name,
        "format": args.format,
        "phases": args.phases,
        "init": args.init or "scratch",
        "parameters": sum(p.numel() for p in model.parameters()),
        "facts_per_context": args.facts,
        "batch": args.batch,
        "lr": args.lr,
        "hard_share": args.hard_share,
        "eval_pairs": args.eval_pairs,
        "bf16": bf16,
        "threads": args.threads,
        "train_s": round(time.monotonic() - start, 1),
        "final": curve[-1],
        "curve": curve,
    }


def summary_md(runs: dict) -> str:
    lines = [
        "# Learnability of tell-free context judging (tiny model)",
        "",
        "Accuracy per (eval context length / negative kind) at the last step; chance = 0.5; "
        "each cell has the run's `eval_pairs` pairs. Curves: learnability_context.json.",
        "",
        "| run | format | init | params | phases (len:steps) | train s | cells at the end |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(runs):
        r = runs[name]
        cells = ", ".join(f"{k} {v}" for k, v in r["final"].items() if "/" in k)
        lines.append(
            f"| {name} | {r['format']} | {Path(r['init']).name} | {r['parameters']} | {r['phases']} "
            f"| {r['train_s']} | {cells} |"
        )
    return "\n".join(lines) + "\n"


def merge_run(out: Path, name: str, result: dict, summary) -> None:
    """Merge one run into the JSON at `out` under `name` (a rerun replaces it); redraw the markdown
    beside it from all runs with `summary(runs)`. Both written atomically."""
    from longrm.data.io import atomic_write, write_json

    runs = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    runs[name] = result
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, runs)
    with atomic_write(out.with_suffix(".md")) as f:
        f.write(summary(runs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--distractors", required=True)
    ap.add_argument("--init", default="", help="a checkpoint to start from (default: a fresh model)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--format", choices=("pairwise", "pointwise"), default="pairwise")
    ap.add_argument("--phases", default="256:300")
    ap.add_argument("--eval-lengths", default="256,1024")
    ap.add_argument("--eval-pairs", type=int, default=256)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--facts", type=int, default=4, help="entity facts per context (>= 2)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hard-share", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fp32", action="store_true")
    ap.add_argument(
        "--skip-initial-eval", action="store_true", help="no step-0 row (another run of the same --init has it)"
    )
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", default="results/benchmarks/learnability_context.json")
    args = ap.parse_args(argv)
    merge_run(Path(args.out), args.name, run(args), summary_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
