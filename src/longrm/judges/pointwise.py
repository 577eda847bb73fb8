"""Pointwise generative judging: one `[Score: k]` prompt per response, responses ranked by score.

A response's score is the EXPECTED score of the judge's own greedy judgment: at the decoding step where
the parsed score's digit was generated, sum_k k * p(digit k), normalised over the scale's digit tokens.
It refines the greedy integer (whose arg-max it shares) and rarely ties. A response whose output has no
score, or whose score is not one digit token, keeps the parsed integer (no expectation: extra
"expected" is null); an output with no score at all makes the item unparsed (ranking null, a tie).

The score of a response does not depend on the order the benchmark shows the others in, so each item is
judged once and its Judgment for every order reuses it (ties rank the earlier-shown response first).
The outputs, parsed and expected scores are kept per response (canonical index) in Judgment.extra.
Backends provide `generate(prompt_ids, watch_ids)` -> [(new token ids, per-step probabilities of the
watch ids)] (transformers: from the fp32 softmax; vLLM: from its top-k logprobs).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from longrm.data.records import BenchItem, Judgment
from longrm.errors import ConfigError
from longrm.judges.base import rank_by_scores
from longrm.judges.parse import parse_score
from longrm.judges.prompts import FORMATS, SCORE_MAX, SCORE_MIN, point_prompt_parts
from longrm.judges.truncation import fit_prompt


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"judge format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


@dataclass(frozen=True)
class DigitTokens:
    """Token ids of the scale's scores written alone ("7") and after a space (" 7"), where single tokens."""

    plain: dict[int, int]  # token id -> score
    spaced: dict[int, int]

    @classmethod
    def of(cls, tokenizer) -> DigitTokens:
        def single(text: str) -> int | None:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            return ids[0] if len(ids) == 1 else None

        plain, spaced = {}, {}
        for k in range(SCORE_MIN, SCORE_MAX + 1):
            for table, text in ((plain, str(k)), (spaced, f" {k}")):
                tid = single(text)
                if tid is not None:
                    table[tid] = k
        return cls(plain, spaced)

    @property
    def watch_ids(self) -> list[int]:
        return sorted(set(self.plain) | set(self.spaced))


def expected_score(
    new_ids: Sequence[int], probs: Sequence[Sequence[float]], digits: DigitTokens, watch_ids: Sequence[int], score: int
) -> float | None:
    """E[k] at the LAST generated digit token whose value is `score`, or None (see the module doc)."""
    column = {tid: j for j, tid in enumerate(watch_ids)}
    for step in reversed(range(min(len(new_ids), len(probs)))):
        tid = new_ids[step]
        table = digits.plain if tid in digits.plain else digits.spaced if tid in digits.spaced else None
        if table is None or table[tid] != score:
            continue
        mass = [(probs[step][column[t]], k) for t, k in table.items()]
        total = sum(p for p, _ in mass)
        if total <= 0 or not math.isfinite(total):
            return None
        return sum(p * k for p, k in mass) / total
    return None


class PointwiseScoring:
    """Mixed into a generative backend (which sets tokenizer, budget, wrappers, name, generate)."""

    CACHE_ITEMS = 512  # scored items kept for their other orders (the bench judges an item's orders together)

    def _point_cache(self) -> OrderedDict:
        if not hasattr(self, "_points"):
            self._points = OrderedDict()
            self._digits = DigitTokens.of(self.tokenizer)
        return self._points

    def fit_point(self, item: BenchItem, index: int):
        """The [Score: k] prompt of response `index`, as training renders it (analysis request included
        when the backend's `analysis` is on)."""
        parts = point_prompt_parts(item, index, getattr(self, "analysis", False))
        return fit_prompt(self.tokenizer, parts, self.budget, self.wrappers)

    def _score_items(self, items: Sequence[BenchItem]) -> None:
        cache = self._point_cache()
        todo = [it for it in {it.id: it for it in items}.values() if it.id not in cache]
        if not todo:
            return
        fitted, spans, keys = [], [], []
        for pos, it in enumerate(todo):
            first = len(fitted)
            for idx in range(len(it.responses)):
                fitted.append(self.fit_point(it, idx))
            spans.append(range(first, len(fitted)))
            longest = max(len(f.input_ids) for f in fitted[first:])
            keys += [(-longest, pos, idx) for idx in range(len(it.responses))]
        watch = self._digits.watch_ids
        # an item's prompts side by side (longest items first): they share the instructions and context,
        # which the transformers backend then prefills once
        results = self.generate([f.input_ids for f in fitted], watch, sort_keys=keys)
        for it, ks in zip(todo, spans):
            outputs, parsed, expected = [], [], []
            for k in ks:
                new_ids, probs, seconds = results[k]
                raw = self.tokenizer.decode(new_ids, skip_special_tokens=True)
                score = parse_score(raw)
                exp = None if score is None else expected_score(new_ids, probs, self._digits, watch, score)
                outputs.append(raw)
                parsed.append(score)
                expected.append(None if exp is None else round(exp, 6))
            cache[it.id] = {
                "outputs": outputs,
                "parsed": parsed,
                "expected": expected,
                "truncated": any(fitted[k].truncated for k in ks),
                "context_tokens": max(fitted[k].context_tokens for k in ks),
                "context_kept": min(fitted[k].context_kept for k in ks),  # the deepest cut of its prompts
                "prompt_tokens": sum(len(fitted[k].input_ids) for k in ks),
                "output_tokens": sum(len(results[k][0]) for k in ks),
                "latency_s": sum(results[k][2] for k in ks),
            }

    def judge_pointwise(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        self._score_items(items)
        out = []
        for item, order in zip(items, orders):
            c = self._points[item.id]
            order = list(order)
            ok = all(p is not None for p in c["parsed"])
            scores = [e if e is not None else float(p) for e, p in zip(c["expected"], c["parsed"])] if ok else None
            out.append(
                Judgment(
                    id=item.id,
                    judge=self.name,
                    order=order,
                    raw="",
                    scores=scores,
                    ranking=rank_by_scores(scores, order) if ok else None,
                    truncated=c["truncated"],
                    prompt_tokens=c["prompt_tokens"],
                    output_tokens=c["output_tokens"],
                    latency_s=round(c["latency_s"], 6),
                    extra={
                        "format": "pointwise",
                        "outputs": c["outputs"],
                        "parsed_scores": c["parsed"],
                        "context_tokens": c["context_tokens"],
                        "context_kept": c["context_kept"],
                        "expected_scores": c["expected"],
                    },
                )
            )
        while len(self._points) > self.CACHE_ITEMS:  # keep the latest items for their other orders
            self._points.popitem(last=False)
        return out
