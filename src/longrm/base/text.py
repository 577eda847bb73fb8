"""The base's text: documents of the pinned corpus snapshot, its tokenizer, and the one-token word pools
the recall rows draw entities and values from."""

from __future__ import annotations

import re
from pathlib import Path

from longrm.inputs.sources import load_snapshot

HELDOUT_EVERY = 10  # every 10th document (by name) is held out for the curves' prose


def read_documents(snapshot: str | Path) -> list[tuple[str, str]]:
    """(name, text) of every document of the snapshot (the study's inputs read the same file)."""
    return [(f.name, f.text) for f in load_snapshot(Path(snapshot).resolve())]


def split_documents(docs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(training texts, held-out texts)."""
    train = [t for i, (_, t) in enumerate(docs) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    held = [t for i, (_, t) in enumerate(docs) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    return train, held or train[:1]


def glossary(snapshot: str | Path, prose_words: int = 2000) -> list[str]:
    """The words the study states facts with, so the tokenizer keeps each one whole: the fact templates'
    words, the snapshot's module names (the study's entities) and its most frequent prose
    words (the study's values are drawn from them)."""
    from collections import Counter

    from longrm.inputs import families, sources

    files = load_snapshot(Path(snapshot).resolve())
    counts: Counter[str] = Counter()
    for f in files:
        counts.update(w for w in re.findall(r"\b[a-z]{4,9}\b", f.text) if w not in sources.STOPWORDS)
    prose = [w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:prose_words]]
    modules = {sources.module_name(f).rsplit(".", 1)[-1] for f in files if f.kind == "code"}
    fixed = [*families.ATTRIBUTES, *families.ACTION_OBJECTS, *families.COUNT_NOUNS]
    fixed += [*families.SAFE_FLAGS, *families.UNSAFE_FLAGS, "marked", "holds"]
    return sorted(set(prose) | {m for m in modules if re.fullmatch(r"[a-z]{3,12}", m)} | set(fixed))


GLOSSARY_REPEATS = 100  # often enough that BPE merges every glossary word into one token


def build_tokenizer(snapshot: str | Path, vocab_size: int, out_dir=None):
    """Byte-level BPE on the snapshot, the study's prompt markers and the glossary (deterministic), with
    Qwen2's pre-tokenization (digits one by one: numbers are never one token)."""
    from longrm.inputs.corpus import FORMAT_TEXT
    from longrm.inputs.tiny import train_tokenizer

    texts = [t for _, t in read_documents(snapshot)] + [FORMAT_TEXT] * 50
    texts += [" ".join(glossary(snapshot))] * GLOSSARY_REPEATS
    return train_tokenizer(texts, vocab_size=vocab_size, out_dir=out_dir, qwen2_split=True)


_WORD = re.compile(r"^ [a-z]{3,10}$")


def one_token_words(tok, exclude: set[str] = frozenset()) -> list[int]:
    """Ids of the tokens that are a whole lower-case word after a space (" stream"), sorted by id."""
    ids = []
    for i in range(len(tok)):
        s = tok.decode([i])
        if _WORD.match(s) and s[1:] not in exclude:
            ids.append(i)
    return ids


def one_token(tok, word: str) -> int | None:
    """The id of " word" when it is one token, else None."""
    ids = tok(" " + word, add_special_tokens=False)["input_ids"]
    return ids[0] if len(ids) == 1 else None
