"""The likelihood judge: the base's own reading (mean log-probability of each response given the context)."""

from __future__ import annotations

from pathlib import Path

import torch

from longrm.judges.likelihood import LikelihoodJudge, mean_logprob
from longrm.modeling import load_causal_lm, load_tokenizer
from tests.helpers import assert_scores_ignore_order, fact_items, tiny_checkpoint
from tests.helpers import pair_item as pair

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "base"


def test_cached_scores_equal_a_whole_forward(tmp_path):
    path = tiny_checkpoint(tmp_path / "m")
    tok, model = load_tokenizer(path), load_causal_lm(path).eval()
    prompt = tok("some context words and a question", add_special_tokens=False)["input_ids"]
    responses = [tok(r, add_special_tokens=False)["input_ids"] for r in (" yes it is", " no", " maybe so then")]
    got = mean_logprob(model, prompt, responses)
    for r, score in zip(responses, got):
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([prompt + r])).logits[0].float(), -1)
        want = logp[len(prompt) - 1 : -1].gather(1, torch.tensor(r)[:, None]).mean().item()
        assert abs(score - want) < 1e-4


def test_order_does_not_change_scores_and_ranking_follows_them(tmp_path):
    path = tiny_checkpoint(tmp_path / "m")
    judge = LikelihoodJudge(path, threads=1)
    item = pair(0, "a context", "first answer", "second answer here")
    assert_scores_ignore_order(judge, item)


def test_the_shipped_base_prefers_the_value_its_context_binds():
    judge = LikelihoodJudge(SHIPPED, threads=1)
    items = fact_items(judge.tokenizer)
    judgments = judge.judge(items, [[0, 1]] * len(items))
    right = sum(j.ranking[0] == 0 for j in judgments)
    assert right >= 0.8 * len(items), right
    swapped = [
        pair(100 + k, items[(k + 1) % len(items)].task_prompt, it.chosen, it.rejected) for k, it in enumerate(items)
    ]
    control = judge.judge(swapped, [[0, 1]] * len(swapped))
    # another item's context holds neither value: the judge cannot tell them apart better than a coin
    assert sum(j.ranking[0] == 0 for j in control) <= 0.75 * len(items)
