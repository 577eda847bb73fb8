"""`longrm inputs distractors`: a pool of distractor documents ({"id","source","text"} JSONL).

Documents of about 150-250 words (a few hundred tokens) cut from the distractor share of the offline
sources: two thirds prose (docstrings, license texts), one third Python source. A chunk is dropped
when any of its paragraphs, sentences (or sentence heads) of >= 40 characters or source lines of
>= 30 characters also occurs in the evidence share, so no evidence passage (nor the real text it
was cut from) can reach the pool.
"""

from __future__ import annotations

import re
from pathlib import Path

from longrm.data.io import iter_jsonl, write_jsonl
from longrm.errors import InputError
from longrm.inputs import sources
from longrm.seeding import rng_for

MIN_WORDS, MAX_WORDS = 150, 250
CODE_LINES = 40
PROSE_SHARE = 2 / 3


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def evidence_keys(seed: int, corpus: str) -> frozenset[str]:
    """Collapsed long lines and prose paragraphs of the evidence share."""
    keys = set(sources.evidence_lines(seed, corpus=corpus))
    for sf in sources.files_in(seed, "evidence", corpus):
        for p in sources.paragraphs(sf, min_words=1):
            keys.add(p.text)
            keys.update(_long_sentences(p.text))
    return frozenset(keys)


def _long_sentences(text: str, min_len: int = 40) -> list[str]:
    """Sentences, and their first 8 words, long enough to identify shared text (an evidence passage
    may end in a sentence head cut at a word boundary)."""
    out = []
    for sent in re.split(r"(?<=[.!?;:])\s+", text):
        head = " ".join(sent.split()[:8])
        out += [x for x in (sent, head) if len(x) >= min_len]
    return out


def prose_chunks(sf: sources.SourceFile) -> list[tuple[list[str], str]]:
    """Consecutive paragraphs grouped to MIN..MAX words: (paragraphs and their lines, text)."""
    groups, cur = [], []
    for p in sources.paragraphs(sf, min_words=8):
        words = sum(len(x.text.split()) for x in cur)
        if cur and words + len(p.text.split()) > MAX_WORDS:
            if words >= MIN_WORDS:
                groups.append(cur)
            cur = []
        cur.append(p)
    if sum(len(x.text.split()) for x in cur) >= MIN_WORDS:
        groups.append(cur)
    out = []
    for g in groups:
        text = "\n\n".join(p.text for p in g)
        if len(text.split()) <= MAX_WORDS:
            parts = [p.text for p in g] + [line for p in g for line in p.lines]
            out.append((parts + [x for p in g for x in _long_sentences(p.text)], text))
    return out


def code_chunks(sf: sources.SourceFile) -> list[tuple[list[str], str]]:
    """Blocks of CODE_LINES source lines that start at a top-level or method definition."""
    if sf.kind != "code":
        return []
    lines = sf.text.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"\s{0,4}(def|class) ", line)]
    out, last_end = [], -1
    for s in starts:
        if s < last_end:
            continue
        block = lines[s : s + CODE_LINES]
        text = "\n".join(block).rstrip()
        if 80 <= len(text.split()) <= MAX_WORDS:
            out.append(([_collapse(x) for x in block], text))
            last_end = s + CODE_LINES
    return out


def build_distractors(cfg: dict) -> list[dict]:
    seed = cfg["seed"]
    n = cfg["inputs"]["distractor_docs"]
    corpus = cfg["inputs"]["corpus"]
    keys = evidence_keys(seed, corpus)
    prose, code = [], []
    for sf in sources.files_in(seed, "distractor", corpus):
        for kind, chunks in (("prose", prose_chunks(sf)), ("code", code_chunks(sf))):
            for k, (parts, text) in enumerate(chunks):
                if any(p in keys for p in parts):
                    continue
                (prose if kind == "prose" else code).append({"source": f"{sf.name}#{kind}{k}", "text": text})
    if not prose and not code:
        raise InputError(corpus, "no distractor text found in the corpus snapshot")
    rng = rng_for(seed, "inputs.distractors")
    n_prose = min(len(prose), round(n * PROSE_SHARE))
    n_code = min(len(code), n - n_prose)
    n_prose = min(len(prose), n - n_code)
    picked = sorted(rng.sample(range(len(prose)), n_prose)), sorted(rng.sample(range(len(code)), n_code))
    docs = [prose[i] for i in picked[0]] + [code[i] for i in picked[1]]
    docs.sort(key=lambda d: d["source"])
    return [{"id": f"doc-{i:05d}", **d} for i, d in enumerate(docs)]


def _check_doc(obj: dict, path: str, line: int) -> dict:
    for name in ("id", "source", "text"):
        if not isinstance(obj.get(name), str) or (name != "source" and not obj[name].strip()):
            raise InputError(path, "missing or not a non-empty string", line, name)
    return {"id": obj["id"], "source": obj["source"], "text": obj["text"]}


def read_distractors(path: str | Path) -> list[dict]:
    return list(iter_jsonl(path, _check_doc))


def write_distractors(cfg: dict, out: str | Path) -> int:
    given = cfg["inputs"].get("distractors_path")
    docs = read_distractors(given) if given else build_distractors(cfg)
    return write_jsonl(out, docs)
