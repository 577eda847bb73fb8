"""Load and validate the one study config (schema: workflow/schemas/config.schema.yaml)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from longrm.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = REPO_ROOT / "config" / "default.yaml"


def load_yaml(path: str | Path) -> Any:
    """The YAML document at `path`; ConfigError for a missing file, bad YAML or a key given twice in one
    mapping (PyYAML would keep the last silently: two ablation variants of one name, say)."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            refuse_duplicate_keys(yaml.compose(f, Loader=yaml.SafeLoader), str(path))
        with path.open(encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def refuse_duplicate_keys(node: Any, source: str, where: str = "") -> None:
    """ConfigError naming the dotted key path and both lines of the first key given twice in a mapping."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value)
            dotted = f"{where}.{name}" if where else name
            if name in seen:
                raise ConfigError(
                    f"{source}: key '{dotted}' given twice (lines {seen[name]} and {key.start_mark.line + 1}); "
                    "each name once"
                )
            seen[name] = key.start_mark.line + 1
            refuse_duplicate_keys(value, source, dotted)
    elif isinstance(node, yaml.SequenceNode):
        for k, value in enumerate(node.value):
            refuse_duplicate_keys(value, source, f"{where}.{k}" if where else str(k))


@functools.cache
def _schema() -> dict:
    return load_yaml(SCHEMA_PATH)


def schema() -> dict:
    """The config schema (parsed once per process; each caller gets its own copy)."""
    return copy.deepcopy(_schema())


def validate(cfg: Any, source: str = "<config>") -> dict:
    """Raise ConfigError naming the first offending key path (e.g. train.logo.beta) and the reason."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: key '{key}': {err.message}{more}")
    return cfg


def load_config(path: str | Path | None = None) -> dict:
    """Read a YAML config with safe_load, validate it against the schema, fill the schema's defaults of the
    keys it leaves out (`with_defaults`) and return it as a dict. Code reads cfg[...] directly."""
    path = Path(path) if path else DEFAULT_CONFIG
    cfg = load_yaml(path)
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: the config must be a mapping, got {type(cfg).__name__}")
    validate(cfg, str(path))
    cfg = with_defaults(cfg)
    cfg["_path"] = str(path)
    return cfg


def with_defaults(cfg: dict) -> dict:
    """A copy of `cfg` with the schema's `default` of every key it leaves out (the one home of each
    default). An absent object is created only when the schema gives it a default (`{}`: then its keys'
    defaults are filled); entries of lists of objects (judges, bench models) are filled the same way."""
    sch = schema()
    return _fill(copy.deepcopy(cfg), sch, sch)


def _resolve(node: Any, sch: dict) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = {**sch["$defs"][node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _fill(value: Any, node: Any, sch: dict) -> Any:
    node = _resolve(node, sch)
    if not isinstance(node, dict) or node.get("x-no-defaults"):  # overrides (ablation variants): as given
        return value
    if isinstance(value, dict):
        props = node.get("properties") or {}
        for key, sub in props.items():
            sub = _resolve(sub, sch)
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = _fill(value[key], sub, sch)
        if isinstance(node.get("additionalProperties"), dict):  # a mapping of named entries (variants)
            for key in [k for k in value if k not in props]:
                value[key] = _fill(value[key], node["additionalProperties"], sch)
    elif isinstance(value, list) and "items" in node:
        value[:] = [_fill(v, node["items"], sch) for v in value]
    return value


def section(cfg: dict, dotted: str) -> Any:
    """cfg['a']['b'] for 'a.b'; ConfigError naming the key when it is missing."""
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{cfg.get('_path', '<config>')}: missing key '{dotted}'")
        node = node[part]
    return node


def results_path(cfg: dict, *parts: str) -> Path:
    """A path under the config's results_dir."""
    return Path(cfg["results_dir"]).joinpath(*parts)


def schema_default(*keys: str) -> Any:
    """The `default` the schema gives a key, named dotted ('bench.sets') or by parts ('synth', 'fit_judge');
    ConfigError when it has none. Defaults of new keys live in the schema, not in code."""
    dotted = ".".join(keys)
    sch = schema()
    node: Any = sch
    for part in dotted.split("."):
        while isinstance(node, dict) and "$ref" in node:
            node = sch["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        node = (node or {}).get("properties", {}).get(part)
        if node is None:
            raise ConfigError(f"{SCHEMA_PATH}: no key '{dotted}'")
    if "default" in node:
        return copy.deepcopy(node["default"])
    props = {k: v["default"] for k, v in (node.get("properties") or {}).items() if "default" in v}
    if not props:
        raise ConfigError(f"{SCHEMA_PATH}: key '{dotted}' has no default")
    return copy.deepcopy(props)  # an object: the defaults of its keys
