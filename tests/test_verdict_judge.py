"""The verdict judge: a causal LM's own " true" minus " false" logit after the pointwise judge prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from longrm.errors import ConfigError
from longrm.judges.prompts import build_point_prompt
from longrm.judges.verdict import VERDICT_CUE, VerdictJudge, verdict_token_ids
from longrm.modeling import load_tokenizer
from tests.helpers import assert_scores_ignore_order, fact_items, tiny_checkpoint
from tests.helpers import pair_item as pair

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "base"


def test_scores_are_the_verdict_margin_after_the_pointwise_prompt():
    judge = VerdictJudge(SHIPPED, threads=1)
    item = pair(
        0, "The tag of heapq is stream.\n\nQuestion: What is the tag of heapq?", "The tag of heapq is stream.", "x"
    )
    (j,) = judge.judge([item], [[0, 1]])
    false_id, true_id = verdict_token_ids(judge.tokenizer)
    for k, score in enumerate(j.scores):
        ids = judge.tokenizer(build_point_prompt(item, k) + VERDICT_CUE, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = judge.model(input_ids=torch.tensor([ids])).logits[0, -1]
        assert abs(score - float(logits[true_id] - logits[false_id])) < 1e-4


def test_order_does_not_change_scores_and_ranking_follows_them():
    judge = VerdictJudge(SHIPPED, threads=1)
    item = pair(0, "a context\n\nQuestion: which?", "first answer", "second answer here")
    assert_scores_ignore_order(judge, item)


def test_verdict_words_must_be_single_tokens(tmp_path):
    tok = load_tokenizer(tiny_checkpoint(tmp_path / "m"))
    with pytest.raises(ConfigError, match="one token each"):
        verdict_token_ids(tok, (" falsehoodness", " truthfulnesses"))


def test_the_config_declares_a_verdict_judge_and_the_factory_builds_it():
    from longrm.config import load_config
    from longrm.judges.factory import make_judge

    cfg = load_config(REPO / "config" / "default.yaml")  # the study judges the base's own verdict
    spec = next(m for m in cfg["bench"]["models"] if m["name"] == "base-verdict")
    judge = make_judge(spec, cfg)
    assert isinstance(judge, VerdictJudge) and judge.name == "base-verdict"
    item = pair(0, "a context\n\nQuestion: which?", "one", "two")
    (j,) = judge.judge([item], [[0, 1]])
    assert j.extra["cue"] == VERDICT_CUE and len(j.scores) == 2


def test_the_shipped_base_verifies_the_claim_its_context_binds():
    """Stage II of `make base`: after the judge's own prompt, the base's verdict ranks the response that states
    the context's value for the entity asked about above one stating another entity's value (the hard case);
    with another item's context, which holds neither value, it cannot."""
    judge = VerdictJudge(SHIPPED, threads=1)
    items = fact_items(judge.tokenizer)
    right = sum(j.ranking[0] == 0 for j in judge.judge(items, [[0, 1]] * len(items)))
    assert right >= 0.75 * len(items), right
    swapped = [
        pair(100 + k, items[(k + 1) % len(items)].task_prompt, it.chosen, it.rejected) for k, it in enumerate(items)
    ]
    control = sum(j.ranking[0] == 0 for j in judge.judge(swapped, [[0, 1]] * len(swapped)))
    assert control <= 0.75 * len(items), control
