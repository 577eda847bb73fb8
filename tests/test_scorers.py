"""CPU scorers used as judges in the vote."""

import pytest

from longrm.data.records import BenchItem
from longrm.judges.base import judge_orders
from longrm.judges.scorers import SCORERS, bm25_scores, context_and_question, make_scorer

CONTEXT = (
    "Visitors to Ren remember the quiet harbour and the trade fairs.\n\n"
    "The town of Delmar was surveyed by Holfen. Its population is 4210, according to Holfen.\n\n"
    "Kelvo wrote about railways and the old roads near Tasmi."
)
QUESTION = "What is the population of Delmar?"
GOOD = "The population of Delmar is 4210, as recorded by Holfen."
BAD = "The population of Delmar is 7780, as recorded by Quasorbex."


def _item(responses, tasktype="PairWise"):
    d = {
        "id": "it-1",
        "task": "LongQA",
        "tasktype": tasktype,
        "question": QUESTION,
        "prompt_template": [{"role": "user", "content": CONTEXT + "\n\nQuestion: " + QUESTION}],
    }
    if tasktype == "PairWise":
        d.update(chosen=responses[0], rejected=responses[1])
    else:
        d.update(candidates=responses, candidates_score=[float(-i) for i in range(len(responses))], subtype="3")
    return BenchItem.from_dict(d)


def _judge(name, item):
    orders = judge_orders(item)
    return make_scorer(name, {"seed": 3}).judge([item] * len(orders), orders)


@pytest.mark.parametrize("name", ["evidence_overlap", "bm25", "answer_in_context"])
def test_grounded_scorers_pick_the_grounded_response_in_every_order(name):
    item = _item([GOOD, BAD])
    js = _judge(name, item)
    assert [j.ranking for j in js] == [[0, 1], [0, 1]]
    assert js[0].scores[0] > js[0].scores[1]
    # the rationale quotes the sentence of the context that supports the winner, with letters per order
    assert "Its population is 4210" in js[0].extra["analysis"]
    assert js[0].raw.endswith("[[A]]") and js[1].raw.endswith("[[B]]")
    assert "Response A is the best supported" in js[0].raw and "Response B is the best supported" in js[1].raw


def test_best_of_n_ranking_and_ignore_response():
    generic = "This depends on many factors, and in general it is best to consult a reliable source."
    good = "The population of Delmar is 4210, according to Holfen."
    bad = "The population of Delmar is 7780, according to Holfen."
    item = _item([good, bad, generic], "BestOfN")
    js = _judge("evidence_overlap", item)
    assert all(j.ranking == [0, 1, 2] for j in js)  # consistent across orders


def test_weak_judges():
    item = _item([GOOD, GOOD + " Also more words here."])
    assert [j.ranking for j in _judge("longer", item)] == [[1, 0], [1, 0]]
    assert [j.ranking for j in _judge("shorter", item)] == [[0, 1], [0, 1]]
    assert [j.ranking for j in _judge("first", item)] == [[0, 1], [1, 0]]  # never consistent
    assert [j.ranking for j in _judge("last", item)] == [[1, 0], [0, 1]]
    a, b = _judge("random", item), _judge("random", item)
    assert [j.ranking for j in a] == [j.ranking for j in b]  # seeded


def test_ties_go_to_the_earlier_position():
    item = _item([GOOD, GOOD])
    assert [j.ranking for j in _judge("evidence_overlap", item)] == [[0, 1], [1, 0]]


def test_context_split_and_bm25():
    ctx, q = context_and_question(_item([GOOD, BAD]))
    assert q == QUESTION and not ctx.endswith(QUESTION) and ctx.startswith("Visitors")
    s = bm25_scores(["population", "delmar"], [["harbour"], ["delmar", "population", "4210"], ["roads"]])
    assert s[1] > 0 and s[0] == s[2] == 0


def test_unknown_scorer():
    with pytest.raises(ValueError, match="unknown scorer"):
        make_scorer("oracle", {})
    assert len(SCORERS) == 8


def _ctx_item(context, question, responses):
    return BenchItem.from_dict(
        {
            "id": "x",
            "task": "Math",
            "tasktype": "PairWise",
            "question": question,
            "chosen": responses[0],
            "rejected": responses[1],
            "prompt_template": [{"role": "user", "content": context + "\n\nQuestion: " + question}],
        }
    )


def test_answer_in_context_checks_arithmetic_and_anchor_sentences():
    ctx = "Filler text about roads.\n\njson holds 19 tickets. importlib holds 30 tickets. shelve holds 5 tickets."
    q = "How many more tickets does importlib hold than shelve?"
    item = _ctx_item(
        ctx, q, ["30 - 5 = 25, so the difference is 25 tickets.", "30 - 5 = 19, so the difference is 19 tickets."]
    )  # 19 is in the context, wrongly
    js = _judge("answer_in_context", item)
    assert [j.ranking for j in js] == [[0, 1], [0, 1]]
    assert js[0].scores[0] == 1.0 and js[0].scores[1] < 1.0


def test_answer_in_context_checks_citations():
    ctx = (
        "[1] The label of venv is sections.\n\n[2] The label of pty is special.\n\n"
        "[3] Some other words here. The label of heapq is documents."
    )
    q = "Which passage states the label of heapq? Cite it as [n]."
    item = _ctx_item(ctx, q, ["The label of heapq is documents [3].", "The label of heapq is documents [1]."])
    assert [j.ranking for j in _judge("answer_in_context", item)] == [[0, 1], [0, 1]]


def test_key_tokens_ignore_style_words():
    from longrm.judges.scorers import key_tokens

    vocab = {"tag", "zipapp", "mode", "binding"}
    keys = key_tokens(
        "Having read the passages carefully: The tag of zipapp is mode. Decided in 2015 by Kelvo.",
        {"tag", "zipapp"},
        vocab,
    )
    assert keys == ["mode", "2015", "kelvo"]


def test_bm25_retrieves_the_fact_sentence_not_a_distractor_fact():
    ctx = (
        "The tag of codeop is binding. The tag of lzma is split.\n\nVisitors remember the harbour.\n\n"
        "The tag of zipapp is mode. Other words follow here."
    )
    item = _ctx_item(ctx, "What is the tag of zipapp?", ["The tag of zipapp is mode.", "The tag of zipapp is binding."])
    js = _judge("bm25", item)
    assert [j.ranking for j in js] == [[0, 1], [0, 1]] and "zipapp is mode" in js[0].raw
