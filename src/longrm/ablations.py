"""Training ablations (config `ablations`, schema in workflow/schemas/config.schema.yaml): which training and
bench jobs each named variant needs, and the config each of its jobs runs with.

A variant trains `stages` (sft, logo; in that order) with its `train` overrides on top of the main run's
`train.*`, on the vote's labels or the best single judge's (`labels: best_judge`, `longrm vote relabel`).
Its first stage starts from the judge base (the short judge when `train.short` exists, else the base model),
each later stage from the stage before. A stage run equal to the main run's (same init, data and settings)
is the main run's own model, R/models/STAGE: it is not trained again. Every other run writes
R/ablations/models/VARIANT/STAGE. Each variant's final model is judged on `ablations.sets`: by the main
run's bench outputs when a bench model already judges that very model the same way on that set, else by a
bench job of its own (R/ablations/bench/SET/VARIANT/). Nothing here runs a job: the Snakefile (workflow/rules/
ablations.smk) and the `longrm` commands read this plan; a config error is raised before any job runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from longrm.errors import ConfigError

STAGES = ("sft", "logo")
DATA_FILE = {"sft": "sft.jsonl", "logo": "pref.jsonl"}
BEST_JUDGE = "best_judge"
SPEC_KEYS = ("rope_scaling", "trust_remote_code")  # judge settings a reused bench model must share


@dataclass(frozen=True)
class StageRun:
    """One training stage of a variant: where it starts, what it reads, where its model is."""

    variant: str
    stage: str
    init: str
    data: str
    out: str
    main: bool  # the main run's own model (R/models/STAGE): no job


@dataclass(frozen=True)
class Variant:
    name: str
    stages: tuple[str, ...]
    labels: str
    runs: tuple[StageRun, ...]
    note: str = ""

    @property
    def model(self) -> str:
        """The model the variant is judged with: its last stage's."""
        return self.runs[-1].out

    @property
    def trained(self) -> tuple[StageRun, ...]:
        """The stage runs that are training jobs (the others are the main run's models)."""
        return tuple(r for r in self.runs if not r.main)


# ---------------------------------------------------------------- paths


def results(cfg: dict, *parts: str) -> str:
    """A path under results_dir, spelled as the Snakefile spells it (workflow/rules/common.smk `res`)."""
    return "/".join([str(cfg["results_dir"]).rstrip("/"), *parts])


def base_model(cfg: dict) -> str:
    return cfg["inputs"].get("base_model_path") or results(cfg, "inputs", "base_model")


def judge_base(cfg: dict) -> str:
    """Where the judge's training starts: the short judge (train.short, R/models/base), else the base model."""
    return results(cfg, "models", "base") if "short" in cfg["train"] else base_model(cfg)


def main_init(cfg: dict, stage: str) -> str:
    """What the main run's `stage` starts from: train.STAGE.init, else the recipe's (logo from the SFT model,
    the others from the judge base)."""
    default = results(cfg, "models", "sft") if stage == "logo" else judge_base(cfg)
    return cfg["train"][stage].get("init") or default


def labels_dir(cfg: dict) -> str:
    """The best single judge's labels and the splits made from them."""
    return results(cfg, "ablations", "labels", BEST_JUDGE)


def splits_dir(cfg: dict, labels: str) -> str:
    return results(cfg, "splits") if labels == "vote" else f"{labels_dir(cfg)}/splits"


def variant_model_dir(cfg: dict, variant: str, stage: str) -> str:
    return results(cfg, "ablations", "models", variant, stage)


def variant_bench_dir(cfg: dict, set_name: str, variant: str) -> str:
    return results(cfg, "ablations", "bench", set_name, variant)


# ---------------------------------------------------------------- the plan


def has_ablations(cfg: dict) -> bool:
    return bool(cfg.get("ablations"))


def ablation_plan(cfg: dict) -> list[Variant]:
    """Every variant of the config, checked (ConfigError naming the config file and the key), in config order;
    [] without an `ablations` section."""
    if not has_ablations(cfg):
        return []
    check_ablations(cfg)
    return [plan_variant(cfg, name, spec) for name, spec in cfg["ablations"]["variants"].items()]


def plan_variant(cfg: dict, name: str, spec: dict) -> Variant:
    merged = variant_config(cfg, name)
    runs, init = [], None
    for stage in spec["stages"]:
        override = (spec.get("train") or {}).get(stage, {}).get("init")
        init = override or init or (main_init(cfg, stage) if stage == "sft" else judge_base(cfg))
        data = f"{splits_dir(cfg, spec['labels'])}/{DATA_FILE[stage]}"
        main = is_main_run(cfg, merged, stage, init, spec["labels"])
        out = results(cfg, "models", stage) if main else variant_model_dir(cfg, name, stage)
        runs.append(StageRun(name, stage, init, data, out, main))
        init = out
    return Variant(name, tuple(spec["stages"]), spec["labels"], tuple(runs), spec.get("note", ""))


def is_main_run(cfg: dict, merged: dict, stage: str, init: str, labels: str) -> bool:
    """Whether a variant's stage run is the main run's: the vote's labels, the same init and settings."""
    same_settings = all(merged["train"][k] == cfg["train"][k] for k in ("common", stage))
    return labels == "vote" and init == main_init(cfg, stage) and same_settings


def variant_config(cfg: dict, name: str) -> dict:
    """The config a variant's training jobs run with: its `train` overrides over the main run's train.*."""
    variants = (cfg.get("ablations") or {}).get("variants") or {}
    if name not in variants:
        known = ", ".join(variants) or "none"
        raise ConfigError(f"{where(cfg)}: no ablation variant {name!r} in ablations.variants ({known})")
    out = copy.deepcopy(cfg)
    for section, keys in (variants[name].get("train") or {}).items():
        out["train"][section] = {**out["train"][section], **copy.deepcopy(keys)}
    return out


def find_variant(cfg: dict, name: str) -> Variant | None:
    return next((v for v in ablation_plan(cfg) if v.name == name), None)


# ---------------------------------------------------------------- judging the variants


def variant_bench_spec(cfg: dict, variant: Variant) -> dict:
    """The bench model entry a variant is judged as: ablations.judge, named after the variant, its model."""
    judge = cfg["ablations"]["judge"]
    return {"name": variant.name, "kind": "generative", "path": variant.model, **judge}


def reused_bench_model(cfg: dict, variant: Variant, set_name: str) -> str | None:
    """The bench model that already judges this variant's very model, as the variant would be judged, on
    `set_name` (its outputs are the variant's: no bench job); None when there is none."""
    from longrm.bench.sets import bench_sets

    judged = {s.name: s.models for s in bench_sets(cfg)}.get(set_name, ())
    spec = variant_bench_spec(cfg, variant)
    for m in cfg["bench"]["models"]:
        same = m["path"] == spec["path"] and m["kind"] == "generative" and m["format"] == spec["format"]
        if same and all(m.get(k) == spec.get(k) for k in SPEC_KEYS) and m["name"] in judged:
            return m["name"]
    return None


def bench_jobs(cfg: dict) -> list[tuple[str, str]]:
    """(set, variant) of every bench job of the ablations (variants whose judgments are not reused)."""
    return [
        (s, v.name)
        for v in ablation_plan(cfg)
        for s in cfg["ablations"]["sets"]
        if reused_bench_model(cfg, v, s) is None
    ]


def item_scores_path(cfg: dict, variant: Variant, set_name: str) -> str:
    reused = reused_bench_model(cfg, variant, set_name)
    if reused:
        return results(cfg, "bench", set_name, reused, "item_scores.jsonl")
    return f"{variant_bench_dir(cfg, set_name, variant.name)}/item_scores.jsonl"


# ---------------------------------------------------------------- checks


def where(cfg: dict) -> str:
    return cfg.get("_path", "<config>")


def check_ablations(cfg: dict) -> None:
    """What the schema cannot say: known sets and comparison, names apart from the bench models, stages in
    order, overrides only of stages the variant trains."""
    from longrm.bench.sets import bench_sets, evaluated

    ab = cfg["ablations"]
    sets = [s.name for s in bench_sets(cfg)]
    for k, s in enumerate(ab["sets"]):
        if s not in sets:
            raise ConfigError(f"{where(cfg)}: key 'ablations.sets.{k}': {s!r} is not a bench set ({', '.join(sets)})")
    if ab["compare_with"] not in ab["variants"]:
        raise ConfigError(
            f"{where(cfg)}: key 'ablations.compare_with': {ab['compare_with']!r} is not a variant "
            f"({', '.join(ab['variants'])})"
        )
    taken = set(evaluated(cfg))
    for name, spec in ab["variants"].items():
        check_variant(cfg, name, spec, taken)


def check_variant(cfg: dict, name: str, spec: dict, taken: set) -> None:
    key = f"ablations.variants.{name}"
    if name in taken:
        raise ConfigError(f"{where(cfg)}: key '{key}': {name!r} is already a bench model or baseline name")
    if list(spec["stages"]) != [s for s in STAGES if s in spec["stages"]]:
        raise ConfigError(f"{where(cfg)}: key '{key}.stages': {spec['stages']} out of order (sft before logo)")
    for section in spec.get("train") or {}:
        if section != "common" and section not in spec["stages"]:
            raise ConfigError(
                f"{where(cfg)}: key '{key}.train.{section}': overrides a stage this variant does not train "
                f"(stages: {', '.join(spec['stages'])})"
            )
