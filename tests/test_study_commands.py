"""Every README command is idempotent (issue 21): after `make study`, `make record`, `make pull`, `make repro`
or a plain `snakemake --cores all`, the next run of any of them does nothing: Snakemake plans no job (even
with no checksum to excuse an input newer than its output, as for the default study's larger files), `dvc
status` is clean, no output is rewritten, and it takes under 30 s. On the tiny config, in a copy of the
session's tiny study (tests/tiny_study.py). Also the bad input of these commands: no dvc.lock to pull, and
a file the DVC cache and remote both lack."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.tiny_study import (
    BIN,
    TINY,
    copy_repo,
    dvc,
    dvc_clean,
    make,
    output_mtimes,
    sh,
    snakemake,
    stale_jobs,
)

pytestmark = pytest.mark.slow
NO_OP_SECONDS = 30


@pytest.fixture(scope="module")
def repo(tiny_study, tmp_path_factory):
    return copy_repo(tiny_study["repo"], tmp_path_factory.mktemp("commands") / "repo")


def assert_nothing_to_do(repo, after: str) -> None:
    jobs, plan = stale_jobs(repo)
    assert jobs == 0, f"after {after}, Snakemake plans {jobs} jobs:\n{plan[-3000:]}"
    clean, status = dvc_clean(repo)
    assert clean, f"after {after}, dvc status:\n{status[-3000:]}"


def no_op(repo, run, what: str) -> subprocess.CompletedProcess:
    """`run()` (a command after which nothing is left to do) does nothing: no output rewritten, quickly."""
    before = output_mtimes(repo)
    done = run()
    print(f"{what}, nothing to do: {done.seconds:.1f} s")
    assert done.seconds < NO_OP_SECONDS, f"{what} took {done.seconds:.0f} s with nothing to do"
    assert output_mtimes(repo) == before, f"{what} rewrote outputs"
    assert_nothing_to_do(repo, what)
    return done


def test_study_then_study(repo):
    assert_nothing_to_do(repo, "make study")
    done = no_op(repo, lambda: make(repo, "study"), "make study")
    assert "Nothing to be done" in done.stdout


def test_study_then_snakemake(repo):
    done = no_op(repo, lambda: sh(BIN / "snakemake", "--cores", "all", "--configfile", TINY, cwd=repo), "snakemake")
    assert "Nothing to be done" in done.stdout


def test_record_then_snakemake(repo):
    no_op(repo, lambda: make(repo, "record"), "make record")
    no_op(repo, lambda: snakemake(repo, "--cores", "all"), "snakemake after make record")


def test_a_commit_that_relinks_would_leave_work_for_snakemake(repo):
    """The check above can fail: `dvc commit` without --no-relink (make record before issue 21) rewrites the
    outputs in DVC's order, and Snakemake sees inputs newer than their outputs; Snakemake's touch (what
    make pull and make repro end with) puts them back in DAG order."""
    dvc(repo, "commit", "--force", "--quiet", "dvc.yaml")
    jobs, _ = stale_jobs(repo)
    assert jobs > 0
    snakemake(repo, "--touch", "--cores", "1", "--max-checksum-file-size", "0")
    assert_nothing_to_do(repo, "snakemake --touch")


def test_repro_then_study(repo):
    cfg = yaml.safe_load((repo / TINY).read_text())
    cfg["name"] = "tiny-renamed"  # read by `report md` only (a cheap change; tests/test_workflow_dvc_study.py
    (repo / TINY).write_text(yaml.safe_dump(cfg, sort_keys=False))  # changes a training parameter)
    done = make(repo, "repro", timeout=900)
    assert "Running stage 'report_md'" in done.stdout and "Running stage 'report_tables'" not in done.stdout
    assert_nothing_to_do(repo, "make repro")
    no_op(repo, lambda: make(repo, "study"), "make study after make repro")
    done = no_op(repo, lambda: make(repo, "repro"), "make repro again")
    assert "Running stage" not in done.stdout


def test_pull_without_dvc_lock_says_what_to_commit(repo, tmp_path):
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", repo, clone, cwd=tmp_path)  # dvc.lock was never committed
    done = make(clone, "pull", check=False)
    assert done.returncode != 0
    assert "no dvc.lock" in done.stdout and "git add dvc.lock" in done.stdout and "dvc push" in done.stdout


@pytest.fixture(scope="module")
def pushed(repo):
    """The study's dvc.lock (and config) committed and its results pushed to the DVC remote."""
    sh("git", "add", "dvc.lock", TINY, cwd=repo)
    sh("git", "commit", "-qm", "results", cwd=repo)
    dvc(repo, "push", "--quiet")
    return repo


def clone_of(repo, name: str):
    """A fresh clone beside `repo`, so the remote in .dvc/config (../dvc-remote) is the one pushed to."""
    clone = repo.parent / name
    sh("git", "clone", "-q", repo, clone, cwd=repo.parent)
    return clone


def test_pull_then_any_command(pushed):
    clone = clone_of(pushed, "clone-pull")
    done = make(clone, "pull", timeout=600)
    print(f"make pull in a fresh clone: {done.seconds:.1f} s")
    assert_nothing_to_do(clone, "make pull")
    no_op(clone, lambda: make(clone, "pull"), "make pull again")
    no_op(clone, lambda: make(clone, "study"), "make study after make pull")
    no_op(clone, lambda: snakemake(clone, "--cores", "all"), "snakemake after make pull")


def test_pull_names_a_file_the_cache_and_the_remote_lack(pushed, tmp_path):
    """A file inside a folder output that neither the clone's cache nor the remote holds: make pull fails
    naming it, and only it (DVC alone names its hash)."""
    clone = clone_of(pushed, "clone-missing")
    weights = pushed / "results" / "models" / "sft" / "model.safetensors"
    md5 = sh("md5sum", weights, cwd=pushed).stdout.split()[0]
    obj = pushed.parent / "dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]
    assert obj.is_file()
    aside = tmp_path / "object"
    shutil.move(obj, aside)
    try:
        done = make(clone, "pull", check=False, timeout=600)
    finally:
        shutil.move(aside, obj)
    assert done.returncode != 0
    assert "make pull: 1 tracked file(s) are in neither the DVC cache (.dvc/cache) nor the remote:" in done.stdout
    named = done.stdout.split("nor the remote:", 1)[1].split("Push them", 1)[0].split()
    assert named == ["results/models/sft/model.safetensors"]
