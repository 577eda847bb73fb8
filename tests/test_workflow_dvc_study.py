"""The whole study on a tiny config (tests/tiny_study.py), built by `make study` with the real `longrm`, in a
temporary git repository:

- every rule declares every file its command reads (each output's provenance sidecar records the inputs
  the command read; each must be one of the job's declared inputs);
- DVC records what Snakemake built (`dvc commit`, as `make study` does): `dvc status` is clean and
  `dvc repro` runs nothing; after one parameter changes, `dvc repro` runs the stages Snakemake would, and
  after `snakemake --touch` (`make repro`) Snakemake has nothing to redo;
  `dvc push`, then in a fresh clone `dvc pull` + `snakemake --touch` (`make pull`): `longrm audit` passes,
  `snakemake -n` and `dvc status` have nothing to do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import tiny_study as tiny

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = tiny.TINY


def sh(*cmd, cwd, env=None, timeout=600, check=True) -> subprocess.CompletedProcess:
    """tests/tiny_study.sh (its own process group and environment); `env` is that environment."""
    return tiny.sh(*cmd, cwd=cwd, timeout=timeout, check=check)


def timed(*cmd, **kw) -> tuple[subprocess.CompletedProcess, float]:
    done = sh(*cmd, **kw)
    return done, done.seconds


def snakemake(*args, cwd, env=None, **kw):
    return tiny.snakemake(cwd, *args, **kw)


def dvc(*args, cwd, env=None, **kw):
    return tiny.dvc(cwd, *args, **kw)


def planned_stages(dry_run_text: str) -> set[str]:
    """The DVC stage names of the jobs a Snakemake dry run plans (rule + wildcard values)."""
    sys.path.insert(0, str(REPO / "workflow" / "scripts"))
    from make_dvc_yaml import parse_dry_run, stage_name

    return {stage_name(j) for j in parse_dry_run(dry_run_text) if j["rule"] != "all"}


def undeclared_reads(sidecar: Path, declared: list[str]) -> list[str]:
    """Files a command read (its provenance sidecar records every input with its hash) that are neither a
    declared input nor inside a declared input folder. An optional input recorded as missing was not read."""
    from longrm.data.io import read_json

    found = []
    for read in read_json(sidecar)["inputs"]:
        path = os.path.normpath(read["path"])
        if read["kind"] != "missing" and not any(path == d or path.startswith(d.rstrip("/") + "/") for d in declared):
            found.append(f"{path} ({read['arg']})")
    return found


def declared_inputs(dry_run_text: str) -> dict[str, list[tuple[list[str], list[str]]]]:
    """rule -> [(outputs, inputs)] of each job of a dry run."""
    sys.path.insert(0, str(REPO / "workflow" / "scripts"))
    from make_dvc_yaml import parse_dry_run

    jobs: dict[str, list] = {}
    for job in parse_dry_run(dry_run_text):
        if job["shell"]:
            jobs.setdefault(job["rule"], []).append((job["output"], job["input"]))
    return jobs


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def study(tiny_study, tmp_path_factory):
    """A copy of the session's tiny study (tests/tiny_study.py): a git repository with the workflow, the
    tiny config and base, its dvc.yaml generated from that config, built by `make study` (Snakemake, then
    `make record`)."""
    root = tmp_path_factory.mktemp("dvc-study")
    repo = tiny.copy_repo(tiny_study["repo"], root / "repo")
    return {"root": root, "repo": repo, "env": tiny.env()}


@pytest.mark.slow
def test_every_rule_declares_every_file_its_command_reads(study):
    from longrm.provenance import find_sidecar

    repo, env = study["repo"], study["env"]
    dry = snakemake("-n", "-p", "--forceall", "--nolock", "all", cwd=repo, env=env)
    jobs = declared_inputs(dry.stdout)
    assert sum(map(len, jobs.values())) >= 20
    for rule, rule_jobs in jobs.items():
        for outputs, inputs in rule_jobs:
            sidecars = {find_sidecar(repo / out) for out in outputs}
            assert None not in sidecars, f"{rule}: an output without a provenance sidecar"
            for side in sidecars:
                assert not undeclared_reads(side, inputs), f"rule {rule} reads undeclared inputs"
    assert {"synth", "train_logo", "bench_run", "report_tables", "report_figures", "report_md"} <= set(jobs)


@pytest.mark.slow
def test_dvc_records_the_study_and_a_fresh_clone_pulls_it(study):
    root, repo, env = study["root"], study["repo"], study["env"]

    status, status_s = timed(BIN / "dvc", "status", cwd=repo, env=env)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout[-3000:]
    repro, repro_s = timed(BIN / "dvc", "repro", cwd=repo, env=env)
    assert "Running stage" not in repro.stdout, repro.stdout[-3000:]
    assert "Data and pipelines are up to date" in repro.stdout
    print(f"dvc status {status_s:.1f} s, no-op dvc repro {repro_s:.1f} s")

    # one parameter: DVC reruns the stages Snakemake plans, and only those
    cfg = yaml.safe_load((repo / TINY).read_text())
    cfg["train"]["logo"]["beta"] = 3.0
    (repo / TINY).write_text(yaml.safe_dump(cfg, sort_keys=False))
    planned = planned_stages(snakemake("-n", "-p", cwd=repo, env=env).stdout)
    assert {
        "train_logo",
        "bench_run_heldout_logo-pointwise",
        "bench_score_heldout_logo-pointwise",
        "bench_run_nocontext_logo-pointwise",
        "report_md",
    } <= planned
    assert not {"train_sft", "bench_run_heldout_base-pointwise", "synth"} & planned
    rerun = dvc("repro", cwd=repo, env=env, timeout=900)
    ran = set(re.findall(r"^Running stage '([^']+)'", rerun.stdout, re.M))
    # DVC reruns what Snakemake plans, but for a stage whose inputs came out byte-identical (records hold no
    # timings: a judgment equal to the old one is the same bytes), which it rightly skips
    assert {"train_logo", "bench_run_heldout_logo-pointwise", "report_md"} <= ran <= planned, (
        sorted(ran),
        sorted(planned),
    )
    assert "Data and pipelines are up to date" in dvc("status", cwd=repo, env=env).stdout
    # `make repro`: then Snakemake is told (its records still hold the old parameter) and has nothing to do
    assert "Params have changed" in snakemake("-n", cwd=repo, env=env).stdout
    snakemake("--touch", "--cores", "1", cwd=repo, env=env)
    assert "Nothing to be done" in snakemake("-n", cwd=repo, env=env).stdout
    assert "Data and pipelines are up to date" in dvc("status", cwd=repo, env=env).stdout

    # push, then a fresh clone pulls the results: audit passes, neither tool has anything to do
    sh("git", "add", "dvc.lock", TINY, cwd=repo, env=env)
    sh("git", "commit", "-qm", "results", cwd=repo, env=env)
    _, push_s = timed(BIN / "dvc", "push", cwd=repo, env=env)
    remote = root / "dvc-remote"
    assert remote.is_dir()
    print(
        f"dvc push {push_s:.1f} s: {folder_size(remote) / 1e6:.2f} MB in the remote "
        f"({folder_size(repo / 'results') / 1e6:.2f} MB of results)"
    )
    clone = root / "clone"
    sh("git", "clone", "-q", repo, clone, cwd=root, env=env)
    assert not (clone / "results" / "tables").exists()
    dvc("pull", "dvc.yaml", cwd=clone, env=env)  # `make pull`: pull, then touch in DAG order
    snakemake("--touch", "--cores", "1", cwd=clone, env=env)
    audit = sh(BIN / "longrm", "audit", "results/tables/main.csv", cwd=clone, env=env)
    assert (
        "results/bench/heldout/logo-pointwise/metrics.json" in audit.stdout
        and "made by: longrm bench score" in audit.stdout
    )
    assert (
        "(source: no sidecar)"
        not in audit.stdout.split("results/bench/heldout/logo-pointwise/metrics.json", 1)[1].split("\n")[0]
    )
    dry = snakemake("-n", cwd=clone, env=env)
    assert "Nothing to be done" in dry.stdout, dry.stdout[-3000:]
    assert "Data and pipelines are up to date" in dvc("status", cwd=clone, env=env).stdout
