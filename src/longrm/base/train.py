"""Pre-train the base: AdamW on recall rows and corpus windows, with resumable checkpoints and held-out
learning curves (binding and presence by fact kind and length)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from longrm.base.rows import ANSWER, IGNORE, LM, Rows
from longrm.train import checkpoint


def lr_at(step: int, tr: dict) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * lr."""
    peak, warm, total = tr["lr"], tr["warmup_steps"], tr["steps"]
    if step < warm:
        return peak * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, total - warm))
    return peak * (tr["min_lr_ratio"] + (1 - tr["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * t)))


def step_loss(model, ids, targets, kinds, lm_weight: float):
    """Mean NLL of the restated values + lm_weight * mean NLL of corpus tokens.   ids, targets, kinds: (B, T)"""
    mask = targets != IGNORE  # (B, T)
    rows, cols = mask.nonzero(as_tuple=True)
    hidden = model.model(input_ids=ids).last_hidden_state  # (B, T, H)
    nll = F.cross_entropy(model.lm_head(hidden[rows, cols]), targets[rows, cols], reduction="none")  # (N,)
    kind = kinds[rows, cols]
    answer = nll[kind == ANSWER].mean() if (kind == ANSWER).any() else nll.new_zeros(())
    lm = nll[kind == LM].mean() if (kind == LM).any() else nll.new_zeros(())
    return answer + lm_weight * lm, answer, lm


@torch.no_grad()
def top1_at_targets(model, ids, targets, rows: int = 16):
    """The model's top-1 token where targets are set (IGNORE elsewhere): the LM head runs at those
    positions only, a few rows at a time (full logits of 2k-token rows would take gigabytes)."""
    pred = torch.full_like(targets, IGNORE)
    for i in range(0, len(ids), rows):
        t = targets[i : i + rows]
        r, c = (t != IGNORE).nonzero(as_tuple=True)
        hidden = model.model(input_ids=ids[i : i + rows]).last_hidden_state  # (b, T, H)
        pred[i + r, c] = model.lm_head(hidden[r, c]).argmax(-1)
    return pred


@torch.no_grad()
def recall_scores(model, ids, targets, first, values) -> dict[str, tuple[int, int]]:
    """(hits, count) of each measure on held-out rows (see curves_row).   ids, targets, first: (n, T)"""
    pred = top1_at_targets(model, ids, targets)
    mask = targets != IGNORE
    hit = (pred == targets) & mask
    present = torch.stack([torch.isin(pred[b], values[b]) for b in range(len(ids))]) & mask
    return {
        "binding_first": (int((hit & first).sum()), int(first.sum())),
        "binding": (int(hit.sum()), int(mask.sum())),
        "presence": (int(present.sum()), int(mask.sum())),
    }


def curves_row(model, heldout: dict) -> dict:
    """{kind: {length: {binding_first, binding, presence}}} on the held-out rows.

    binding_first: top-1 at a row's first restated value is that fact's value (nothing restated before it);
    binding: the same over every restated value (drawn with replacement: no elimination shortcut);
    presence: top-1 is one of the row's stated values (some value of the context, bound or not)."""
    model.eval()
    out: dict = {}
    for (kind, length), rows in heldout.items():
        scores = recall_scores(model, *rows)
        out.setdefault(kind, {})[str(length)] = {k: round(h / max(n, 1), 4) for k, (h, n) in scores.items()}
    model.train()
    return out


def heldout_sets(rows: Rows, tr: dict) -> dict:
    return {
        (kind, tr["seq_len"] * k): rows.heldout(tr["seq_len"] * k, kind, tr["eval_rows"])
        for kind in rows.kinds
        for k in tr["eval_lengths"]
    }


def resume(work: Path, model, opt) -> tuple[int, list[dict]]:
    """(next step, curve rows) from the latest complete checkpoint, or (0, [])."""
    from safetensors.torch import load_file, load_model

    last = checkpoint.latest(work / "checkpoints")
    if last is None:
        return 0, []
    state = checkpoint.check(last, checkpoint.Ranks(), engine_expected=False)
    load_model(model, str(last / "model.safetensors"))
    checkpoint.load_optimizer_tensors(opt, load_file(str(last / "optimizer.safetensors")))
    print(f"longrm base: resuming from {last} (step {state['step']})", file=sys.stderr)
    return state["step"], state["curves"]


def train(cfg: dict, model, rows: Rows, work: Path) -> list[dict]:
    """Run to train.steps (resuming from work/checkpoints); returns the curve rows, one per eval."""
    from tqdm import tqdm

    tr = cfg["train"]
    opt = torch.optim.AdamW(model.parameters(), lr=tr["lr"], betas=(0.9, 0.95), weight_decay=tr["weight_decay"])
    start, curves = resume(work, model, opt)
    heldout = heldout_sets(rows, tr)
    if start == 0:
        curves = [{"step": 0, "loss": None, **curves_row(model, heldout)}]
    bar = tqdm(range(start, tr["steps"]), desc="base", initial=start, total=tr["steps"], file=sys.stderr)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, tr)
        loss, answer, lm = step_loss(model, *rows.batch(step), tr["lm_weight"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        done = step + 1
        if done % tr["eval_every"] == 0 or done == tr["steps"]:
            curves.append(
                {
                    "step": done,
                    "loss": round(answer.item(), 4),
                    "lm_loss": round(lm.item(), 4),
                    **curves_row(model, heldout),
                }
            )
            first = curves[-1][rows.kinds[0]][str(tr["seq_len"])]
            bar.set_postfix(answer_loss=f"{answer.item():.3f}", binding=first["binding_first"])
        if done % tr["checkpoint_every"] == 0 or done == tr["steps"]:
            checkpoint.save(work / "checkpoints", done, model, opt, {"step": done, "curves": curves}, keep=2)
    return curves
