"""Short-to-Long synthesis: determinism, placement, lengths, response types, bad-input accounting."""

import json

import pytest

from longrm.config import load_config
from longrm.data.io import read_jsonl, write_jsonl
from longrm.data.records import BenchItem
from longrm.errors import InputError
from longrm.synth.build import DistractorPool, Synthesizer, SynthReport, synthesize
from longrm.synth.cli import run
from longrm.synth.demo import demo_distractors, demo_short_items
from longrm.synth.perturb import KINDS, perturb
from longrm.synth.tokens import TokenCounter, WhitespaceTokenizer, bucket_label


def _cfg(**synth):
    cfg = load_config()
    cfg["synth"].update(synth)
    return cfg


@pytest.fixture
def files(tmp_path):
    write_jsonl(tmp_path / "raw.jsonl", demo_short_items(40))
    write_jsonl(tmp_path / "dis.jsonl", demo_distractors(120))
    return tmp_path


def _synth(cfg, d, name="items.jsonl", tok=None):
    return run(
        cfg, d / "raw.jsonl", d / "dis.jsonl", tok or WhitespaceTokenizer(), d / name, d / (name + ".report.json")
    )


def test_bucket_labels():
    assert [bucket_label(n) for n in (512, 1024, 2048, 4096, 131072, 3000)] == ["512", "1k", "2k", "4k", "128k", "3000"]


def test_same_seed_same_bytes_different_seed_different_bytes(files):
    _synth(_cfg(), files, "a.jsonl")
    _synth(_cfg(), files, "b.jsonl")
    a, b = (files / "a.jsonl").read_bytes(), (files / "b.jsonl").read_bytes()
    assert a == b and len(a) > 1000
    cfg = _cfg()
    cfg["seed"] += 1
    _synth(cfg, files, "c.jsonl")
    assert (files / "c.jsonl").read_bytes() != a


def test_items_follow_schema_lengths_and_record_placement(files):
    cfg = _cfg(lengths=[256, 512, 1024], items_per_source=3, bon_share=0.3, multihop_share=0.3)
    report = _synth(cfg, files)
    items = read_jsonl(files / "items.jsonl", BenchItem.from_dict)
    assert report["items_written"] == len(items) == 120
    for it in items:
        x = it.extra
        assert it.length <= x["target_length"] and it.length > 0.7 * x["target_length"]
        assert it.ctx_length_for_length == bucket_label(x["target_length"]) == x["length_bucket"]
        words = it.task_prompt.split()
        assert len(words) == it.length  # whitespace tokenizer: tokens are words
        # each recorded token offset is where an evidence piece starts
        for off, idx in zip(x["insert_positions"], x["insert_index"]):
            piece = it.task_prompt.split("\n\n")[idx].split()
            assert words[off : off + len(piece)] == piece
        assert x["source_id"] and isinstance(x["seed"], int) and x["answer"]
        assert x["hops"] == len(x["insert_positions"]) or x["hops"] == 1
        if x["position"] == "start":
            assert x["insert_positions"][0] == 0
        assert it.prompt_template[-1]["content"].endswith("Question: " + it.question)
    kinds = {(i.tasktype, i.subtype) for i in items}
    assert {
        ("PairWise", "same"),
        ("PairWise", "diff"),
        ("BestOfN", "2"),
        ("BestOfN", "3"),
        ("BestOfN", "4"),
    } <= kinds, "Rank2, Rank3 and Rank4 are all produced"
    spread = [i for i in items if i.extra["hops"] > 1]
    assert spread and all(i.extra["position"] == "spread" for i in spread)
    assert all(len(set(i.extra["insert_index"])) == i.extra["hops"] for i in spread)
    for i in items:
        if i.tasktype == "BestOfN":
            assert len(i.candidates) == int(i.subtype) and i.gold_ranking == list(range(len(i.candidates)))
            assert i.candidates_score == sorted(i.candidates_score, reverse=True)


def test_middle_and_end_positions(files):
    cfg = _cfg(lengths=[1024], positions=["end"], items_per_source=1, bon_share=0.0, multihop_share=0.0)
    _synth(cfg, files)
    for it in read_jsonl(files / "items.jsonl", BenchItem.from_dict):
        docs = it.task_prompt.split("\n\n")
        ev_end = it.extra["insert_index"][-1]
        assert ev_end == len(docs) - 2  # last document before the question


def test_real_tokenizer_counts_are_exact(files, tmp_path):
    from longrm.modeling import load_tokenizer
    from tests.helpers import tiny_checkpoint

    tok = load_tokenizer(tiny_checkpoint(tmp_path / "ck"))
    cfg = _cfg(lengths=[512, 1024], items_per_source=1)
    _synth(cfg, files, tok=tok)
    for it in read_jsonl(files / "items.jsonl", BenchItem.from_dict)[:15]:
        exact = len(tok(it.task_prompt, add_special_tokens=False)["input_ids"])
        assert exact == it.length  # per-document counts + separator cost = the joined text's count


def test_missing_rejected_responses_are_generated(files):
    cfg = _cfg(lengths=[512], items_per_source=1, bon_share=1.0)
    report = _synth(cfg, files)
    assert sum(report["generated_responses"].values()) > 0
    items = read_jsonl(files / "items.jsonl", BenchItem.from_dict)
    gen = [m for i in items for m in i.candidates_model if "+" in m]
    assert {g.split("+")[1] for g in gen} <= set(KINDS) and gen


def test_perturbations_change_the_fact_and_are_deterministic():
    chosen = "The population of Delmar is 4210, as recorded by Holfen."
    ev = ["Its population is 4210, according to Holfen."]
    c = perturb("contradict", chosen, "What is the population of Delmar?", ev, "4210", 1, "x")
    assert "4210" not in c and c == perturb("contradict", chosen, "q", ev, "4210", 1, "x")
    inv = perturb("invent", chosen, "q", ev, "4210", 1, "x")
    assert inv.startswith(chosen) and len(inv) > len(chosen)
    assert perturb("ignore", chosen, "q", ev, "4210", 1, "x") != chosen
    # no answer given: a shared word or number is swapped instead
    assert (
        perturb("contradict", "Delmar was surveyed by Holfen.", "q", ["Holfen surveyed Delmar."], "", 2, "y")
        != "Delmar was surveyed by Holfen."
    )


def test_bad_raw_items_are_counted_with_reasons(tmp_path):
    good = demo_short_items(3)
    bad = [
        dict(good[0]),  # duplicate id
        dict(good[1], id="no-chosen", candidates=[]),
        dict(good[1], id="blank-chosen", candidates=["  ", "x"]),
        dict(good[1], id="no-evidence", evidence=[]),
        dict(good[1], id="blank-evidence", evidence=["   "]),
        dict(good[2], id="too-long", evidence=["word " * 3000]),
        {k: v for k, v in good[2].items() if k != "id"},
    ]
    write_jsonl(tmp_path / "raw.jsonl", good + bad)
    write_jsonl(tmp_path / "dis.jsonl", demo_distractors(30))
    cfg = _cfg(lengths=[512, 1024], items_per_source=2)
    rep = _synth(cfg, tmp_path)
    assert rep["skipped"] == {
        "duplicate_id": 1,
        "missing_chosen": 2,
        "empty_evidence": 2,
        "longer_than_bucket": 2,
        "missing_id": 1,
    }
    assert rep["raw_lines"] == 10 and rep["sources_used"] == 3
    reasons = {(e["id"], e["reason"]) for e in rep["skipped_examples"]}
    assert ("too-long", "longer_than_bucket") in reasons and ("no-chosen", "missing_chosen") in reasons
    saved = json.loads((tmp_path / "items.jsonl.report.json").read_text())
    assert saved["skipped_total"] == 8


def test_other_bad_input_raises_naming_line_and_field(tmp_path):
    write_jsonl(tmp_path / "dis.jsonl", demo_distractors(5))
    write_jsonl(tmp_path / "raw.jsonl", [demo_short_items(1)[0], dict(demo_short_items(2)[1], task="Poetry")])
    with pytest.raises(InputError) as err:
        _synth(_cfg(), tmp_path)
    assert err.value.line == 2 and err.value.field == "task"
    assert not (tmp_path / "items.jsonl").exists()  # nothing half-written
    (tmp_path / "raw.jsonl").write_text('{"id": "a"\n')
    with pytest.raises(InputError, match="not valid JSON"):
        _synth(_cfg(), tmp_path)
    (tmp_path / "raw.jsonl").write_text("")
    (tmp_path / "dis.jsonl").write_text('{"id": "d", "text": ""}\n')
    with pytest.raises(InputError, match="distractor pool is empty"):
        _synth(_cfg(), tmp_path)


def test_streaming_and_token_cache():
    calls = []

    class Counting(WhitespaceTokenizer):
        def __call__(self, texts, add_special_tokens=False):
            calls.append(len(texts) if isinstance(texts, list) else 1)
            return super().__call__(texts, add_special_tokens)

    counter = TokenCounter(Counting())
    pool = DistractorPool.load(demo_distractors(50), counter)
    n_pool_calls = len(calls)
    synth = Synthesizer(_cfg(lengths=[2048], items_per_source=4), counter, pool)
    gen = synthesize(enumerate(demo_short_items(5), 1), synth, SynthReport())
    first = next(gen)  # streaming: one item without consuming the rest
    assert first["source_id"] == "demo-0000"
    list(gen)
    # distractor docs were tokenized once, in the pool; per item only question/evidence are counted
    assert sum(calls[n_pool_calls:]) < 5 * 10


def test_policy_model_generates_missing_responses(tmp_path, files):
    from tests.helpers import tiny_checkpoint

    ck = tiny_checkpoint(tmp_path / "policy")
    cfg = _cfg(lengths=[512], items_per_source=1, policy_model=str(ck))
    write_jsonl(files / "raw.jsonl", demo_short_items(4))  # item 0 has no rejected response
    rep = _synth(cfg, files)
    gen = rep["generated_responses"]
    assert sum(v for k, v in gen.items() if k.startswith("policy:") or k == "policy_empty_fallback") > 0


def test_pair_difficulty_is_that_of_its_rejected_response(tmp_path):
    items = demo_short_items(30, rejected=2)
    for it in items:  # per-candidate difficulty, as `longrm inputs raw` writes it
        it["candidates_difficulty"] = [""] + ["easy", "hard"][: len(it["candidates"]) - 1]
        it["difficulty"] = "easy"
    write_jsonl(tmp_path / "raw.jsonl", items)
    write_jsonl(tmp_path / "dis.jsonl", demo_distractors(120))
    _synth(_cfg(bon_share=0.0), tmp_path)
    by_source = {it["id"]: it for it in items}
    pairs = [r for r in read_jsonl(tmp_path / "items.jsonl") if r["tasktype"] == "PairWise"]
    checked = 0
    for rec in pairs:
        src = by_source[rec["source_id"]]
        if len(src["candidates"]) < 3:
            continue
        j = src["candidates"].index(rec["rejected"])
        assert rec["difficulty"] == src["candidates_difficulty"][j]
        checked += 1
    assert checked and any(r["difficulty"] == "hard" for r in pairs)
