"""Issue 11: the raw responses carry no tell without the context (response-only probe at chance,
chosen and rejected lengths alike, style independent of correctness)."""

from __future__ import annotations

import pytest

from longrm.config import load_config
from longrm.data.records import ShortItem
from longrm.inputs.tells import length_stats, response_only_probe

MARGIN = 0.07  # ~3 standard deviations of a chance accuracy on ~420 held-out pairs


@pytest.fixture(scope="module")
def items() -> list[ShortItem]:
    from longrm.inputs.raw import build_raw

    cfg = load_config()  # the default config, schema defaults (inputs.corpus) filled
    cfg["inputs"].update(items_per_task=40, rejected_per_item=3)
    return build_raw(cfg)


def test_response_only_classifier_is_at_chance(items):
    """Bag of words + lead-in words + length, fitted on half the items, scored on the other half.
    On the data before issue 11 (lead-ins, invented claims, an 'ignore' template) it was far above chance."""
    probe = response_only_probe(items, seed=1234)
    assert probe["test_pairs"] >= 350
    assert abs(probe["accuracy"] - 0.5) <= MARGIN, probe
    assert abs(probe["accuracy_easy"] - 0.5) <= MARGIN + 0.03 and abs(probe["accuracy_hard"] - 0.5) <= MARGIN + 0.03


def test_probe_finds_a_planted_tell(items):
    """The probe is able to fail: an invented claim added to every rejected response is found."""
    planted = [
        ShortItem.from_dict(
            {
                **it.to_dict(),
                "candidates": [it.chosen] + [r + " This was decided by the maintainers in 2012." for r in it.rejected],
            }
        )
        for it in items
    ]
    assert response_only_probe(planted, seed=1234)["accuracy"] > 0.95


def test_chosen_and_rejected_lengths_match(items):
    stats = length_stats(items)
    assert abs(stats["chosen_mean_chars"] - stats["rejected_mean_chars"]) <= 0.03 * stats["chosen_mean_chars"], stats
    assert abs(stats["longer_accuracy"] - 0.5) <= MARGIN, stats  # before issue 11: 0.33


def test_style_is_independent_of_correctness(items):
    """Diff pairs: the chosen response is the verbose one (gen-b) about half of the time; Same pairs
    share the style (both bare, or both with the item's one lead-in)."""
    diff_chosen_verbose, diff = 0, 0
    for it in items:
        for j, r in enumerate(it.rejected, start=1):
            if it.candidates_model[j] != it.candidates_model[0]:
                diff += 1
                diff_chosen_verbose += it.candidates_model[0] == "gen-b"
            else:
                lead_c, lead_r = (
                    it.chosen.split(":")[0] if ":" in it.chosen else "",
                    r.split(":")[0] if ":" in r else "",
                )
                if it.candidates_model[0] == "gen-b":
                    assert it.chosen[:20] == r[:20] or lead_c == lead_r, (it.id, it.chosen, r)
    assert diff >= 200 and abs(diff_chosen_verbose / diff - 0.5) <= 0.1


def test_every_wrong_value_is_hard_or_easy(items):
    for it in items:
        kinds = it.extra["candidates_difficulty"][1:]
        assert set(kinds) <= {"hard", "easy"}, it.id
        assert kinds == sorted(kinds, key=lambda k: k != "hard"), "best-first: hard before easy"
        assert len(set(it.extra["candidates_fact"])) == len(it.candidates), "distinct asserted values"
    share_hard = sum(it.extra["candidates_difficulty"][1:].count("hard") for it in items) / (3 * len(items))
    assert 0.3 <= share_hard <= 0.7
