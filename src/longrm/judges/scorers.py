"""Cheap, CPU-only judges for consistency voting (`kind: scorer` in `vote.judges`).

Each scorer gives every response a score (canonical indices), ranks by score with ties going to the
response shown earlier (`base.rank_by_scores`, so a scorer that cannot tell responses apart is
order-inconsistent and abstains in the vote), and writes a short rationale that cites the context:
Judgment.raw = judgment_target(analysis, positions), Judgment.extra["analysis"] = the analysis alone.

    evidence_overlap   share of a response's content words found anywhere in the context
    bm25               BM25-retrieve the context passage best matching the question, then the share of
                       a response's content words found in that passage
    answer_in_context  share of a response's key tokens (numbers, names, long words not in the
                       question) found in the context
    longer / shorter   word count (deliberately weak: length bias)
    first / last       presentation position (deliberately weak: position bias, never consistent)
    random             seeded coin per (item, order)
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from typing import Callable, Sequence

from longrm.data.records import BenchItem, Judgment
from longrm.judges.base import Judge, rank_by_scores
from longrm.judges.prompts import judgment_target, letter
from longrm.seeding import rng_for

_WORD = re.compile(r"[A-Za-z0-9]+(?:['.-][A-Za-z0-9]+)*")
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this "
    "that these those there their they them he she his her we you your i my me our not no so than then "
    "which who whom what when where why how do does did done has have had can could would should will "
    "shall may might must also into about over under after before such any all some each more most".split()
)
QUOTE_CHARS = 240


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS]


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if s and s.strip()]


def passages(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def context_and_question(item: BenchItem) -> tuple[str, str]:
    """The long context (task prompt without the trailing question, when it is there) and the question."""
    text = item.task_prompt
    q = item.question or ""
    for tail in (f"Question: {q}", q):
        if q and text.endswith(tail):
            return text[: -len(tail)].rstrip(), q
    return text, q


def best_sentence(text: str, target: set[str]) -> str:
    """The sentence of `text` sharing most content words with `target` (first on ties)."""
    best, best_n = "", 0
    for s in sentences(text):
        n = len(set(content_words(s)) & target)
        if n > best_n:
            best, best_n = s, n
    return best


def quote(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= QUOTE_CHARS else s[: QUOTE_CHARS - 3] + "..."


def bm25_scores(query: Sequence[str], docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 of each tokenized doc for a tokenized query."""
    n = len(docs)
    if n == 0:
        return []
    avg = sum(len(d) for d in docs) / n or 1.0
    df = Counter(w for d in docs for w in set(d))
    q = set(query)
    out = []
    for d in docs:
        tf = Counter(d)
        s = 0.0
        for w in q:
            if tf[w]:
                idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                s += idf * tf[w] * (k1 + 1) / (tf[w] + k1 * (1 - b + b * len(d) / avg))
        out.append(s)
    return out


class Scored:
    """Per-item result of a scorer: scores (canonical) and the text its rationale quotes."""

    def __init__(self, scores: list[float], evidence: str = "", what: str = "", fmt: str = "{:.0%}"):
        self.scores, self.evidence, self.what, self.fmt = scores, evidence, what, fmt


class ScorerJudge(Judge):
    """A Judge from a per-item scoring function; scores are computed once per item, for all orders."""

    def __init__(self, name: str, score_item: Callable[[BenchItem], Scored]):
        self.name = name
        self.score_item = score_item

    def judge(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        cache: dict[str, tuple[Scored, float]] = {}
        out = []
        for item, order in zip(items, orders):
            if item.id not in cache:
                t0 = time.perf_counter()
                cache[item.id] = (self.score_item(item), time.perf_counter() - t0)
            scored, secs = cache[item.id]
            scores = self.adjust(scored.scores, item, order)
            ranking = rank_by_scores(scores, order)
            positions = [order.index(i) for i in ranking]
            analysis = self.analysis(scored, scores, order, ranking)
            out.append(Judgment(id=item.id, judge=self.name, order=list(order), raw=judgment_target(analysis, positions),
                                ranking=ranking, scores=[float(s) for s in scores], latency_s=secs,
                                extra={"analysis": analysis}))
        return out

    def adjust(self, scores: list[float], item: BenchItem, order: list[int]) -> list[float]:
        return scores

    def analysis(self, scored: Scored, scores: list[float], order: list[int], ranking: list[int]) -> str:
        pos = {idx: k for k, idx in enumerate(order)}
        win = ranking[0]
        parts = []
        if scored.evidence:
            parts.append(f'The context states: "{quote(scored.evidence)}".')
        parts.append(f"Response {letter(pos[win])} is best supported ({scored.what} {scored.fmt.format(scores[win])})")
        others = ", ".join(f"Response {letter(pos[i])} {scored.fmt.format(scores[i])}" for i in ranking[1:])
        parts.append(f"than the others ({others}).")
        return " ".join(parts)


# -- scoring functions ---------------------------------------------------------------------------
def _share(resp_words: list[str], vocab: set[str]) -> float:
    if not resp_words:
        return 0.0
    return sum(w in vocab for w in resp_words) / len(resp_words)


def score_evidence_overlap(item: BenchItem) -> Scored:
    context, _ = context_and_question(item)
    vocab = set(content_words(context))
    resp = [content_words(r) for r in item.responses]
    scores = [_share(r, vocab) for r in resp]
    win = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return Scored(scores, best_sentence(context, set(resp[win])), "content words found in the context:")


def score_bm25(item: BenchItem) -> Scored:
    context, question = context_and_question(item)
    docs = passages(context) or [context]
    toks = [content_words(d) for d in docs]
    q = content_words(question) or content_words(item.task_prompt[-500:])
    bm = bm25_scores(q, toks)
    top = max(range(len(docs)), key=lambda i: (bm[i], -i))
    vocab = set(toks[top])
    resp = [content_words(r) for r in item.responses]
    scores = [_share(r, vocab) for r in resp]
    win = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return Scored(scores, best_sentence(docs[top], set(resp[win]) | set(q)),
                  "words found in the passage retrieved for the question:")


def _key_tokens(text: str, question_words: set[str]) -> list[str]:
    keys = []
    for w in _WORD.findall(text):
        lw = w.lower()
        if lw in question_words or lw in STOPWORDS:
            continue
        if w[0].isdigit() or w[0].isupper() or len(w) >= 7:
            keys.append(lw)
    return keys


def score_answer_in_context(item: BenchItem) -> Scored:
    context, question = context_and_question(item)
    vocab = set(words(context))
    qw = set(words(question))
    keys = [_key_tokens(r, qw) for r in item.responses]
    scores = [_share(k, vocab) if k else 0.0 for k in keys]
    win = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return Scored(scores, best_sentence(context, set(keys[win])), "key facts found in the context:")


def score_length(sign: float) -> Callable[[BenchItem], Scored]:
    def score(item: BenchItem) -> Scored:
        return Scored([sign * len(words(r)) for r in item.responses], "", "length in words:", "{:+.0f}")
    return score


class PositionJudge(ScorerJudge):
    """Prefers the response shown first (or last), whatever it says."""

    def __init__(self, name: str, last: bool):
        super().__init__(name, lambda item: Scored([0.0] * len(item.responses), "", "position score:", "{:.0f}"))
        self.last = last

    def adjust(self, scores, item, order):
        n = len(order)
        out = [0.0] * n
        for k, idx in enumerate(order):
            out[idx] = float(k if self.last else n - 1 - k)
        return out


class RandomJudge(ScorerJudge):
    def __init__(self, name: str, seed: int):
        super().__init__(name, lambda item: Scored([0.0] * len(item.responses), "", "coin:", "{:.2f}"))
        self.seed = seed

    def adjust(self, scores, item, order):
        rng = rng_for(self.seed, "random-judge", self.name, item.id, tuple(order))
        return [rng.random() for _ in order]


SCORERS = ("evidence_overlap", "bm25", "answer_in_context", "longer", "shorter", "first", "last", "random")


def make_scorer(name: str, cfg: dict | None = None, judge_name: str | None = None) -> Judge:
    """The scorer `name` (one of SCORERS) as a Judge called `judge_name` (default: the scorer name)."""
    label = judge_name or name
    seed = (cfg or {}).get("seed", 0)
    table: dict[str, Callable[[], Judge]] = {
        "evidence_overlap": lambda: ScorerJudge(label, score_evidence_overlap),
        "bm25": lambda: ScorerJudge(label, score_bm25),
        "answer_in_context": lambda: ScorerJudge(label, score_answer_in_context),
        "longer": lambda: ScorerJudge(label, score_length(1.0)),
        "shorter": lambda: ScorerJudge(label, score_length(-1.0)),
        "first": lambda: PositionJudge(label, last=False),
        "last": lambda: PositionJudge(label, last=True),
        "random": lambda: RandomJudge(label, seed),
    }
    if name not in table:
        raise ValueError(f"unknown scorer {name!r}; expected one of {', '.join(SCORERS)}")
    return table[name]()
