"""workflow/scripts/dvc_fetch.py (make pull / make repro) with a stand-in `dvc`: a failed pull names every
tracked file the DVC cache still lacks (in neither it nor the remote); a failed repro adds no such list; the
exit status is DVC's. The real thing: tests/test_study_commands.py (a file removed from the remote)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import load_script

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fetch(monkeypatch):
    module = load_script(REPO / "workflow" / "scripts" / "dvc_fetch.py")
    calls = []

    def run(cmd, **kw):
        calls.append(cmd[1:])
        if cmd[1] == "status":
            status = {"results/models/sft/model.safetensors": "deleted", "results/new.json": "new"}
            return subprocess.CompletedProcess(cmd, 0, json.dumps(status), "")
        return subprocess.CompletedProcess(cmd, module.FAIL_WITH)

    module.FAIL_WITH = 1
    monkeypatch.setattr(module.subprocess, "run", run)
    module.calls = calls
    return module


def test_a_failed_pull_names_each_file_it_could_not_fetch(fetch, capsys):
    assert fetch.main(["pull", "dvc.yaml"]) == 1
    err = capsys.readouterr().err
    assert "make pull: 1 tracked file(s) are in neither the DVC cache (.dvc/cache) nor the remote:" in err
    assert "  results/models/sft/model.safetensors\n" in err and "results/new.json" not in err  # new: not pushed yet
    assert fetch.calls == [["pull", "dvc.yaml"], ["status", "--cloud", "--json", "dvc.yaml"]]


def test_a_pull_that_worked_and_a_failed_repro_print_no_list(fetch, capsys):
    fetch.FAIL_WITH = 0
    assert fetch.main(["pull", "dvc.yaml"]) == 0
    fetch.FAIL_WITH = 3
    assert fetch.main(["repro", "pipelines/paper/dvc.yaml"]) == 3
    assert "neither" not in capsys.readouterr().err
    assert fetch.calls == [["pull", "dvc.yaml"], ["repro", "pipelines/paper/dvc.yaml"]]


def test_another_action_is_refused(fetch, capsys):
    assert fetch.main(["push", "dvc.yaml"]) == 2 and "usage" in capsys.readouterr().err
