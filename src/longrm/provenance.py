"""Provenance sidecars, and `longrm audit PATH` to walk them back to the raw data.

After a stage command succeeds, `longrm.cli.main` calls `record(args)`. The command's parser names
its inputs, outputs and config sections (`prov_inputs`, `prov_outputs`, `prov_params`: argparse
dests / dotted config keys). For each output we write a sidecar: `FILE.prov.json` next to a file,
`DIR/provenance.json` inside a folder. It holds the output's own hash, each input's path and hash,
the config sections' values, the git commit and dirty flag, package versions and the command line.

An input that has a sidecar was made by the study; one without is a source (raw data, an external
checkpoint). `audit` follows inputs until it reaches sources, and checks every hash on the way.

When and where the command ran (its `run` section: time, working directory) is a fact of the run, kept
apart: two runs of the same command on the same inputs and code write sidecars equal but for `run`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from longrm.data.io import read_json, sha256_file, write_json
from longrm.errors import InputError

SIDECAR_SUFFIX = ".prov.json"
DIR_SIDECAR = "provenance.json"
PACKAGES = (
    "longrm",
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "trl",
    "peft",
    "accelerate",
    "deepspeed",
    "vllm",
    "flash-attn",
    "numpy",
    "pandas",
    "matplotlib",
    "seaborn",
    "snakemake",
    "dvc",
)
FORMAT_VERSION = 2  # 2: created and cwd in the `run` section


# ---------------------------------------------------------------- hashing


# Not data: our sidecars (they carry timestamps) and the marker Snakemake drops into folder outputs
# after the job, which would otherwise change a folder's hash once the job is done.
NOT_DATA = (DIR_SIDECAR, ".snakemake_timestamp")


def _is_sidecar(path: Path) -> bool:
    return path.name in NOT_DATA or path.name.endswith(SIDECAR_SUFFIX)


# Large files (an 8B model's 16 GB of safetensors) are hashed once: their sha256 is cached by absolute
# path, size and mtime in LONGRM_HASH_CACHE (default ~/.cache/longrm/sha256.json), so neither a rerun nor
# a second job reading the same unchanged file reads it again.
CACHE_MIN_BYTES = 16 << 20
_hash_cache: dict | None = None


def hash_cache_path() -> Path:
    return Path(os.environ.get("LONGRM_HASH_CACHE") or Path.home() / ".cache" / "longrm" / "sha256.json")


def _load_hash_cache() -> dict:
    global _hash_cache
    if _hash_cache is None:
        try:
            _hash_cache = json.loads(hash_cache_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _hash_cache = {}
        if not isinstance(_hash_cache, dict):
            _hash_cache = {}
    return _hash_cache


def file_sha256(path: str | Path, min_bytes: int | None = None) -> str:
    """sha256 of a file; files of at least `min_bytes` (CACHE_MIN_BYTES) go through the cache."""
    path = Path(path)
    st = path.stat()
    if st.st_size < (CACHE_MIN_BYTES if min_bytes is None else min_bytes):
        return sha256_file(path)
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache = _load_hash_cache()
    if key not in cache:
        cache[key] = sha256_file(path)
        try:
            write_json(hash_cache_path(), cache)
        except OSError:
            pass  # a read-only home: hashed again next time, nothing else lost
    return cache[key]


def hash_path(path: str | Path) -> dict:
    """{"kind": "file"|"dir"|"missing", "sha256": ...}. A folder's hash covers every file's relative path
    and content, except NOT_DATA and sidecars."""
    path = Path(path)
    if path.is_file():
        return {"kind": "file", "sha256": file_sha256(path), "bytes": path.stat().st_size}
    if path.is_dir():
        h = hashlib.sha256()
        n = size = 0
        for f in sorted(p for p in path.rglob("*") if p.is_file() and not _is_sidecar(p)):
            rel = f.relative_to(path).as_posix()
            h.update(rel.encode() + b"\0" + file_sha256(f).encode() + b"\n")
            n += 1
            size += f.stat().st_size
        return {"kind": "dir", "sha256": h.hexdigest(), "files": n, "bytes": size}
    return {"kind": "missing", "sha256": None}


def sidecar_path(output: str | Path) -> Path:
    """Where the sidecar of `output` lives (a folder holds its own; a file has a sibling)."""
    output = Path(output)
    return output / DIR_SIDECAR if output.is_dir() else output.with_name(output.name + SIDECAR_SUFFIX)


def find_sidecar(path: str | Path) -> Path | None:
    """The sidecar describing `path`: its own, or that of the output folder it lies in."""
    path = Path(path)
    own = sidecar_path(path)
    if own.is_file():
        return own
    for parent in path.absolute().parents:
        candidate = parent / DIR_SIDECAR
        if candidate.is_file():  # named as `path` is: relative to the working directory when it is
            return candidate if path.is_absolute() else Path(os.path.relpath(candidate))
    return None


# ---------------------------------------------------------------- recording


def _paths_of(value: Any) -> list[str]:
    """Paths in an argparse value: a path, a list of paths, or NAME=PATH pairs."""
    if value is None:
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    paths = []
    for v in values:
        v = str(v)
        name, sep, rest = v.partition("=")
        paths.append(rest if sep and not Path(v).exists() and name and rest else v)
    return paths


def git_state(repo: Path | None = None) -> dict:
    """The code version: commit and whether the work tree differs from it (None outside git)."""
    from longrm.config import REPO_ROOT

    repo = repo or REPO_ROOT

    def git(*cmd: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(repo), *cmd], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": bool(status and status.strip())}


def package_versions(names: Iterable[str] = PACKAGES) -> dict:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _config_sections(config_path: str | None, sections: Iterable[str]) -> dict:
    if not config_path:
        return {}
    from longrm.config import load_config, section
    from longrm.errors import ConfigError

    cfg = load_config(config_path)
    values = {}
    for dotted in sections:
        try:
            values[dotted] = section(cfg, dotted)
        except ConfigError:
            values[dotted] = None
    return values


def build_record(args, argv: list[str] | None = None) -> dict:
    """Everything a sidecar says except the output's own hash."""
    inputs = []
    for dest in getattr(args, "prov_inputs", ()) or ():
        for p in _paths_of(getattr(args, dest, None)):
            side = find_sidecar(p) if Path(p).exists() else None
            inputs.append({"arg": dest, "path": p, **hash_path(p), "sidecar": str(side) if side else None})
    config_path = getattr(args, "config", None)
    argv = list(sys.argv[1:] if argv is None else argv)
    return {
        "format": FORMAT_VERSION,
        "command": ["longrm", *argv],
        "config": {
            "path": config_path,
            "sha256": sha256_file(config_path) if config_path and Path(config_path).is_file() else None,
            "sections": _config_sections(config_path, getattr(args, "prov_params", ()) or ()),
        },
        "inputs": inputs,
        "code": git_state(),
        "packages": package_versions(),
        "run": run_section(),
    }


def run_section() -> dict:
    """When and where the command ran: not hashed by the audit, the one part two runs may differ in."""
    return {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "cwd": os.getcwd()}


def record(args, argv: list[str] | None = None) -> list[Path]:
    """Write one sidecar per output the command declares; return their paths. Outputs that do not
    exist (an optional report not asked for) get none."""
    outputs = [p for dest in getattr(args, "prov_outputs", ()) or () for p in _paths_of(getattr(args, dest, None))]
    if not outputs:
        return []
    base = build_record(args, argv)
    written = []
    for out in outputs:
        out_path = Path(out)
        if not out_path.exists():
            continue
        side = sidecar_path(out_path)
        write_json(side, {**base, "output": {"path": out, **hash_path(out_path)}})
        written.append(side)
    return written


# ---------------------------------------------------------------- auditing


def _status(recorded: dict, path: str) -> str:
    now = hash_path(path)
    if now["kind"] == "missing":
        # an optional input (a folder read when present) that was absent then and is absent now
        return "ok" if recorded.get("kind") == "missing" else "MISSING"
    return "ok" if now["sha256"] == recorded.get("sha256") else "CHANGED"


def audit(path: str | Path) -> dict:
    """The chain of sidecars from `path` back to its sources, with every hash checked.

    Returns {"path", "sidecar", "status", "command", "code", "config", "inputs": [node, ...]}; a source
    (no sidecar) is {"path", "status", "source": True}. Nodes already shown are referenced, not repeated.
    """
    seen: dict[str, dict] = {}

    def node(p: str, recorded: dict | None) -> dict:
        side = find_sidecar(p) if Path(p).exists() else None
        status = _status(recorded, p) if recorded else ("ok" if Path(p).exists() else "MISSING")
        if side is None:
            return {"path": p, "status": status, "source": True}
        key = str(side.resolve())
        if key in seen:
            return {"path": p, "status": status, "see": str(side)}
        meta = read_json(side)
        seen[key] = meta
        own = meta.get("output", {})
        self_status = _status(own, own["path"]) if own.get("path") and Path(own["path"]).exists() else status
        return {
            "path": p,
            "sidecar": str(side),
            "status": status if recorded else self_status,
            "command": meta.get("command"),
            "code": meta.get("code"),
            "config": meta.get("config", {}),
            "created": (meta.get("run") or {}).get("created", meta.get("created")),  # format 1: top level
            "inputs": [node(i["path"], i) for i in meta.get("inputs", [])],
        }

    path = str(path)
    if not Path(path).exists():
        raise InputError(path, "no such file or folder")
    if find_sidecar(path) is None:
        raise InputError(path, f"no provenance: neither {sidecar_path(path)} nor a {DIR_SIDECAR} in a parent folder")
    return node(path, None)


def broken(tree: dict) -> list[str]:
    """Paths in the chain whose content no longer matches what was recorded."""
    bad = [tree["path"]] if tree["status"] != "ok" else []
    for child in tree.get("inputs", []):
        bad += broken(child)
    return bad


def format_chain(tree: dict, indent: int = 0) -> str:
    pad = "  " * indent
    mark = "" if tree["status"] == "ok" else f"  [{tree['status']}]"
    if tree.get("source"):
        return f"{pad}{tree['path']}  (source: no sidecar){mark}"
    if "see" in tree:
        return f"{pad}{tree['path']}  (see above){mark}"
    code = tree.get("code") or {}
    if code.get("base_code_sha256"):  # a shipped base records its building code's hash, not a commit
        commit = f"longrm.base sha256 {code['base_code_sha256'][:12]}"
    else:
        commit = (code.get("commit") or "no git")[:12] + ("+dirty" if code.get("dirty") else "")
    sections = ", ".join(tree.get("config", {}).get("sections", {})) or "-"
    lines = [
        f"{pad}{tree['path']}{mark}",
        f"{pad}  made by: {' '.join(tree.get('command') or [])}",
        f"{pad}  code {commit}; config {tree.get('config', {}).get('path')} [{sections}]; at {tree.get('created')}",
    ]
    if tree["inputs"]:
        lines.append(f"{pad}  from:")
        lines += [format_chain(child, indent + 2) for child in tree["inputs"]]
    else:
        lines.append(f"{pad}  from: no input files (made from the config alone: the start of the chain)")
    return "\n".join(lines)


# ---------------------------------------------------------------- CLI


def register(sub) -> None:
    p = sub.add_parser("audit", help="print the chain of data, parameters and code that made a result file")
    p.add_argument("path", metavar="PATH", help="a result file or folder, e.g. results/tables/main.csv")
    p.add_argument("--json", action="store_true", help="print the chain as JSON")
    p.set_defaults(func=_audit)


def _audit(args) -> int:
    tree = audit(args.path)
    print(json.dumps(tree, indent=2, sort_keys=True) if args.json else format_chain(tree))
    bad = broken(tree)
    if bad:
        print(
            f"longrm audit: {len(bad)} file(s) changed or missing since they were recorded: " + ", ".join(bad),
            file=sys.stderr,
        )
        return 1
    return 0
