"""The base's architecture: a standard HF decoder config (qwen2 or llama), and its initialisation.

`positional_heads`: layer 0's first heads start as fixed-offset heads (head h attends to t - offsets[h]).
Their token-dependent q/k weights start at zero and their q/k biases are constant vectors; under RoPE the
score between positions m and n is then sum_i A^2 cos((m - n - o) theta_i), which peaks at m - n = o.
Training may change them like any weight. This hands layer 1 the tokens before each position (the
entity two tokens before a value in "of E is V"), the step a small model is slowest to find.
"""

from __future__ import annotations

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
        set_positional_heads(model, m["positional_heads"], m["positional_amplitude"])
    return model


def set_positional_heads(model, offsets: list[int], amplitude: float) -> None:
    cfg = model.config
    att = model.model.layers[0].self_attn
    hd = cfg.hidden_size // cfg.num_attention_heads
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
