"""Failure modes in the bench metrics: explanation vs verdict (bench.explain's documented rule) and position
bias per length bucket, on scripted pairwise judgments."""

from __future__ import annotations

import pytest

from longrm.bench.explain import UNDETERMINED, analysis_pick, analysis_text, explanation_flags
from longrm.bench.score import ScoreItem, score_records
from longrm.data.records import Judgment


@pytest.mark.parametrize(
    ("raw", "pick"),
    [
        ("[Analysis] Response A states the fact, so Response A is better.\n[[A]]", 0),
        ("Response B is wrong, so Response A is better.\n[[B]]", 0),  # the name next to 'is better' counts
        ("Response B is better supported than Response A. [[B]]", 1),
        ("I prefer Assistant B here. [[A]]", 1),
        ("I prefer Response B. Response A is more detailed. [[B]]", UNDETERMINED),  # both named
        ("Both responses are fine. [[A]]", UNDETERMINED),  # none named
        ("[[A]]", None),  # a verdict alone: no analysis
        ("<think>Response A is better</think>[[A]]", None),  # thinking is never read
    ],
)
def test_the_rule_names_the_response_an_analysis_calls_better(raw, pick):
    assert analysis_pick(raw) == pick


def test_the_analysis_is_the_text_around_the_verdict():
    assert analysis_text("[Analysis] Response A is better.\n[[A]]") == "Response A is better."
    assert analysis_text("[[B]]\n[Analysis] Response B quotes it.") == "Response B quotes it."


def judgment(order, winner_position, raw="", scores=None):
    ranking = [order[winner_position], order[1 - winner_position]]
    return Judgment(id="x", judge="j", order=list(order), raw=raw, ranking=ranking, scores=scores)


def test_a_judgment_disagrees_when_its_analysis_picks_the_other_response():
    said_a = "Response A is better."
    assert explanation_flags(judgment([0, 1], 0, said_a + " [[A]]")) == "agrees"
    assert explanation_flags(judgment([1, 0], 1, said_a + " [[B]]")) == "disagrees"
    assert explanation_flags(judgment([0, 1], 0, "[[A]]")) is None
    assert explanation_flags(judgment([0, 1], 0, scores=[1.0, 0.0])) is None  # a scalar judge
    unparsed = Judgment(id="x", judge="j", order=[0, 1], raw=said_a, ranking=None)
    assert explanation_flags(unparsed) is None


def pair_item(k: int, bucket: str) -> ScoreItem:
    return ScoreItem(f"i{k}", "LongQA", "PairWise", "same", bucket, [0, 1], (None, None))


def scripted(items, verdict_at, analysis_at):
    """Records in both orders: the verdict picks position `verdict_at(item, order)`, the analysis names
    position `analysis_at(item, order)` (None: no analysis)."""
    line = 0
    for it in items:
        for order in ([0, 1], [1, 0]):
            line += 1
            v, a = verdict_at(it, order), analysis_at(it, order)
            text = ("" if a is None else f"Response {'AB'[a]} is better. ") + f"[[{'AB'[v]}]]"
            rec = judgment(order, v, text)
            rec.id = it.id
            yield rec, line


def test_metrics_hold_position_bias_and_explanation_disagreement_by_length():
    items = [pair_item(k, "1k" if k < 4 else "2k") for k in range(8)]
    # at 1k the judge always answers A, with an analysis that names B; at 2k it reads the right response
    # and names it
    right = lambda it, order: order.index(0)  # noqa: E731
    verdict = lambda it, order: 0 if it.length_bucket == "1k" else right(it, order)  # noqa: E731
    analysis = lambda it, order: 1 if it.length_bucket == "1k" else right(it, order)  # noqa: E731
    m = score_records(scripted(items, verdict, analysis), items, n_boot=0)
    assert m["position_bias"]["length"]["1k"]["value"] == 1.0
    assert m["position_bias"]["length"]["2k"]["value"] == 0.5
    ev = m["explanation_vs_verdict"]
    assert (ev["length"]["1k"]["value"], ev["length"]["2k"]["value"]) == (1.0, 0.0)
    assert ev["all"] == {"value": 0.5, "n": 16, "analysed": 16, "undetermined": 0.0}


def test_without_analysis_explanation_disagreement_is_not_measured():
    items = [pair_item(k, "1k") for k in range(3)]
    m = score_records(scripted(items, lambda it, o: o.index(0), lambda it, o: None), items, n_boot=0)
    assert m["explanation_vs_verdict"]["all"] == {"value": None, "n": 0, "analysed": 0, "undetermined": None}
