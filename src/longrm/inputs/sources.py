"""Offline text the embedded inputs are built from: the Python standard library (sources, docstrings,
long string literals) and the license texts shipped with Python and the OS.

Files are enumerated in sorted order and split once, by a hash of (seed, file name), into an
*evidence* share (raw items draw their passages and functions from it) and a *distractor* share (the
distractor pool is cut from it). `raw` and `distractors` are separate commands, so both recompute the
same split; the distractor builder also drops any chunk sharing a line with an evidence-share file,
so duplicated text (a license shipped twice, a copied docstring) never crosses over.
"""

from __future__ import annotations

import ast
import re
import sysconfig
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from longrm.seeding import derive_seed

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
EVIDENCE_SHARE = 4  # one file in EVIDENCE_SHARE goes to the evidence share

# Never answers: function words (they would appear in any context) and the words of the response
# templates and lead-ins (a rejected response would contain the answer by accident).
STOPWORDS = set(
    """
a about above after again against all also an and any are as at be because been before being below
between both but by can could did do does doing down during each either else even every few for from
further had has have having here how if in into is it its itself just may might more most must no nor
not now of off on once only or other our out over own same shall should so some such than that the
their them then there these they this those through to too under until up upon very was were what
when where which while who whom why will with within without would you your yours used using use
value values return returns returned true false none self default object objects function functions
method methods class classes module modules argument arguments parameter parameters string strings
based evidence answer having read passages passage carefully looking context states opens general
background point keyword password label code word marked holds text give given summary summarize
""".split()
)


@dataclass(frozen=True)
class SourceFile:
    name: str  # stable name recorded in items, e.g. "python-stdlib/json/decoder.py"
    path: Path
    kind: str  # "code" | "license"


@dataclass(frozen=True)
class Paragraph:
    source: str
    text: str  # whitespace collapsed
    lines: tuple[str, ...] = ()  # its source lines, each whitespace collapsed


@dataclass(frozen=True)
class FunctionFacts:
    """A stdlib function with literal default values: the material of the Code family."""

    source: str
    module: str
    name: str
    code: str  # the function's source, docstring included, cut to a few lines
    defaults: tuple[tuple[str, str], ...]  # (parameter, literal as written in the source)


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


@lru_cache(maxsize=1)
def source_files() -> tuple[SourceFile, ...]:
    """Every source file, sorted by name (the order never depends on the file system)."""
    root = stdlib_root()
    files = []
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        if set(rel.parts[:-1]) & STDLIB_SKIP or rel.parts[0].startswith(("config-", "_sysconfigdata")):
            continue
        files.append(SourceFile(f"python-stdlib/{rel.as_posix()}", p, "code"))
    if (root / "LICENSE.txt").is_file():
        files.append(SourceFile("python-stdlib/LICENSE.txt", root / "LICENSE.txt", "license"))
    for d in LICENSE_DIRS:
        if d.is_dir():
            files += [
                SourceFile(f"common-licenses/{p.name}", p, "license")
                for p in d.iterdir()
                if p.is_file() and not p.is_symlink()
            ]
    return tuple(sorted(files, key=lambda f: f.name))


def share_of(seed: int, sf: SourceFile) -> str:
    return "evidence" if derive_seed(seed, "inputs.share", sf.name) % EVIDENCE_SHARE == 0 else "distractor"


def files_in(seed: int, share: str) -> list[SourceFile]:
    return [f for f in source_files() if share_of(seed, f) == share]


@cache
def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


@cache
def parse_module(path: Path) -> ast.Module | None:
    try:
        return ast.parse(read_text(path))
    except (SyntaxError, ValueError):
        return None


_WS = re.compile(r"\s+")


def _prose_ok(text: str, min_words: int) -> bool:
    words = text.split()
    if len(words) < min_words or ">>>" in text or "::" in text:
        return False
    visible = sum(not c.isspace() for c in text)
    letters = sum(c.isalpha() for c in text)
    code_marks = sum(c in "=(){}[]<>#'\"_|\\" for c in text)
    return letters >= 0.75 * visible and code_marks <= 0.02 * visible


@cache
def _string_blocks(sf: SourceFile) -> tuple[str, ...]:
    """Docstrings and long string literals of a code file; the whole text of a license."""
    if sf.kind == "license":
        return (read_text(sf.path),)
    tree = parse_module(sf.path)
    if tree is None:
        return ()
    return tuple(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) >= 120
    )


def paragraphs(sf: SourceFile, min_words: int = 20) -> list[Paragraph]:
    """Prose paragraphs (blank-line separated, whitespace collapsed) that read as natural language."""
    out = []
    for block in _string_blocks(sf):
        for para in re.split(r"\n\s*\n", block):
            text = _WS.sub(" ", para).strip()
            if _prose_ok(text, min_words):
                lines = tuple(_WS.sub(" ", x).strip() for x in para.splitlines())
                out.append(Paragraph(sf.name, text, tuple(x for x in lines if x)))
    return out


def module_name(sf: SourceFile) -> str:
    parts = sf.name.removeprefix("python-stdlib/").removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


_SIMPLE_LITERAL = re.compile(r"^(-?\d{1,5}|None|True|False|'[\w .-]{1,12}'|\"[\w .-]{1,12}\")$")


def functions_with_defaults(sf: SourceFile, max_lines: int = 14) -> list[FunctionFacts]:
    """Public functions whose signature has >= 2 parameters with distinct simple literal defaults."""
    if sf.kind != "code":
        return []
    tree = parse_module(sf.path)
    if tree is None:
        return []
    text = read_text(sf.path)
    lines = text.splitlines()
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        a = node.args
        params = a.posonlyargs + a.args
        pairs = list(zip([p.arg for p in params[len(params) - len(a.defaults) :]], a.defaults))
        pairs += [(p.arg, d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
        lits = [(name, ast.unparse(d)) for name, d in pairs]
        lits = [(n, v) for n, v in lits if _SIMPLE_LITERAL.match(v)]
        if len({v for _, v in lits}) < 2:
            continue
        sig_end = node.body[0].lineno - 1 if node.body else node.lineno
        end = min(node.end_lineno or sig_end, max(sig_end, node.lineno - 1 + max_lines))
        code = "\n".join(lines[node.lineno - 1 : end])
        if len(code) > 1200 or any(code.count(v) == 0 for _, v in lits):
            continue
        out.append(FunctionFacts(sf.name, module_name(sf), node.name, code, tuple(lits)))
    return out


def public_functions(sf: SourceFile) -> list[str]:
    """Top-level public function names of a module (ICL material: function -> module).

    A line-start `def` is a top-level definition; a regex avoids parsing every file of the stdlib."""
    if sf.kind != "code":
        return []
    return sorted(set(re.findall(r"^def ([A-Za-z]\w*)\(", read_text(sf.path), flags=re.MULTILINE)))


def answer_words(seed: int, skip: int = 100, count: int = 600) -> list[str]:
    """Common prose words (4-9 letters, no function words), ranked by frequency over the evidence
    share and the license texts.

    Frequent words become single BPE tokens, which keeps answers to one or two tokens; the very top
    ranks are skipped so an answer is not a word every context contains.
    """
    counts: Counter[str] = Counter()
    for sf in source_files():
        if sf.kind == "code" and share_of(seed, sf) != "evidence":
            continue
        for p in paragraphs(sf):
            counts.update(w for w in re.findall(r"\b[a-z]{4,9}\b", p.text) if w not in STOPWORDS)
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return ranked[skip : skip + count]


def evidence_lines(seed: int, min_len: int = 30) -> frozenset[str]:
    """Every stripped line of >= min_len characters in the evidence share (for the distractor filter)."""
    out = set()
    for sf in files_in(seed, "evidence"):
        for line in read_text(sf.path).splitlines():
            line = _WS.sub(" ", line).strip()
            if len(line) >= min_len:
                out.add(line)
    return frozenset(out)
