"""dvc.yaml and the Snakemake DAG name the same stages, files, commands and parameters (no drift)."""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from longrm.config import load_config, section

REPO = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("make_dvc_yaml", REPO / "workflow" / "scripts" / "make_dvc_yaml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dag():
    gen = _generator()
    jobs, sections = gen.snakemake_jobs()
    return gen, jobs, sections


@pytest.fixture(scope="module")
def dvc():
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def test_same_stages_and_files(dag, dvc):
    gen, jobs, _ = dag
    stages = dvc["stages"]
    by_name = {gen.stage_name(j): j for j in jobs}
    assert set(stages) == set(by_name), "dvc.yaml and the Snakefile name different stages"
    assert len(by_name) == len(jobs) == 36  # every job of the embedded default except `all`
    for name, job in by_name.items():
        st = stages[name]
        assert sorted(st.get("deps", [])) == sorted(job["input"]), name
        assert sorted(st.get("outs", []) + st.get("metrics", [])) == sorted(job["output"]), name
        assert st["cmd"] == re.sub(r" 2> \S+$", "", job["shell"]), name


def test_same_parameters(dag, dvc):
    gen, jobs, sections = dag
    cfg = load_config(REPO / "config" / "default.yaml")
    for job in jobs:
        (params,) = dvc["stages"][gen.stage_name(job)]["params"]
        assert params == {"config/default.yaml": sections[job["rule"]]}
        for key in sections[job["rule"]]:
            section(cfg, key)  # every parameter DVC watches exists in the config


def test_file_is_exactly_what_the_generator_writes(dag):
    gen, jobs, sections = dag
    assert (REPO / "dvc.yaml").read_text() == gen.render(gen.dvc_document(jobs, sections)), \
        "dvc.yaml drifted: run python workflow/scripts/make_dvc_yaml.py"


def test_metrics_and_plots(dvc):
    metrics = [m for st in dvc["stages"].values() for m in st.get("metrics", [])]
    assert sorted(metrics) == sorted(f"results/bench/{n}/metrics.json"
                                     for n in ("base", "sft", "logo", "base-pointwise", "sft-pointwise",
                                               "logo-pointwise", "disrm", "random", "longer", "first"))
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
    assert {"inputs_raw", "train_logo", "bench_score_logo", "report_md"} <= listed
    conf = configparser.ConfigParser()
    conf.read(REPO / ".dvc" / "config")
    assert conf["core"]["analytics"] == "false" and conf["core"]["autostage"] == "false"
    remote = conf["core"]["remote"]
    assert conf[f"'remote \"{remote}\"'"]["url"].endswith("dvc-remote")


def test_every_rule_command_parses_with_the_real_cli(dag):
    """Each rule's command is accepted by the stage's argparse as it is in src/longrm/<stage>/cli.py,
    and the rule's params cover the config sections the command declares it reads (prov_params)."""
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
        for wanted in getattr(args, "prov_params", ()) or ():
            assert any(s == wanted or s.startswith(wanted + ".") or wanted.startswith(s + ".")
                       for s in sections[job["rule"]]), (job["rule"], wanted)
    assert checked >= 1
