# Paths and parameters shared by the rules. Keep logic here small: the `longrm` commands do the work.
import json
from pathlib import Path

from longrm.config import section
from longrm.errors import ConfigError

R = str(config["results_dir"]).rstrip("/")


def res(*parts):
    """A path under results_dir."""
    return "/".join([R, *parts])


def log_of(name):
    return res("logs", f"{name}.log")


def bench_of(name):
    """Snakemake's per-job wall time and memory record (not the study's benchmark)."""
    return res("logs", "benchmark", f"{name}.tsv")


def sections(*dotted):
    """The config sections a rule reads, as one canonical JSON string (Snakemake's params trigger);
    a section the config leaves out is null."""

    def value(dotted):
        try:
            return section(config, dotted)
        except ConfigError:
            return None

    return json.dumps({d: value(d) for d in dotted}, sort_keys=True)


def tracked(path):
    """`path` as an input when the DAG builds it (under results_dir) or it exists here; an external
    checkpoint that is absent here (a dry run off the cluster) is left to the command, which names it."""
    path = str(path)
    inside = Path(path).resolve().is_relative_to(Path(R).resolve())
    return [path] if inside or Path(path).exists() else []


# Inputs the paper config takes from local paths instead of building them.
RAW = config["inputs"].get("raw_path") or res("inputs", "raw.jsonl")
DISTRACTORS = config["inputs"].get("distractors_path") or res("inputs", "distractors.jsonl")
BASE_MODEL = config["inputs"].get("base_model_path") or res("inputs", "base_model")
TOKENIZER = config["inputs"].get("base_model_path") or res("inputs", "tokenizer")

BENCH_MODELS = {m["name"]: m for m in config["bench"].get("models", [])}
BASELINES = list(config["bench"].get("baselines", []))
EVALUATED = list(BENCH_MODELS) + BASELINES
TRAINED = ("sft", "logo", "disrm")


def train_init(stage):
    """What a training stage starts from: train.<stage>.init, else the recipe's default."""
    default = res("models", "sft") if stage == "logo" else BASE_MODEL
    return config["train"].get(stage, {}).get("init") or default


def judge_models():
    """Checkpoints the vote judges load (the embedded default's LM judge is the built base model)."""
    return sorted({j["model"] for j in config["vote"]["judges"] if j.get("model")})


wildcard_constraints:
    name="[A-Za-z0-9_.-]+",
    stage="|".join(TRAINED),
