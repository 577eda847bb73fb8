"""`longrm inputs short-split` and `longrm train short`: the base judge's short judging data, held out
by source exactly as `vote split` holds out the long items (issue 11)."""

from __future__ import annotations

import json

import pytest
import yaml

from longrm.config import load_config
from longrm.data.io import read_jsonl, write_jsonl
from longrm.data.records import BenchItem, SFTExample, ShortItem
from longrm.errors import InputError
from longrm.judges.parse import parse_score, parse_verdict
from longrm.seeding import assign_sources
from tests.helpers import tiny_checkpoint


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    from longrm.inputs.raw import build_raw

    cfg = load_config()  # the default config, schema defaults (inputs.corpus) filled
    cfg["inputs"].update(items_per_task=5, rejected_per_item=3)
    path = tmp_path_factory.mktemp("short") / "raw.jsonl"
    write_jsonl(path, build_raw(cfg))
    return path


def run_split(tmp_path, raw, source_ids, share=0.3):
    from longrm.inputs.short import short_split

    write_jsonl(tmp_path / "items.jsonl", [{"id": f"{s}-{k}", "source_id": s} for s in source_ids for k in (0, 1)])
    cfg = load_config()
    cfg["vote"]["splits"]["bench_share"] = share
    report = short_split(cfg, raw, tmp_path / "items.jsonl", tmp_path / "train.jsonl", tmp_path / "bench.jsonl")
    return (
        cfg,
        report,
        read_jsonl(tmp_path / "train.jsonl", SFTExample.from_dict),
        read_jsonl(tmp_path / "bench.jsonl", BenchItem.from_dict),
    )


def test_held_out_sources_are_vote_splits_and_never_train(raw, tmp_path):
    from longrm.vote import split

    ids = [it.id for it in read_jsonl(raw, ShortItem.from_dict)]
    long_sources = ids[:-3]  # three raw items no long item was built from: never benchmarked
    cfg, report, train, bench = run_split(tmp_path, raw, long_sources)
    held = assign_sources(long_sources, 0.3, cfg["seed"])
    assert split.assign_sources is assign_sources, "one assignment function for both splits"
    assert {b.extra["source_id"] for b in bench} == held
    trained = {ex.extra["source_id"] for ex in train}
    assert not trained & held and trained == set(ids) - held
    assert report["bench_items"] == len(bench) == 3 * len(held)
    assert report["bench_easy"] + report["bench_hard"] == len(bench) and report["bench_hard"] > 0


def test_bench_items_are_short_pairs_whose_context_is_the_evidence(raw, tmp_path):
    raws = {it.id: it for it in read_jsonl(raw, ShortItem.from_dict)}
    _, _, _, bench = run_split(tmp_path, raw, list(raws))
    for b in bench:
        src = raws[b.extra["source_id"]]
        assert b.tasktype == "PairWise" and b.length_bucket == "short" and b.chosen == src.chosen
        assert b.rejected in src.rejected and b.extra["difficulty"] in ("easy", "hard")
        assert all(e.strip() in b.task_prompt for e in src.evidence)
        assert b.task_prompt.endswith(f"Question: {src.question}")
        assert b.subtype == (
            "same" if src.candidates_model[src.candidates.index(b.rejected)] == src.candidates_model[0] else "diff"
        )


def test_training_targets_name_the_chosen_response(raw, tmp_path):
    """Pairwise: both orders, the verdict names the position of the chosen response; pointwise: 9 for
    the chosen response, 2 for each rejected one."""
    raws = {it.id: it for it in read_jsonl(raw, ShortItem.from_dict)}
    _, report, train, _ = run_split(tmp_path, raw, list(raws))
    pair = [ex for ex in train if ex.extra["format"] == "pairwise"]
    point = [ex for ex in train if ex.extra["format"] == "pointwise"]
    assert report["train_pairwise"] == len(pair) == 6 * report["train_sources"]
    assert report["train_pointwise"] == len(point) == 4 * report["train_sources"]
    firsts = []
    for ex in pair:
        chosen = raws[ex.extra["source_id"]].chosen
        shown_a = ex.prompt.split("[Response A]\n")[1].split("\n\n[Response B]")[0]
        firsts.append(parse_verdict(ex.response, 2)[0] == 0)
        assert (shown_a == chosen) == (parse_verdict(ex.response, 2)[0] == 0), ex.id
    assert sum(firsts) * 2 == len(firsts), "the chosen response is shown first in exactly half"
    for ex in point:
        src = raws[ex.extra["source_id"]]
        shown = ex.prompt.split("[Response]\n")[1].rstrip("\n")
        assert shown == src.candidates[ex.extra["response_index"]]
        assert parse_score(ex.response) == (9 if shown == src.chosen else 2)


def test_long_items_without_source_ids_are_named(raw, tmp_path):
    from longrm.inputs.short import short_split

    write_jsonl(tmp_path / "items.jsonl", [{"id": "a", "source_id": "LongQA-0000"}, {"id": "b"}])
    with pytest.raises(InputError) as err:
        short_split(load_config(), raw, tmp_path / "items.jsonl", tmp_path / "t.jsonl", tmp_path / "b.jsonl")
    assert "items.jsonl" in str(err.value) and "items.jsonl:2" in str(err.value) and "source_id" in str(err.value)
    assert not (tmp_path / "t.jsonl").exists() and not (tmp_path / "b.jsonl").exists()


def test_train_short_reads_its_own_settings(raw, tmp_path):
    """`longrm train short` is the SFT loss with train.short's settings (max_steps here), via the CLI."""
    from longrm.cli import main

    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    run_split(tmp_path, raw, [it.id for it in read_jsonl(raw, ShortItem.from_dict)])
    cfg = load_config()
    cfg.pop("_path", None)
    cfg["results_dir"] = str(tmp_path)
    cfg["train"]["common"].update(max_length=512, log_every=1, checkpoint_every=100)
    cfg["train"]["short"] = {"max_steps": 2, "batch_size": 2, "lr": 1e-3}
    cfg["train"]["sft"]["max_steps"] = 5
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert (
        main(
            [
                "train",
                "short",
                "--config",
                str(tmp_path / "c.yaml"),
                "--data",
                str(tmp_path / "train.jsonl"),
                "--init",
                str(ckpt),
                "--out",
                str(tmp_path / "base"),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "base" / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["loss_type"] == "sft"
    prov = json.loads((tmp_path / "base" / "provenance.json").read_text())
    assert "short" in json.dumps(prov)
