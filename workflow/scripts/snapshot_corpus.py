"""Take the corpus snapshot the embedded study is built from: corpus/snapshot.jsonl.gz.

    .venv/bin/python workflow/scripts/snapshot_corpus.py              # rewrite corpus/
    .venv/bin/python workflow/scripts/snapshot_corpus.py --out DIR    # write elsewhere

It reads this machine's Python standard library (module sources and LICENSE.txt) and the Debian licence
texts in /usr/share/common-licenses, each file as UTF-8 with undecodable bytes replaced, and writes one
JSON object per line, {"name", "kind", "text"}, sorted by name, gzipped with no timestamp and no file
name, so a rerun on the same machine gives the same bytes. It also writes SHA256SUMS and README.md (the
Python version and OS the snapshot was taken from). `longrm inputs raw|distractors` read only the
snapshot (src/longrm/inputs/sources.py), never the machine: another Python or OS gives the same data.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import platform
import sys
import sysconfig
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = "snapshot.jsonl.gz"
COMMAND = ".venv/bin/python workflow/scripts/snapshot_corpus.py"

# Stdlib folders that are tests, vendored tools or platform glue rather than library text.
STDLIB_SKIP = {
    "test",
    "tests",
    "site-packages",
    "dist-packages",
    "idlelib",
    "lib2to3",
    "turtledemo",
    "lib-dynload",
    "ensurepip",
    "__pycache__",
    "tkinter",
    "distutils",
    "encodings",
    "__phello__",
}
LICENSE_DIRS = (Path("/usr/share/common-licenses"),)


class FoundFile(NamedTuple):
    name: str  # the name the study records, e.g. "python-stdlib/json/decoder.py"
    path: Path
    kind: str  # "code" | "license"


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path) -> list[FoundFile]:
    files = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if set(rel.parts[:-1]) & STDLIB_SKIP or rel.parts[0].startswith(("config-", "_sysconfigdata")):
            continue
        files.append(FoundFile(f"python-stdlib/{rel.as_posix()}", path, "code"))
    if (root / "LICENSE.txt").is_file():
        files.append(FoundFile("python-stdlib/LICENSE.txt", root / "LICENSE.txt", "license"))
    return files


def license_files(dirs: tuple[Path, ...]) -> list[FoundFile]:
    """Regular files only: the symlinks (GPL -> GPL-3) would be duplicates."""
    return [
        FoundFile(f"common-licenses/{path.name}", path, "license")
        for folder in dirs
        if folder.is_dir()
        for path in folder.iterdir()
        if path.is_file() and not path.is_symlink()
    ]


def machine_files(root: Path | None = None, license_dirs: tuple[Path, ...] = LICENSE_DIRS) -> list[FoundFile]:
    """Every file the study's text comes from, sorted by name."""
    files = stdlib_files(root or stdlib_root()) + license_files(license_dirs)
    return sorted(files, key=lambda f: f.name)


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def snapshot_bytes(files: list[FoundFile]) -> bytes:
    """The gzipped JSONL: same files, same bytes (mtime 0 and an empty name in the gzip header)."""
    lines = [
        json.dumps({"name": f.name, "kind": f.kind, "text": read_text(f.path)}) + "\n"
        for f in sorted(files, key=lambda f: f.name)
    ]
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as gz:
        gz.write("".join(lines).encode("utf-8"))
    return buf.getvalue()


def os_name() -> str:
    try:
        release = platform.freedesktop_os_release()
        return release.get("PRETTY_NAME") or release["NAME"]
    except (OSError, AttributeError, KeyError):
        return platform.platform()


def readme(files: list[FoundFile], sha256: str, size: int) -> str:
    n_code = sum(f.kind == "code" for f in files)
    n_debian = sum(f.name.startswith("common-licenses/") for f in files)
    return f"""# corpus/: the text the embedded study is built from

`snapshot.jsonl.gz` holds every file the embedded default's inputs (`longrm inputs raw`,
`longrm inputs distractors`) draw their text from: one JSON object per line,
`{{"name", "kind", "text"}}`, sorted by name; `kind` is `code` (a Python module) or `license`. The study
reads only this file (config key `inputs.corpus`, default `corpus/snapshot.jsonl.gz`), never the
machine's Python or OS, so another Python version or OS builds the same raw data and distractor pool.

| | |
|---|---|
| files | {len(files)}: {n_code} Python standard library modules, its `LICENSE.txt`, {n_debian} Debian licence texts |
| size | {size:,} bytes (gzip) |
| sha256 | `{sha256}` (also in `SHA256SUMS`; `tests/test_corpus_snapshot.py` checks it) |
| taken from | Python {platform.python_version()} ({sys.implementation.name}) on {os_name()} |
| command | `{COMMAND}` |

## How it was built

The script lists the `.py` files of the standard library (`sysconfig.get_paths()["stdlib"]`) outside
test suites, vendored tools and platform glue (`STDLIB_SKIP` in the script), the library's
`LICENSE.txt`, and the regular files (not symlinks) of `/usr/share/common-licenses`. Each file is read as
UTF-8 with undecodable bytes replaced (universal newlines) and stored under the name the raw items and
distractor documents record as their `source` (`python-stdlib/json/decoder.py`,
`common-licenses/GPL-3`). The gzip header has no timestamp and no file name: rerun on the same machine,
the script writes the same bytes. Rerun elsewhere it writes another snapshot (and so other inputs):
commit a new one only on purpose.

## Licences

- `python-stdlib/*`: the Python standard library, under the PSF License Agreement (Python Software
  Foundation License Version 2); its full text, with the history and the other licences that cover
  parts of the library, is `python-stdlib/LICENSE.txt` inside the snapshot.
- `common-licenses/*`: the licence texts as shipped by Debian in `/usr/share/common-licenses` (package
  `base-files`), verbatim. They are the licences' own texts, included as text to read, not licences
  of this repository.
"""


def write_corpus(out_dir: Path, files: list[FoundFile]) -> str:
    """Write the snapshot, SHA256SUMS and README.md into out_dir; return the snapshot's sha256."""
    data = snapshot_bytes(files)
    sha256 = hashlib.sha256(data).hexdigest()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SNAPSHOT).write_bytes(data)
    (out_dir / "SHA256SUMS").write_text(f"{sha256}  {SNAPSHOT}\n", encoding="utf-8")
    (out_dir / "README.md").write_text(readme(files, sha256, len(data)), encoding="utf-8")
    return sha256


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "corpus", help="output folder (default: corpus/)")
    args = ap.parse_args(argv)
    files = machine_files()
    sha256 = write_corpus(args.out, files)
    size = (args.out / SNAPSHOT).stat().st_size
    print(f"wrote {len(files)} files to {args.out / SNAPSHOT} ({size:,} bytes, sha256 {sha256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
