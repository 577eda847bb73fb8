"""Pointwise generative judging: prompt layout, score parsing, the expected score read from the greedy
decode's own probabilities, and the per-item records (transformers backend and a stand-in vLLM)."""

import math
import sys
import types

import pytest

from longrm.judges.parse import parse_score
from longrm.judges.pointwise import DigitTokens, expected_score
from longrm.judges.prompts import judgment_target, point_prompt_parts, prompt_parts, score_for_rank
from tests.helpers import tiny_checkpoint
from tests.test_judges_backends import long_item


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model")


def test_the_tiny_tokenizer_has_single_token_digits(ckpt):
    from longrm.modeling import load_tokenizer

    digits = DigitTokens.of(load_tokenizer(ckpt))
    assert sorted(set(digits.plain.values()) | set(digits.spaced.values())) == list(range(1, 10))


def test_parse_score_takes_the_last_well_formed_score():
    assert parse_score("[Analysis] fine.\n[Score: 7]") == 7
    assert parse_score("[Score: 2] then [score:9 ]") == 9
    assert parse_score("Give your score as [Score: k]") is None  # the instruction's echo
    assert parse_score("[Score: 42]") is None and parse_score("") is None
    assert parse_score("[Score: 10]") == 10 and parse_score("[Score: 3] [Score: 11]") == 3


def test_scores_by_rank_and_target_layouts():
    assert [score_for_rank(r, 2) for r in range(2)] == [9, 2]
    assert [score_for_rank(r, 3) for r in range(3)] == [9, 6, 2]
    assert [score_for_rank(r, 4) for r in range(4)] == [9, 7, 4, 2]
    assert judgment_target("Cites X.", "[Score: 9]", "before") == "[Analysis] Cites X.\n[Score: 9]"
    assert judgment_target("Cites X.", "[[A]]", "after") == "[[A]]\n[Analysis] Cites X."
    assert judgment_target("Cites X.", "[[A]]", "none") == "[[A]]"
    with pytest.raises(ValueError, match="placement"):
        judgment_target("x", "[[A]]", "middle")


def test_the_verdict_request_comes_before_the_context_and_the_prompt_ends_with_the_response():
    """A small judge decides right after the response (judges/prompts.py): nothing may follow it."""
    item = long_item("p1", n=3)
    for parts, last in (
        (prompt_parts(item, [2, 0, 1]), item.responses[1]),
        (point_prompt_parts(item, 2), item.responses[2]),
    ):
        assert "Give your" in parts.prefix and "[Context and question]" in parts.prefix
        assert parts.suffix.endswith(last + "\n\n")
    assert "[Score: k]" in point_prompt_parts(item, 0).prefix
    assert "after a short analysis" in point_prompt_parts(item, 0, analysis=True).prefix


def test_expected_score_reads_the_digit_step_of_the_parsed_score():
    digits = DigitTokens(plain={11: 1, 12: 2, 19: 9}, spaced={21: 1, 29: 9})
    watch = digits.watch_ids  # [11, 12, 19, 21, 29]
    new_ids = [5, 12, 6, 29, 7]  # "2" early, then " 9" (the parsed score)
    probs = [[0.0] * 5, [0.1, 0.8, 0.1, 0, 0], [0.0] * 5, [0, 0, 0.3, 0.25, 0.75], [0.0] * 5]
    # the spaced digits at step 3: (0.25 * 1 + 0.75 * 9) / 1.0
    assert expected_score(new_ids, probs, digits, watch, 9) == pytest.approx(7.0)
    # a parsed score of 2 reads step 1, over the plain digits: (0.1 * 1 + 0.8 * 2 + 0.1 * 9) / 1.0
    assert expected_score(new_ids, probs, digits, watch, 2) == pytest.approx(2.6)
    assert expected_score(new_ids, probs, digits, watch, 5) is None  # "10"-style or absent: no expectation


def test_watched_probabilities_are_the_models_next_token_softmax(ckpt):
    """Seen failing with the probabilities taken before the softmax and one step late."""
    import torch

    from longrm.judges.transformers_backend import greedy_generate, greedy_generate_watching
    from longrm.modeling import load_causal_lm

    model = load_causal_lm(ckpt).eval()
    prompts = [[5, 9, 11, 4, 30], [7, 3, 2]]
    watch = [4, 17, 30]
    tokens, probs = greedy_generate_watching(model, prompts, 5, set(), 0, watch_ids=watch)
    assert tokens == greedy_generate(model, prompts, 5, set(), 0)
    for p, new, steps in zip(prompts, tokens, probs):
        assert len(steps) == len(new) == 5
        for t in range(len(new)):
            with torch.no_grad():
                logits = model(torch.tensor([p + new[:t]])).logits[0, -1].float()
            want = torch.softmax(logits, -1)[watch].tolist()
            assert steps[t] == pytest.approx(want, abs=1e-5)


def _judge_with_outputs(ckpt, outputs):
    """A pointwise TransformersJudge whose decoder returns fixed texts (with their digit probabilities)."""
    from longrm.judges.transformers_backend import TransformersJudge

    judge = TransformersJudge(ckpt, max_model_len=512, max_new_tokens=8, format="pointwise")
    tok = judge.tokenizer
    digits = DigitTokens.of(tok)
    queue = list(outputs)

    def generate(prompts, watch_ids=(), sort_keys=None):
        out = []
        for _ in prompts:
            text, dist = queue.pop(0)
            ids = tok(text, add_special_tokens=False)["input_ids"]
            probs = [[0.0] * len(watch_ids) for _ in ids]
            for step, tid in enumerate(ids):
                table = digits.plain if tid in digits.plain else digits.spaced if tid in digits.spaced else None
                if table is not None and dist is not None:
                    probs[step] = [dist.get(table[w], 0.0) if w in table else 0.0 for w in watch_ids]
            out.append((ids, probs, 0.01))
        return out

    judge.generate = generate
    return judge


def test_pointwise_records_rank_by_expected_score_in_every_order(ckpt):
    item = long_item("p1", n=3)
    # response 0 -> 7 (expected 0.4 * 7 + 0.6 * 9 = 8.2), 1 -> 7 (0.7 * 7 + 0.3 * 4 = 6.1), 2 -> 2
    judge = _judge_with_outputs(
        ckpt, [("[Score: 7]", {7: 0.4, 9: 0.6}), ("[Score: 7]", {7: 0.7, 4: 0.3}), ("[Score: 2]", {2: 1.0})]
    )
    orders = [[0, 1, 2], [2, 1, 0], [1, 2, 0]]
    recs = judge.judge([item] * 3, orders)
    for rec, order in zip(recs, orders):
        assert rec.order == order and rec.ranking == [0, 1, 2]
        assert rec.scores == pytest.approx([8.2, 6.1, 2.0])
        assert rec.extra["parsed_scores"] == [7, 7, 2] and rec.extra["outputs"][2] == "[Score: 2]"
    assert all(math.isclose(a, b) for a, b in zip(recs[0].scores, recs[2].scores))


def test_pointwise_unparsed_output_makes_the_item_a_tie(ckpt):
    judge = _judge_with_outputs(ckpt, [("[Score: 8]", {8: 1.0}), ("no verdict here", None)])
    rec = judge.judge([long_item("p2")], [[0, 1]])[0]
    assert rec.ranking is None and rec.scores is None and rec.extra["parsed_scores"] == [8, None]


def test_vllm_pointwise_reads_logprobs_of_the_digits(ckpt, monkeypatch):
    """A stand-in vllm: the backend asks for logprobs and turns the digit tokens' logprobs into the
    expected score; a digit outside the returned top-k counts as probability 0."""
    from longrm.judges.vllm_backend import VLLMJudge
    from longrm.modeling import load_tokenizer

    tok = load_tokenizer(ckpt)
    digits = DigitTokens.of(tok)
    ids = tok("[Score: 6]", add_special_tokens=False)["input_ids"]
    step = next((s for s, t in enumerate(ids) if t in digits.plain or t in digits.spaced), None)
    if step is None:
        pytest.skip("the tiny tokenizer has no single-token digits")
    table = digits.plain if ids[step] in digits.plain else digits.spaced
    by_score = {k: t for t, k in table.items()}
    seen = {}

    class SamplingParams:
        def __init__(self, **kw):
            seen.setdefault("sampling", []).append(kw)

    class LLM:
        def __init__(self, **kw):
            pass

        def get_tokenizer(self):
            return tok

        def generate(self, prompts, sampling, use_tqdm=True):
            lp = [{} for _ in ids]
            lp[step] = {
                by_score[6]: types.SimpleNamespace(logprob=math.log(0.5)),
                by_score[8]: types.SimpleNamespace(logprob=math.log(0.5)),
            }
            comp = types.SimpleNamespace(text="[Score: 6]", token_ids=ids, logprobs=lp)
            return [types.SimpleNamespace(outputs=[comp]) for _ in prompts]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    judge = VLLMJudge(ckpt, max_model_len=512, max_new_tokens=8, format="pointwise", logprobs=5)
    rec = judge.judge([long_item("p3")], [[1, 0]])[0]
    assert any(kw.get("logprobs") == 5 for kw in seen["sampling"])
    assert rec.scores == pytest.approx([7.0, 7.0]) and rec.extra["parsed_scores"] == [6, 6]


def test_pointwise_cache_keeps_only_the_latest_items_and_rescores_the_same(ckpt):
    """Memory stays bounded over a long bench run; an evicted item judged again gets the same record."""
    texts = [(f"[Score: {2 + i % 7}]", {2 + i % 7: 1.0}) for i in range(40)]
    judge = _judge_with_outputs(ckpt, texts + texts[:2])
    judge.CACHE_ITEMS = 5
    items = [long_item(f"p{i}") for i in range(20)]
    first = judge.judge(items, [[0, 1]] * 20)  # one call larger than the cache: fine
    assert len(judge._points) == 5 and list(judge._points) == [f"p{i}" for i in range(15, 20)]
    again = judge.judge(items[:1], [[1, 0]])[0]  # evicted: scored again, same scores
    assert again.scores == first[0].scores and again.extra["outputs"] == first[0].extra["outputs"]
