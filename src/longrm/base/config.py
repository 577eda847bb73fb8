"""config/base.yaml, validated against workflow/schemas/base.schema.yaml (defaults live in the schema)."""

from __future__ import annotations

import copy
from pathlib import Path

from longrm.config import REPO_ROOT, _fill, load_yaml
from longrm.errors import ConfigError

BASE_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "base.schema.yaml"
BASE_CONFIG = REPO_ROOT / "config" / "base.yaml"


def load_base_config(path: str | Path | None = None) -> dict:
    """The base config with every default filled; ConfigError naming the first bad key."""
    import jsonschema

    path = Path(path) if path else BASE_CONFIG
    cfg = load_yaml(path)
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: the config must be a mapping")
    sch = load_yaml(BASE_SCHEMA)
    errors = sorted(jsonschema.Draft202012Validator(sch).iter_errors(cfg), key=lambda e: list(map(str, e.path)))
    if errors:
        key = ".".join(map(str, errors[0].absolute_path)) or "<top level>"
        raise ConfigError(f"{path}: key '{key}': {errors[0].message}")
    cfg = _fill(copy.deepcopy(cfg), sch, sch)
    m = cfg["model"]
    if m["positional_heads"] and m["architecture"] != "qwen2":
        raise ConfigError(f"{path}: key 'model.positional_heads': needs q/k biases (architecture qwen2)")
    if len(m["positional_heads"]) > m["num_heads"] or m["num_kv_heads"] != m["num_heads"] and m["positional_heads"]:
        raise ConfigError(
            f"{path}: key 'model.positional_heads': at most num_heads offsets, and num_kv_heads == num_heads"
        )
    for pair in m["match_heads"]:
        if not set(pair) <= set(m["positional_heads"]) or m["num_layers"] < 2 or len(m["match_heads"]) > m["num_heads"]:
            raise ConfigError(
                f"{path}: key 'model.match_heads': {pair} must name offsets of model.positional_heads (2+ layers)"
            )
    if len(m["positional_heads"]) * m["hidden_size"] // m["num_heads"] > m["hidden_size"]:
        raise ConfigError(f"{path}: key 'model.positional_heads': their subspaces do not fit in hidden_size")
    if cfg["train"]["facts_start"] > cfg["train"]["facts"]:
        raise ConfigError(f"{path}: key 'train.facts_start': more than train.facts")
    g = cfg["grow"]
    if g["at_step"]:
        if g["num_layers"] <= m["num_layers"]:
            raise ConfigError(f"{path}: key 'grow.num_layers': {g['num_layers']} is not more than model.num_layers")
        if g["at_step"] >= cfg["train"]["steps"]:
            raise ConfigError(f"{path}: key 'grow.at_step': {g['at_step']} is not before train.steps")
        heads = g["positional_heads"]
        if len(heads) > g["num_layers"] - m["num_layers"] or any(len(h) > m["num_heads"] for h in heads):
            raise ConfigError(
                f"{path}: key 'grow.positional_heads': a list a grown layer, at most num_heads offsets each"
            )
        if any(heads) and m["architecture"] != "qwen2":
            raise ConfigError(f"{path}: key 'grow.positional_heads': needs q/k biases (architecture qwen2)")
        if g["gap"][0] > g["gap"][1] or abs(sum(g["mix"]) - 1) > 1e-6:
            raise ConfigError(f"{path}: key 'grow.gap' / 'grow.mix': gap is [min, max], mix sums to 1")
    cfg["_path"] = str(path)
    return cfg
