"""Learnability of in-context recall for the tiny base (issue 11): learning curves per setting.

A row: distractor prose (held-out documents for evaluation) with `facts` statements "The ATTR of E is V."
slipped in at random word boundaries, then one question per fact in a shuffled order, each followed by
its answer: "Question: What is the ATTR of E?\nAnswer: V". Entities and values are single-token words
of the study's answer vocabulary (longrm.inputs.corpus.vocab_from_raw). The loss is on the answers'
first tokens only (the LM head runs at those positions alone: a step costs the trunk only); accuracy is
top-1 on held-out rows, teacher forced.

    python benchmarks/learnability_recall.py --tokenizer results/inputs/tokenizer \
        --raw results/inputs/raw.jsonl --distractors results/inputs/distractors.jsonl \
        --name h128-l2 --hidden 128 --layers 2 --steps 600

`--task verify` asks the judge's question instead of the recall one: after the facts, one claim per fact
"Claim: The ATTR of E is X.\nVerdict: true|false" with X the right value (half of the claims), a value
absent from the row (easy false) or another entity's value from the row (hard false: needs binding);
the loss is on the verdict token; quality is the AUC of the verdict margin, true claims against each
kind of false claim (chance 0.5).

Each run is merged into --out under its --name; the markdown beside it is redrawn from all runs.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import time
from pathlib import Path


def single_token(tok, words) -> list[str]:
    return sorted(w for w in set(words) if len(tok(" " + w, add_special_tokens=False)["input_ids"]) == 1)


def facts_in_prose(rng, tok, docs: list[list[str]], fact_text: list[str], tail_tokens: int, seq_len: int, prose: float):
    """Token ids of distractor prose (`prose` x the room the facts and the tail's `tail_tokens` leave in
    seq_len) with each fact slipped in at a random word boundary. Prose is cut to fit, never a fact."""

    def n_tokens(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    room = seq_len - tail_tokens - n_tokens(" " + " ".join(fact_text))
    if room < 0:
        raise ValueError(f"{len(fact_text)} facts and their tail take {seq_len - room} tokens, over seq_len {seq_len}")
    budget = prose * room
    words: list[str] = []
    while len(words) < budget * 0.75:  # ~1.3 tokens a word in this prose
        d = docs[rng.randrange(len(docs))]
        start = rng.randrange(max(1, len(d) - 40))
        words += d[start : start + 40]
    words = words[: max(0, int(budget * 0.75))]
    for f in fact_text:
        words.insert(rng.randint(0, len(words)), f)
    facts = set(fact_text)
    while len(words) > len(facts) and (excess := n_tokens(" ".join(words)) - seq_len + tail_tokens) > 0:
        for _ in range(max(1, excess // 2)):  # the 0.75 estimate overshot: drop prose words from the end
            prose_at = [i for i, w in enumerate(words) if w not in facts]
            if prose_at:
                words.pop(prose_at[-1])
    return tok(" ".join(words), add_special_tokens=False)["input_ids"]


def token_pieces(tok, pieces: list[str]) -> list[list[int]]:
    return [tok(p, add_special_tokens=False)["input_ids"] for p in pieces]


FACT_FORMS = {
    # the study's form: the value two tokens after its key, behind an " is" that every fact shares
    "is": ("The {attr} of {e} is {v}.", ""),
    # MQAR's form: the value right after its key, and the answer restates the key (plain induction)
    "adjacent": ("The {attr} of {e} {v}.", " {e}"),
}


def recall_row(rng, tok, docs, ents, vals, attrs, seq_len: int, facts: int, prose: float = 1.0, form: str = "is"):
    """(input_ids, answer positions): one row of about seq_len tokens (`prose`: the share of the room
    left by the facts and questions that distractor prose fills; 0 = the facts alone, MQAR-style)."""
    fact_form, lead = FACT_FORMS[form]
    es, vs = rng.sample(ents, facts), rng.sample(vals, facts)
    attr = rng.choice(attrs)
    qa = [
        (f"\nQuestion: What is the {attr} of {e}?\nAnswer:" + lead.format(e=e), v)
        for e, v in sorted(zip(es, vs), key=lambda _: rng.random())
    ]
    fact_text = [fact_form.format(attr=attr, e=e, v=v) for e, v in zip(es, vs)]
    pieces = token_pieces(tok, [x for q, v in qa for x in (q, " " + v)])
    ids = facts_in_prose(rng, tok, docs, fact_text, sum(map(len, pieces)), seq_len, prose)
    answers = []
    for question, answer in zip(pieces[::2], pieces[1::2]):
        ids += question
        answers.append(len(ids))
        ids += answer
    return ids, answers


VERDICTS = {True: " true", False: " false"}
CLAIM_KINDS = ("true", "easy", "hard")


def verify_row(rng, tok, docs, ents, vals, attrs, seq_len: int, facts: int, prose: float = 1.0):
    """(input_ids, verdict positions, claim kinds): facts in prose as recall_row, then one claim per fact
    in a shuffled order, each followed by its verdict (true: the fact's value; easy: a value absent from
    the row; hard: another entity's value of the row)."""
    es, vs = rng.sample(ents, facts), rng.sample(vals, facts + 1)
    attr = rng.choice(attrs)
    claims = []
    for i in sorted(range(facts), key=lambda _: rng.random()):
        kind = rng.choice(("true", "true", "easy", "hard"))
        x = vs[i] if kind == "true" else vs[facts] if kind == "easy" else vs[(i + rng.randrange(1, facts)) % facts]
        claims.append((f"\nClaim: The {attr} of {es[i]} is {x}.\nVerdict:", kind))
    fact_text = [f"The {attr} of {e} is {v}." for e, v in zip(es, vs)]
    pieces = token_pieces(tok, [x for c, k in claims for x in (c, VERDICTS[k == "true"])])
    ids = facts_in_prose(rng, tok, docs, fact_text, sum(map(len, pieces)), seq_len, prose)
    answers, kinds = [], []
    for claim, verdict, (_, kind) in zip(pieces[::2], pieces[1::2], claims):
        ids += claim
        answers.append(len(ids))
        kinds.append(kind)
        ids += verdict
    return ids, answers, kinds


def repeat_row(rng, pool: list[int], seq_len: int):
    """(input_ids, loss positions): random single-token words, then the same words again; every token of
    the repeat is predictable by copying (the classic induction-head task)."""
    half = seq_len // 2
    first = [rng.choice(pool) for _ in range(half)]
    return first + first, list(range(half + 1, 2 * half))


def batch(tok, rows):
    import torch

    T = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), T), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros_like(ids)
    pos_b, pos_t = [], []
    for b, (x, ans) in enumerate(rows):
        ids[b, : len(x)] = torch.tensor(x)
        att[b, : len(x)] = 1
        for a in ans:
            if 0 < a < len(x):
                pos_b.append(b)
                pos_t.append(a - 1)  # position a-1 predicts the answer token at a
    return ids, att, torch.tensor(pos_b), torch.tensor(pos_t)


def answer_logits(model, ids, att, pos_b, pos_t):
    hidden = model.model(input_ids=ids, attention_mask=att).last_hidden_state  # (B, T, H)
    return model.lm_head(hidden[pos_b, pos_t])  # (A, V)


def accuracy(model, tok, rows) -> float:
    import torch

    model.eval()
    hit = n = 0
    with torch.no_grad():
        for i in range(0, len(rows), 16):
            ids, att, pb, pt = batch(tok, rows[i : i + 16])
            pred = answer_logits(model, ids, att, pb, pt).argmax(-1)
            hit += int((pred == ids[pb, pt + 1]).sum())
            n += len(pb)
    model.train()
    return round(hit / max(n, 1), 4)


def verify_accuracy(model, tok, rows) -> dict:
    """Threshold-free verdict quality per kind of false claim: the AUC of logit(true) - logit(false)
    between true claims and easy false ones, and between true claims and hard false ones (chance 0.5:
    a judge that says "true" to everything, or reads no context, sits there); teacher forced."""
    import torch

    from longrm.bench.score import auc

    ids_true, ids_false = (tok(VERDICTS[v], add_special_tokens=False)["input_ids"][0] for v in (True, False))
    model.eval()
    margins = {k: [] for k in CLAIM_KINDS}
    with torch.no_grad():
        for i in range(0, len(rows), 16):
            chunk = rows[i : i + 16]
            ids, att, pb, pt = batch(tok, [(x, a) for x, a, _ in chunk])
            logits = answer_logits(model, ids, att, pb, pt)
            kinds = [k for x, a, ks in chunk for pos, k in zip(a, ks) if 0 < pos < len(x)]
            for kind, m in zip(kinds, (logits[:, ids_true] - logits[:, ids_false]).tolist()):
                margins[kind].append(m)
    model.train()
    aucs = {k: auc(margins["true"], margins[k]) for k in ("easy", "hard")}
    return {f"verify_auc_{k}": None if v is None else round(v, 4) for k, v in aucs.items()}


def run(args) -> dict:
    import torch
    import torch.nn.functional as F

    from longrm.inputs import corpus
    from longrm.inputs.families import ATTRIBUTES
    from longrm.inputs.tiny import init_model
    from longrm.modeling import load_tokenizer

    torch.set_num_threads(args.threads)
    tok = load_tokenizer(args.tokenizer)
    vocab = corpus.vocab_from_raw(corpus.read_raw(args.raw))
    ents, vals = single_token(tok, vocab.entities), single_token(tok, vocab.values)
    docs = [json.loads(line)["text"].split() for line in Path(args.distractors).read_text().splitlines() if line]
    train_docs, held_docs = [d for i, d in enumerate(docs) if i % 10 != 9], docs[9::10]
    attrs = list(ATTRIBUTES)
    pool = [tok(" " + w, add_special_tokens=False)["input_ids"][0] for w in ents + vals]
    rng = random.Random(f"{args.seed}-eval")
    make_row = verify_row if args.task == "verify" else functools.partial(recall_row, form=args.fact_form)
    evals = {
        L: [make_row(rng, tok, held_docs, ents, vals, attrs, L, args.facts) for _ in range(args.eval_rows)]
        for L in args.eval_lengths
    }
    model = init_model(
        tok,
        seed=args.seed,
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=args.heads,
        num_kv_heads=args.kv_heads,
        intermediate_size=args.ffn or 4 * args.hidden,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    train_rng = random.Random(f"{args.seed}-train")
    curve, losses, start = [], [], time.monotonic()

    def record(step):
        row = {
            "step": step,
            "elapsed_s": round(time.monotonic() - start, 1),
            "loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
        }
        for L, rows in evals.items():
            if args.task == "verify":
                row.update({f"{k}@{L}": v for k, v in verify_accuracy(model, tok, rows).items()})
            else:
                row[f"recall@{L}"] = accuracy(model, tok, rows)
        curve.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    record(0)
    for step in range(1, args.steps + 1):
        lr = args.lr * min(1.0, step / 30) * (0.1 + 0.9 * (1 - step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        n_copy = round(args.batch * args.copy_share)
        rows = [repeat_row(train_rng, pool, args.seq_len) for _ in range(n_copy)]
        rows += [
            make_row(train_rng, tok, train_docs, ents, vals, attrs, args.seq_len, args.facts, args.prose)[:2]
            for _ in range(args.batch - n_copy)
        ]
        ids, att, pb, pt = batch(tok, rows)
        loss = F.cross_entropy(answer_logits(model, ids, att, pb, pt), ids[pb, pt + 1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % args.eval_every == 0 or step == args.steps:
            record(step)
    if args.save:
        model.save_pretrained(args.save, safe_serialization=True)
        tok.save_pretrained(args.save)
    return {
        "name": args.name,
        "task": args.task,
        "hidden": args.hidden,
        "layers": args.layers,
        "heads": args.heads,
        "ffn": args.ffn or 4 * args.hidden,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seq_len": args.seq_len,
        "facts": args.facts,
        "copy_share": args.copy_share,
        "prose": args.prose,
        "batch": args.batch,
        "lr": args.lr,
        "steps": args.steps,
        "threads": args.threads,
        "entities": len(ents),
        "values": len(vals),
        "eval_rows": args.eval_rows,
        "train_s": round(time.monotonic() - start, 1),
        "final": curve[-1],
        "curve": curve,
    }


def summary_md(runs: dict) -> str:
    lines = [
        "# In-context recall of the tiny base: learning curves",
        "",
        "Held-out first-token recall (top-1, teacher forced); chance ~ 1/values. `verify` runs: AUC of the verdict margin,"
        " true claims vs easy / hard false claims, chance 0.5. Curves in the JSON.",
        "",
        "| run | params | hidden x layers | seq | facts | batch | lr | steps | train s | final |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(runs):
        r = runs[name]
        final = ", ".join(f"{k} {v}" for k, v in r["final"].items() if k.startswith(("recall", "verify")))
        lines.append(
            f"| {name} | {r.get('parameters', 'n/a')} | {r['hidden']}x{r['layers']} | {r['seq_len']} | {r['facts']} "
            f"| {r['batch']} | {r['lr']} | {r['steps']} | {r.get('train_s', 'stopped')} | {final} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--distractors", required=True)
    ap.add_argument("--task", choices=("recall", "verify"), default="recall")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=0, help="MLP width (default 4 x hidden)")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--facts", type=int, default=6)
    ap.add_argument(
        "--copy-share",
        type=float,
        default=0.0,
        help="share of each batch that is repeated random words (induction-head rows, loss on the repeat)",
    )
    ap.add_argument(
        "--prose",
        type=float,
        default=1.0,
        help="share of each training row's free room filled with distractor prose (evaluation rows: always 1.0)",
    )
    ap.add_argument("--fact-form", choices=sorted(FACT_FORMS), default="is", help="recall rows: how a fact is written")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-rows", type=int, default=128)
    ap.add_argument("--eval-lengths", type=lambda s: [int(x) for x in s.split(",")], default=[128, 512])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--save", default="")
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", default="results/benchmarks/learnability_recall.json")
    args = ap.parse_args(argv)
    from learnability_context import merge_run  # the same folder: `python benchmarks/...` puts it on sys.path

    merge_run(Path(args.out), args.name, run(args), summary_md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
