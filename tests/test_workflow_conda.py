"""The conda env files install this checkout's package after Snakemake copies them into .snakemake/conda/
(`--sdm conda`). conda is not installed here: we do what `conda env create` does with the `pip:` section
(write it as a requirements file next to the copied env file and run pip from that folder) with
`pip install --dry-run --no-deps`, and check what pip would install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def pip_requirements(env_file: Path) -> list[str]:
    deps = yaml.safe_load(env_file.read_text())["dependencies"]
    (pip,) = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    return pip


@pytest.fixture(scope="module")
def repo_as_the_workflow_sets_it(tmp_path_factory):
    """LONGRM_REPO as the workflow sets it when Snakemake loads the Snakefile (from another folder)."""
    tmp = tmp_path_factory.mktemp("snakefile")
    probe = tmp / "Snakefile"
    probe.write_text(f'include: "{REPO / "Snakefile"}"\nprint("LONGRM_REPO=" + os.environ["LONGRM_REPO"])\n')
    out = subprocess.run(
        [
            SNAKEMAKE,
            "-s",
            str(probe),
            "-n",
            "--nolock",
            "--cores",
            "1",
            "--workflow-profile",
            "none",
            "--directory",
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = [x for x in (out.stdout + out.stderr).splitlines() if x.startswith("LONGRM_REPO=")]
    return line.split("=", 1)[1]


@pytest.mark.parametrize("env_name, extras", [("cpu", []), ("gpu", ["gpu"])])
def test_env_file_copied_by_snakemake_installs_this_checkout(env_name, extras, repo_as_the_workflow_sets_it, tmp_path):
    assert Path(repo_as_the_workflow_sets_it) == REPO
    conda_dir = tmp_path / "project" / ".snakemake" / "conda"
    conda_dir.mkdir(parents=True)
    copied = conda_dir / "0123abcd_.yaml"  # where Snakemake puts it: .snakemake/conda/<hash>_.yaml
    copied.write_text((REPO / "envs" / f"{env_name}.yaml").read_text())
    requirements = pip_requirements(copied)
    assert any(r.startswith("torch==2.13.0") for r in requirements)  # the pinned CPU/GPU torch, not unpinned
    local = [r for r in requirements if r.startswith("-e ")]
    assert len(local) == 1, requirements
    req_file = conda_dir / "condaenv.test.requirements.txt"  # conda's pip installer writes it there
    req_file.write_text(local[0] + "\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--quiet",
            "--report",
            "-",
            "-r",
            req_file.name,
        ],
        cwd=conda_dir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LONGRM_REPO": repo_as_the_workflow_sets_it},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (installed,) = json.loads(out.stdout)["install"]
    assert installed["metadata"]["name"] == "longrm"
    assert installed["download_info"]["url"] == REPO.as_uri()
    assert installed["download_info"]["dir_info"] == {"editable": True}
    assert installed.get("requested_extras", []) == extras
