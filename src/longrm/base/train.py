"""Pre-train the base: AdamW on recall rows and corpus windows, with resumable checkpoints and held-out
learning curves (binding and presence by fact kind and length)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from longrm.base.model import grow_model, trainable_after_growth
from longrm.base.rows import ANSWER, CLAIMS, IGNORE, LM, VERDICT_WORDS, Rows
from longrm.train import checkpoint


def lr_at(step: int, tr: dict, grow: dict | None = None) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * lr; after growth the same again (or, with
    grow.schedule constant, a constant lr after the warm-up), from grow.at_step, at grow.lr."""
    peak, warm, total, decay = tr["lr"], tr["warmup_steps"], tr["steps"], True
    if grow and grow["at_step"]:
        if step >= grow["at_step"]:
            peak, warm, decay = grow["lr"], grow["warmup_steps"], grow["schedule"] == "cosine"
            step, total = step - grow["at_step"], total - grow["at_step"]
        else:
            total = grow["at_step"]
    if step < warm:
        return peak * (step + 1) / warm
    if not decay:
        return peak
    t = min(1.0, (step - warm) / max(1, total - warm))
    return peak * (tr["min_lr_ratio"] + (1 - tr["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * t)))


KEEP_STRIDE = 4  # keep_reading's positions: every 4th (the full LM head at every position doubles a step)


def step_loss(model, ids, targets, kinds, lm_weight: float, keep: tuple[int, float] = (0, 0.0)):
    """Mean NLL of the restated values + lm_weight * mean NLL of corpus tokens.   ids, targets, kinds: (B, T)

    keep = (old layers, weight), weight > 0 after growth: + weight * the mean NLL, at every KEEP_STRIDE-th
    position without a target, of the token the old layers alone predict there (their output through the final
    norm and the LM head), so the grown layers learn the verdict without overwriting what the base reads."""
    mask = targets != IGNORE  # (B, T)
    rows, cols = mask.nonzero(as_tuple=True)
    old_layers, keep_weight = keep
    out = model.model(input_ids=ids, output_hidden_states=keep_weight > 0)
    hidden = out.last_hidden_state  # (B, T, H)
    nll = F.cross_entropy(model.lm_head(hidden[rows, cols]), targets[rows, cols], reduction="none")  # (N,)
    kind = kinds[rows, cols]
    answer = nll[kind == ANSWER].mean() if (kind == ANSWER).any() else nll.new_zeros(())
    lm = nll[kind == LM].mean() if (kind == LM).any() else nll.new_zeros(())
    loss = answer + lm_weight * lm
    if keep_weight > 0:
        r, c = (~mask & (torch.arange(ids.shape[1]) % KEEP_STRIDE == 0)).nonzero(as_tuple=True)
        with torch.no_grad():  # the old layers' own reading (hidden_states[k]: the output of layer k - 1)
            read = model.lm_head(model.model.norm(out.hidden_states[old_layers][r, c])).argmax(-1)  # (M,)
        loss = loss + keep_weight * F.cross_entropy(model.lm_head(hidden[r, c]), read)
    return loss, answer, lm


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


@torch.no_grad()
def verify_scores(model, ids, targets, types, verdicts: tuple[int, int]) -> dict[str, float]:
    """Verdict accuracy on each row's first claim (true vs false logit), by claim type, and balanced
    (true claims and false ones weighed alike; chance 0.5)."""
    hits = {c: [0, 0] for c in CLAIMS}
    for i in range(0, len(ids), 16):
        t = targets[i : i + 16]
        hidden = model.model(input_ids=ids[i : i + 16]).last_hidden_state  # (b, T, H)
        first = (t != IGNORE).int().argmax(-1)  # (b,): each row's first verdict
        logits = model.lm_head(hidden[torch.arange(len(t)), first])[:, list(verdicts)]  # (b, 2)
        for b, said_true in enumerate((logits[:, 1] > logits[:, 0]).tolist()):
            claim = types[i + b][0]
            hits[claim][0] += said_true == (claim == "true")
            hits[claim][1] += 1
    acc = {c: h / max(n, 1) for c, (h, n) in hits.items()}
    out = {c: round(v, 4) for c, v in acc.items()}
    out["balanced"] = round((acc["true"] + (acc["hard"] + acc["easy"]) / 2) / 2, 4)
    return out


def curves_row(model, heldout: dict) -> dict:
    """{kind: {length: {binding_first, binding, presence}}} on the held-out rows.

    binding_first: top-1 at a row's first restated value is that fact's value (nothing restated before it);
    binding: the same over every restated value (drawn with replacement: no elimination shortcut);
    presence: top-1 is one of the row's stated values (some value of the context, bound or not)."""
    model.eval()
    out: dict = {}
    for (kind, length), rows in heldout.items():
        if kind == "verify":
            out.setdefault(kind, {})[str(length)] = verify_scores(model, *rows)
            continue
        scores = recall_scores(model, *rows)
        out.setdefault(kind, {})[str(length)] = {k: round(h / max(n, 1), 4) for k, (h, n) in scores.items()}
    model.train()
    return out


def heldout_sets(rows: Rows, tr: dict) -> dict:
    sets = {
        (kind, tr["seq_len"] * k): rows.heldout(tr["seq_len"] * k, kind, tr["eval_rows"])
        for kind in rows.kinds
        for k in tr["eval_lengths"]
    }
    if rows.grow["at_step"]:
        verdicts = verdict_ids(rows)
        for k in tr["eval_lengths"]:
            sets[("verify", tr["seq_len"] * k)] = (*rows.verify_heldout(tr["seq_len"] * k, tr["eval_rows"]), verdicts)
    return sets


def optimizer(cfg: dict, model, grown: bool, verdicts: tuple[int, int] = ()):
    tr, grow = cfg["train"], cfg["grow"]
    if grown:
        params = trainable_after_growth(
            model, cfg["model"]["num_layers"], grow["freeze_below"], grow["embeddings"], verdicts
        )
    else:
        params = list(model.parameters())
    return torch.optim.AdamW(params, lr=tr["lr"], betas=(0.9, 0.95), weight_decay=tr["weight_decay"])


def grown(cfg: dict, model, seed: int, verdicts: tuple[int, int]):
    return grow_model(model, cfg["grow"], cfg["model"]["positional_amplitude"], seed, verdicts)


def verdict_ids(rows: Rows) -> tuple[int, int]:
    return tuple(rows.facts.ids(w)[0] for w in VERDICT_WORDS)


def resume(cfg: dict, work: Path, model, seed: int, verdicts: tuple[int, int]):
    """(model, optimizer, next step, curve rows) from the latest complete checkpoint (the model grown first
    where the checkpoint is past grow.at_step), or from scratch."""
    from safetensors.torch import load_file, load_model

    last = checkpoint.latest(work / "checkpoints")
    if last is None:
        return model, optimizer(cfg, model, False), 0, []
    state = checkpoint.check(last, checkpoint.Ranks(), engine_expected=False)
    past = bool(cfg["grow"]["at_step"]) and state["step"] > cfg["grow"]["at_step"]  # step s: steps [0, s) done
    if past:
        model = grown(cfg, model, seed, verdicts)
    opt = optimizer(cfg, model, past, verdicts)
    load_model(model, str(last / "model.safetensors"))
    checkpoint.load_optimizer_tensors(opt, load_file(str(last / "optimizer.safetensors")))
    print(f"longrm base: resuming from {last} (step {state['step']})", file=sys.stderr)
    return model, opt, state["step"], state["curves"]


def train(cfg: dict, model, rows: Rows, work: Path, grow_seed: int = 0):
    """Run to train.steps (resuming from work/checkpoints), growing the model at grow.at_step; returns
    (the model, the curve rows, one per eval)."""
    from tqdm import tqdm

    tr = cfg["train"]
    model, opt, start, curves = resume(cfg, work, model, grow_seed, verdict_ids(rows))
    heldout = heldout_sets(rows, tr)
    if start == 0:
        curves = [{"step": 0, "loss": None, **curves_row(model, heldout)}]
    bar = tqdm(range(start, tr["steps"]), desc="base", initial=start, total=tr["steps"], file=sys.stderr)
    for step in bar:
        if step == cfg["grow"]["at_step"] and step > 0:
            model = grown(cfg, model, grow_seed, verdict_ids(rows))
            opt = optimizer(cfg, model, True, verdict_ids(rows))
            bar.write(f"longrm base: grown to {cfg['grow']['num_layers']} layers at step {step}")
        for g in opt.param_groups:
            g["lr"] = lr_at(step, tr, cfg["grow"])
        keep = (cfg["model"]["num_layers"], cfg["grow"]["keep_reading"] if rows.grown(step) else 0.0)
        loss, answer, lm = step_loss(model, *rows.batch(step), tr["lm_weight"], keep)
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
            verify = curves[-1].get("verify", {}).get(str(tr["seq_len"]), {}).get("balanced")
            bar.set_postfix(  # the first query alone can stay bound while the later ones are lost: show both
                answer_loss=f"{answer.item():.3f}",
                binding_first=first["binding_first"],
                binding=first["binding"],
                verify=verify,
            )
        if done % tr["checkpoint_every"] == 0 or done == tr["steps"]:
            checkpoint.save(work / "checkpoints", done, model, opt, {"step": done, "curves": curves}, keep=2)
    return model, curves
