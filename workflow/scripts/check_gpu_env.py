"""Does the GPU env resolve? (`make test-gpu-env`: needs the package registry, not a GPU.)

Resolves what envs/gpu.yaml installs with pip (its torch pin and this checkout's `gpu` extra) for Linux
x86_64 with pip's own resolver (`pip install --dry-run --report`, isolated from this machine's pip
config and local wheels), then checks:
  - every pin of the `gpu` extra and the torch pin are what pip would install;
  - the env's CUDA (`cuda-version=X.Y` in gpu.yaml, which nvcc follows) is the CUDA torch's wheel
    was built for (the `cuda-toolkit==X.Y.*` requirement in its metadata);
  - flash-attn (the `flash` extra) prepares without build isolation against the installed torch, as
    envs/gpu.post-deploy.sh installs it, and that script installs exactly that pin.
Run it on Linux x86_64 with the Python of envs/gpu.yaml: deepspeed and flash-attn are source
distributions, which pip prepares for the interpreter that runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)$")


def env_file(path: Path) -> dict:
    """(python, cuda, pip requirements) of a conda env file."""
    deps = yaml.safe_load(path.read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    (pip,) = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]

    def pinned(name):
        return next((d.split("=", 1)[1] for d in conda if d.startswith(name + "=")), None)

    return {"python": pinned("python"), "cuda": pinned("cuda-version"), "pip": pip}


def extras(pyproject: Path) -> dict[str, list[str]]:
    import tomllib  # Python 3.11, as envs/gpu.yaml

    return tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]


def requirements(pip: list[str], repo: Path) -> list[str]:
    """The env's pip lines, this checkout for ${LONGRM_REPO} (non-editable: a dry run builds nothing)."""
    out = []
    for line in pip:
        line = line.split("#", 1)[0].strip()
        out.append(line.removeprefix("-e ").replace("${LONGRM_REPO}", str(repo)))
    return out


def pins(lines: list[str]) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) for line in lines if (m := PIN.match(line.strip()))}


def pip_dry_run(args: list[str], index_url: str, report: Path, env: dict | None = None) -> dict:
    """pip's resolution as a report, from the registry only (no pip config, no local wheels)."""
    cmd = [sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", "--ignore-installed", "--quiet"]
    cmd += ["--report", str(report), "--index-url", index_url]
    if os.environ.get("PIP_CERT"):
        cmd += ["--cert", os.environ["PIP_CERT"]]
    done = subprocess.run(cmd + args, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode:
        raise SystemExit(f"pip could not resolve {args}:\n{done.stderr[-4000:]}")
    return json.loads(report.read_text())


def installed(report: dict) -> dict[str, dict]:
    return {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"] for i in report["install"]}


def torch_cuda(torch_metadata: dict) -> str | None:
    """X.Y of the CUDA torch's wheel was built for (its cuda-toolkit==X.Y.Z requirement), or None."""
    for req in torch_metadata.get("requires_dist") or []:
        m = re.match(r"cuda-toolkit(\[[^\]]*\])?\s*==\s*(\d+)\.(\d+)", req)
        if m:
            return f"{m.group(2)}.{m.group(3)}"
    return None


def problems(report: dict, wanted: dict[str, str], cuda: str | None) -> list[str]:
    """What is wrong with a resolution: a pin not honoured, the env's CUDA not torch's."""
    got = installed(report)
    out = [
        f"{name}: pinned {version}, pip resolves {got.get(name, {}).get('version', 'nothing')}"
        for name, version in wanted.items()
        if got.get(name, {}).get("version") != version
    ]
    built = torch_cuda(got.get("torch", {}))
    if built is None:
        out.append("torch: the resolved wheel names no cuda-toolkit (a CPU build?)")
    elif built != cuda:
        out.append(f"envs/gpu.yaml: cuda-version={cuda}, but torch {got['torch']['version']} is built for CUDA {built}")
    return out


def check_interpreter(python: str) -> None:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if (platform.system(), platform.machine()) != ("Linux", "x86_64") or here != python:
        raise SystemExit(
            f"run this on Linux x86_64 with Python {python} (envs/gpu.yaml's): pip prepares source "
            f"distributions for the interpreter that runs it (this is {platform.system()} {platform.machine()}, "
            f"Python {here})"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-url", default="https://pypi.org/simple")
    args = parser.parse_args(argv)
    env = env_file(REPO / "envs" / "gpu.yaml")
    check_interpreter(env["python"])
    extra = extras(REPO / "pyproject.toml")
    reqs = requirements(env["pip"], REPO)
    wanted = {**pins(reqs), **pins(extra["gpu"])}
    with tempfile.TemporaryDirectory() as tmp:
        report = pip_dry_run(reqs, args.index_url, Path(tmp) / "gpu.json")
        found = problems(report, wanted, env["cuda"])
        (flash,) = extra["flash"]
        skip_cuda = {"FLASH_ATTENTION_SKIP_CUDA_BUILD": "TRUE"}  # metadata only: no nvcc here
        pip_dry_run(["--no-deps", "--no-build-isolation", flash], args.index_url, Path(tmp) / "flash.json", skip_cuda)
    if f'"{flash}"' not in (REPO / "envs" / "gpu.post-deploy.sh").read_text():
        found.append(f"envs/gpu.post-deploy.sh does not install {flash} (the `flash` extra)")
    got = installed(report)
    for name in sorted(wanted):
        print(f"{name}=={got.get(name, {}).get('version')}")
    print(f"torch built for CUDA {torch_cuda(got.get('torch', {}))}; envs/gpu.yaml cuda-version={env['cuda']}")
    print(f"{flash}: prepares without build isolation; {len(got)} packages in the resolution")
    for p in found:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
