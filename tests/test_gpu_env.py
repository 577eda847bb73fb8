"""The GPU env's pins (envs/gpu.yaml, pyproject's `gpu` and `flash` extras) and the checks of
`make test-gpu-env` (workflow/scripts/check_gpu_env.py), offline: the registry resolution itself runs in
`make test-gpu-env`."""

from __future__ import annotations

import pytest

from tests.helpers import load_script
from tests.test_workflow import REPO

check = load_script(REPO / "workflow" / "scripts" / "check_gpu_env.py")


def report(torch="2.13.0", cuda="13.0.3", **others) -> dict:
    torch_reqs = ["filelock", f'cuda-toolkit[cublas,cudart]=={cuda}; platform_system == "Linux"'] if cuda else []
    rows = [{"metadata": {"name": "torch", "version": torch, "requires_dist": torch_reqs}}]
    rows += [{"metadata": {"name": n, "version": v}} for n, v in others.items()]
    return {"install": rows}


def test_every_gpu_package_is_pinned_and_the_env_ties_cuda_to_torch():
    env = check.env_file(REPO / "envs" / "gpu.yaml")
    extra = check.extras(REPO / "pyproject.toml")
    assert env["python"] == "3.11" and env["cuda"] == "13.0"
    assert check.pins(check.requirements(env["pip"], REPO)) == {"torch": "2.13.0"}
    assert all(check.PIN.match(r) for r in extra["gpu"] + extra["flash"]), extra
    assert "snakemake-executor-plugin-slurm" not in " ".join(extra["gpu"])  # Snakemake's side, not the jobs'
    assert any(r.endswith(f"{REPO}[gpu]") for r in check.requirements(env["pip"], REPO))
    script = (REPO / "envs" / "gpu.post-deploy.sh").read_text()
    assert "--no-build-isolation" in script and f'"{extra["flash"][0]}"' in script


def test_a_resolution_is_checked_against_the_pins_and_torchs_cuda():
    wanted = {"torch": "2.13.0", "vllm": "0.32.0", "deepspeed": "0.19.8"}
    good = report(vllm="0.32.0", deepspeed="0.19.8")
    assert check.problems(good, wanted, "13.0") == []
    assert check.torch_cuda(good["install"][0]["metadata"]) == "13.0"
    (cuda,) = check.problems(good, wanted, "12.4")
    assert "cuda-version=12.4, but torch 2.13.0 is built for CUDA 13.0" in cuda
    (pin,) = check.problems(report(vllm="0.34.0", deepspeed="0.19.8"), wanted, "13.0")
    assert pin == "vllm: pinned 0.32.0, pip resolves 0.34.0"
    assert any("no cuda-toolkit" in p for p in check.problems(report(cuda=None, vllm="0.32.0"), wanted, "13.0"))


def test_the_check_refuses_another_interpreter(monkeypatch):
    with pytest.raises(SystemExit, match="Python 3.99"):
        check.check_interpreter("3.99")
