"""Texts for the tokenizer and the base model's pre-training mixture.

Pre-training sees the distractor documents (language modelling) and copy/recall examples built on
the fly: a distractor document with 2-3 facts slipped between its words, then a question on each
("... The tag of heapq is stream. ... Question: What is the tag of heapq? Answer: stream"). Entity, value and flag words are taken from the raw items so the base model copies
the same kinds of tokens later stages need, but their pairings are drawn afresh: the raw items' facts
(and so the benchmark's answers) are never shown to the base model.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from longrm.data.io import iter_jsonl
from longrm.data.records import ShortItem
from longrm.inputs.distractors import read_distractors
from longrm.inputs.families import ATTRIBUTES, COUNT_NOUNS, SAFE_FLAGS, UNSAFE_FLAGS

# Markers the judge prompts and verdicts of later stages use, so the tokenizer learns them whole.
FORMAT_TEXT = (
    "[Context and question]\n[Response A]\n[Response B]\n[Response C]\n[Response D]\n"
    "[Analysis] Response A is grounded in the context. [[A]] [[B]] [[A>B>C]] [[B>A>C>D]] [Score: 5]"
)


def read_raw(path: str | Path) -> list[ShortItem]:
    return list(iter_jsonl(path, ShortItem.from_dict))


def item_text(item: ShortItem) -> str:
    return "\n".join([item.question, *item.evidence, *item.candidates])


def tokenizer_texts(raw_path: str | Path, distractors_path: str | Path) -> list[str]:
    """Everything the tokenizer is trained on, in file order (deterministic)."""
    texts = [item_text(it) for it in read_raw(raw_path)]
    texts += [d["text"] for d in read_distractors(distractors_path)]
    return texts + [FORMAT_TEXT] * 50


@dataclass(frozen=True)
class Vocab:
    entities: tuple[str, ...]
    values: tuple[str, ...]


_FACT = re.compile(r"The (?:" + "|".join(ATTRIBUTES) + r") of ([a-z]{3,12}) is ([a-z]{4,9})\.")


def vocab_from_raw(items: list[ShortItem]) -> Vocab:
    ents, vals = set(), set()
    for it in items:
        for e in it.evidence:
            for ent, val in _FACT.findall(e):
                ents.add(ent)
                vals.add(val)
    if len(ents) < 4 or len(vals) < 4:  # a user-supplied raw file without our fact sentences
        words = sorted({w for it in items for e in it.evidence for w in re.findall(r"\b[a-z]{4,9}\b", e)})
        ents, vals = set(words[::2]), set(words[1::2])
    return Vocab(tuple(sorted(ents)), tuple(sorted(vals)))


@dataclass(frozen=True)
class RecallExample:
    context: str  # document text with the facts slipped in
    qa: tuple[tuple[str, str], ...]  # (question, answer) pairs, each answer a fact's value


def recall_example(rng: random.Random, doc: str, vocab: Vocab, max_words: int, max_facts: int = 3) -> RecallExample:
    """One copy/recall example: 2-3 (up to max_facts) facts hidden in a real document, then a question on each of
    them in a shuffled order (several answers per example: more copy signal per token)."""
    kind = rng.choice(("attr", "flag", "count"))
    n = rng.randint(min(2, max_facts), max_facts)
    ents = rng.sample(vocab.entities, n)
    if kind == "attr":
        attr = rng.choice(ATTRIBUTES)
        vals = rng.sample(vocab.values, n)
        facts = [f"The {attr} of {e} is {v}." for e, v in zip(ents, vals)]
        questions = [f"What is the {attr} of {e}?" for e in ents]
    elif kind == "flag":
        obj = rng.choice(("script", "tool", "archive", "command", "job", "package"))
        vals = rng.sample(UNSAFE_FLAGS + SAFE_FLAGS, n)
        facts = [f"The {obj} {e} is marked {v}." for e, v in zip(ents, vals)]
        questions = [f"How is the {obj} {e} marked?" for e in ents]
    else:
        noun = rng.choice(COUNT_NOUNS)
        vals = [str(x) for x in rng.sample(range(2, 100), n)]
        facts = [f"{e} holds {v} {noun}." for e, v in zip(ents, vals)]
        questions = [f"How many {noun} does {e} hold?" for e in ents]
    words = doc.split()
    start = rng.randrange(max(1, len(words) - max_words))
    words = words[start : start + max_words]
    for fact in facts:
        words.insert(rng.randint(0, len(words)), fact)
    order = list(range(n))
    rng.shuffle(order)
    return RecallExample(" ".join(words), tuple((questions[i], vals[i]) for i in order))


def split_docs(distractors: list[dict], heldout_share: float = 0.1) -> tuple[list[str], list[str]]:
    """Training documents and held-out documents (every 10th) for the before/after evaluation."""
    step = max(2, round(1 / heldout_share))
    train = [d["text"] for i, d in enumerate(distractors) if i % step != step - 1]
    held = [d["text"] for i, d in enumerate(distractors) if i % step == step - 1]
    return train, held or train[:1]
