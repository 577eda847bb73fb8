"""The learnability script's rows keep every fact: prose is cut to fit the length, never a fact (an earlier
version cut rows from the front, so a share of the questions had no answer in their row)."""

import random

import pytest

from longrm.config import REPO_ROOT
from tests.helpers import load_script

PROSE = "the river bends past old mills where farmers once traded grain and salt with travellers " * 4
WORDS = "apple river stone cloud tiger lemon piano rocket maple coral amber ivory".split()


@pytest.fixture(scope="module")
def script():
    return load_script(REPO_ROOT / "benchmarks" / "learnability_recall.py")


@pytest.fixture(scope="module")
def tok():
    from longrm.inputs.tiny import train_tokenizer

    texts = [PROSE, " ".join(WORDS * 3), "The tag of Question: What is the ? Answer: Claim: Verdict: true false"]
    return train_tokenizer(texts * 30, vocab_size=600)


def row_args(script, tok):
    words = script.single_token(tok, WORDS)
    assert len(words) >= 8
    docs = [(PROSE + "zygomorphic quixotically xeriscaping ").split() * 2]  # unseen words: many tokens each
    return docs, words[:4], words[4:8], ["tag"]


@pytest.mark.parametrize("form", ["is", "adjacent"])
@pytest.mark.parametrize("seq_len", [80, 160, 400])
def test_recall_rows_fit_and_every_answer_has_its_fact(script, tok, form, seq_len):
    docs, ents, vals, attrs = row_args(script, tok)
    fact_form = script.FACT_FORMS[form][0]
    for seed in range(10):
        ids, answers = script.recall_row(random.Random(seed), tok, docs, ents, vals, attrs, seq_len, 3, 1.0, form=form)
        text = tok.decode(ids)
        assert len(ids) <= seq_len and len(answers) == 3
        for pos in answers:
            value = tok.decode(ids[pos]).strip()
            entity = tok.decode(ids[:pos]).rsplit(" of ", 1)[1].split("?")[0].strip()
            assert fact_form.format(attr="tag", e=entity, v=value) in text


def test_rows_too_short_for_their_facts_are_refused(script, tok):
    docs, ents, vals, attrs = row_args(script, tok)
    with pytest.raises(ValueError, match="over seq_len 40"):
        script.recall_row(random.Random(0), tok, docs, ents, vals, attrs, 40, 4)
    with pytest.raises(ValueError, match="over seq_len 40"):
        script.verify_row(random.Random(0), tok, docs, ents, vals, attrs, 40, 3)


def test_verify_rows_keep_every_fact(script, tok):
    docs, ents, vals, attrs = row_args(script, tok)
    for seed in range(10):
        ids, verdicts, kinds = script.verify_row(random.Random(seed), tok, docs, ents, vals, attrs, 200, 3)
        text = tok.decode(ids)
        assert len(ids) <= 200 and len(verdicts) == len(kinds) == 3
        assert text.count(" is ") >= 6  # three facts and three claims
