"""Shared pieces of the reliability suite: an outcome ledger (read by `python -m longrm.reliability`),
byte snapshots of output folders, and in-process / bounded subprocess runs of the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from longrm.config import DEFAULT_CONFIG

LEDGER_ENV = "LONGRM_RELIABILITY_LOG"  # JSONL path; each passing reliability test appends its outcome row


@pytest.fixture
def ledger(request):
    """`ledger(kind, case, stage, outcome, lost="none")`: call after the asserts, so a row means it passed."""

    def add(kind: str, case: str, stage: str, outcome: str, lost: str = "none") -> None:
        path = os.environ.get(LEDGER_ENV)
        if not path:
            return
        row = {
            "kind": kind,
            "case": case,
            "stage": stage,
            "outcome": outcome,
            "lost": lost,
            "test": request.node.nodeid,
        }
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")

    return add


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative name -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def temp_leftovers(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial")) or p.name.startswith(".")]


def write_config(path: Path, results_dir: Path, **changes) -> Path:
    """The default config with results_dir in a tmp folder and `changes` applied (dotted keys)."""
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["results_dir"] = str(results_dir)
    for dotted, value in changes.items():
        node = cfg
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli(argv: list[str], capsys) -> tuple[int, str]:
    """Run `longrm ARGV` in process; return (exit code, stderr)."""
    from longrm.cli import main

    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def cli_cmd(*argv) -> list[str]:
    return [sys.executable, "-m", "longrm.cli", *map(str, argv)]


def start(cmd: list[str], cwd=None, **kw) -> subprocess.Popen:
    """A subprocess in its own process group (so a kill reaches its children too)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def kill_group(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    """Wait at most `timeout` s; on timeout kill the whole group and fail."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        pytest.fail(f"{proc.args} did not finish in {timeout} s")
    return proc.returncode, out, err


def run_bounded(cmd: list[str], timeout: float = 120, cwd=None) -> tuple[int, str, str]:
    return finish(start(cmd, cwd=cwd), timeout)
