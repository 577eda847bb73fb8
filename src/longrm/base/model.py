"""The base's architecture: a standard HF decoder config (qwen2 or llama), and its initialisation.

Reading "The tag of E is V." back ("The tag of E is" -> V) takes two steps: at the value V the entity E is
two tokens back, at the restatement's "is" one token back; a layer-1 head must match the two and copy V.
A 2-layer model trained from a standard init sits on the "some value of the context" plateau for
thousands of steps (benchmarks/binding_scout.md). The init can plant the attention pattern (never the
outputs) of that circuit; everything else is learned:
- `positional_heads`: layer 0's first heads start as fixed-offset heads (head h attends to
  t - offsets[h]): zero token-dependent q/k weights and constant q/k biases, so that under RoPE the score
  between positions m and n is sum_i A^2 cos((m - n - o) theta_i), which peaks at m - n = o. They write one
  shared random projection of the token they see into a subspace of their own (scaled to about the
  embeddings' size).
- `match_heads`: layer-1 head j compares two of those subspaces: its query reads offset a's, its key
  offset b's, so it attends where the token b back equals the token a back here.
Training may change all of these like any weight.

Growth (stage II, `grow`): reading is not judging. A verdict on a claim needs a step more: compare the
claim's value with what the context binds to its entity, then carry the result to the verdict. At
`grow.at_step` the model gets fresh layers on top whose attention and MLP outputs start at zero (so it
computes what it did), the first of them with heads that start attending to t - offset (the claim's value
sees the position that read the context); then it learns to verify (benchmarks/verify_scout.md).
"""

from __future__ import annotations

import copy

import torch


def model_config(tok, m: dict):
    from transformers import LlamaConfig, Qwen2Config

    cls = {"qwen2": Qwen2Config, "llama": LlamaConfig}[m["architecture"]]
    return cls(
        vocab_size=len(tok),
        hidden_size=m["hidden_size"],
        num_hidden_layers=m["num_layers"],
        num_attention_heads=m["num_heads"],
        num_key_value_heads=m["num_kv_heads"],
        intermediate_size=m["intermediate_size"],
        max_position_embeddings=m["max_position_embeddings"],
        rope_parameters={"rope_type": "default", "rope_theta": float(m["rope_theta"])},
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )


def init_model(tok, m: dict, seed: int):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(model_config(tok, m))
    if m["positional_heads"]:
        set_positional_heads(model, m["positional_heads"], m["positional_amplitude"], m["positional_write"], seed)
    if m["match_heads"]:
        set_match_heads(model, m["positional_heads"], m["match_heads"], m["match_scale"], m["match_copy"], seed)
    return model


def head_dim(cfg) -> int:
    return cfg.hidden_size // cfg.num_attention_heads


def subspace(cfg, h: int) -> slice:
    """The residual dimensions layer 0's positional head h writes to (from the top down)."""
    hd = head_dim(cfg)
    return slice(cfg.hidden_size - (h + 1) * hd, cfg.hidden_size - h * hd)


def set_offset_attention(model, layer: int, offsets: list[int], amplitude: float) -> None:
    """Heads 0.. of `layer` attend to t - offsets[h]: zero token-dependent q/k weights, constant q/k biases."""
    cfg = model.config
    att = model.model.layers[layer].self_attn
    hd = head_dim(cfg)
    half = hd // 2
    theta = 1.0 / (cfg.rope_parameters["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))  # (half,)
    with torch.no_grad():
        for h, o in enumerate(offsets):
            rows = slice(h * hd, (h + 1) * hd)
            att.q_proj.weight[rows] = 0.0
            att.k_proj.weight[rows] = 0.0
            q = torch.zeros(hd)
            k = torch.zeros(hd)
            q[:half] = amplitude
            k[:half] = amplitude * torch.cos(o * theta)  # rotate_half pairs dim i with dim i + half
            k[half:] = amplitude * torch.sin(o * theta)
            att.q_proj.bias[rows] = q
            att.k_proj.bias[rows] = k


def set_positional_heads(model, offsets: list[int], amplitude: float, write: float, seed: int) -> None:
    cfg = model.config
    att = model.model.layers[0].self_attn
    hd = head_dim(cfg)
    set_offset_attention(model, 0, offsets, amplitude)
    g = torch.Generator().manual_seed(seed)
    proj = torch.randn(hd, cfg.hidden_size, generator=g) / cfg.hidden_size**0.5  # (hd, H): shared by the heads
    with torch.no_grad():
        for h in range(len(offsets)):
            rows = slice(h * hd, (h + 1) * hd)
            att.v_proj.weight[rows] = proj
            att.o_proj.weight[:, rows] = 0.0
            att.o_proj.weight[subspace(cfg, h), rows] = write * torch.eye(hd)


def set_match_heads(model, offsets: list[int], pairs: list[list[int]], scale: float, copy: float, seed: int) -> None:
    cfg = model.config
    att = model.model.layers[1].self_attn
    hd = head_dim(cfg)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        if copy:  # the heads' value/output start as a copy of the attended token's projection
            for j in range(len(pairs)):
                rows = slice(j * hd, (j + 1) * hd)
                proj = torch.linalg.qr(torch.randn(cfg.hidden_size, hd, generator=g)).Q.T  # (hd, H), orthonormal rows
                att.v_proj.weight[rows] = proj
                att.o_proj.weight[:, rows] = copy * proj.T
        for j, (qo, ko) in enumerate(pairs):
            rows = slice(j * hd, (j + 1) * hd)
            att.q_proj.weight[rows] = 0.0
            att.k_proj.weight[rows] = 0.0
            att.q_proj.weight[rows, subspace(cfg, offsets.index(qo))] = scale * torch.eye(hd)
            att.k_proj.weight[rows, subspace(cfg, offsets.index(ko))] = scale * torch.eye(hd)


def grow_model(model, grow: dict, amplitude: float, seed: int, verdicts: tuple[int, int] | None = None):
    """The model with layers added on top up to grow.num_layers: the old weights as they are, the new
    layers' attention and MLP outputs zero (the grown model computes what the old one did)."""
    from transformers import AutoModelForCausalLM

    cfg = copy.deepcopy(model.config)
    old = cfg.num_hidden_layers
    cfg.num_hidden_layers = grow["num_layers"]
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = [cfg.layer_types[0]] * grow["num_layers"]
    torch.manual_seed(seed)
    grown = AutoModelForCausalLM.from_config(cfg)
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    new = tuple(f"model.layers.{i}." for i in range(old, grow["num_layers"]))
    if unexpected or not all(k.startswith(new) for k in missing):
        raise RuntimeError(f"growing the base: unexpected {unexpected}, missing {missing}")
    with torch.no_grad():
        for layer in grown.model.layers[old:]:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    for i, offsets in enumerate(grow["positional_heads"]):
        set_offset_attention(grown, old + i, offsets, amplitude)
    if grow.get("carry") and grow["positional_heads"]:
        if verdicts is None:
            raise ValueError("grow.carry needs the verdict words' token ids")
        last = old + len(grow["positional_heads"]) - 1
        set_verdict_carry(grown, last, len(grow["positional_heads"][-1]), verdicts, grow["carry"])
    return grown


def set_verdict_carry(model, layer: int, heads: int, verdicts: tuple[int, int], scale: float) -> None:
    """Heads 0..heads-1 of `layer` copy the verdict direction from the position they attend to: the residual
    direction along which the LM head (after the final norm) tells verdicts[1] (" true") from verdicts[0]. One
    value row reads it, one output column writes it back, so a verdict formed at a claim's value reaches the
    verdict `offset` tokens later from the first step; only the comparison is left to learn
    (benchmarks/verify_scout.md)."""
    hd = head_dim(model.config)
    emb = model.get_output_embeddings().weight.detach()
    u = (emb[verdicts[1]] - emb[verdicts[0]]) * model.model.norm.weight.detach()  # (H,)
    u = u / u.norm()
    att = model.model.layers[layer].self_attn
    with torch.no_grad():
        for h in range(heads):
            att.v_proj.weight[h * hd] = u
            att.o_proj.weight[:, h * hd] = scale * u


def trainable_after_growth(model, old_layers: int, freeze_below: bool, embeddings: str = "all", verdicts=()) -> list:
    """The parameter groups stage II trains: all, or (freeze_below) all but the old layers'. With freeze_below,
    `embeddings` picks the embedding rows (tied LM head) that train: all, only `verdicts` (the final norm
    frozen, the other rows' gradients zeroed and no weight decay on them) or none (the grown layers alone)."""
    old = tuple(f"model.layers.{i}." for i in range(old_layers))
    grown = tuple(f"model.layers.{i}." for i in range(old_layers, model.config.num_hidden_layers))
    emb = model.get_input_embeddings().weight
    layers, shared = [], []
    for name, p in model.named_parameters():
        outside = not name.startswith(grown)  # embeddings, final norm (and the old layers)
        frozen = freeze_below and (name.startswith(old) or outside and embeddings != "all")
        p.requires_grad_(not frozen or (p is emb and embeddings == "verdicts"))
        if p.requires_grad:
            (shared if p is emb and embeddings == "verdicts" else layers).append(p)
    if shared:
        keep = torch.zeros(emb.shape[0], 1)
        keep[list(verdicts)] = 1.0
        emb.register_hook(lambda grad: grad * keep.to(grad.dtype))
        return [{"params": layers}, {"params": shared, "weight_decay": 0.0}]
    return [{"params": layers}]
