"""The Snakemake DAG: the embedded default's dry run, the paper DAG under the slurm profile, config
validation at load, and what reruns when one parameter changes (with a stand-in `longrm` that only
creates the declared outputs)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_in_group

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
STUBS = REPO / "workflow" / "scripts" / "slurm-stub"
DEFAULT_RULES = {
    "inputs_raw": 1,
    "inputs_distractors": 1,
    "synth": 1,
    "short_split": 1,
    "train_short": 1,
    "vote_run": 1,
    "vote_audit": 1,
    "vote_split": 1,
    "train_sft": 1,
    "train_logo": 1,
    "train_disrm": 1,
    "response_pairs": 1,
    "train_disrm_response": 1,
    "bench_control": 2,
    "report_benchmarks": 1,
    "bench_run": 25,
    "bench_baseline": 4,
    "bench_score": 29,
    "report_tables": 1,
    "report_figures": 1,
    "report_times": 1,
    "report_md": 1,
    "all": 1,
}


def snakemake(*args, cwd=REPO, env=None, timeout=240):
    """Run Snakemake in its own process group; on timeout end the whole group (jobs included)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})}
    return run_in_group([SNAKEMAKE, "--nolock", *args], cwd, env, timeout)


def job_stats(text: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run."""
    block = text.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M) if m.group(1) != "total"}


def jobs(text: str) -> dict[str, list[str]]:
    """rule -> the job blocks of a dry run."""
    out: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if m:
            out.setdefault(m.group(1), []).append(block)
    return out


# The study's DAG as a fresh checkout plans it, whether or not `make ablations` was built here.
FRESH = {"LONGRM_ABLATIONS_IN_REPORT": "no"}


def test_default_dry_run_is_the_whole_study():
    out = snakemake("-n", "--forceall", "-p", "all", env=FRESH)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    assert job_stats(text) == DEFAULT_RULES
    # every shell command is one quoted `longrm` call with the config it was given
    shells = [s for s in re.findall(r"^Shell command: (.*)$", text, re.M) if s != "None"]
    assert len(shells) == sum(DEFAULT_RULES.values()) - 1
    assert all(s.startswith("longrm ") and "--config config/default.yaml" in s for s in shells)
    assert "context lengths 256, 512, 1k, 2k" in text


def test_paper_dry_run_under_the_slurm_profile():
    out = snakemake("-n", "-p", "--configfile", "config/paper.yaml", "--profile", "workflow/profiles/slurm")
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    # multi-GPU training starts the same CLI on every GPU of the job through DeepSpeed's launcher
    # (on exactly the GPUs Slurm gave the job: tests/test_workflow_slurm.py)
    assert re.search(
        r"^Shell command: bash workflow/scripts/deepspeed_launch\.sh train sft "
        r"--config config/paper\.yaml",
        text,
        re.M,
    )
    stats = job_stats(text)
    assert not any(r.startswith("inputs_") for r in stats)  # raw data and base model are local paths
    # the paper evaluates what the paper evaluates: Long-RewardBench as released (imported from
    # bench.released_path) with its two controls, our held-out split with its two, and a RewardBench-format
    # short-context set (bench.short_path): 5 + 5 + 5 + 5 + 4 + 4 + 5 model runs, 4 control files
    assert stats["import_released"] == stats["import_rewardbench"] == 1
    assert stats["bench_run"] == 33 and stats["bench_control"] == 4
    assert "short_split" not in stats  # no short judge at paper scale: the base is a real checkpoint
    blocks = jobs(text)
    assert any(
        "--bench results/paper/external/long-rewardbench.jsonl" in b and "--model base" in b
        for b in blocks["bench_run"]
    )
    assert any("--bench results/paper/controls/swap.jsonl" in b for b in blocks["bench_run"])
    assert any(
        "--bench results/paper/external/rewardbench.jsonl" in b and "--model logo" in b for b in blocks["bench_run"]
    )
    (imp,) = blocks["import_released"]
    assert "--src data/paper/long-rewardbench" in imp
    assert stats["train_sft"] == stats["train_logo"] == stats["train_disrm"] == 1
    assert "context lengths 4k, 8k, 16k, 32k, 64k, 128k" in text and "base model models/Qwen3-8B" in text
    blocks = jobs(text)
    for rule, gpus in (("train_sft", 8), ("train_logo", 8), ("train_disrm", 8), ("bench_run", 4), ("vote_judge", 4)):
        for block in blocks[rule]:
            need = 1 if "--model disrm " in block else gpus  # a discriminative RM runs on one GPU
            assert f" gpu={need}," in block and "nodes=1" in block and "slurm_partition=gpu" in block, rule
            assert "slurm_account=" in block, rule
    # one job per LM judge of the vote (one vLLM engine per process); the tally runs on a CPU node
    assert sorted(re.search(r"--judge (\S+)", b).group(1) for b in blocks["vote_judge"]) == [
        "glm-4-9b",
        "llama-3.1-8b",
        "qwen3-8b",
    ]
    (tally,) = blocks["vote_run"]
    assert "gpu=" not in tally and "slurm_partition=cpu" in tally and tally.count("=results/paper/vote/judges/") == 3
    (synth,) = blocks["synth"]
    assert "slurm_partition=cpu" in synth and "gpu=" not in synth
    assert "results/paper/models/logo" in blocks["bench_run"][2] or any(
        "results/paper/models/logo" in b for b in blocks["bench_run"]
    )


def job_field(block: str, key: str) -> list[str]:
    """A field of a dry run's job block (input, output, benchmark, ...) as a list of paths."""
    m = re.search(rf"^\s+{key}: (.*)$", block, re.M)
    return m.group(1).split(", ") if m else []


@pytest.mark.parametrize(
    "args",
    [(), ("--configfile", "config/paper.yaml", "--profile", "workflow/profiles/slurm")],
    ids=["default", "paper"],
)
def test_every_job_record_is_declared_by_the_report(args):
    """Every job before the report writes a Snakemake `benchmark:` record, and `report_times` declares
    each one as an input (report.smk's job_records): a rule added without its record fails here. The
    result tables and figures read none (timings differ run to run; results do not)."""
    out = snakemake("-n", "--forceall", "-p", *args, "all", env=FRESH)
    assert out.returncode == 0, out.stderr[-2000:]
    blocks = jobs(out.stdout + out.stderr)
    records = {
        (rule, path)
        for rule, bl in blocks.items()
        if rule != "all" and not rule.startswith("report_")
        for b in bl
        for path in job_field(b, "benchmark") or [f"{rule}: no benchmark record"]
    }
    assert len(records) > 20
    ((block,),) = [blocks["report_times"]]
    declared = set(job_field(block, "input"))
    assert sorted(r for r in records if r[1] not in declared) == []
    for reader in ("report_tables", "report_figures"):
        ((block,),) = [blocks[reader]]
        assert not {r[1] for r in records} & set(job_field(block, "input")), reader


def test_invalid_config_fails_at_load_naming_the_key(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "default.yaml").read_text())
    cfg["train"]["logo"]["beta"] = -1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = snakemake("-n", "--configfile", str(bad))
    assert out.returncode != 0
    assert "train.logo.beta" in out.stderr + out.stdout


def test_config_overrides_on_the_command_line_are_refused():
    out = snakemake("-n", "--config", "seed=1")
    assert out.returncode != 0 and "--configfile" in out.stdout + out.stderr


# ---------------------------------------------------------------- reruns, with a stand-in `longrm`

FAKE_LONGRM = r'''#!/usr/bin/env python3
"""Stand-in for `longrm` (tests only): creates each declared output; a name without a suffix is a folder."""
import sys
from pathlib import Path
args = sys.argv[1:]
for flag in ("--out", "--out-dir", "--report", "--item-scores", "--out-train", "--out-bench"):
    if flag in args:
        p = Path(args[args.index(flag) + 1])
        if p.suffix:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(" ".join(args) + "\n")
        else:
            p.mkdir(parents=True, exist_ok=True)
            (p / "made_by.txt").write_text(" ".join(args) + "\n")
if args[:2] == ["vote", "split"]:
    d = Path(args[args.index("--out-dir") + 1])
    for name in ("sft", "pref", "disrm", "bench"):
        (d / f"{name}.jsonl").write_text("{}\n")
    (d / "report.json").write_text("{}\n")
'''


@pytest.fixture
def study_copy(tmp_path):
    """The workflow files in a fresh folder, with a stand-in `longrm` first on PATH."""
    for name in ("Snakefile", "workflow", "config", "envs", "corpus", "models"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name)
        elif src.exists():
            shutil.copy(src, tmp_path / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "longrm"
    fake.write_text(FAKE_LONGRM.replace("#!/usr/bin/env python3", f"#!{sys.executable}"))
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return tmp_path, env


@pytest.mark.slow
def test_rerun_does_nothing_and_one_parameter_reruns_only_downstream(study_copy):
    root, env = study_copy
    out = snakemake("--cores", "2", cwd=root, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    # made by the stand-in (it writes its own arguments), not by a real `longrm`
    assert (root / "results" / "REPORT.md").read_text().startswith("report md --config config/default.yaml")

    start = time.monotonic()
    again = snakemake("-n", cwd=root, env=env)
    elapsed = time.monotonic() - start
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
    print(f"dry rerun with nothing changed: {elapsed:.1f} s (noisy, shared machine)")

    cfg_path = root / "config" / "default.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["train"]["logo"]["beta"] = 3.0
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    changed = snakemake("-n", cwd=root, env=env)
    assert changed.returncode == 0, changed.stderr[-2000:]
    stats = job_stats(changed.stdout + changed.stderr)
    # the LOGO checkpoint is judged (pointwise prompts) on the held-out set, its controls and the short set
    assert stats == {
        "train_logo": 1,
        "bench_run": 4,
        "bench_score": 4,
        "report_tables": 1,
        "report_figures": 1,
        "report_times": 1,
        "report_md": 1,
        "all": 1,
    }
    assert {f"wildcards: set={s}, name=logo-pointwise" for s in ("heldout", "swap", "nocontext", "short")} == set(
        re.findall(r"wildcards: set=\w+, name=[\w-]+", changed.stdout + changed.stderr)
    )


# ---------------------------------------------------------------- slurm submission, with stub commands


def run_until_submitted(cmd, cwd, env, log: Path, want: int, timeout: float = 90.0) -> str:
    """Start Snakemake in its own process group, wait until `want` sbatch lines were logged (or the
    timeout), then end the whole group: Snakemake would otherwise wait for the stub jobs forever."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and log.read_text().count("\nsbatch ") + log.read_text().startswith("sbatch ") >= want:
                break
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    output = proc.stdout.read() if proc.stdout else ""
    assert log.exists(), f"no sbatch call within {timeout} s:\n{output[-3000:]}"
    return log.read_text()


def test_slurm_profile_submits_training_with_partition_gpus_memory_and_time(tmp_path):
    results = tmp_path / "results"
    cfg = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    cfg["results_dir"] = str(results)
    for m in cfg["bench"]["models"]:
        m["path"] = m["path"].replace("results/paper", str(results))
    paper = tmp_path / "paper.yaml"
    paper.write_text(yaml.safe_dump(cfg, sort_keys=False))
    (results / "splits").mkdir(parents=True)
    (results / "splits" / "sft.jsonl").write_text("{}\n")
    log = tmp_path / "sbatch.log"
    env = {
        **os.environ,
        "PATH": f"{STUBS}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "SLURM_STUB_LOG": str(log),
        "SLURM_STUB_ACCOUNTS": "your_account",
    }
    cmd = [
        SNAKEMAKE,
        "--nolock",
        "--profile",
        "workflow/profiles/slurm",
        # the local profile too, as Snakemake would add it on its own: it must not wipe the cluster keys
        "--workflow-profile",
        "workflow/profiles/default",
        "--configfile",
        str(paper),
        "--allowed-rules",
        "train_sft",
        "--latency-wait",
        "1",
        str(results / "models" / "sft"),
    ]
    text = run_until_submitted(cmd, REPO, env, log, want=1)
    (line,) = [x for x in text.splitlines() if x.startswith("sbatch ")]
    assert "--comment rule_train_sft" in line
    assert "-A your_account" in line and "-p gpu" in line
    assert "--gpus=8" in line and "--cpus-per-gpu=8" in line
    assert "--mem 480000" in line and "-t 2880" in line


def write_report_inputs(r: Path) -> None:
    """What the report rules read, in the documented formats, under results folder `r`: per bench set
    and model a metrics.json and item_scores.jsonl, the vote audit, training and pre-training logs, and
    Snakemake's benchmark record of every job."""
    from longrm.bench.sets import bench_sets
    from longrm.config import load_config
    from tests.test_report import metrics

    levels = {
        "base": 0.55,
        "sft": 0.65,
        "logo": 0.75,
        "base-likelihood": 0.65,
        "base-verdict": 0.6,
        "base-pointwise": 0.5,
        "sft-pointwise": 0.6,
        "logo-pointwise": 0.75,
        "disrm": 0.7,
        "disrm-response": 0.6,
        "random": 0.5,
        "longer": 0.45,
        "first": 0.5,
    }
    for bench_set in bench_sets(load_config(REPO / "config" / "default.yaml")):
        for name in bench_set.models:
            d = r / "bench" / bench_set.name / name
            d.mkdir(parents=True)
            level = levels[name] if not bench_set.control else 0.5
            (d / "metrics.json").write_text(json.dumps(metrics(level, 0.1)))
            (d / "item_scores.jsonl").write_text(
                json.dumps({"id": "i1", "tasktype": "PairWise", "length_bucket": "512", "ours": 1.0, "official": 1.0})
                + "\n"
            )
    (r / "vote").mkdir()
    (r / "vote" / "audit.json").write_text(
        json.dumps(
            {
                "by_k": [
                    {
                        "k": 1,
                        "judges": ["a"],
                        "config_order": {"accuracy": 0.7, "yield": 0.8},
                        "all_subsets": {"accuracy": 0.7, "yield": 0.8, "n_subsets": 1},
                    }
                ],
                "by_threshold": [],
            }
        )
    )
    for run, log in (
        ("models/sft", "train_log.jsonl"),
        ("models/logo", "train_log.jsonl"),
        ("models/disrm", "train_log.jsonl"),
        ("models/disrm_response", "train_log.jsonl"),
        ("models/base", "train_log.jsonl"),
        ("inputs/base_model", "pretrain_log.jsonl"),
    ):
        (r / run).mkdir(parents=True)
        (r / run / log).write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 5)))
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    sets = bench_sets(load_config(REPO / "config" / "default.yaml"))
    jobs = [
        "inputs_raw",
        "inputs_distractors",
        "inputs_tokenizer",
        "inputs_pretrain",
        "synth",
        "short_split",
        "train_short",
        "vote_run",
        "vote_audit",
        "vote_split",
        "train_sft",
        "train_logo",
        "train_disrm",
        "response_pairs",
        "train_disrm_response",
        *(f"bench_control/{s.name}" for s in sets if s.control),
        *(f"{rule}/{s.name}/{name}" for rule in ("bench_run", "bench_score") for s in sets for name in s.models),
    ]
    for job in jobs:  # Snakemake's record of each job, which the report declares and reads
        tsv = r / "logs" / "benchmark" / f"{job}.tsv"
        tsv.parent.mkdir(parents=True, exist_ok=True)
        tsv.write_text(header + "2.5\t0:00:02\t100.0\t1\t1\t1\t0\t0\t50\t2.0\n")


def test_report_rules_run_the_real_cli_and_the_result_audits(tmp_path):
    """The report rules as Snakemake runs them (real `longrm`), on result files in the documented
    formats; then `longrm audit results/tables/main.csv` walks back to the metrics files."""
    for name in ("Snakefile", "workflow", "config", "envs", "corpus", "models"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    r = tmp_path / "results"
    write_report_inputs(r)
    out = snakemake(
        "--cores",
        "1",
        "--allowed-rules",
        "report_benchmarks",
        "report_tables",
        "report_figures",
        "report_times",
        "report_md",
        "all",
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    report = (r / "REPORT.md").read_text()
    assert "Highest AVG (every order, unparseable = chance): logo-pointwise 0.700" in report
    assert "; base model base-likelihood 0." in report  # report.claims.base of the default config
    # every figure but the memory/throughput one (results/benchmarks is empty here); the job records go to
    # report_times, beside the logs, and the report links them
    assert re.findall(r"!\[[^\]]*\]\(figures/(\w+)\.png\)", report) == [
        "accuracy_vs_length",
        "per_task_heatmap",
        "bon_ranks",
        "reliability_by_length",
        "failure_modes",
        "vote_vs_judges",
        "training_curves",
    ]
    assert (
        "[stage_times.md](logs/times/stage_times.md)" in report and (r / "logs" / "times" / "stage_times.png").is_file()
    )
    audit = subprocess.run(
        [str(Path(sys.executable).parent / "longrm"), "audit", "results/tables/main.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert audit.returncode == 0, audit.stderr
    assert "results/bench/heldout/logo-pointwise/metrics.json  (source: no sidecar)" in audit.stdout
    assert "results/bench/swap/logo-pointwise/metrics.json  (source: no sidecar)" in audit.stdout
    assert "## The paper's claims" in report and "| c | Every model judged on the controls" in report
    assert "made by: longrm report tables --config config/default.yaml" in audit.stdout
    assert "results/logs/benchmark" not in audit.stdout  # no timing behind a result
    times = subprocess.run(
        [str(Path(sys.executable).parent / "longrm"), "audit", "results/logs/times/stage_times.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "results/logs/benchmark/bench_run/heldout/logo-pointwise.tsv  (source: no sidecar)" in times.stdout
    # every file the report commands read (their sidecars record each with its hash) is a declared input
    from tests.test_workflow_dvc_study import declared_inputs, undeclared_reads

    dry = snakemake("-n", "-p", "--forceall", "all", cwd=tmp_path)
    jobs = declared_inputs(dry.stdout + dry.stderr)
    for rule, side in (
        ("report_tables", r / "tables" / "provenance.json"),
        ("report_figures", r / "figures" / "provenance.json"),
        ("report_md", r / "REPORT.md.prov.json"),
        ("report_times", r / "logs" / "times" / "provenance.json"),
    ):
        ((_, inputs),) = jobs[rule]
        assert undeclared_reads(side, inputs) == [], rule
