"""Scout: which recipe makes a ~1M-parameter Qwen2 decoder bind a value to its entity, on a CPU, fast?

Rows are token ids in the study's fact form: filler (prose stand-in), N facts "The ATTR of E is V ." at
random places, then Q restatements "The ATTR of E is V ." of facts drawn WITH replacement (no exclusion
shortcut); the loss is on each restated V. Every fact of a row has the same ATTR, so another entity's
value is in the context (the hard case). Measured on held-out rows at the training length and at 4x / 8x:
- binding: top-1 at V is the fact's own value (first query of a row, and all queries);
- presence: top-1 at V is some value stated in the row (the "some value of the context" shortcut).

Levers: --prev-init (layer 0's heads 0 and 1 built as offset-1 and offset-2 positional heads: q/k biases
under RoPE peak at that offset; their token-dependent q/k weights zeroed), --facts / --facts-start (a
curriculum over the number of facts), --len, --lr, --steps, --hidden, --layers, --rope-theta.

    python benchmarks/binding_scout.py --prev-init 9 --steps 1500 --every 250
Writes one JSON line (args, curve) to stdout and appends it to --out when given.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

THE, OF, IS, DOT, SEP = 1, 2, 3, 4, 5
N_ATTR, N_ENT, N_VAL, N_FILL = 5, 256, 256, 512
A0 = 8
E0 = A0 + N_ATTR
V0 = E0 + N_ENT
F0 = V0 + N_VAL
VOCAB = F0 + N_FILL


def row(g: torch.Generator, length: int, facts: int, queries: int):
    """(ids, targets, first_query_mask, row_values): one row of `length` tokens."""
    attr = A0 + int(torch.randint(N_ATTR, (1,), generator=g))
    ents = torch.randperm(N_ENT, generator=g)[:facts] + E0
    vals = torch.randperm(N_VAL, generator=g)[:facts] + V0
    tail = queries * 6 + 1
    ctx = length - tail
    ids = torch.randint(F0, VOCAB, (length,), generator=g)
    n_slots = (ctx - 1) // 7
    slots = torch.randperm(n_slots, generator=g)[:facts] * 7 + 1
    for e, v, s in zip(ents.tolist(), vals.tolist(), slots.tolist()):
        ids[s : s + 7] = torch.tensor([THE, attr, OF, e, IS, v, DOT])
    tgt = torch.full((length,), -100)
    first = torch.zeros(length, dtype=torch.bool)
    p = ctx
    ids[p] = SEP
    p += 1
    order = torch.randint(facts, (queries,), generator=g)
    for j, o in enumerate(order.tolist()):
        ids[p : p + 6] = torch.tensor([THE, attr, OF, int(ents[o]), IS, int(vals[o])])
        tgt[p + 4] = vals[o]  # position of IS predicts V
        first[p + 4] = j == 0
        p += 6
    return ids, tgt, first, vals


def batch(g, n, length, facts, queries):
    rows = [row(g, length, facts, queries) for _ in range(n)]
    return tuple(torch.stack([r[i] for r in rows]) for i in range(3)), [r[3] for r in rows]


def build_model(a):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=a.hidden,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        num_key_value_heads=a.heads,
        intermediate_size=4 * a.hidden,
        max_position_embeddings=8192,
        rope_parameters={"rope_type": "default", "rope_theta": a.rope_theta},
        tie_word_embeddings=True,
    )
    torch.manual_seed(a.seed)
    m = Qwen2ForCausalLM(cfg)
    if a.prev_init:
        positional_heads(m, cfg, a.prev_init, offsets=(1, 2))
    if a.match_init:
        match_head(m, cfg, a.match_init, a.copy_init, a.match_out)
    return m


def match_head(model, cfg, scale: float, copy: float = 0.0, out_scale: float = 1.0):
    """Diagnostic: layer 0's offset heads write the same projection of their token into two disjoint
    subspaces, and layer 1's head 0 compares them (q reads the offset-1 subspace, k the offset-2 one)."""
    hd = cfg.hidden_size // cfg.num_attention_heads
    a0, a1 = model.model.layers[0].self_attn, model.model.layers[1].self_attn
    g = torch.Generator().manual_seed(5)
    proj = torch.randn(hd, cfg.hidden_size, generator=g) / cfg.hidden_size**0.5  # (hd, H)
    s0, s1 = slice(cfg.hidden_size - 2 * hd, cfg.hidden_size - hd), slice(cfg.hidden_size - hd, cfg.hidden_size)
    with torch.no_grad():
        for h, sub in ((0, s0), (1, s1)):
            a0.v_proj.weight[h * hd : (h + 1) * hd] = proj
            a0.o_proj.weight[:, h * hd : (h + 1) * hd] = 0.0
            a0.o_proj.weight[sub, h * hd : (h + 1) * hd] = torch.eye(hd) * out_scale
        a1.o_proj.weight[:, 0:hd] = a1.v_proj.weight[0:hd].T * cfg.hidden_size**0.5 * copy  # copies its token
        a1.q_proj.weight[0:hd] = 0.0
        a1.k_proj.weight[0:hd] = 0.0
        a1.q_proj.weight[0:hd, s0] = scale * torch.eye(hd)
        a1.k_proj.weight[0:hd, s1] = scale * torch.eye(hd)


def positional_heads(model, cfg, amplitude: float, offsets=(1, 2)):
    """Layer 0, head h attends to position t - offsets[h]: with q = b_q and k = b_k constant, RoPE makes
    the score sum_i A^2 cos((d - o) theta_i) over frequency pairs i, which peaks at distance d = o."""
    att = model.model.layers[0].self_attn
    hd = cfg.hidden_size // cfg.num_attention_heads
    half = hd // 2
    theta = 1.0 / (cfg.rope_parameters["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))  # (half,)
    with torch.no_grad():
        for h, o in enumerate(offsets):
            sl = slice(h * hd, (h + 1) * hd)
            att.q_proj.weight[sl] = 0.0
            att.k_proj.weight[sl] = 0.0
            qb = torch.zeros(hd)
            kb = torch.zeros(hd)
            qb[:half] = amplitude
            kb[:half] = amplitude * torch.cos(o * theta)
            kb[half:] = amplitude * torch.sin(o * theta)
            att.q_proj.bias[sl] = qb
            att.k_proj.bias[sl] = kb


def evaluate(m, evals):
    m.eval()
    out = {}
    with torch.no_grad():
        for L, ((x, t, first), vals) in evals.items():
            pred = m(x).logits.argmax(-1)
            mask = t != -100
            hit = (pred == t) & mask
            present = torch.zeros_like(mask)
            for b, v in enumerate(vals):
                present[b] = torch.isin(pred[b], v) & mask[b]
            out[L] = {
                "binding": round(hit.sum().item() / mask.sum().item(), 3),
                "binding_first": round((hit & first).sum().item() / first.sum().item(), 3),
                "presence": round(present.sum().item() / mask.sum().item(), 3),
            }
    m.train()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--facts", type=int, default=4)
    p.add_argument("--facts-start", type=int, default=0, help="curriculum: start at this many facts")
    p.add_argument("--curriculum-steps", type=int, default=0)
    p.add_argument("--queries", type=int, default=4)
    p.add_argument("--len", type=int, default=96)
    p.add_argument("--eval-mult", default="1,4,8")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--prev-init", type=float, default=0.0)
    p.add_argument("--match-out", type=float, default=1.0, help="scale of the offset heads' writes")
    p.add_argument("--copy-init", type=float, default=0.0, help="diagnostic: the match head's OV copies")
    p.add_argument("--match-init", type=float, default=0.0, help="diagnostic: layer 1's match head at init")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    m = build_model(a)
    opt = torch.optim.AdamW(m.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.01)

    def lr_at(s):
        if s < a.warmup:
            return (s + 1) / a.warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - a.warmup) / max(1, a.steps - a.warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    ge = torch.Generator().manual_seed(999)
    evals = {a.len * k: batch(ge, 64, a.len * k, a.facts, a.queries) for k in map(int, a.eval_mult.split(","))}
    g = torch.Generator().manual_seed(1 + a.seed)
    t0, curve = time.time(), [{"step": 0, "eval": evaluate(m, evals)}]
    print(json.dumps(curve[-1]), flush=True)
    for step in range(1, a.steps + 1):
        facts = a.facts
        if a.facts_start and step <= a.curriculum_steps:
            facts = a.facts_start + (a.facts - a.facts_start) * step // max(1, a.curriculum_steps)
        (x, t, _), _ = batch(g, a.batch, a.len, facts, a.queries)
        loss = torch.nn.functional.cross_entropy(m(x).logits.flatten(0, 1), t.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % a.every == 0 or step == a.steps:
            r = evaluate(m, evals)
            curve.append({"step": step, "loss": round(loss.item(), 3), "eval": r, "s": round(time.time() - t0)})
            print(json.dumps(curve[-1]), flush=True)
    line = json.dumps({"args": vars(a), "params": sum(q.numel() for q in m.parameters()), "curve": curve})
    print(line)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
