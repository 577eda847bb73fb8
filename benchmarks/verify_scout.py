"""Scout: can the base learn to VERIFY a stated fact against its context (the judge's core skill)?

The shipped 2-layer base reads a fact back ("The tag of E is" -> V) but its trained judges sit at chance:
a verdict after a response needs a step more than reading (retrieve the context's value, compare it with the
response's, carry the result to the verdict). This scout grows the base by fresh layers (their outputs start
at zero, so the grown model computes what the base did) and trains on verification rows: the recall rows'
context (N facts of one attribute in prose), then claims " The tag of E is V." + a gap of 0..G prose
tokens + " true"/" false". A claim's V is the fact's value (true, half of them), another entity's value of
the row (hard: present in the context, bound elsewhere) or a value absent from the row (easy). The loss is on
the verdict, plus the recall rows (binding kept) and corpus windows.

Measured on held-out rows at the pre-training length and 4x: verdict accuracy (top of true/false) on each
row's first claim, by claim type; chance 0.5.

    python benchmarks/verify_scout.py --layers 3 --steps 300 --name grow3
Writes one JSON line per run to --out (benchmarks/results/verify_scout/runs.jsonl).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from longrm.base.model import set_verdict_carry  # noqa: E402
from longrm.base.rows import IGNORE, VERDICT_WORDS, Facts, make_pools, recall_row, stream, to_tensors  # noqa: E402
from longrm.base.rows import verify_row as rows_verify_row  # noqa: E402
from longrm.base.text import read_documents, split_documents  # noqa: E402
from longrm.base.train import step_loss  # noqa: E402
from longrm.seeding import derive_seed  # noqa: E402

CLAIM_TYPES = ("true", "hard", "easy")


def verify_row(
    rng,
    facts: Facts,
    prose,
    length: int,
    n_facts: int,
    n_claims: int,
    kind: str,
    gap_max: int,
    verdicts,
    gap_min: int = 0,
    mix=(0.5, 0.25, 0.25),
):
    """The pipeline's verification row (longrm.base.rows.verify_row) with the scout's knobs."""
    grow = {"claims": n_claims, "mix": list(mix), "gap": [gap_min, gap_max]}
    assert tuple(verdicts) == tuple(facts.ids(w)[0] for w in VERDICT_WORDS)
    return rows_verify_row(rng, facts, prose, length, n_facts, grow, kind)


def grow(base_dir: Path, layers: int, seed: int):
    """The shipped base with fresh layers on top whose attention and MLP outputs start at zero."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(base_dir)
    n0 = cfg.num_hidden_layers
    cfg.num_hidden_layers = layers
    if hasattr(cfg, "layer_types") and cfg.layer_types:
        cfg.layer_types = [cfg.layer_types[0]] * layers
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    state = load_file(str(base_dir / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    with torch.no_grad():
        for layer in model.model.layers[n0:]:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    return model


def plant_offsets(model, layer: int, offsets: list[int], amplitude: float = 9.0) -> None:
    """Heads 0.. of `layer` attend to t - offset (q/k biases under RoPE; token-dependent q/k zeroed)."""
    cfg = model.config
    att = model.model.layers[layer].self_attn
    hd = cfg.hidden_size // cfg.num_attention_heads
    half = hd // 2
    theta = 1.0 / (cfg.rope_parameters["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))
    with torch.no_grad():
        for h, o in enumerate(offsets):
            rows = slice(h * hd, (h + 1) * hd)
            att.q_proj.weight[rows] = 0.0
            att.k_proj.weight[rows] = 0.0
            q, k = torch.zeros(hd), torch.zeros(hd)
            q[:half] = amplitude
            k[:half] = amplitude * torch.cos(o * theta)
            k[half:] = amplitude * torch.sin(o * theta)
            att.q_proj.bias[rows] = q
            att.k_proj.bias[rows] = k


def plant_surprise(
    model, layer: int, head: int, offset: int, scale: float, amplitude: float = 9.0, fast_pairs: int = 4
):
    """Head `head` of `layer` attends to t - offset (q/k biases on the fast RoPE pairs) MORE where its own
    token resembles that position's residual (q = k = scale * an orthonormal projection, on the slow pairs,
    which barely rotate over a few tokens): "did the previous position predict me?"."""
    cfg = model.config
    att = model.model.layers[layer].self_attn
    hd = cfg.hidden_size // cfg.num_attention_heads
    half = hd // 2
    theta = 1.0 / (cfg.rope_parameters["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))
    g = torch.Generator().manual_seed(7)
    slow = [i for i in range(half) if i >= fast_pairs] + [i + half for i in range(half) if i >= fast_pairs]
    proj = torch.linalg.qr(torch.randn(cfg.hidden_size, len(slow), generator=g)).Q.T  # (len(slow), H)
    rows = slice(head * hd, (head + 1) * hd)
    with torch.no_grad():
        q, k = torch.zeros(hd), torch.zeros(hd)
        q[:fast_pairs] = amplitude
        k[:fast_pairs] = amplitude * torch.cos(offset * theta[:fast_pairs])
        k[half : half + fast_pairs] = amplitude * torch.sin(offset * theta[:fast_pairs])
        wq = torch.zeros(hd, cfg.hidden_size)
        wq[slow] = scale * proj
        att.q_proj.weight[rows] = wq
        att.k_proj.weight[rows] = wq
        att.q_proj.bias[rows] = q
        att.k_proj.bias[rows] = k


def split_loss(model, ids, targets, kinds, n_verify: int):
    """Mean NLL of the verdicts (rows < n_verify) + mean NLL of the recalled values (the other rows) + 0.5 x
    corpus tokens: a verdict is not outweighed by the recall rows' many targets, nor they by it."""
    import torch.nn.functional as F

    from longrm.base.rows import ANSWER, LM

    hidden = model.model(input_ids=ids).last_hidden_state  # (B, T, H)
    r, c = (targets != IGNORE).nonzero(as_tuple=True)
    nll = F.cross_entropy(model.lm_head(hidden[r, c]), targets[r, c], reduction="none")  # (N,)
    k = kinds[r, c]
    terms = [(k == ANSWER) & (r < n_verify), (k == ANSWER) & (r >= n_verify)]
    loss = sum(nll[m].mean() for m in terms if m.any())
    lm = k == LM
    return loss + (0.5 * nll[lm].mean() if lm.any() else 0.0)


def batch(a, facts, prose, kinds, step: int, purpose: str, verdicts):
    rows = []
    for j in range(a.batch):
        rng = random.Random(derive_seed(a.seed, purpose, step, j))
        kind = kinds[j % len(kinds)]
        u = j / a.batch
        if u < a.verify_share:
            ids, k, _ = verify_row(rng, facts, prose, a.len, a.facts, a.claims, kind, a.gap, verdicts, a.gap_min, a.mix)
        elif u < a.verify_share + a.recall_share:
            ids, k, _, _ = recall_row(rng, facts, prose, a.len, a.facts, 8, kind)
        else:
            s = rng.randrange(len(prose) - a.len - 1)
            ids, k = prose[s : s + a.len], [0] + [2] * (a.len - 1)
        rows.append((ids, k))
    return to_tensors(rows)


def heldout(a, facts, prose, kinds, length: int, verdicts, n: int = 96):
    rows, types = [], []
    for j in range(n):
        rng = random.Random(derive_seed(a.seed, "verify.heldout", length, j))
        ids, k, t = verify_row(
            rng, facts, prose, length, a.facts, a.claims, kinds[j % len(kinds)], a.gap, verdicts, a.gap_min
        )
        rows.append((ids, k))
        types.append(t)
    ids, targets, _ = to_tensors(rows)
    return ids, targets, types


@torch.no_grad()
def evaluate(model, sets, verdicts) -> dict:
    model.eval()
    out = {}
    for length, (ids, targets, types) in sets.items():
        hits = {t: [0, 0] for t in CLAIM_TYPES}
        for i in range(0, len(ids), 16):
            hidden = model.model(input_ids=ids[i : i + 16]).last_hidden_state
            for b in range(hidden.shape[0]):
                pos = (targets[i + b] != IGNORE).nonzero()[0, 0]  # the first claim's verdict
                logits = model.lm_head(hidden[b, pos])[list(verdicts)]
                said_true = bool(logits[1] > logits[0])
                t = types[i + b][0]
                hits[t][0] += said_true == (t == "true")
                hits[t][1] += 1
        acc = {t: round(h / max(n, 1), 3) for t, (h, n) in hits.items()}
        acc["all"] = round(sum(h for h, _ in hits.values()) / sum(n for _, n in hits.values()), 3)
        acc["balanced"] = round((acc["true"] + (acc["hard"] + acc["easy"]) / 2) / 2, 3)
        out[str(length)] = acc
    model.train()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", default=str(REPO / "models" / "base"))
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--len", type=int, default=256)
    p.add_argument("--facts", type=int, default=4)
    p.add_argument("--claims", type=int, default=6)
    p.add_argument("--gap", type=int, default=6)
    p.add_argument("--gap-min", type=int, default=0)
    p.add_argument("--plant", type=int, nargs="*", default=[], help="offsets of the first grown layer's heads")
    p.add_argument("--plant3", type=int, nargs="*", default=[], help="offsets of the second grown layer's heads")
    p.add_argument("--phase2-at", type=int, default=0, help="from this step on: gaps --gap2-min..--gap2")
    p.add_argument("--gap2-min", type=int, default=1)
    p.add_argument("--gap2", type=int, default=7)
    p.add_argument("--mix", type=float, nargs=3, default=(0.5, 0.25, 0.25), help="shares of true/hard/easy claims")
    p.add_argument("--surprise", type=float, default=0.0, help="> 0: plant head 0 of layer 2 as a surprise head")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--verify-share", type=float, default=0.5)
    p.add_argument("--recall-share", type=float, default=0.375)
    p.add_argument("--freeze-old", action="store_true", help="train only the new layers (and the head)")
    p.add_argument(
        "--grown-only", action="store_true", help="train only the grown layers: embeddings, LM head, norm frozen"
    )
    p.add_argument("--carry", type=float, default=0.0, help="> 0: plant the --plant3 heads' OV to carry the verdict")
    p.add_argument("--separate-loss", action="store_true", help="verdicts and recalled values: one mean each")
    p.add_argument("--save", default="", help="write the trained model and the base's tokenizer here")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--name", default="run")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "verify_scout" / "runs.jsonl"))
    a = p.parse_args()
    torch.set_num_threads(1)
    from longrm.modeling import load_tokenizer

    base = Path(a.base)
    tok = load_tokenizer(base)
    facts = Facts(tok, make_pools(tok))
    kinds = facts.kinds()
    train_texts, held_texts = split_documents(read_documents(REPO / "corpus" / "snapshot.jsonl.gz"))
    prose, held = stream(tok, train_texts), stream(tok, held_texts)
    verdicts = (facts.ids(" false")[0], facts.ids(" true")[0])
    model = grow(base, a.layers, a.seed)
    if a.plant:
        plant_offsets(model, 2, a.plant)
    if a.plant3:
        plant_offsets(model, 3, a.plant3)
    if a.carry:
        set_verdict_carry(model, 3, len(a.plant3), verdicts, a.carry)  # the pipeline's plant (grow.carry)
    if a.surprise:
        plant_surprise(model, 2, 0, 1, a.surprise)
    params = [
        p for n, p in model.named_parameters() if not a.freeze_old or "layers.0." not in n and "layers.1." not in n
    ]
    if a.grown_only:
        params = [p for n, p in model.named_parameters() if any(f"layers.{i}." in n for i in range(2, a.layers))]
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.95), weight_decay=0.01)
    sets = {L: heldout(a, facts, held, kinds, L, verdicts) for L in (a.len, 4 * a.len)}
    curve = [{"step": 0, **evaluate(model, sets, verdicts)}]
    print(json.dumps(curve[-1]), flush=True)
    t0 = time.time()
    for step in range(a.steps):
        lr = a.lr * min(1.0, (step + 1) / 30)
        for g in opt.param_groups:
            g["lr"] = lr
        if a.phase2_at and step == a.phase2_at:
            a.gap_min, a.gap = a.gap2_min, a.gap2
            sets = {L: heldout(a, facts, held, kinds, L, verdicts) for L in (a.len, 4 * a.len)}
        rows = batch(a, facts, prose, kinds, step, "verify.train", verdicts)
        if a.separate_loss:
            loss = split_loss(model, *rows, round(a.batch * a.verify_share))
        else:
            loss, _, _ = step_loss(model, *rows, 0.5)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % a.every == 0 or step + 1 == a.steps:
            curve.append(
                {
                    "step": step + 1,
                    "loss": round(loss.item(), 4),
                    "s": round(time.time() - t0),
                    **evaluate(model, sets, verdicts),
                }
            )
            print(json.dumps(curve[-1]), flush=True)
    if a.save:
        model.save_pretrained(a.save, safe_serialization=True)
        tok.save_pretrained(a.save)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps({"name": a.name, "args": vars(a), "curve": curve}) + "\n")


if __name__ == "__main__":
    main()
