"""Offline text the embedded inputs are built from: the committed corpus snapshot (config key
`inputs.corpus`, default corpus/snapshot.jsonl.gz; written by workflow/scripts/snapshot_corpus.py): the
Python standard library's sources, docstrings and long string literals, and licence texts. The study
reads only the snapshot, never the machine's Python or OS, so every machine builds the same inputs.

Files are taken in sorted order and split once, by a hash of (seed, file name), into an
*evidence* share (raw items draw their passages and functions from it) and a *distractor* share (the
distractor pool is cut from it). `raw` and `distractors` are separate commands, so both recompute the
same split; the distractor builder also drops any chunk sharing a line with an evidence-share file,
so duplicated text (a license shipped twice, a copied docstring) never crosses over.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from longrm.errors import InputError
from longrm.seeding import derive_seed

EVIDENCE_SHARE = 4  # one file in EVIDENCE_SHARE goes to the evidence share
KINDS = ("code", "license")

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
    kind: str  # "code" | "license"
    text: str = field(repr=False)  # the file's text as the snapshot holds it


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


def corpus_path(corpus: str | Path | None = None) -> Path:
    """The snapshot to read: `corpus` (cfg["inputs"]["corpus"]), else the schema's default."""
    if corpus is None:
        from longrm.config import schema_default

        corpus = schema_default("inputs.corpus")
    return Path(corpus)


def source_files(corpus: str | Path | None = None) -> tuple[SourceFile, ...]:
    """Every file of the snapshot, sorted by name."""
    return load_snapshot(corpus_path(corpus).resolve())


@lru_cache(maxsize=4)
def load_snapshot(path: Path) -> tuple[SourceFile, ...]:
    """The snapshot's files; InputError naming the file, line and field on anything unreadable."""
    if not path.is_file():
        raise InputError(path, "corpus snapshot not found (config key inputs.corpus)")
    files: list[SourceFile] = []
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as lines:
            for line in lines:
                previous = files[-1].name if files else None
                files.append(_snapshot_entry(line, path, len(files) + 1, previous))
    # Bad gzip data surfaces on the line being read when the (buffered) reader reaches it.
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable gzip snapshot ({exc})", len(files) + 1) from None
    if not files:
        raise InputError(path, "the corpus snapshot holds no files")
    return tuple(files)


def _snapshot_entry(line: str, path: Path, lineno: int, previous: str | None) -> SourceFile:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})", lineno) from None
    if not isinstance(obj, dict):
        raise InputError(path, "not a JSON object", lineno)
    for key in ("name", "kind", "text"):
        if not isinstance(obj.get(key), str):
            raise InputError(path, "missing or not a string", lineno, key)
    if obj["kind"] not in KINDS:
        raise InputError(path, f"must be one of {', '.join(KINDS)}", lineno, "kind")
    if previous is not None and obj["name"] <= previous:
        raise InputError(path, f"names must be unique and sorted (after {previous!r})", lineno, "name")
    return SourceFile(obj["name"], obj["kind"], obj["text"])


def share_of(seed: int, sf: SourceFile) -> str:
    return "evidence" if derive_seed(seed, "inputs.share", sf.name) % EVIDENCE_SHARE == 0 else "distractor"


def files_in(seed: int, share: str, corpus: str | Path | None = None) -> list[SourceFile]:
    return [f for f in source_files(corpus) if share_of(seed, f) == share]


@cache
def parse_module(sf: SourceFile) -> ast.Module | None:
    try:
        return ast.parse(sf.text)
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
        return (sf.text,)
    tree = parse_module(sf)
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
    tree = parse_module(sf)
    if tree is None:
        return []
    lines = sf.text.splitlines()
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
    return sorted(set(re.findall(r"^def ([A-Za-z]\w*)\(", sf.text, flags=re.MULTILINE)))


def answer_words(seed: int, skip: int = 100, count: int = 600, corpus: str | Path | None = None) -> list[str]:
    """Common prose words (4-9 letters, no function words), ranked by frequency over the evidence
    share and the license texts.

    Frequent words become single BPE tokens, which keeps answers to one or two tokens; the very top
    ranks are skipped so an answer is not a word every context contains.
    """
    counts: Counter[str] = Counter()
    for sf in source_files(corpus):
        if sf.kind == "code" and share_of(seed, sf) != "evidence":
            continue
        for p in paragraphs(sf):
            counts.update(w for w in re.findall(r"\b[a-z]{4,9}\b", p.text) if w not in STOPWORDS)
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return ranked[skip : skip + count]


def evidence_lines(seed: int, min_len: int = 30, corpus: str | Path | None = None) -> frozenset[str]:
    """Every stripped line of >= min_len characters in the evidence share (for the distractor filter)."""
    out = set()
    for sf in files_in(seed, "evidence", corpus):
        for line in sf.text.splitlines():
            line = _WS.sub(" ", line).strip()
            if len(line) >= min_len:
                out.add(line)
    return frozenset(out)
