"""Consistency majority voting, its audit, and the splits."""

import copy
import json
from collections import Counter

import pytest

from longrm.cli import main
from longrm.config import load_config, validate, with_defaults
from longrm.data.io import read_jsonl, write_jsonl
from longrm.data.records import BenchItem, Judgment, PrefPair, SFTExample
from longrm.judges.base import Judge, rank_by_scores
from longrm.judges.parse import parse_score, parse_verdict
from longrm.judges.prompts import format_verdict, letter, score_for_rank
from longrm.seeding import rng_for
from longrm.synth.demo import demo_distractors, demo_short_items
from longrm.vote.audit import audit
from longrm.vote.run import run_votes
from longrm.vote.split import SplitLeakError, assign_sources, check_disjoint, wrong_scores
from longrm.vote.tally import consistent_label, tally


def test_tally_rules():
    t = tally({"a": [0, 1], "b": [0, 1], "c": [1, 0], "d": None}, threshold=0.6)
    assert t.majority == [0, 1] and t.counted == 3 and t.agree == 2 and t.kept
    assert t.agreeing == ("a", "b") and t.margin == pytest.approx(1 / 3)
    assert not tally({"a": [0, 1], "b": [0, 1], "c": [1, 0]}, threshold=0.7).kept
    tie = tally({"a": [0, 1], "b": [1, 0]}, threshold=0.5)
    assert tie.majority is None and not tie.kept and tie.margin == 0
    assert not tally({"a": [0, 1], "b": None}, threshold=0.5, min_judges=2).kept
    assert consistent_label([[0, 1], [0, 1]]) == [0, 1]
    assert consistent_label([[0, 1], [1, 0]]) is None and consistent_label([[0, 1], None]) is None


class NoisyJudge(Judge):
    """Right with probability p per item (independently of other judges), consistent across orders
    except with probability q (then it prefers the first position)."""

    def __init__(self, name, p, q=0.1):
        self.name, self.p, self.q = name, p, q

    def judge(self, items, orders):
        out = []
        for item, order in zip(items, orders):
            rng = rng_for(self.name, item.id)
            right, biased = rng.random() < self.p, rng.random() < self.q
            n = len(order)
            scores = [float(n - i) for i in range(n)] if right else [float(i) for i in range(n)]
            if biased:
                scores = [0.0] * n
            rank = rank_by_scores(scores, order)
            out.append(Judgment(id=item.id, judge=self.name, order=order, ranking=rank, raw="x"))
        return out


def _pair_items(n):
    return [
        BenchItem.from_dict(
            {
                "id": f"p{i}",
                "task": "LongQA",
                "tasktype": "PairWise",
                "chosen": "good",
                "rejected": "bad",
                "source_id": f"s{i}",
                "prompt_template": [{"role": "user", "content": "ctx"}],
            }
        )
        for i in range(n)
    ]


def test_vote_beats_best_single_judge_with_independent_judges():
    judges = [NoisyJudge(f"j{k}", p) for k, p in enumerate((0.75, 0.7, 0.7, 0.65, 0.65))]
    vcfg = {**load_config()["vote"], "threshold": 0.6, "min_judges": 2}
    votes = list(run_votes(_pair_items(400), judges, vcfg))
    rep = audit(votes, 0.6, 2)
    best = rep["best_single_accuracy"]
    assert 0.6 < best < 0.85
    assert rep["vote"]["accuracy"] > best + 0.05
    assert rep["vote_beats_best_single"]
    # more judges help on average; a stricter threshold keeps fewer items
    ks = [r["all_subsets"]["accuracy"] for r in rep["by_k"]]
    assert ks[-1] > ks[0]
    ys = [r["yield"] for r in rep["by_threshold"]]
    assert ys == sorted(ys, reverse=True) and ys[-1] < ys[0]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """synth -> vote run -> audit -> split through the real CLI, scorer judges only."""
    from tests.helpers import tiny_checkpoint

    d = tmp_path_factory.mktemp("pipe")
    write_jsonl(d / "raw.jsonl", demo_short_items(60))
    write_jsonl(d / "dis.jsonl", demo_distractors(80))
    tok = tiny_checkpoint(d / "tok")
    cfg = load_config()
    cfg.pop("_path")
    cfg["synth"]["lengths"] = [512, 1024]
    cfg["vote"]["judges"] = [j for j in cfg["vote"]["judges"] if j["kind"] == "scorer"]
    cfg["results_dir"] = str(d)  # the CLI refuses outputs outside results_dir
    (d / "cfg.yaml").write_text(json.dumps(cfg))
    c = ["--config", str(d / "cfg.yaml")]
    assert (
        main(
            [
                "synth",
                *c,
                "--raw",
                str(d / "raw.jsonl"),
                "--distractors",
                str(d / "dis.jsonl"),
                "--tokenizer",
                str(tok),
                "--out",
                str(d / "items.jsonl"),
                "--report",
                str(d / "synth.json"),
            ]
        )
        == 0
    )
    assert main(["vote", "run", *c, "--items", str(d / "items.jsonl"), "--out", str(d / "votes.jsonl")]) == 0
    assert (
        main(
            [
                "vote",
                "audit",
                *c,
                "--items",
                str(d / "items.jsonl"),
                "--votes",
                str(d / "votes.jsonl"),
                "--out",
                str(d / "audit.json"),
                "--figure",
                str(d / "audit.png"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "vote",
                "split",
                *c,
                "--items",
                str(d / "items.jsonl"),
                "--votes",
                str(d / "votes.jsonl"),
                "--out-dir",
                str(d / "splits"),
            ]
        )
        == 0
    )
    return d, cfg


def test_vote_records(pipeline):
    d, cfg = pipeline
    votes = read_jsonl(d / "votes.jsonl")
    items = read_jsonl(d / "items.jsonl", BenchItem.from_dict)
    assert [v["id"] for v in votes] == [i.id for i in items]
    names = [j["name"] for j in cfg["vote"]["judges"]]
    for v, it in zip(votes, items):
        assert v["judge_names"] == names and v["gold"] == it.gold_ranking
        assert len(v["orders"]) >= 2
        for name in names:
            j = v["judges"][name]
            assert len(j["rankings"]) == len(v["orders"])
            assert j["consistent"] == (len({tuple(r) for r in j["rankings"]}) == 1)
        assert not v["judges"]["first"]["consistent"]
        if v["kept"]:
            assert v["share"] >= cfg["vote"]["threshold"] and v["rationale_judge"] in v["agreeing"]
            assert set(v["rationales"]) == set(v["agreeing"])
    assert (d / "audit.png").stat().st_size > 10_000
    rep = json.loads((d / "audit.json").read_text())
    assert rep["vote"]["accuracy"] > rep["best_single_accuracy"]
    assert set(rep["by_group"]["length_bucket"]) == {"512", "1k"}


def test_splits_share_no_source_item(pipeline):
    d, cfg = pipeline
    bench = read_jsonl(d / "splits" / "bench.jsonl", BenchItem.from_dict)
    sft = read_jsonl(d / "splits" / "sft.jsonl", SFTExample.from_dict)
    pref = read_jsonl(d / "splits" / "pref.jsonl", PrefPair.from_dict)
    disrm = read_jsonl(d / "splits" / "disrm.jsonl", PrefPair.from_dict)
    bench_src = {b.extra["source_id"] for b in bench}
    train_src = {r.extra["source_id"] for r in sft + pref + disrm}
    assert bench_src and train_src and not bench_src & train_src
    all_src = {v["source_id"] for v in read_jsonl(d / "votes.jsonl")}
    assert len(bench_src) == round(0.3 * len(all_src))
    rep = json.loads((d / "splits" / "report.json").read_text())
    assert rep["counts"]["sft"] == len(sft) and rep["shared_sources"] == 0


def test_training_targets_carry_the_voted_label(pipeline):
    """Seen failing with the pointwise scores taken from the gold ranking instead of the vote, and with
    the analysis left in a `none` target."""
    d, cfg = pipeline
    votes = {v["id"]: v for v in read_jsonl(d / "votes.jsonl")}
    items = {i.id: i for i in read_jsonl(d / "items.jsonl", BenchItem.from_dict)}
    formats = Counter()
    for ex in read_jsonl(d / "splits" / "sft.jsonl", SFTExample.from_dict):
        v = votes[ex.id.split("/")[0]]
        assert v["kept"] and ex.extra["group"] == v["id"]  # batched together in training
        formats[ex.extra["format"]] += 1
        if ex.extra["format"] == "pairwise":
            order = ex.extra["order"]
            assert ex.response == format_verdict([order.index(i) for i in v["majority"]])  # analysis: none
            assert ex.prompt.index("Give your") < ex.prompt.index("[Context and question]")
            assert ex.prompt.endswith(
                f"\n\n[Response {letter(len(order) - 1)}]\n{items[v['id']].responses[order[-1]]}\n\n"
            )
        else:
            idx = ex.extra["response_index"]
            score = score_for_rank(v["majority"].index(idx), len(v["majority"]))
            assert ex.response == f"[Score: {score}]" and parse_score(ex.response) == score
            assert ex.prompt.endswith(f"[Response]\n{items[v['id']].responses[idx]}\n\n")
    assert formats["pairwise"] > 0 and formats["pointwise"] > 0
    for pp in read_jsonl(d / "splits" / "pref.jsonl", PrefPair.from_dict):
        assert 1 <= len(pp.rejected) <= cfg["vote"]["splits"]["max_negatives"]
        if pp.extra["format"] == "pointwise":
            right = parse_score(pp.chosen)
            assert [parse_score(r) for r in pp.rejected] == wrong_scores(right, len(pp.rejected))
            assert all(abs(parse_score(r) - right) >= 3 for r in pp.rejected)
            continue
        order = pp.extra["order"]
        for r in pp.rejected:
            pos = parse_verdict(r, len(order))
            assert order[pos[0]] != pp.extra["voted"][0]  # a wrong verdict
    for pp in read_jsonl(d / "splits" / "disrm.jsonl", PrefPair.from_dict):
        it = items[pp.id]
        assert pp.chosen == it.responses[pp.extra["voted"][0]] and pp.prompt == it.task_prompt


# an SFT response -> (its analysis, its verdict line), per vote.splits.analysis placement
ANALYSIS_LAYOUT = {
    "before": lambda response: response.rpartition("\n")[::2],  # "[Analysis] ...\nVERDICT"
    "after": lambda response: response.partition("\n")[::-2],  # "VERDICT\n[Analysis] ..."
}


def test_analysis_placement_before_and_after(pipeline, tmp_path):
    """The released layout ("[Analysis] ..." then the verdict) and the verdict-first one, same labels."""
    d, cfg = pipeline
    from longrm.vote.cli import split_cmd

    for placement in ("before", "after"):
        c = copy.deepcopy(cfg)
        c["vote"]["splits"]["analysis"] = placement
        split_cmd(c, d / "items.jsonl", d / "votes.jsonl", tmp_path / placement)
        none = read_jsonl(d / "splits" / "sft.jsonl", SFTExample.from_dict)
        got = read_jsonl(tmp_path / placement / "sft.jsonl", SFTExample.from_dict)
        assert [e.id for e in got] == [e.id for e in none]
        for ex, bare in zip(got, none):
            analysis, verdict = ANALYSIS_LAYOUT[placement](ex.response)
            assert analysis.startswith("[Analysis] ") and "context states" in analysis
            assert verdict == bare.response
            assert ("after a short analysis" in ex.prompt) == (placement == "before")


def test_split_formats_pairwise_only(pipeline, tmp_path):
    d, cfg = pipeline
    from longrm.vote.cli import split_cmd

    c = copy.deepcopy(cfg)
    c["vote"]["splits"]["formats"] = ["pairwise"]
    split_cmd(c, d / "items.jsonl", d / "votes.jsonl", tmp_path)
    assert {e.extra["format"] for e in read_jsonl(tmp_path / "sft.jsonl", SFTExample.from_dict)} == {"pairwise"}


def test_leak_check_raises_and_assignment_is_seeded():
    with pytest.raises(SplitLeakError):
        check_disjoint({"bench": {"a", "b"}, "sft": {"b"}, "pref": set(), "disrm": set()})
    check_disjoint({"bench": {"a"}, "sft": {"b"}, "pref": {"b"}, "disrm": set()})
    ids = [f"s{i}" for i in range(100)]
    a = assign_sources(ids, 0.3, 1)
    assert len(a) == 30 and a == assign_sources(reversed(ids), 0.3, 1) and a != assign_sources(ids, 0.3, 2)


def test_lm_judge_through_the_factory(tmp_path):
    from longrm.vote.run import make_judges
    from tests.helpers import tiny_checkpoint

    ck = tiny_checkpoint(tmp_path / "lm")
    cfg = load_config()
    cfg["vote"]["judges"] = [
        {"name": "ov", "kind": "scorer", "scorer": "evidence_overlap"},
        {"name": "lm", "kind": "transformers", "model": str(ck)},
    ]
    cfg["vote"]["max_new_tokens"] = 4
    cfg = with_defaults(cfg)  # the new judge entries get the schema's defaults, as load_config gives them
    judges = make_judges(cfg)
    assert [j.name for j in judges] == ["ov", "lm"]
    votes = list(run_votes(_pair_items(3), judges, cfg["vote"]))
    assert all(len(v["judges"]["lm"]["rankings"]) == 2 for v in votes)
    cfg["vote"]["judges"][1]["format"] = "pointwise"
    validate({k: v for k, v in cfg.items() if not k.startswith("_")})  # the schema knows `format`
    (pointwise,) = [j for j in make_judges(cfg) if j.name == "lm"]
    assert pointwise.format == "pointwise"
    votes = list(run_votes(_pair_items(3), [pointwise], cfg["vote"]))
    assert all(len(v["judges"]["lm"]["rankings"]) == 2 for v in votes)


def test_vote_and_split_outputs_are_deterministic(pipeline, tmp_path):
    d, cfg = pipeline
    from longrm.vote.cli import run_cmd, split_cmd

    run_cmd(cfg, d / "items.jsonl", tmp_path / "votes.jsonl")
    assert (tmp_path / "votes.jsonl").read_bytes() == (d / "votes.jsonl").read_bytes()
    split_cmd(cfg, d / "items.jsonl", d / "votes.jsonl", tmp_path / "splits")
    for name in ("bench", "sft", "pref", "disrm"):
        assert (tmp_path / "splits" / f"{name}.jsonl").read_bytes() == (d / "splits" / f"{name}.jsonl").read_bytes()


def test_negatives_are_distinct(pipeline):
    d, _ = pipeline
    for pp in read_jsonl(d / "splits" / "pref.jsonl", PrefPair.from_dict):
        assert len(set(pp.rejected)) == len(pp.rejected) and pp.chosen not in pp.rejected
