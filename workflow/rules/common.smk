# The config, paths and parameters shared by the rules. Keep logic here small: `longrm` does the work.
import json
import os
import re
import sys
from pathlib import Path

from longrm.ablations import ablation_plan, bench_jobs, item_scores_path, labels_dir, main_init, variant_bench_spec
from longrm.bench.sets import bench_sets
from longrm.cluster import check_gpu_plan, model_gpus, train_gpus
from longrm.commands import reads
from longrm.config import load_config, section
from longrm.errors import ConfigError

# `longrm` is installed next to the Python that runs Snakemake: find it there too when that environment
# is not activated (e.g. `.venv/bin/snakemake`). Appended, so a `longrm` already on PATH (or a conda env's,
# with --sdm conda) comes first.
os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), str(Path(sys.executable).parent)])

# The repository, for the conda env files (envs/*.yaml: `-e ${LONGRM_REPO}`): Snakemake copies them into
# .snakemake/conda/ before `conda env create`, where a relative path would point into .snakemake/.
os.environ["LONGRM_REPO"] = str(Path(str(workflow.current_basedir)).resolve().parents[1])


# Scheduling: training jobs and what they need (inputs, pre-training, synth, vote, short split) go first
# when several are ready; the many one-core bench jobs then fill both cores at the end instead of
# holding up the chain (measured on 2 cores: SFT waited 9 minutes behind the discriminative runs'
# benchmarks without it, and a discriminative RM trained last left one core idle at the end).
TRAINING_FIRST = 50

def config_file_used():
    """The single config file every `longrm` command gets: the --configfile given, else the default."""
    given = [str(p) for p in (workflow.overwrite_configfiles or [])]
    if len(given) > 1:
        raise WorkflowError("pass one --configfile: `longrm` commands read a single config file")
    if workflow.config_settings.overwrite_config and not given:
        raise WorkflowError("--config KEY=VALUE is not forwarded to `longrm`: edit a config file and pass it with --configfile")
    if not given:
        return "config/default.yaml"
    path = Path(given[0]).resolve()
    return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)


# Shell commands use CONFIG_FILE directly (not through params): which file holds the config is not a
# parameter; the sections each rule reads are (params.cfg), so a copy of the config reruns nothing.
CONFIG_FILE = config_file_used()
# Snakemake merged the given file over the default; reload it alone (validated against
# workflow/schemas/config.schema.yaml) so the DAG sees exactly what every `longrm` command sees.
config.clear()
config.update(load_config(CONFIG_FILE))

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


def config_read_by(command, **fields):
    """A rule's `params.cfg`: the sections its `longrm` command reads, declared once in longrm.commands.READS
    (the command's provenance records the same sections)."""
    return sections(*reads(command, **fields))


def tracked(path):
    """`path` as an input when the DAG builds it (under results_dir) or it exists here; an external
    checkpoint that is absent here (a dry run off the cluster) is left to the command, which names it."""
    path = str(path)
    inside = Path(path).resolve().is_relative_to(Path(R).resolve())
    return [path] if inside or Path(path).exists() else []


# The committed text snapshot (corpus/) the embedded default's raw items and distractors are cut from.
CORPUS = config["inputs"]["corpus"]

# Inputs the paper config takes from local paths instead of building them.
RAW = config["inputs"].get("raw_path") or res("inputs", "raw.jsonl")
DISTRACTORS = config["inputs"].get("distractors_path") or res("inputs", "distractors.jsonl")
BASE_MODEL = config["inputs"].get("base_model_path") or res("inputs", "base_model")
TOKENIZER = config["inputs"].get("base_model_path") or res("inputs", "tokenizer")

# The embedded default's base is shipped (models/base: `make base`): its manifest is checked here, before any
# job runs, and the raw items use its tokenizer's one-token words as entities and values.
SHIPPED_BASE = bool(config["inputs"].get("base_model_path")) and config["inputs"]["shipped_base"]
if SHIPPED_BASE:
    from longrm.base.ship import check_base

    check_base(BASE_MODEL)
RAW_SHELL = "longrm inputs raw --config {CONFIG_FILE:q} --out {output:q}" + (
    " --tokenizer {input.tokenizer:q}" if SHIPPED_BASE else "") + " 2> {log:q}"

BENCH_MODELS = {m["name"]: m for m in config["bench"]["models"]}
BASELINES = list(config["bench"]["baselines"])
EVALUATED = list(BENCH_MODELS) + BASELINES
# Named benchmark sets (bench.sets; longrm.bench.sets): the held-out split, controls derived from it, other files.
SETS = {s.name: s for s in bench_sets(config)}
CONTROL_SETS = [n for n, s in SETS.items() if s.control]
BENCH_JOBS = [(s, n) for s in SETS for n in SETS[s].models]   # (set, model or baseline) pairs judged
TRAINED = ("sft", "logo", "disrm")
# The base judge: with a `train.short` section, the pre-trained model taught to judge short items
# (workflow/rules/short.smk); the SFT and discriminative stages start from it. Else the base model itself.
SHORT_JUDGE = "short" in config["train"]
JUDGE_BASE = res("models", "base") if SHORT_JUDGE else BASE_MODEL


def train_init(stage):
    """What a training stage starts from: train.<stage>.init, else the recipe's default (logo from the SFT
    model, the others from JUDGE_BASE): longrm.ablations.main_init, which the ablations' plan compares with."""
    return main_init(config, stage)


# Training ablations (config `ablations`, workflow/rules/ablations.smk): planned and checked here, so a bad
# variant (unknown key, value the schema refuses, unknown set, a bench model's name) stops before any job.
ABLATIONS = ablation_plan(config)
ABLATION_REPORT = res("ablations", "report")


def ablations_in_report():
    """[the ablations' report folder] when REPORT.md takes it (its tables, figure and claim f): once it is
    built (`make ablations`), unless LONGRM_ABLATIONS_IN_REPORT=no (make_dvc_yaml.py: dvc.yaml is the study
    as `make study` plans it on a fresh checkout). The report commands get the folder either way and read it
    when it is there."""
    if os.environ.get("LONGRM_ABLATIONS_IN_REPORT", "auto") == "no":
        return []
    return [ABLATION_REPORT] if ABLATIONS and Path(ABLATION_REPORT).is_dir() else []


# GPU jobs (longrm.cluster): each on one node, with the GPUs its rule needs; a job that cannot run on one
# node is refused here, before anything is submitted.
check_gpu_plan(config)
TRAIN_GPUS = train_gpus(config)

# DeepSpeed's launcher on exactly the GPUs Slurm gave the job: CUDA_VISIBLE_DEVICES as --include (with
# --num_gpus N it would take GPUs 0..N-1 of the node, other jobs' GPUs on a shared node), on a port of the
# job's own (two training jobs on one node); fixed tokens only, bash expands the two variables on the node.
DEEPSPEED_LAUNCHER = "bash workflow/scripts/deepspeed_launch.sh"  # the job's GPUs, a port per job


def train_launcher(wildcards, resources):
    """`longrm`, or with several GPUs in the job and a DeepSpeed config, the same CLI started on each of the
    job's GPUs by DeepSpeed's launcher (DEEPSPEED_LAUNCHER)."""
    gpus = int(getattr(resources, "gpu", 0) or 0)
    if gpus > 1 and config["train"]["common"]["deepspeed"]:
        return DEEPSPEED_LAUNCHER
    return "longrm"


# The command of every training rule (train_short, train_sft, train_logo, train_disrm, train_disrm_response):
# params stage, init, checkpoints and launcher; input data; one output folder.
TRAIN_SHELL = ("{params.launcher} train {params.stage} --config {CONFIG_FILE:q} --data {input.data:q}"
               " --init {params.init:q} --out {output:q} --checkpoints {params.checkpoints:q} --auto-resume"
               " 2> {log:q}")
# The same for a training ablation (train_ablation): the variant's overrides of train.*.
TRAIN_ABLATION_SHELL = TRAIN_SHELL.replace(" 2> {log:q}", " --variant {wildcards.variant:q} 2> {log:q}")


def judge_models():
    """Checkpoints the vote judges load (the embedded default's LM judge is the built base model)."""
    return sorted({j["model"] for j in config["vote"]["judges"] if j.get("model")})


def one_of(names):
    """A wildcard constraint matching exactly these names (none: nothing)."""
    return "|".join(re.escape(n) for n in dict.fromkeys(names)) or "^$"


wildcard_constraints:
    name="[A-Za-z0-9_.-]+",
    set="|".join(SETS),
    stage="|".join(TRAINED),


# bench_run (models) and bench_baseline (baselines): one shape, these paths and command.
BENCH_RUN_LOG = res("logs", "bench_run", "{set}", "{name}.log")
BENCH_RUN_RECORD = res("logs", "benchmark", "bench_run", "{set}", "{name}.tsv")
BENCH_RUN_SHELL = ("longrm bench run --config {CONFIG_FILE:q} --model {wildcards.name:q} --bench {input.bench:q}"
                   " --out {output:q} 2> {log:q}")


def bench_outputs(filename):
    """R/bench/SET/NAME/filename of every (set, model) pair judged."""
    return [res("bench", s, n, filename) for s, n in BENCH_JOBS]


def metrics_args(filename="metrics.json"):
    """SET/NAME=PATH of every judged (set, model) pair's metrics (or item scores), for the report commands."""
    return [f"{s}/{n}={res('bench', s, n, filename)}" for s, n in BENCH_JOBS]


def banner():
    synth, vote = config["synth"], config["vote"]
    lengths = ", ".join(f"{n // 1024}k" if n >= 1024 else str(n) for n in synth["lengths"])
    lm_judges = [j["model"] for j in vote["judges"] if j.get("model")]
    models = ", ".join(f"{m['name']}={m['path']}" for m in config["bench"]["models"])
    return (f"LongRM study '{config['name']}' ({CONFIG_FILE}): context lengths {lengths}; base model {BASE_MODEL}; "
            f"{len(vote['judges'])} vote judges ({len(lm_judges)} LMs: {', '.join(lm_judges) or '-'}); "
            f"bench models {models}; results in {R}/")


print(banner(), file=sys.stderr)
