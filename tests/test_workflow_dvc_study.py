"""The whole study on a tiny config, built by Snakemake with the real `longrm`, in a temporary git repository:

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
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPIED = (
    "Snakefile",
    "workflow",
    "config",
    "envs",
    "corpus",
    "Makefile",
    ".gitignore",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
)
TINY = "config/tiny.yaml"


def tiny_config() -> dict:
    """The embedded default shrunk to seconds per job: few items, one short length, a 16-wide model,
    1-2 steps per training stage, two judged models and one baseline."""
    cfg = yaml.safe_load((REPO / "config" / "default.yaml").read_text())
    cfg["name"] = "tiny"
    cfg["inputs"].update(items_per_task=5, rejected_per_item=2, distractor_docs=20, tokenizer={"vocab_size": 300})
    cfg["inputs"]["base_model"] = dict(
        architecture="qwen2",
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        num_kv_heads=1,
        intermediate_size=32,
        max_position_embeddings=1024,
    )
    cfg["inputs"]["pretrain"] = dict(
        max_steps=2, minutes=5.0, seq_len=64, batch_size=2, lr=3e-3, warmup_steps=1, log_every=1, eval_examples=2
    )
    cfg["synth"].update(lengths=[512], items_per_source=1)
    cfg["vote"]["bon_orders"] = 1
    cfg["train"]["common"].update(max_length=768, log_every=1)
    for stage in ("short", "sft", "logo", "disrm"):
        cfg["train"][stage].update(max_steps=1, batch_size=2)
    cfg["bench"].update(max_model_len=768, max_new_tokens=4, bootstrap=10, bon_orders=1)
    cfg["bench"]["models"] = [m for m in cfg["bench"]["models"] if m["name"] in ("base-pointwise", "logo-pointwise")]
    cfg["bench"]["sets"] = [
        {"name": "heldout", "file": "splits/bench.jsonl"},
        {"name": "nocontext", "control": "none", "of": "heldout", "models": ["logo-pointwise"]},
    ]
    cfg["bench"]["baselines"] = ["first"]
    return cfg


def sh(*cmd, cwd, env, timeout=600, check=True) -> subprocess.CompletedProcess:
    """Run in its own process group; on timeout end the whole group (jobs included)."""
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    if check:
        assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out[-4000:]}"
    return done


def timed(*cmd, **kw) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = sh(*cmd, **kw)
    return done, time.monotonic() - start


def snakemake(*args, cwd, env, **kw):
    return sh(
        BIN / "snakemake",
        "--configfile",
        TINY,
        "--workflow-profile",
        "workflow/profiles/default",
        *args,
        cwd=cwd,
        env=env,
        **kw,
    )


def dvc(*args, cwd, env, **kw):
    return sh(BIN / "dvc", *args, cwd=cwd, env=env, **kw)


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
def study(tmp_path_factory):
    """A git repository with the workflow and the tiny config, its dvc.yaml generated from that config,
    the study built by Snakemake and recorded by `dvc commit` (the two steps of `make study`)."""
    root = tmp_path_factory.mktemp("dvc-study")
    repo = root / "repo"
    for name in COPIED:
        src, dst = REPO / name, repo / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    (repo / TINY).write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    sh(
        sys.executable,
        "workflow/scripts/make_dvc_yaml.py",
        "--configfile",
        TINY,
        "--out",
        "dvc.yaml",
        cwd=repo,
        env=env,
    )
    sh("git", "init", "-q", cwd=repo, env=env)
    sh("git", "add", "-A", cwd=repo, env=env)
    sh("git", "commit", "-qm", "tiny study", cwd=repo, env=env)
    snakemake("--cores", "2", cwd=repo, env=env, timeout=900)
    _, record_s = timed(BIN / "dvc", "commit", "--force", "dvc.yaml", cwd=repo, env=env)  # `make record`
    print(f"\ndvc commit after the tiny study: {record_s:.1f} s")
    return {"root": root, "repo": repo, "env": env}


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
    assert ran == planned, (sorted(ran), sorted(planned))
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
