"""Named benchmark sets (config `bench.sets`, default in the schema): which file each set judges and
which models and baselines judge it. A file set names a benchmark JSONL (relative paths under
results_dir); a control set is derived from another set by `longrm bench control` into
R/controls/SET.jsonl. The first set is the main one (tables and claims read it first)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from longrm.errors import ConfigError

BASELINE_NAMES = ("random", "longer", "first")


@dataclass(frozen=True)
class BenchSet:
    name: str
    file: str  # the benchmark JSONL this set judges
    models: tuple[str, ...]  # bench model names and baselines, in config order
    control: str | None = None  # swap | none
    of: str | None = None  # the set a control is derived from
    share: float = 1.0  # a control's share of the items of `of` (bench.control.sampled_ids)


def evaluated(cfg: dict) -> list[str]:
    return [m["name"] for m in cfg["bench"]["models"]] + list(cfg["bench"]["baselines"])


def bench_sets(cfg: dict) -> list[BenchSet]:
    """The config's sets, checked: unique names, a control's `of` an earlier file set, every model known."""
    where = cfg.get("_path", "<config>")
    results = str(cfg["results_dir"]).rstrip("/")
    known = evaluated(cfg)
    out: dict[str, BenchSet] = {}
    for k, s in enumerate(cfg["bench"]["sets"]):
        key = f"bench.sets.{k}"
        if s["name"] in out:
            raise ConfigError(f"{where}: key '{key}.name': set {s['name']!r} declared twice")
        unknown = [m for m in s.get("models") or [] if m not in known]
        if unknown:
            raise ConfigError(
                f"{where}: key '{key}.models': {', '.join(map(repr, unknown))} not in bench.models "
                f"or bench.baselines ({', '.join(known)})"
            )
        models = tuple(s.get("models") or known)
        if "file" in s:
            file = s["file"] if os.path.isabs(s["file"]) else f"{results}/{s['file']}"
            out[s["name"]] = BenchSet(s["name"], file, models)
            continue
        parent = out.get(s["of"])
        if parent is None or parent.control:
            raise ConfigError(
                f"{where}: key '{key}.of': {s['of']!r} is not an earlier file set "
                f"({', '.join(n for n, b in out.items() if not b.control) or 'none'})"
            )
        out[s["name"]] = BenchSet(
            s["name"], f"{results}/controls/{s['name']}.jsonl", models, s["control"], s["of"], s["share"]
        )
    return list(out.values())
