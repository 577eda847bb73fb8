"""Build a Judge from a config entry: a `vote.judges[]` entry, a `bench.models[]` entry, or a baseline.

kind        what                                              model path key
scorer      judges/scorers.py make_scorer(spec.scorer, cfg)   -
baseline    judges/baselines.py (random | longer | first)     -
transformers / vllm   generative LM on that backend           model (vote) or path (bench)
generative  generative LM on `bench.backend`                  path
            (`format`: pairwise (default) or pointwise, judges/pointwise.py)
discriminative        scalar RM (judges/discriminative.py)    path or model
likelihood  a causal LM's mean log-probability of each response (judges/likelihood.py)   path
verdict     a causal LM's " true" minus " false" logit after the pointwise prompt (judges/verdict.py)   path

Generation settings (max_model_len, max_new_tokens, batch_size, dtype, ...) come from `cfg["bench"]`,
overridable per call with `params` (vote passes its own).
"""

from __future__ import annotations

from longrm.commands import GENERATION_KEYS
from longrm.errors import ConfigError
from longrm.judges.base import Judge
from longrm.judges.baselines import BASELINES, BaselineJudge
from longrm.judges.model_args import model_overrides, stored_config, trust_remote_code
from longrm.judges.prompts import requests_analysis


def bench_params(cfg: dict, params: dict | None = None) -> dict:
    """The generation settings of `bench`, overridden by `params` (the vote's own)."""
    return {**{k: cfg["bench"][k] for k in GENERATION_KEYS}, **(params or {})}


def find_model_spec(cfg: dict, name: str) -> dict:
    """The bench.models[] entry called `name`, or a baseline spec; ConfigError listing the choices."""
    for spec in cfg["bench"]["models"]:
        if spec["name"] == name:
            return spec
    if name in BASELINES:
        return {"name": name, "kind": "baseline"}
    names = [m["name"] for m in cfg["bench"]["models"]] + list(BASELINES)
    raise ConfigError(
        f"{cfg.get('_path', '<config>')}: no bench model or baseline named {name!r}; choose one of {', '.join(names)}"
    )


def make_judge(spec: dict, cfg: dict, params: dict | None = None) -> Judge:
    kind = spec.get("kind")
    name = spec.get("name", kind)
    p = bench_params(cfg, params)
    trust = trust_remote_code(spec, cfg)
    if kind == "scorer":
        from longrm.judges.scorers import make_scorer  # lazy: another module, another owner

        judge = make_scorer(spec.get("scorer", name), cfg)
        judge.name = name
        return judge
    if kind == "baseline":
        return BaselineJudge(spec.get("baseline", name), seed=cfg["seed"], name=name)
    path = spec.get("path") or spec.get("model")
    if not path:
        raise ConfigError(f"{cfg.get('_path', '<config>')}: judge {name!r} of kind {kind!r} needs a model path")
    if kind == "generative":
        kind = p["backend"]
    if kind in ("transformers", "vllm"):
        return generative_judge(kind, path, spec, cfg, p, name, trust)
    if kind == "discriminative":
        from longrm.judges.discriminative import DiscriminativeJudge

        return DiscriminativeJudge(
            path,
            name=name,
            max_model_len=p["max_model_len"],
            batch_size=p["batch_size"],
            max_batch_tokens=p["max_batch_tokens"],
            dtype=p["dtype"],
            device=p["device"],
            trust_remote_code=trust,
            use_chat_template=p["use_chat_template"],
            threads=p["threads"] or None,
        )
    if kind in ("likelihood", "verdict"):
        from longrm.judges.likelihood import LikelihoodJudge
        from longrm.judges.verdict import VerdictJudge

        own = {"use_chat_template": p["use_chat_template"]} if kind == "verdict" else {}
        return (LikelihoodJudge if kind == "likelihood" else VerdictJudge)(
            path,
            name=name,
            max_model_len=p["max_model_len"],
            dtype=p["dtype"],
            trust_remote_code=trust,
            threads=p["threads"] or None,
            **own,
        )
    raise ConfigError(f"{cfg.get('_path', '<config>')}: judge {name!r}: unknown kind {kind!r}")


def generative_judge(kind: str, path: str, spec: dict, cfg: dict, p: dict, name: str, trust: bool) -> Judge:
    """A generative LM judge on the transformers or vLLM backend, from the generation settings `p`."""
    common = dict(
        name=name,
        max_model_len=p["max_model_len"],
        max_new_tokens=p["max_new_tokens"],
        dtype=p["dtype"],
        trust_remote_code=trust,
        use_chat_template=p["use_chat_template"],
        format=spec["format"],
        analysis=requests_analysis(cfg),  # the prompt training rendered (vote/split.py)
    )
    overrides = model_overrides(spec, stored_config(path)) or None
    if kind == "transformers":
        from longrm.judges.transformers_backend import TransformersJudge

        return TransformersJudge(
            path,
            **common,
            batch_size=p["batch_size"],
            max_batch_tokens=p["max_batch_tokens"],
            device=p["device"],
            threads=p["threads"] or None,
            overrides=overrides,
        )
    from longrm.judges.vllm_backend import VLLMJudge

    return VLLMJudge(
        path,
        **common,
        tensor_parallel_size=spec.get("tensor_parallel_size", p["tensor_parallel_size"]),
        gpu_memory_utilization=p["gpu_memory_utilization"],
        seed=cfg["seed"],
        hf_overrides=overrides,
    )
