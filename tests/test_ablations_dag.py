"""The training ablations in the DAG: Snakemake's `ablations` target on the embedded default and, as Slurm
jobs, on the paper config (`make dryrun-paper`); a bad variant stops the DAG before any job; REPORT.md takes
their report once it is built; their DVC pipeline file holds their jobs alone."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from longrm.ablations import ablation_plan, bench_jobs
from longrm.config import load_config
from tests.helpers import load_script
from tests.test_workflow import REPO, job_stats, jobs, snakemake


def trained_runs(cfg) -> list[tuple[str, str]]:
    return [(r.variant, r.stage) for v in ablation_plan(cfg) for r in v.trained]


def block_with(blocks: list[str], *parts: str) -> str:
    found = [b for b in blocks if all(p in b for p in parts)]
    assert len(found) == 1, (parts, len(found))
    return found[0]


def test_the_ablations_target_trains_only_what_a_variant_changes():
    cfg = load_config(REPO / "config" / "default.yaml")
    out = snakemake("-n", "-p", "--forceall", "ablations")
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    stats, blocks = job_stats(text), jobs(text)
    assert stats["train_ablation"] == len(trained_runs(cfg)) > 0
    assert stats["train_sft"] == stats["train_logo"] == 1  # the main run, once: sft-logo and sft-only reuse it
    assert stats["bench_ablation"] == stats["bench_score_ablation"] == len(bench_jobs(cfg))
    assert stats["vote_relabel"] == stats["vote_split_relabeled"] == 1
    assert "report_md" not in stats and "all" not in stats  # the study's report is `make study`'s
    for variant, stage in trained_runs(cfg):
        block_with(blocks["train_ablation"], f"longrm train {stage} ", f"--variant {variant} ")
    for s in cfg["ablations"]["sets"]:
        block_with(blocks["bench_ablation"], f"--model sft-dpo --bench {SETS[s]}")
    assert not any("--model sft-logo " in b or "--model sft-only " in b for b in blocks["bench_ablation"])
    (report,) = blocks["report_ablations"]
    assert "heldout/sft-logo=results/bench/heldout/logo-pointwise/item_scores.jsonl" in report
    assert "heldout/sft-dpo=results/ablations/bench/heldout/sft-dpo/item_scores.jsonl" in report
    assert "--labels results/ablations/labels/best_judge/report.json" in report


SETS = {
    "heldout": "results/splits/bench.jsonl",
    "swap": "results/controls/swap.jsonl",
    "short": "results/short/bench.jsonl",
}


def dryrun_paper_command() -> list[str]:
    """The command `make dryrun-paper` runs (read from make -n, so the test follows the Makefile)."""
    made = subprocess.run(["make", "-n", "dryrun-paper"], cwd=REPO, capture_output=True, text=True, check=True)
    (line,) = [ln for ln in made.stdout.splitlines() if "snakemake -n" in ln]
    return shlex.split(line)


def resources(block: str) -> dict[str, str]:
    line = re.search(r"^\s*resources: (.*)$", block, re.M).group(1)
    return dict(kv.split("=", 1) for kv in line.split(", "))


def test_make_dryrun_paper_plans_the_ablations_as_slurm_jobs():
    cfg = load_config(REPO / "config" / "paper.yaml")
    cmd = dryrun_paper_command()
    assert cmd[-2:] == ["all", "ablations"]
    out = subprocess.run([*cmd, "-p"], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    stats, blocks = job_stats(text), jobs(text)
    assert stats["train_ablation"] == len(trained_runs(cfg)) > 0
    assert stats["bench_ablation"] == len(bench_jobs(cfg)) > 0 and stats["all"] == 1
    for variant, stage in trained_runs(cfg):
        b = block_with(blocks["train_ablation"], f"wildcards: variant={variant}, stage={stage}")
        assert f"deepspeed_launch.sh train {stage} --config config/paper.yaml" in b and f"--variant {variant}" in b
        r = resources(b)
        assert (r["gpu"], r["nodes"], r["slurm_partition"]) == (str(cfg["cluster"]["train_gpus"]), "1", "gpu")
    for b in blocks["bench_ablation"]:
        r = resources(b)
        assert (r["gpu"], r["slurm_partition"]) == (str(cfg["bench"]["tensor_parallel_size"]), "gpu")


def test_a_bad_variant_stops_the_dag_before_any_job(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "default.yaml").read_text())
    cfg["results_dir"] = str(tmp_path / "results")
    cfg["ablations"]["variants"]["logo-m1"]["train"]["logo"]["num_negatives"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = snakemake("-n", "ablations", "--configfile", str(bad))
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "Job stats" not in text
    assert f"{bad}: key 'ablations.variants.logo-m1.train.logo.num_negatives'" in text


def report_inputs(config, env=None) -> dict[str, str]:
    out = snakemake("-n", "--forceall", "all", "--configfile", str(config), env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return {
        rule: b for rule, (b, *_) in jobs(out.stdout + out.stderr).items() if rule in ("report_tables", "report_md")
    }


def test_report_md_takes_the_ablations_once_they_are_built(tmp_path):
    results = tmp_path / "results"
    cfg = yaml.safe_load((REPO / "config" / "default.yaml").read_text())
    cfg["results_dir"] = str(results)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    folder = f"{results}/ablations/report"
    assert not any(folder in b.split("Shell command")[0] for b in report_inputs(config).values())
    (results / "ablations" / "report").mkdir(parents=True)
    for rule, block in report_inputs(config).items():
        assert re.search(rf"^\s*input: .*{re.escape(folder)}", block, re.M), rule
    fresh = report_inputs(config, env={"LONGRM_ABLATIONS_IN_REPORT": "no"})  # as dvc.yaml plans it
    assert not any(re.search(rf"^\s*input: .*{re.escape(folder)}", b, re.M) for b in fresh.values())


@pytest.fixture(scope="module")
def generator():
    return load_script(REPO / "workflow" / "scripts" / "make_dvc_yaml.py")


def test_the_ablations_pipeline_file_holds_their_jobs_alone(generator):
    jobs_, sections = generator.snakemake_jobs(None, "ablations")
    names = {generator.stage_name(j) for j in jobs_}
    study = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert names and not names & set(study)
    assert {j["rule"] for j in jobs_} == {
        "vote_relabel",
        "vote_split_relabeled",
        "train_ablation",
        "bench_ablation",
        "bench_score_ablation",
        "report_ablations",
        "report_ablation_times",
    }
    outs = {o for st in study.values() for o in st.get("outs", []) + st.get("metrics", [])}
    doc = generator.dvc_document(jobs_, sections, wdir="../..")
    mine = {o for st in doc["stages"].values() for o in st.get("outs", []) + st.get("metrics", [])}
    assert not mine & outs  # DVC refuses an output two stages declare
    dpo = doc["stages"]["train_ablation_sft-dpo_logo"]["params"][0]["config/default.yaml"]
    assert "ablations.variants.sft-dpo" in dpo and not any("logo-m1" in p for p in dpo)
    assert doc["plots"] == ["../../results/ablations/report/ablations_by_length.png"]


def test_the_committed_ablations_pipeline_file_is_what_the_generator_writes():
    folder = REPO / "pipelines" / "ablations"
    out = folder / f".drift-check-{os.getpid()}.yaml"  # beside it: the stages' wdir is relative to the file
    cmd = [sys.executable, "workflow/scripts/make_dvc_yaml.py", "--configfile", "config/default.yaml"]
    try:
        subprocess.run(cmd + ["--target", "ablations", "--out", str(out)], cwd=REPO, check=True, capture_output=True)
        fresh = out.read_text()
    finally:
        out.unlink(missing_ok=True)
    assert (folder / "dvc.yaml").read_text() == fresh, (
        "pipelines/ablations/dvc.yaml drifted: run make ablations (or make_dvc_yaml.py --target ablations)"
    )
