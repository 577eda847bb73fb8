"""The study on a tiny config in a temporary git repository, run through the README's commands (the make
targets, with CONFIG=config/tiny.yaml): shared by the idempotence, byte-identity and kill tests.

The tiny config is the embedded default shrunk to seconds per job, on a tiny base checkpoint committed in the
repository (models/tiny-base, as the default ships models/base): few items, one context length, one step per
training stage, two judged models, one control set and one baseline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.helpers import run_in_group

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPIED = (
    "Snakefile",
    "workflow",
    "config",
    "envs",
    "corpus",
    "Makefile",
    "pyproject.toml",
    ".gitignore",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
)
TINY = "config/tiny.yaml"
TINY_BASE = "models/tiny-base"
RESULTS = "results"
SIDE = (f"{RESULTS}/logs/",)  # side files: job logs, Snakemake/timed.py records, the job-time report
SIDECARS = (".prov.json", "/provenance.json")  # provenance: equal but for its `run` section


def tiny_config() -> dict:
    from longrm.config import schema_default

    cfg = yaml.safe_load((REPO / "config" / "default.yaml").read_text())
    cfg["name"] = "tiny"
    cfg["inputs"].update(items_per_task=5, rejected_per_item=2, distractor_docs=20, base_model_path=TINY_BASE)
    cfg["inputs"]["shipped_base"] = False  # a plain checkpoint, as the paper's base (no `make base` manifest)
    cfg["synth"].update(lengths=[512], items_per_source=1)
    cfg["vote"]["bon_orders"] = 1
    cfg["train"]["common"].update(max_length=768, log_every=1)
    for stage in ("short", "sft", "logo", "disrm"):
        cfg["train"][stage].update(max_steps=1, batch_size=2)
    cfg["bench"].update(max_model_len=768, max_new_tokens=4, bootstrap=10, bon_orders=1, batch_size=4)
    cfg["bench"]["models"] = [m for m in cfg["bench"]["models"] if m["name"] in ("base-pointwise", "logo-pointwise")]
    cfg["bench"]["sets"] = [
        {"name": "heldout", "file": "splits/bench.jsonl"},
        {"name": "nocontext", "control": "none", "of": "heldout", "models": ["logo-pointwise"]},
    ]
    cfg["bench"]["baselines"] = ["first"]
    cfg.pop("ablations", None)  # its sets (swap, short) are not the tiny study's; `make ablations` is not `make study`
    # DVC reads every parameter a stage names from the file itself (no schema defaults there)
    cfg["bench"].setdefault("use_chat_template", schema_default("bench.use_chat_template"))
    return cfg


def env() -> dict:
    """The test's environment for make, Snakemake, DVC and git; no make flags of an outer `make test`."""
    drop = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
    return {
        **{k: v for k, v in os.environ.items() if k not in drop},
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        # the same tree committed at the same time: the same commit in every repository (provenance's code)
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    }


def sh(*cmd, cwd, timeout=900, check=True) -> subprocess.CompletedProcess:
    """Run in its own process group; on timeout end the whole group (jobs included). `.seconds` is its time."""
    start = time.monotonic()
    done = run_in_group(list(cmd), cwd, env(), timeout, merge_stderr=True)
    out = done.stdout
    done.seconds = time.monotonic() - start
    if check:
        assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out[-4000:]}"
    return done


def stub_venv(folder: Path) -> Path:
    """A venv for the Makefile whose bin/ is this test's and whose install stamp is newer than any
    pyproject.toml: `make` never reinstalls (nor touches the real venv). Make passes no `-o FILE` to the
    sub-make of `make study` (`$(MAKE) record`), so the stamp itself must say "installed"."""
    venv = folder / "venv"
    if not (venv / "bin").exists():
        venv.mkdir(parents=True, exist_ok=True)
        (venv / "bin").symlink_to(BIN, target_is_directory=True)
    (venv / ".installed").touch()
    return venv


def make_cmd(target: str, venv: Path, *variables: str) -> list[str]:
    """`make TARGET` on the tiny config, with the stub venv `venv`."""
    return ["make", "--no-print-directory", f"VENV={venv}", f"CONFIG={TINY}", "CORES=2", *variables, target]


def make(repo: Path, target: str, *variables: str, **kw) -> subprocess.CompletedProcess:
    return sh(*make_cmd(target, stub_venv(repo.parent), *variables), cwd=repo, **kw)


def snakemake(repo: Path, *args, **kw) -> subprocess.CompletedProcess:
    return sh(
        BIN / "snakemake",
        "--configfile",
        TINY,
        "--workflow-profile",
        "workflow/profiles/default",
        *args,
        cwd=repo,
        **kw,
    )


def dvc(repo: Path, *args, **kw) -> subprocess.CompletedProcess:
    return sh(BIN / "dvc", *args, cwd=repo, **kw)


def planned_jobs(repo: Path, *args: str) -> tuple[int, str]:
    """(jobs a `snakemake -n ARGS` plans, its output)."""
    out = snakemake(repo, "-n", *args).stdout
    if "Nothing to be done" in out:
        return 0, out
    for line in out.splitlines():
        if line.strip().startswith("total"):
            return int(line.split()[-1]), out
    raise AssertionError(f"no job count in the dry run:\n{out[-3000:]}")


def dvc_clean(repo: Path) -> tuple[bool, str]:
    out = dvc(repo, "status").stdout
    return "Data and pipelines are up to date" in out, out


def build_repo(root: Path) -> Path:
    """The workflow, the tiny config and base checkpoint, and the config's dvc.yaml, committed to git."""
    from tests.helpers import tiny_checkpoint

    repo = root / "repo"
    for name in COPIED:
        src, dst = REPO / name, repo / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
    os.utime(repo / "pyproject.toml", (0, 0))  # older than any install stamp
    tiny_checkpoint(repo / TINY_BASE)
    (repo / TINY).write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    sh(sys.executable, "workflow/scripts/make_dvc_yaml.py", "--configfile", TINY, "--out", "dvc.yaml", cwd=repo)
    sh("git", "init", "-q", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "tiny study", cwd=repo)
    return repo


def dvc_outputs(repo: Path) -> list[str]:
    """Every file DVC tracks as an output of a stage (folders expanded), from dvc.yaml."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    files = []
    for stage in stages.values():
        for out in stage.get("outs", []) + stage.get("metrics", []):
            path = repo / out
            found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            files += [p.relative_to(repo).as_posix() for p in found if p.name != ".snakemake_timestamp"]
    return sorted(files)


def result_bytes(repo: Path, code: bool = True) -> dict[str, bytes]:
    """The bytes of every DVC output but the side files (logs and job records); a provenance sidecar
    without its `run` section (when and where the command ran), and without `code` (the commit of the
    longrm checkout that ran it) when `code` is False: for runs on either side of a commit to that checkout."""
    out = {}
    for rel in dvc_outputs(repo):
        if rel.startswith(SIDE):
            continue
        data = (repo / rel).read_bytes()
        if rel.endswith(SIDECARS):
            record = json.loads(data)
            assert "run" in record, f"{rel}: a sidecar without a run section"
            record.pop("run")
            if not code:
                record.pop("code")
            data = json.dumps(record, sort_keys=True).encode()
        out[rel] = data
    return out


def differing(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def copy_repo(src: Path, dst: Path) -> Path:
    """A copy of a study repository (results, caches, Snakemake's records; modification times kept), so a
    test can change it without touching the one it came from. The DVC remote sits beside it (../dvc-remote)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def run_study(root: Path) -> Path:
    """A tiny study repository, built with `make study` (Snakemake, then `make record`)."""
    repo = build_repo(root)
    done = make(repo, "study", timeout=1800)
    print(f"\nmake study on the tiny config: {done.seconds:.1f} s")
    return repo


def output_mtimes(repo: Path) -> dict[str, int]:
    """Modification time (ns) of every file under results/."""
    return {str(p.relative_to(repo)): p.stat().st_mtime_ns for p in sorted((repo / RESULTS).rglob("*")) if p.is_file()}


def stale_jobs(repo: Path) -> tuple[int, str]:
    """Jobs a dry run plans when no small file's checksum may excuse an input newer than its output
    (--max-checksum-file-size 0): what a study of larger files (the default's) would redo."""
    return planned_jobs(repo, "--max-checksum-file-size", "0")


def code_version() -> dict:
    """The commit (and dirty flag) of the longrm checkout the tests run, as provenance records it."""
    from longrm.provenance import git_state

    return git_state()
