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


def build_tokenizer(docs: list[tuple[str, str]], vocab_size: int, out_dir=None):
    """Byte-level BPE on the snapshot and the study's prompt markers (deterministic for the same text)."""
    from longrm.inputs.corpus import FORMAT_TEXT
    from longrm.inputs.tiny import train_tokenizer

    return train_tokenizer([t for _, t in docs] + [FORMAT_TEXT] * 50, vocab_size=vocab_size, out_dir=out_dir)


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
