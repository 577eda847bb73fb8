"""`longrm inputs pretrain`: pre-train the tiny base model on the corpus plus copy/recall examples.

A batch: `recall_share` recall rows (facts slipped into prose, then questions on them), `copy_share`
repeat rows (random single-token words, then the same words again: the task induction heads form on,
benchmarks/learnability_recall.md), the rest plain LM windows of the corpus.
Loss per batch = token-mean LM cross-entropy over all real tokens + `answer_weight` * token-mean
cross-entropy over the recall answers and the repeats (a copy signal a 1M-parameter model otherwise
barely sees).
Bounded by `max_steps` (the result is byte-identical for the same inputs and thread count);
`minutes` is only a safety cap, reported in the summary when it stops the run.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from longrm.data.io import dumps, write_json
from longrm.inputs import corpus
from longrm.inputs.distractors import read_distractors
from longrm.inputs.tokenizer import atomic_dir
from longrm.seeding import derive_seed, rng_for

IGNORE = -100


def lm_windows(tok, docs: list[str], seq_len: int) -> list[list[int]]:
    """The documents as one token stream (EOS between documents), cut into seq_len windows."""
    stream: list[int] = []
    for ids in tok(docs, add_special_tokens=False)["input_ids"]:
        stream += ids + [tok.eos_token_id]
    return [stream[i : i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]


def encode_recall(tok, ex: corpus.RecallExample, max_len: int) -> tuple[list[int], list[int]] | None:
    """(input_ids, answer_mask) or None when longer than max_len.

    answer_mask: 2 at each answer's first token, 1 at its other tokens, 0 elsewhere.
    """
    ids = tok(ex.context, add_special_tokens=False)["input_ids"]
    mask = [0] * len(ids)
    for question, answer in ex.qa:
        q = tok(f"\nQuestion: {question}\nAnswer:", add_special_tokens=False)["input_ids"]
        a = tok(f" {answer}", add_special_tokens=False)["input_ids"]
        ids += q + a
        mask += [0] * len(q) + [2] + [1] * (len(a) - 1)
    ids.append(tok.eos_token_id)
    mask.append(0)
    return (ids, mask) if len(ids) <= max_len else None


def recall_row(rng, tok, docs: list[str], vocab: corpus.Vocab, seq_len: int, pack: bool = True):
    """A row of up to seq_len tokens: recall examples with random document lengths (so facts sit at
    short and long distances from their questions), packed back to back unless `pack` is False."""
    ids: list[int] = []
    mask: list[int] = []
    words, facts, misses = int(seq_len * 0.6), 3, 0
    for _ in range(24):
        room = seq_len - len(ids)
        if room < 32 or (ids and not pack):
            break
        n_words = rng.randint(min(4, words), max(4, min(words, int(room * 0.6))))
        doc = docs[rng.randrange(len(docs))]
        enc = encode_recall(tok, corpus.recall_example(rng, doc, vocab, n_words, facts), room)
        if enc is None:  # documents of long tokens (code), or a short row: try shorter ones, then one fact
            misses += 1
            words = max(4, int(words * 0.7))
            facts = 1 if misses >= 3 else facts
            continue
        ids += enc[0]
        mask += enc[1]
    if not ids:  # seq_len too short for any whole example: keep the end (questions and answers)
        ids, mask = encode_recall(tok, corpus.recall_example(rng, "", vocab, 0, 1), 1 << 30)
        ids, mask = ids[-seq_len:], mask[-seq_len:]
    return ids, mask


def single_token_vocab(tok, vocab: corpus.Vocab) -> corpus.Vocab:
    """The entities and values that are one token after a space (recall of one-token answers is learnable
    at this scale; multi-token ones are not); the whole vocabulary where fewer than 4 of either are."""

    def one(words):
        kept = tuple(w for w in words if len(tok(" " + w, add_special_tokens=False)["input_ids"]) == 1)
        return kept if len(kept) >= 4 else words

    return corpus.Vocab(one(vocab.entities), one(vocab.values))


def one_token_ids(tok, vocab: corpus.Vocab) -> list[int]:
    """The token ids of the vocabulary's one-token words (after a space): the repeat rows' alphabet; the
    words' first tokens where fewer than 4 words are one token (a tiny tokenizer)."""
    ids = [tok(" " + w, add_special_tokens=False)["input_ids"] for w in vocab.entities + vocab.values]
    one = sorted({i[0] for i in ids if len(i) == 1})
    return one if len(one) >= 4 else sorted({i[0] for i in ids if i})


def copy_row(rng, pool: list[int], seq_len: int) -> tuple[list[int], list[int]]:
    """(input_ids, answer_mask): seq_len // 2 tokens drawn from `pool`, then the same tokens again; the
    repeat (after its first token) is in the answer mask (1: it does not count as recall)."""
    half = seq_len // 2
    ids = [pool[rng.randrange(len(pool))] for _ in range(half)]
    return ids + ids, [0] * (half + 1) + [1] * (half - 1)


def make_batch(tok, rows: list[tuple[list[int], list[int]]], seq_len: int):
    """Right-padded tensors: input_ids, attention_mask, answer_mask   # each (B, T)"""
    import torch

    B = len(rows)
    ids = torch.full((B, seq_len), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros((B, seq_len), dtype=torch.long)
    ans = torch.zeros((B, seq_len), dtype=torch.long)
    for b, (x, m) in enumerate(rows):
        ids[b, : len(x)] = torch.tensor(x)
        att[b, : len(x)] = 1
        ans[b, : len(m)] = torch.tensor(m)
    return ids, att, ans


LM_TARGET = 3  # answer_mask value of a corpus window's tokens (0 none, 1 answer/repeat, 2 answer's first)


def losses(model, ids, att, ans, bf16: bool):
    """LM loss (corpus windows' tokens) and answer loss (recall answers and repeats), token means in fp32.

    ids, att, ans: (B, T). Position t predicts token t+1 where ans[t+1] > 0; the LM head runs at those
    positions only (recall rows' prose is context, not a target: the head is most of a step's cost).
    Returns (lm_loss, answer_loss, first_answer_tokens_correct, first_answer_tokens).
    """
    import torch
    import torch.nn.functional as F

    target_mask = (ans[:, 1:] > 0) & att[:, 1:].bool()  # (B, T-1)
    rows, cols = target_mask.nonzero(as_tuple=True)  # (N,), (N,)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        hidden = model.model(input_ids=ids, attention_mask=att).last_hidden_state  # (B, T, H)
        logits = model.lm_head(hidden[rows, cols])  # (N, V)
    target = ids[rows, cols + 1]  # (N,)
    kind = ans[rows, cols + 1]  # (N,)
    nll = F.cross_entropy(logits.float(), target, reduction="none")  # (N,)
    is_lm, is_first = kind == LM_TARGET, kind == 2
    lm = nll[is_lm].mean() if is_lm.any() else nll.new_zeros(())
    ans_loss = nll[~is_lm].mean() if (~is_lm).any() else nll.new_zeros(())
    correct = (logits.argmax(-1) == target)[is_first].sum().item()
    return lm, ans_loss, correct, int(is_first.sum().item())


def evaluate(model, tok, rows, seq_len: int, bf16: bool) -> dict:
    """Held-out recall rows (ids, answer mask): answer loss, and the share of answers whose first token
    is the model's top prediction (teacher forced: the copy skill the judges need). `no_binding_guess`
    is the control: the accuracy of answering each question with a random one of its example's values
    (in context, but not bound to the entity asked about); with one example per row (unpacked) that is
    the mean over answers of 1 / answers in the row = rows / answers."""
    import torch

    model.eval()
    tot = {"ans": 0.0, "correct": 0, "count": 0, "batches": 0}
    with torch.no_grad():
        for i in range(0, len(rows), 16):
            _, al, c, n = losses(model, *make_batch(tok, rows[i : i + 16], seq_len), bf16)
            tot["ans"] += al.item()
            tot["correct"] += c
            tot["count"] += n
            tot["batches"] += 1
    model.train()
    return {
        "answer_loss": round(tot["ans"] / tot["batches"], 4),
        "answer_accuracy": round(tot["correct"] / max(tot["count"], 1), 4),
        "examples": len(rows),
        "answers": tot["count"],
        "no_binding_guess": round(len(rows) / max(tot["count"], 1), 4),
    }


def lr_at(step: int, total: int, peak: float, warmup: int, floor: float = 0.1) -> float:
    """Linear warm-up, then cosine decay to floor * peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


class Batches:
    """The pre-training rows of each step: recall rows, repeat rows, then LM windows in a seeded
    shuffled order (every window once before any twice). Seeded from config and step."""

    def __init__(self, cfg: dict, tok, raw_path, distractors_path):
        s = cfg["inputs"]["pretrain"]
        self.tok, self.seed, self.seq_len = tok, cfg["seed"], s["seq_len"]
        self.vocab = single_token_vocab(tok, corpus.vocab_from_raw(corpus.read_raw(raw_path)))
        self.train_docs, self.held_docs = corpus.split_docs(read_distractors(distractors_path))
        self.windows = lm_windows(tok, self.train_docs, self.seq_len)
        self.pool = one_token_ids(tok, self.vocab)
        bsz = s["batch_size"]
        self.n_recall = round(bsz * s["recall_share"])
        self.n_copy = min(bsz - self.n_recall, round(bsz * s["copy_share"]))
        if not self.windows:
            self.n_recall = bsz - self.n_copy
        self.n_lm = bsz - self.n_recall - self.n_copy
        self._order_rng, self._order = rng_for(self.seed, "inputs.pretrain.windows"), []

    def recall_rows(self, namespace: str, key, n: int, docs: list[str], pack: bool = True):
        return [
            recall_row(rng_for(self.seed, namespace, key, j), self.tok, docs, self.vocab, self.seq_len, pack)
            for j in range(n)
        ]

    def eval_rows(self, n: int):
        """One example per row (unpacked): evaluate's no-binding guess counts answers per row."""
        return self.recall_rows("inputs.pretrain.eval", 0, n, self.held_docs, pack=False)

    def _next_window(self) -> list[int]:
        if not self._order:
            self._order = list(range(len(self.windows)))
            self._order_rng.shuffle(self._order)
        return self.windows[self._order.pop()]

    def rows(self, step: int):
        rows = self.recall_rows("inputs.pretrain", step, self.n_recall, self.train_docs)
        rows += [
            copy_row(rng_for(self.seed, "inputs.pretrain.copy", step, j), self.pool, self.seq_len)
            for j in range(self.n_copy)
        ]
        for _ in range(self.n_lm):
            w = self._next_window()
            rows.append((w, [LM_TARGET] * len(w)))
        return make_batch(self.tok, rows, self.seq_len)


def train_loop(model, batches: Batches, s: dict, bf16: bool) -> tuple[list[dict], dict]:
    """AdamW over `max_steps` steps (or until the `minutes` safety cap): (log rows, run facts)."""
    import torch
    from tqdm import tqdm

    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], betas=(0.9, 0.95), weight_decay=0.01)
    start = time.monotonic()
    stopped_by, step, tokens, log = "max_steps", 0, 0, []
    for step in tqdm(range(s["max_steps"]), desc="pretrain", disable=None):
        if time.monotonic() - start > 60 * s["minutes"]:
            stopped_by = "minutes"
            print(f"longrm inputs pretrain: stopped by the {s['minutes']} minute cap at step {step}", file=sys.stderr)
            break
        ids, att, ans = batches.rows(step)
        lr = lr_at(step, s["max_steps"], s["lr"], s["warmup_steps"])
        for g in opt.param_groups:
            g["lr"] = lr
        lm, al, _, _ = losses(model, ids, att, ans, bf16)
        loss = lm + s["answer_weight"] * al
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += int(att.sum())
        if step % s["log_every"] == 0 or step == s["max_steps"] - 1:
            elapsed = time.monotonic() - start
            log.append(
                {
                    "step": step,
                    "loss": round(loss.item(), 4),
                    "lm_loss": round(lm.item(), 4),
                    "answer_loss": round(al.item(), 4),
                    "lr": round(lr, 6),
                    "tokens_per_s": round(tokens / max(elapsed, 1e-9), 1),
                    "elapsed_s": round(elapsed, 2),
                }
            )
            print(f"pretrain {dumps(log[-1])}", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - start
    return log, {
        "steps": step + 1 if stopped_by == "max_steps" else step,
        "stopped_by": stopped_by,
        "elapsed_s": round(elapsed, 2),
        "tokens": tokens,
        "tokens_per_s": round(tokens / max(elapsed, 1e-9), 1),
    }


def pretrain(
    cfg: dict, tokenizer_dir: str | Path, raw_path: str | Path, distractors_path: str | Path, out_dir: str | Path
) -> dict:
    import torch

    from longrm.inputs.tiny import init_model
    from longrm.modeling import cpu_supports_bf16, load_tokenizer, set_threads

    set_threads()
    s = cfg["inputs"]["pretrain"]  # defaults filled from the schema by load_config
    out_dir = Path(out_dir)
    tok = load_tokenizer(tokenizer_dir)
    batches = Batches(cfg, tok, raw_path, distractors_path)
    eval_set = batches.eval_rows(s["eval_examples"])
    model = init_model(tok, seed=derive_seed(cfg["seed"], "inputs.pretrain"), **cfg["inputs"]["base_model"])
    bf16 = cpu_supports_bf16()
    before = evaluate(model, tok, eval_set, s["seq_len"], bf16)
    log, run = train_loop(model, batches, s, bf16)
    after = evaluate(model, tok, eval_set, s["seq_len"], bf16)
    summary = {
        **run,
        "max_steps": s["max_steps"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "bf16_autocast": bf16,
        "threads": torch.get_num_threads(),
        "first_loss": log[0]["loss"] if log else None,
        "last_loss": log[-1]["loss"] if log else None,
        "heldout_before": before,
        "heldout_after": after,
        "lm_windows": len(batches.windows),
        "recall_per_batch": batches.n_recall,
        "copy_per_batch": batches.n_copy,
        "recall_vocab": {"entities": len(batches.vocab.entities), "values": len(batches.vocab.values)},
        "settings": s,
    }
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        with (tmp / "pretrain_log.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(dumps(r) + "\n" for r in log)
        write_json(tmp / "pretrain_summary.json", summary)
    print(
        json.dumps({k: summary[k] for k in ("steps", "stopped_by", "elapsed_s", "first_loss", "last_loss")}),
        file=sys.stderr,
    )
    return summary
