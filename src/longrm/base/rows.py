"""Pre-training rows of the base, at token level (exact lengths, fast).

A recall row: corpus prose with N facts of one kind slipped in at random places, all of the same attribute
(so every other fact's value is a wrong answer in the context: the hard case), then a newline and Q
restatements of facts drawn with replacement (no answer-by-elimination shortcut). The loss is on each
restated value. A corpus row: a plain window of the token stream (language modelling).

A verification row (stage II, after growth): the same context, then C claims, each a fact sentence with
the fact's own value (true), another entity's value of the row (hard: present, bound elsewhere) or a value
absent from the row (easy), then a few prose tokens and a verdict " true" / " false". The loss is on the
verdict.

Fact kinds, in the study's own sentences (inputs/families.py), the value one token after a space:
    attr   " The tag of heapq is stream."
    flag   " The script heapq is marked cleared."
    count  " heapq holds 42 records."
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from longrm.base.text import one_token, one_token_words
from longrm.errors import ConfigError
from longrm.inputs.families import ACTION_OBJECTS, ATTRIBUTES, COUNT_NOUNS, SAFE_FLAGS, UNSAFE_FLAGS
from longrm.inputs.sources import STOPWORDS
from longrm.seeding import derive_seed

IGNORE = -100
ANSWER, LM = 1, 2  # target kinds: a restated fact's value, a corpus token
KINDS = ("attr", "flag", "count")


@dataclass(frozen=True)
class Pools:
    """Token ids (one token each) the rows draw from."""

    words: tuple[int, ...]  # entities and word values
    flags: tuple[int, ...]
    numbers: tuple[int, ...]


def make_pools(tok) -> Pools:
    words = one_token_words(tok, exclude=STOPWORDS | set(ATTRIBUTES) | set(ACTION_OBJECTS) | set(COUNT_NOUNS))
    flags = [one_token(tok, f) for f in UNSAFE_FLAGS + SAFE_FLAGS]
    numbers = [one_token(tok, str(n)) for n in range(2, 100)]
    pools = Pools(tuple(words), tuple(i for i in flags if i is not None), tuple(i for i in numbers if i is not None))
    if len(pools.words) < 64:
        raise ValueError(f"the tokenizer has only {len(pools.words)} one-token words (need 64)")
    return pools


class Facts:
    """Renders facts of each kind as token ids: (prefix, entity, middle, value, suffix)."""

    def __init__(self, tok, pools: Pools):
        self.tok, self.pools = tok, pools
        self._cache: dict[str, list[int]] = {}

    def ids(self, text: str) -> list[int]:
        if text not in self._cache:
            self._cache[text] = self.tok(text, add_special_tokens=False)["input_ids"]
        return self._cache[text]

    def longest(self) -> int:
        """Tokens of the longest fact sentence any template renders."""
        befores = [f" The {a} of" for a in ATTRIBUTES] + [f" The {o}" for o in ACTION_OBJECTS]
        afters = [f" {n}." for n in COUNT_NOUNS]
        return (
            2
            + max(len(self.ids(t)) for t in befores)
            + len(self.ids(" is marked"))
            + max(len(self.ids(t)) for t in afters + ["."])
        )

    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k in KINDS if len(self.values(k)) >= 8)

    def values(self, kind: str) -> tuple[int, ...]:
        return {"attr": self.pools.words, "flag": self.pools.flags, "count": self.pools.numbers}[kind]

    def template(self, kind: str, rng: random.Random) -> tuple[list[int], list[int], list[int]]:
        """(before entity, between entity and value, after value) for one row's facts."""
        if kind == "attr":
            return self.ids(f" The {rng.choice(ATTRIBUTES)} of"), self.ids(" is"), self.ids(".")
        if kind == "flag":
            return self.ids(f" The {rng.choice(ACTION_OBJECTS)}"), self.ids(" is marked"), self.ids(".")
        return [], self.ids(" holds"), self.ids(f" {rng.choice(COUNT_NOUNS)}.")

    def sentence(self, parts, entity: int, value: int) -> tuple[list[int], int]:
        """(ids, index of the value in ids)."""
        before, between, after = parts
        ids = before + [entity] + between + [value] + after
        return ids, len(before) + 1 + len(between)


def recall_row(
    rng: random.Random, facts: Facts, prose: list[int], length: int, n_facts: int, n_queries: int, kind: str
):
    """(ids, target kinds, row values, first-query position) of exactly `length` tokens."""
    parts = facts.template(kind, rng)
    ents = rng.sample(facts.pools.words, n_facts)
    vals = rng.sample([v for v in facts.values(kind) if v not in ents], n_facts)
    sents = [facts.sentence(parts, e, v) for e, v in zip(ents, vals)]
    newline = facts.ids("\n")
    queries = [sents[rng.randrange(n_facts)] for _ in range(n_queries)]
    tail = len(newline) + sum(len(s) for s, _ in queries)
    room = length - tail - sum(len(s) for s, _ in sents)
    if room < 0:
        raise ValueError(f"a row of {length} tokens cannot hold {n_facts} facts and {n_queries} queries")
    start = rng.randrange(max(1, len(prose) - room))
    filler = prose[start : start + room]
    filler += prose[: room - len(filler)]  # wraps around a short stream
    cuts = sorted(rng.randint(0, room) for _ in range(n_facts))
    ids: list[int] = []
    prev = 0
    for cut, (s, _) in zip(cuts, sents):
        ids += filler[prev:cut] + s
        prev = cut
    ids += filler[prev:] + newline
    kinds = [0] * len(ids)
    first = None
    for s, vi in queries:
        first = len(ids) + vi if first is None else first
        kinds += [0] * vi + [ANSWER] + [0] * (len(s) - vi - 1)
        ids += s
    return ids, kinds, vals, first


CLAIMS = ("true", "hard", "easy")
GROW_DEFAULT = object()  # verify_row's cue: grow.cue
VERDICT_WORDS = (" false", " true")


def verify_row(
    rng: random.Random,
    facts: Facts,
    prose: list[int],
    length: int,
    n_facts: int,
    grow: dict,
    kind: str,
    gap=None,
    cue: str | None | object = GROW_DEFAULT,
):
    """(ids, target kinds, claim types) of exactly `length` tokens; ANSWER at each verdict. Between a claim's
    value and its verdict: `cue` (default grow.cue), text that takes the place of the sentence's final ".",
    tokenized with the sentence's end as a judge prompt has it (".\n\n" is one token); None: the sentence's
    end and `gap` = [min, max] prose tokens (default grow.gap)."""
    cue = grow.get("cue") if cue is GROW_DEFAULT else cue
    span = gap or grow["gap"]
    parts = claim_parts = facts.template(kind, rng)
    if cue is not None:
        end = facts.tok.decode(parts[2]).removesuffix(".") + cue
        claim_parts = (parts[0], parts[1], facts.ids(end) if end else [])
    ents = rng.sample(facts.pools.words, n_facts)
    pool = [v for v in facts.values(kind) if v not in ents]
    vals = rng.sample(pool, n_facts)
    absent = [v for v in pool if v not in vals]
    verdicts = [facts.ids(w)[0] for w in VERDICT_WORDS]
    claims, types = [], []
    for _ in range(grow["claims"]):
        o = rng.randrange(n_facts)
        u = rng.random()
        if u < grow["mix"][0]:
            value, claim = vals[o], "true"
        elif u < grow["mix"][0] + grow["mix"][1]:
            value, claim = vals[rng.choice([j for j in range(n_facts) if j != o])], "hard"
        else:
            value, claim = rng.choice(absent), "easy"
        n = 0 if cue is not None else rng.randint(*span)
        start = rng.randrange(max(1, len(prose) - n))
        sentence = facts.sentence(claim_parts, ents[o], value)[0]
        claims.append(sentence + prose[start : start + n] + [verdicts[claim == "true"]])
        types.append(claim)
    newline = facts.ids("\n")
    sents = [facts.sentence(parts, e, v)[0] for e, v in zip(ents, vals)]
    room = length - len(newline) - sum(map(len, claims)) - sum(map(len, sents))
    if room < 0:
        raise ValueError(f"a row of {length} tokens cannot hold {n_facts} facts and {len(claims)} claims")
    start = rng.randrange(max(1, len(prose) - room))
    filler = prose[start : start + room]
    filler += prose[: room - len(filler)]
    cuts = sorted(rng.randint(0, room) for _ in range(n_facts))
    ids: list[int] = []
    prev = 0
    for cut, sent in zip(cuts, sents):
        ids += filler[prev:cut] + sent
        prev = cut
    ids += filler[prev:] + newline
    kinds = [0] * len(ids)
    for c in claims:
        kinds += [0] * (len(c) - 1) + [ANSWER]
        ids += c
    return ids, kinds, types


class Rows:
    """The rows of every step and of the held-out curves, each seeded from (seed, purpose, step, row)."""

    def __init__(self, cfg: dict, tok, train_texts: list[str], held_texts: list[str]):
        self.cfg, self.tr, self.grow = cfg, cfg["train"], cfg["grow"]
        self.facts = Facts(tok, make_pools(tok))
        self.kinds = self.facts.kinds()
        self.verify_kinds = tuple(k for k in self.kinds if k in (self.grow["verify_kinds"] or self.kinds))
        if not self.verify_kinds:
            raise ConfigError(
                f"{cfg.get('_path', '<config>')}: key 'grow.verify_kinds': none of {self.grow['verify_kinds']} is a "
                f"fact kind this vocabulary holds ({list(self.kinds)})"
            )
        self.train_stream = stream(tok, train_texts)
        self.held_stream = stream(tok, held_texts)
        self.n_lm = round(self.tr["batch_size"] * self.tr["lm_share"])
        need = (self.tr["facts"] + self.tr["queries"]) * self.facts.longest() + len(self.facts.ids("\n"))
        if need > self.tr["seq_len"]:
            raise ConfigError(
                f"{cfg.get('_path', '<config>')}: key 'train.seq_len': {self.tr['seq_len']} tokens cannot hold "
                f"{self.tr['facts']} facts and {self.tr['queries']} queries of up to {self.facts.longest()} tokens"
            )
        claim = self.facts.longest() + max(self.grow["gap"][1], len(self.facts.ids(self.grow["cue"] or ""))) + 1
        if (
            self.grow["at_step"]
            and self.tr["facts"] * self.facts.longest() + self.grow["claims"] * claim > self.tr["seq_len"]
        ):
            raise ConfigError(
                f"{cfg.get('_path', '<config>')}: key 'grow.claims': {self.grow['claims']} claims of up to {claim} "
                f"tokens and {self.tr['facts']} facts do not fit in train.seq_len {self.tr['seq_len']}"
            )

    def facts_at(self, step: int) -> int:
        t = self.tr
        if not t["curriculum_steps"] or step >= t["curriculum_steps"]:
            return t["facts"]
        return t["facts_start"] + (t["facts"] - t["facts_start"]) * step // t["curriculum_steps"]

    def grown(self, step: int) -> bool:
        return bool(self.grow["at_step"]) and step >= self.grow["at_step"]

    def verdict_layout(self, step: int) -> tuple[list[int], str | None]:
        """(gap, cue) of the verification rows at `step`: the curriculum's first layout, then the final one."""
        g = self.grow
        return (g["first_gap"], g["first_cue"]) if step < g["at_step"] + g["first_gap_steps"] else (g["gap"], g["cue"])

    def batch(self, step: int):
        """input_ids, targets (B, T) with IGNORE off-target, and target kinds (B, T)."""
        L, B = self.tr["seq_len"], self.tr["batch_size"]
        n_verify = round(B * self.grow["verify_share"]) if self.grown(step) else 0
        rows = []
        for j in range(B):
            rng = random.Random(derive_seed(self.cfg["seed"], "base.rows", step, j))
            if j < n_verify:
                kind = self.verify_kinds[j % len(self.verify_kinds)]
                ids, kinds, _ = verify_row(
                    rng, self.facts, self.train_stream, L, self.tr["facts"], self.grow, kind, *self.verdict_layout(step)
                )
            elif j < B - self.n_lm:
                kind = self.kinds[j % len(self.kinds)]
                ids, kinds, _, _ = recall_row(
                    rng, self.facts, self.train_stream, L, self.facts_at(step), self.tr["queries"], kind
                )
            else:
                start = rng.randrange(len(self.train_stream) - L - 1)
                ids, kinds = self.train_stream[start : start + L], [0] + [LM] * (L - 1)
            rows.append((ids, kinds))
        return to_tensors(rows)

    def heldout(self, length: int, kind: str, n: int):
        """Held-out recall rows at `length` tokens: ids (n, T), value targets (n, T), first-query mask, row values."""
        rows, values, firsts = [], [], []
        for j in range(n):
            rng = random.Random(derive_seed(self.cfg["seed"], "base.heldout", kind, length, j))
            ids, kinds, vals, first = recall_row(
                rng, self.facts, self.held_stream, length, self.tr["facts"], self.tr["queries"], kind
            )
            rows.append((ids, kinds))
            values.append(vals)
            firsts.append(first)
        ids, targets, _ = to_tensors(rows)
        first = torch.zeros_like(targets, dtype=torch.bool)
        for b, p in enumerate(firsts):
            first[b, p - 1] = True  # the position that predicts the first query's value
        return ids, targets, first, torch.tensor(values)

    def verify_heldout(self, length: int, n: int):
        """Held-out verification rows: ids (n, T), verdict targets (n, T), each row's claim types."""
        rows, types = [], []
        for j in range(n):
            rng = random.Random(derive_seed(self.cfg["seed"], "base.verify_heldout", length, j))
            kind = self.verify_kinds[j % len(self.verify_kinds)]
            ids, kinds, claim = verify_row(rng, self.facts, self.held_stream, length, self.tr["facts"], self.grow, kind)
            rows.append((ids, kinds))
            types.append(claim)
        ids, targets, _ = to_tensors(rows)
        return ids, targets, types


def stream(tok, texts: list[str]) -> list[int]:
    """The texts as one token stream, EOS between them."""
    out: list[int] = []
    for ids in tok(texts, add_special_tokens=False)["input_ids"]:
        out += ids + [tok.eos_token_id]
    return out


def to_tensors(rows):
    """(ids, targets, kinds): position t is trained to predict token t+1 where its kind is set."""
    ids = torch.tensor([r[0] for r in rows])  # (B, T)
    kinds = torch.tensor([r[1] for r in rows])  # (B, T)
    targets = torch.full_like(ids, IGNORE)
    targets[:, :-1] = torch.where(kinds[:, 1:] > 0, ids[:, 1:], IGNORE)
    shifted = torch.zeros_like(kinds)
    shifted[:, :-1] = kinds[:, 1:]
    return ids, targets, shifted
