"""Loading local models and tokenizers safely. Never from a hub; weights through safetensors only.

A checkpoint folder holds `config.json`, `*.safetensors` and tokenizer files (save_pretrained layout).
A pickle checkpoint (`pytorch_model.bin`, `*.pt`) is refused unless `allow_pickle=True` is passed
explicitly; `trust_remote_code` is off unless a config enables it for a named model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from longrm.errors import InputError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def check_checkpoint(path: str | Path, allow_pickle: bool = False) -> Path:
    """Validate a local checkpoint folder before any loader touches it."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "checkpoint folder not found (models are never fetched from a hub)")
    if not (path / "config.json").exists():
        raise InputError(path, "no config.json: not a save_pretrained checkpoint folder")
    safetensors = sorted(path.glob("*.safetensors"))
    pickles = [p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES and p.name != "training_args.bin"]
    if not safetensors:
        if pickles and not allow_pickle:
            raise InputError(
                path,
                f"only pickle weights ({pickles[0].name}); refusing to unpickle. Convert to "
                "safetensors, or pass --allow-pickle if you trust the file",
            )
        if not pickles:
            raise InputError(path, "no *.safetensors weights in the checkpoint")
    for st in safetensors:
        check_safetensors_file(st)
    return path


def check_safetensors_file(path: Path) -> None:
    """A truncated or corrupted safetensors file fails here with a clear error, not deep in torch."""
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError("shorter than its 8-byte header length")
            n = int.from_bytes(head, "little")
            if n <= 0 or 8 + n > size:
                raise ValueError("header length points past the end of the file")
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end != size:
            raise ValueError(f"expected {8 + n + end} bytes, found {size} (truncated?)")
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"corrupted safetensors file: {exc}") from None


def load_tokenizer(path: str | Path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "tokenizer folder not found (tokenizers are never fetched from a hub)")
    if _plain_tokenizer(path):
        # AutoTokenizer would pick the class of config.json's model_type (Qwen2Tokenizer for a qwen2 base),
        # whose own pre-tokenizer splits numbers digit by digit: not the tokenizer.json the base was
        # trained with. A folder that names the plain class gets exactly its tokenizer.json.
        from transformers import PreTrainedTokenizerFast

        tok = PreTrainedTokenizerFast.from_pretrained(
            str(path), trust_remote_code=trust_remote_code, local_files_only=True
        )
    else:
        tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code, local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _plain_tokenizer(path: Path) -> bool:
    """Whether the folder's tokenizer_config.json names the plain fast tokenizer (ours) rather than a
    model-specific class (a hub checkpoint's)."""
    import json

    conf = path / "tokenizer_config.json"
    if not conf.is_file():
        return False
    try:
        cls = json.loads(conf.read_text(encoding="utf-8")).get("tokenizer_class")
    except json.JSONDecodeError as exc:
        raise InputError(conf, f"not JSON: {exc.msg}", line=exc.lineno) from None
    return cls in ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_causal_lm(
    path: str | Path,
    dtype=None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    attn_implementation: str | None = None,
    overrides: dict | None = None,
):
    """AutoModelForCausalLM from a local folder, safetensors only (unless allow_pickle). `overrides` are
    set on its config before the model is built (RoPE scaling: judges/model_args.py)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    path = check_checkpoint(path, allow_pickle)
    kwargs = dict(
        trust_remote_code=trust_remote_code,
        local_files_only=True,
        use_safetensors=not allow_pickle or any(path.glob("*.safetensors")),
    )
    if overrides:
        config = AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code, local_files_only=True)
        for key, value in overrides.items():
            setattr(config, key, value)
        kwargs["config"] = config
    if dtype is not None:
        kwargs["dtype"] = dtype
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    return AutoModelForCausalLM.from_pretrained(str(path), **kwargs)


def cpu_supports_bf16() -> bool:
    """AVX-512 BF16 / AMX on this CPU (Linux flags); bf16 autocast is slow or wrong without it."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def job_threads() -> int:
    """The threads this process may use: LONGRM_THREADS, else OMP_NUM_THREADS (Snakemake sets it to the
    rule's `threads`, so two jobs side by side do not each take every core), else 0 (unknown)."""
    for var in ("LONGRM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


def set_threads(n: int | None = None) -> None:
    import torch

    torch.set_num_threads(n or job_threads() or os.cpu_count() or 1)


# ---------------------------------------------------------------- KV caches (train's shared prompt, bench prefill)
def cache_kwarg(model) -> str:
    """transformers >= 5.2x names the KV cache argument `cache`, earlier versions `past_key_values`."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def cache_of(out):
    """The KV cache of a forward's output (None when the model returned none)."""
    return out.get("cache") if out.get("cache") is not None else out.get("past_key_values")


def kv_of(cache) -> list[tuple] | None:
    """Per-layer (keys, values), each (batch, kv_heads, n, head_dim); None for an unknown cache layout."""
    layers = getattr(cache, "layers", None)
    if layers and hasattr(layers[0], "keys"):
        return [(layer.keys, layer.values) for layer in layers]
    return None


def cache_from_kv(kv, config, length: int | None = None):
    """A fresh DynamicCache holding the first `length` positions (all by default) of `kv`. The given
    tensors are not modified: the model's update() concatenates onto them."""
    from transformers import DynamicCache

    cache = DynamicCache(config=config)
    for layer, (keys, values) in enumerate(kv):
        cache.update(keys[..., :length, :], values[..., :length, :], layer)
    return cache


SHARED_PREFIX_MIN = 64  # tokens; a shorter shared start is recomputed (not worth a cache copy)


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    return k


def forward_sharing_prefix(model, prompts: Sequence[Sequence[int]], min_shared: int = SHARED_PREFIX_MIN, **kwargs):
    """Each prompt's forward alone (unpadded, the CPU's fast causal attention path), with its KV cache.
    A prompt that starts with at least `min_shared` tokens of the previous one (an item's responses and
    presentation orders share the instructions and the long context) reuses those keys/values and runs
    only the rest (always at least its last token). Yields each output in prompt order; `kwargs` go to
    every forward (e.g. logits_to_keep=1)."""
    import torch

    device = next(model.parameters()).device
    cache_name = cache_kwarg(model)
    prev, prev_kv = None, None
    for p in prompts:
        k = min(shared_prefix(prev, p), len(p) - 1) if prev is not None else 0
        if k >= min_shared and prev_kv is not None:
            cached = {cache_name: cache_from_kv(prev_kv, model.config, length=k)}
            out = model(input_ids=torch.tensor([p[k:]], device=device), use_cache=True, **cached, **kwargs)
        else:
            out = model(input_ids=torch.tensor([p], device=device), use_cache=True, **kwargs)
        prev, prev_kv = p, kv_of(cache_of(out))
        yield out
