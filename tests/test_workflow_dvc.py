"""dvc.yaml and the Snakemake DAG name the same stages, files, commands and parameters (no drift)."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from longrm.config import load_config, section
from tests.helpers import load_script

REPO = Path(__file__).resolve().parents[1]


def _generator():
    return load_script(REPO / "workflow" / "scripts" / "make_dvc_yaml.py")


@pytest.fixture(scope="module")
def dag():
    gen = _generator()
    jobs, sections = gen.snakemake_jobs()
    return gen, jobs, sections


@pytest.fixture(scope="module")
def dvc():
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def check_stages_match_jobs(gen, jobs, sections, stages, config):
    """Each DVC stage is its Snakemake job: inputs, outputs (+ what the job leaves beside them: provenance
    sidecars, log, benchmark record), the command (through timed.py) and the config sections."""
    by_name = {gen.stage_name(j): j for j in jobs}
    assert set(stages) == set(by_name), "dvc.yaml and the Snakefile name different stages"
    assert len(by_name) == len(jobs), "two jobs map to one stage name"
    for name, job in by_name.items():
        st = stages[name]
        assert sorted(st.get("deps", [])) == sorted(job["input"]), name
        made = st.get("outs", []) + st.get("metrics", [])
        assert set(job["output"]) | set(job["log"]) | set(job["benchmark"]) <= set(made), name
        extra = set(made) - set(job["output"]) - set(job["log"]) - set(job["benchmark"])
        assert all(p.endswith(".prov.json") or p.endswith("/provenance.json") for p in extra), (name, extra)
        (log,), (record,) = job["log"], job["benchmark"]
        assert job["shell"].endswith(f" 2> {log}"), name
        assert st["cmd"] == (
            f"python workflow/scripts/timed.py --log {log} --benchmark {record} -- "
            + re.sub(r" 2> \S+$", "", job["shell"])
        ), name
        if sections.get(job["rule"]):
            assert st["params"] == [{config: sections[job["rule"]]}], name
        else:
            assert "params" not in st, name


def test_same_stages_and_files(dag, dvc):
    gen, jobs, sections = dag
    from tests.test_workflow import DEFAULT_RULES

    assert len(jobs) == sum(DEFAULT_RULES.values()) - 1  # every job of the embedded default except `all`
    check_stages_match_jobs(gen, jobs, sections, dvc["stages"], "config/default.yaml")
    # a file output's sidecar is cached with it; a folder's is inside the folder
    assert "results/synth/items.jsonl.prov.json" in dvc["stages"]["synth"]["outs"]
    assert "results/splits/provenance.json" in dvc["stages"]["vote_split"]["outs"]
    assert not any(o.startswith("results/models/logo/") for o in dvc["stages"]["train_logo"]["outs"])


def test_same_parameters(dag, dvc):
    gen, jobs, sections = dag
    cfg = load_config(REPO / "config" / "default.yaml")
    for job in jobs:
        if not sections.get(job["rule"]):
            continue
        (params,) = dvc["stages"][gen.stage_name(job)]["params"]
        assert params == {"config/default.yaml": sections[job["rule"]]}
        for key in sections[job["rule"]]:
            section(cfg, key)  # every parameter DVC watches exists in the config


def test_the_report_reads_the_record_of_every_job(dag, dvc):
    """report_times declares (and passes) the Snakemake `benchmark:` record of every job before the report,
    and report_tables/figures the memory/throughput records folder: a rule added without its record fails."""
    gen, jobs, _ = dag
    report_rules = {"report_benchmarks", "report_tables", "report_figures", "report_md", "report_times"}
    records = {j["benchmark"][0] for j in jobs if j["rule"] not in report_rules}
    (times,) = [j for j in jobs if j["rule"] == "report_times"]
    assert records <= set(times["input"]), records - set(times["input"])
    for record in records:
        assert f"={record}" in times["shell"], record
    for rule in ("report_tables", "report_figures"):
        (job,) = [j for j in jobs if j["rule"] == rule]
        assert "results/benchmarks" in job["input"]


def test_file_is_exactly_what_the_generator_writes(dag):
    gen, jobs, sections = dag
    assert (REPO / "dvc.yaml").read_text() == gen.render(gen.dvc_document(jobs, sections)), (
        "dvc.yaml drifted: run python workflow/scripts/make_dvc_yaml.py"
    )


def test_metrics_and_plots(dvc):
    metrics = [m for st in dvc["stages"].values() for m in st.get("metrics", [])]
    from longrm.bench.sets import bench_sets
    from longrm.config import load_config

    sets = bench_sets(load_config(REPO / "config" / "default.yaml"))
    assert sorted(metrics) == sorted(f"results/bench/{s.name}/{n}/metrics.json" for s in sets for n in s.models)
    assert "results/bench/heldout/disrm-response/metrics.json" in metrics
    assert {"results/bench/swap/sft-pointwise/metrics.json", "results/bench/nocontext/disrm/metrics.json"} <= set(
        metrics
    )
    assert dvc["plots"] and all(p.startswith("results/figures/") and p.endswith(".png") for p in dvc["plots"])
    from longrm.report.figures import FIGURES

    assert {Path(p).stem for p in dvc["plots"]} <= set(FIGURES)
    assert "results/models/logo" in dvc["stages"]["train_logo"]["outs"]  # checkpoints are cached outs


def test_dvc_reads_the_stages_and_settings():
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc_bin = str(Path(sys.executable).parent / "dvc")
    out = subprocess.run([dvc_bin, "stage", "list"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
    assert {
        "inputs_raw",
        "train_logo",
        "bench_score_heldout_logo-pointwise",
        "bench_control_swap",
        "report_md",
    } <= listed
    conf = configparser.ConfigParser()
    conf.read(REPO / ".dvc" / "config")
    assert conf["core"]["analytics"] == "false" and conf["core"]["autostage"] == "false"
    remote = conf["core"]["remote"]
    assert conf[f"'remote \"{remote}\"'"]["url"].endswith("dvc-remote")


def test_every_rule_command_parses_with_the_real_cli(dag):
    """Each rule's command is accepted by the stage's argparse as it is in src/longrm/<stage>/cli.py,
    and the rule's params are the config sections the command records in its provenance (prov_params)."""
    import shlex

    from longrm.cli import build_parser

    gen, jobs, sections = dag
    parser = build_parser()
    registered = set(parser._subparsers._group_actions[0].choices)
    checked = 0
    for job in jobs:
        argv = shlex.split(re.sub(r" 2> \S+$", "", job["shell"]))
        assert argv[0] == "longrm"
        if argv[1] not in registered:
            continue  # that stage's CLI has not landed yet
        args = parser.parse_args(argv[1:])
        checked += 1
        # one declaration (longrm.commands.READS): the rule's params are the sections the command records
        assert sorted(sections.get(job["rule"], [])) == sorted(args.prov_params), job["rule"]
    assert checked >= 1


# ---------------------------------------------------------------- any config: the paper pipeline


@pytest.fixture(scope="module")
def paper():
    gen = _generator()
    target, text = gen.generate("config/paper.yaml", str(REPO / "pipelines" / "paper" / "dvc.yaml"))
    jobs, sections = gen.snakemake_jobs("config/paper.yaml")
    return gen, target, text, jobs, sections


def test_paper_pipeline_has_the_stages_of_its_dag_run_from_the_repository_root(paper):
    gen, target, text, jobs, sections = paper
    assert target == REPO / "pipelines" / "paper" / "dvc.yaml"
    doc = yaml.safe_load(text)
    stages = doc["stages"]
    assert text.startswith(
        "# Generated by workflow/scripts/make_dvc_yaml.py from the Snakemake DAG (config/paper.yaml)"
    )
    assert all(st["wdir"] == "../.." for st in stages.values())
    check_stages_match_jobs(gen, jobs, sections, stages, "config/paper.yaml")
    assert not any(name.startswith("inputs_") for name in stages)  # local paths on the cluster
    assert "train_logo" in stages and "--config config/paper.yaml" in stages["train_logo"]["cmd"]
    assert all(p.startswith("../../results/paper/figures/") for p in doc["plots"])


def test_dvc_runs_the_paper_pipeline_from_the_repository_root(paper, tmp_path):
    """DVC reads a generated pipeline outside the root: its params file and paths resolve from the root."""
    gen, _, text, _, _ = paper
    for name in ("config", ".dvc/config", ".dvcignore"):
        src, dst = REPO / name, tmp_path / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    (tmp_path / "pipelines" / "paper").mkdir(parents=True)
    (tmp_path / "pipelines" / "paper" / "dvc.yaml").write_text(text)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc_bin = str(Path(sys.executable).parent / "dvc")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    out = subprocess.run(
        [dvc_bin, "status", "--json", "pipelines/paper/dvc.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    synth = status["pipelines/paper/dvc.yaml:synth"]
    # the params file is found from the root (new: no dvc.lock yet), not as pipelines/paper/config/...
    assert {"changed deps": {"config/paper.yaml": "new"}} in synth
    assert any("results/paper/synth/items.jsonl" in c.get("changed outs", {}) for c in synth)


def test_generator_writes_and_checks_any_config(tmp_path):
    gen = _generator()
    out = tmp_path / "dvc.yaml"
    cfg = yaml.safe_load((REPO / "config" / "default.yaml").read_text())
    cfg["results_dir"] = "results/other"
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(cfg))
    assert gen.main(["--configfile", str(tmp_path / "other.yaml"), "--out", str(out)]) == 0
    doc = yaml.safe_load(out.read_text())
    stage = doc["stages"]["synth"]
    assert stage["params"] == [
        {
            str(tmp_path / "other.yaml"): [
                "bench.max_model_len",
                "bench.max_new_tokens",
                "seed",
                "synth",
                "trust_remote_code",
            ]
        }
    ]
    assert os.path.normpath(tmp_path / stage["wdir"]) == str(REPO)
    assert "results/other/synth/items.jsonl" in stage["outs"]
    assert gen.main(["--configfile", str(tmp_path / "other.yaml"), "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text() + "# edited\n")
    assert gen.main(["--configfile", str(tmp_path / "other.yaml"), "--out", str(out), "--check"]) == 1


def test_timed_writes_the_log_and_a_snakemake_style_record_and_keeps_the_exit_status(tmp_path):
    """What a DVC stage runs its command through: stderr to the log (folders made), the job record in
    Snakemake's `benchmark:` columns (the report reads s, max_rss, cpu_time), none when the command fails."""
    from longrm.report.load import load_stage_benchmarks

    timed = [sys.executable, str(REPO / "workflow" / "scripts" / "timed.py")]
    log, record = tmp_path / "logs" / "job.log", tmp_path / "logs" / "benchmark" / "job.tsv"
    ok = subprocess.run(
        [
            *timed,
            "--log",
            str(log),
            "--benchmark",
            str(record),
            "--",
            sys.executable,
            "-c",
            "import sys; print('to the log', file=sys.stderr); print('out')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and ok.stdout == "out\n"
    assert log.read_text() == "to the log\n"
    header, row = record.read_text().splitlines()
    assert header.split("\t") == [
        "s",
        "h:m:s",
        "max_rss",
        "max_vms",
        "max_uss",
        "max_pss",
        "io_in",
        "io_out",
        "mean_load",
        "cpu_time",
    ]
    (job,) = load_stage_benchmarks([f"job={record}"])
    assert job["job"] == "job" and job["wall_s"] >= 0 and job["max_rss_mb"] > 1 and job["cpu_s"] >= 0

    failed_record = tmp_path / "failed.tsv"
    bad = subprocess.run(
        [
            *timed,
            "--log",
            str(tmp_path / "failed.log"),
            "--benchmark",
            str(failed_record),
            "--",
            sys.executable,
            "-c",
            "raise SystemExit(3)",
        ],
        timeout=60,
    )
    assert bad.returncode == 3 and not failed_record.exists()
