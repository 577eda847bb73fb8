"""Cheap, CPU-only judges for consistency voting (`kind: scorer` in `vote.judges`).

Each scorer gives every response a score (canonical indices), ranks by score with ties going to the
response shown earlier (`base.rank_by_scores`, so a scorer that cannot tell responses apart is
order-inconsistent and abstains in the vote), and writes a short rationale that cites the context:
Judgment.raw = judgment_target(analysis, format_verdict(positions)), Judgment.extra["analysis"] = the analysis alone.

    evidence_overlap   share of a response's content words found anywhere in the context
    bm25               BM25-retrieve the context sentence best matching the question (and a near-tied
                       second), then the share of a response's key facts (key_tokens) found there
    answer_in_context  share of a response's key facts stated in a sentence that mentions the
                       question's rarest words; checks 'a - b = c' arithmetic and [n] citations
    longer / shorter   word count (deliberately weak: length bias)
    first / last       presentation position (deliberately weak: position bias, never consistent)
    random             seeded coin per (item, order)
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence

from longrm.data.records import BenchItem, Judgment
from longrm.judges.base import Judge, rank_by_scores
from longrm.judges.prompts import format_verdict, judgment_target, letter
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
            raw = judgment_target(analysis, format_verdict(positions))
            out.append(
                Judgment(
                    id=item.id,
                    judge=self.name,
                    order=list(order),
                    raw=raw,
                    ranking=ranking,
                    scores=[float(s) for s in scores],
                    latency_s=secs,
                    extra={"analysis": analysis},
                )
            )
        return out

    def adjust(self, scores: list[float], item: BenchItem, order: list[int]) -> list[float]:
        return scores

    def analysis(self, scored: Scored, scores: list[float], order: list[int], ranking: list[int]) -> str:
        pos = {idx: k for k, idx in enumerate(order)}
        win = ranking[0]
        parts = []
        if scored.evidence:
            parts.append(f'The context states: "{quote(scored.evidence)}".')
        parts.append(
            f"Response {letter(pos[win])} is the best supported ({scored.what} {scored.fmt.format(scores[win])}),"
        )
        others = ", ".join(f"Response {letter(pos[i])} {scored.fmt.format(scores[i])}" for i in ranking[1:])
        parts.append(f"ahead of {others}.")
        return " ".join(parts)


# -- scoring functions ---------------------------------------------------------------------------
def _share(resp_words: list[str], vocab: set[str]) -> float:
    if not resp_words:
        return 0.0
    return sum(w in vocab for w in resp_words) / len(resp_words)


def score_evidence_overlap(item: BenchItem) -> Scored:
    context, question = context_and_question(item)
    vocab = set(content_words(context))
    qw = set(words(question))
    resp = [[w for w in content_words(r) if w not in qw] for r in item.responses]
    scores = [_share(r, vocab) for r in resp]
    win = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return Scored(scores, best_sentence(context, set(resp[win])), "content words found in the context:")


def key_tokens(response: str, question_words: set[str], context_vocab: set[str]) -> list[str]:
    """The fact-bearing tokens of a response: not in the question, not stopwords, and either found in
    the context or fact-like (a number, or a capitalised word inside a sentence). Style words that are
    neither ("carefully", "evidence") are ignored, so phrasing does not move the score."""
    keys = []
    for m in _WORD.finditer(response):
        w, lw = m.group(), m.group().lower()
        if lw in question_words or lw in STOPWORDS:
            continue
        before = response[: m.start()].rstrip()
        mid_capital = w[0].isupper() and bool(before) and before[-1] not in ".:!?"
        if lw in context_vocab or w[0].isdigit() or mid_capital:
            keys.append(lw)
    return keys


class _Sentences:
    """A context's sentences with their word sets (computed once per item)."""

    def __init__(self, context: str):
        self.text = sentences(context)
        self.words = [set(words(t)) for t in self.text]
        self.vocab = set().union(*self.words) if self.words else set()


def score_bm25(item: BenchItem) -> Scored:
    context, question = context_and_question(item)
    sents = _Sentences(context)
    q = content_words(question) or content_words(item.task_prompt[-500:])
    bm = bm25_scores(q, [content_words(t) for t in sents.text])
    ranked = sorted(range(len(bm)), key=lambda i: (-bm[i], i))
    top = [i for i in ranked[:2] if bm[i] >= 0.8 * bm[ranked[0]]]  # a near-tie second sentence too
    near = set().union(*(sents.words[i] for i in top)) if top else set()
    qw = set(words(question))
    keys = [key_tokens(r, qw, sents.vocab) for r in item.responses]
    scores = [_share(k, near) if k else 0.0 for k in keys]
    win = max(range(len(scores)), key=lambda i: (scores[i], -i))
    quoted = max((sents.text[i] for i in top), key=lambda t: len(set(words(t)) & set(keys[win])), default="")
    return Scored(scores, quoted, "key facts found in the sentences retrieved for the question:")


_ARITH = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x\u00d7])\s*(-?\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)")
_CITE = re.compile(r"\[(\d+)\]")


def _trigrams(w: str) -> set[str]:
    return {w[i : i + 3] for i in range(len(w) - 2)}


def _trigram_sim(a: str, b: str) -> float:
    ta, tb = _trigrams(a), _trigrams(b)
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


def _arithmetic(response: str) -> tuple[set[str], set[str]]:
    """Results of 'a op b = c' in a response: (correct ones, wrong ones) as tokens."""
    ok, bad = set(), set()
    for a, op, b, c in _ARITH.findall(response):
        x, y, z = float(a), float(b), float(c)
        val = {"+": x + y, "-": x - y, "*": x * y, "x": x * y, "\u00d7": x * y, "/": x / y if y else math.nan}[op]
        (ok if abs(val - z) < 1e-6 * max(1.0, abs(z)) else bad).add(c.lstrip("-"))
    return ok, bad


def score_answer_in_context(item: BenchItem) -> Scored:
    """Share of a response's key facts stated in a sentence that mentions the question's anchor (its
    words rarest in the context); arithmetic results count when the arithmetic is right, citations [n] when passage
    [n] mentions the anchor."""
    context, question = context_and_question(item)
    sents = _Sentences(context)
    qwords = list(dict.fromkeys(content_words(question)))
    qc = [w for w in qwords if w in sents.vocab]
    freq = {w: sum(w in ws for ws in sents.words) for w in qc}
    anchors = [w for w in qc if freq[w] <= 2 * min(freq.values())] if qc else []
    anchor_sents = [i for i, ws in enumerate(sents.words) if any(a in ws for a in anchors)]
    # a question word absent from the context (the query of a few-shot task): its nearest spelled
    # context word's sentence is an anchor too (nearest-neighbour labelling)
    vocab = sorted(v for v in sents.vocab if len(v) >= 4)
    for w in (w for w in qwords if w not in sents.vocab and len(w) >= 5):
        sim, nearest = max(((_trigram_sim(w, v), v) for v in vocab), default=(0.0, ""), key=lambda t: t[0])
        if sim > 0:
            best = next(i for i, ws in enumerate(sents.words) if nearest in ws)
            if best not in anchor_sents:
                anchor_sents.append(best)
    near = set().union(*(sents.words[i] for i in anchor_sents)) if anchor_sents else set()
    cited_ok = {
        m.group(1) for p in passages(context) if (m := re.match(r"\[(\d+)\]", p)) and set(words(p)) & set(anchors)
    }
    qw = set(words(question))
    scores, keysets = [], []
    for r in item.responses:
        cites = set(_CITE.findall(r))
        keys = [k for k in key_tokens(r, qw, sents.vocab) if k not in cites]
        right, wrong = _arithmetic(r)
        found = sum((k in near or k in right) and k not in wrong for k in keys) + len(cites & cited_ok)
        total = len(keys) + len(cites)
        scores.append(found / total if total else 0.0)
        keysets.append(set(keys))
    win = max(range(len(scores)), key=lambda i: (scores[i], -i))
    quoted = max((sents.text[i] for i in anchor_sents), key=lambda t: len(set(words(t)) & keysets[win]), default="")
    return Scored(scores, quoted, "key facts stated next to the question's subject:")


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
    seed = cfg["seed"] if cfg else 0
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
