"""The verdict judge: a causal LM's own " true" minus " false" logit after the pointwise judge prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from longrm.data.records import BenchItem
from longrm.errors import ConfigError
from longrm.judges.prompts import build_point_prompt
from longrm.judges.verdict import VERDICT_CUE, VerdictJudge, verdict_token_ids
from longrm.modeling import load_tokenizer
from tests.helpers import tiny_checkpoint

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "base"


def pair(i: int, context: str, chosen: str, rejected: str) -> BenchItem:
    return BenchItem(
        id=f"t{i}",
        task="LongQA",
        tasktype="PairWise",
        prompt_template=[{"role": "user", "content": context}],
        chosen=chosen,
        rejected=rejected,
    )


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
    a, b = judge.judge([item, item], [[0, 1], [1, 0]])
    assert a.scores == b.scores
    best = 0 if a.scores[0] >= a.scores[1] else 1
    assert a.ranking[0] == best and b.ranking[0] == best


def test_verdict_words_must_be_single_tokens(tmp_path):
    tok = load_tokenizer(tiny_checkpoint(tmp_path / "m"))
    with pytest.raises(ConfigError, match="one token each"):
        verdict_token_ids(tok, (" falsehoodness", " truthfulnesses"))
