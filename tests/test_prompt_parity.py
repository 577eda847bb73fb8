"""Train/bench prompt parity on a Qwen3-shaped checkpoint (its chat template takes `enable_thinking`):
the token ids a trained judge is conditioned on (train/data.py, from the records `vote split` writes or
the release's messages) are, item for item, the ids the benchmark gives the same judge, under our
protocol (pairwise, Best-of-N ranking, pointwise, DisRM) and the official one (pairwise, Best-of-N)."""

from __future__ import annotations

import pytest

from longrm.config import load_config
from longrm.data.records import BenchItem, SFTExample
from longrm.judges.factory import make_judge
from longrm.judges.official import messages, official_prompt
from longrm.train.data import tokenize
from tests.test_families import build

THINK_OFF = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
DOC = "The blue door code is 4812. The red door code is 2210. " * 3


def item(id_: str, n: int) -> BenchItem:
    d = {"id": id_, "task": "LongQA", "prompt_template": [{"role": "user", "content": DOC + "Question: blue code?"}]}
    if n == 2:
        d.update(tasktype="PairWise", subtype="same", chosen="It is 4812.", rejected="It is 2210.")
    else:
        d.update(
            tasktype="BestOfN",
            subtype=str(n),
            candidates=[f"It is {4812 + k}." for k in range(n)],
            candidates_score=[float(n - k) for k in range(n)],
        )
    return BenchItem.from_dict(d)


ITEMS = [item("pair", 2), item("bon", 3)]
ORDERS = {"pair": [[0, 1], [1, 0]], "bon": [[0, 1, 2], [2, 0, 1], [1, 2, 0]]}


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    return build(tmp_path_factory.mktemp("parity") / "qwen3", "qwen3")


def paper_like_cfg(analysis: str) -> dict:
    cfg = load_config()
    cfg["vote"]["splits"].update(analysis=analysis, formats=["pairwise", "pointwise"])
    cfg["bench"].update(max_model_len=4096, max_new_tokens=8, threads=1, backend="transformers")
    return cfg


def vote_of(it: BenchItem) -> dict:
    return {
        "majority": it.gold_ranking,
        "rationales": {},
        "rationale_judge": None,
        "orders": ORDERS[it.id],
        "source_id": f"src-{it.id}",
        "margin": 1.0,
    }


def split_records(cfg: dict) -> tuple[list, list, list]:
    """(sft, pref, disrm) records of ITEMS, as `vote split` writes them."""
    from longrm.vote.split import disrm_pair, judge_records

    sft, pref = [], []
    scfg = cfg["vote"]["splits"]
    for it in ITEMS:
        for kind, rec in judge_records(it, vote_of(it), scfg["formats"], scfg["analysis"], 3, cfg["seed"]):
            (sft if kind == "sft" else pref).append(rec)
    return sft, pref, [disrm_pair(it, vote_of(it)) for it in ITEMS]


def bench_ids(judge, rec) -> list[int]:
    """The ids the benchmark gives `judge` for the item and order (or response) the record was made from."""
    it = next(i for i in ITEMS if rec.extra["source_id"] == f"src-{i.id}")
    if rec.extra["format"] == "pointwise":
        return judge.fit_point(it, rec.extra["response_index"]).input_ids
    return judge.fit(it, rec.extra["order"]).input_ids


@pytest.mark.parametrize("analysis", ["before", "none"])
def test_sft_and_logo_prompts_are_the_bench_prompts_pairwise_ranking_and_pointwise(qwen3, analysis):
    cfg = paper_like_cfg(analysis)
    sft, pref, _ = split_records(cfg)
    judge = make_judge({"name": "sft", "kind": "generative", "format": "pairwise", "path": str(qwen3)}, cfg)
    formats = set()
    for stage, records in (("sft", sft), ("logo", pref)):
        examples, skipped = tokenize(records, judge.tokenizer, stage, 4096, 3, use_chat_template=True)
        assert not skipped and len(examples) == len(records) == 2 + 3 + 2 + 3
        for rec, ex in zip(records, examples):
            want = bench_ids(judge, rec)
            assert ex.prompt_ids == want, (stage, rec.id)
            assert judge.tokenizer.decode(ex.prompt_ids).endswith(THINK_OFF)  # the bench's empty think block
            formats.add((rec.extra["format"], len(rec.extra.get("order") or [0, 0])))
    assert formats == {("pairwise", 2), ("pairwise", 3), ("pointwise", 2)}
    judge.close()


def test_disrm_inputs_are_the_discriminative_bench_inputs(qwen3, tmp_path, monkeypatch):
    import shutil

    import torch
    from safetensors.torch import save_file

    from longrm.judges import discriminative

    rm = tmp_path / "rm"
    shutil.copytree(qwen3, rm)
    save_file({"weight": torch.zeros(1, 32)}, str(rm / discriminative.SCORE_HEAD_FILE))
    cfg = paper_like_cfg("before")
    _, _, records = split_records(cfg)
    judge = make_judge({"name": "disrm", "kind": "discriminative", "path": str(rm)}, cfg)
    seen: list[list[int]] = []

    def capture(self, inputs, owners):
        seen.extend(inputs)
        return [0.0] * len(inputs), [0.0] * len(inputs)

    monkeypatch.setattr(discriminative.DiscriminativeJudge, "_score_inputs", capture)
    judge.judge(ITEMS, [[0, 1], [0, 1, 2]])
    examples, _ = tokenize(records, judge.tokenizer, "disrm", 4096, 3, use_chat_template=True)
    trained = [ex.prompt_ids + r for ex in examples for r in ex.responses]
    # the bench scores each item's responses in index order; the DisRM record has the voted-best first,
    # then the others in voted order: the gold order here, so both lists line up
    assert len(seen) == 5 and trained == seen
    assert all(judge.tokenizer.decode(x).count("<think>") == 1 for x in trained)


def test_official_protocol_training_ids_are_the_official_bench_ids(qwen3, tmp_path):
    """A record in the release's form (system + user messages, as its training data and its evaluator
    both have them) trains on the ids the official protocol judges with; the release's HF folders keep
    their messages on the way in."""
    from datasets import Dataset, DatasetDict

    from longrm.modeling import load_tokenizer
    from longrm.train.data import read_records

    tok = load_tokenizer(qwen3)
    pairs = [(it, o) for it in ITEMS for o in ORDERS[it.id]]
    rows = [{"index": k, "chat_template": messages(it, o), "golden": "[[A]]"} for k, (it, o) in enumerate(pairs)]
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "released"))
    records = read_records(tmp_path / "released", "sft")
    by_hand = [
        SFTExample(id=str(k), prompt="", response="[[A]]", extra={"messages": r["chat_template"]})
        for k, r in enumerate(rows)
    ]
    for recs in (records, by_hand):
        examples, _ = tokenize(recs, tok, "sft", 4096, use_chat_template=True)
        assert len(examples) == len(pairs) == 5
        for ex, (it, o) in zip(examples, pairs):
            want = official_prompt(tok, it, o)
            assert not want.truncated and ex.prompt_ids == want.input_ids, (it.id, o)
            text = tok.decode(ex.prompt_ids)
            assert text.startswith("<|im_start|>system\n") and text.endswith(THINK_OFF)
