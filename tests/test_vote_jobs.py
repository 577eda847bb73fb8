"""The vote as one job per LM judge plus a tally; the fair vote comparison; preference negatives from the
LM judges' real judgments. Tiny real checkpoints: a random one (unparseable outputs) and one that answers
every prompt with " [[B]]" (a wrong verdict in one order of every pair). The tests on them are `slow`:
their shared setup runs both LM judges twice (~30-40 s on 2 busy cores)."""

import json
from pathlib import Path

import pytest

from longrm.cli import main
from longrm.config import load_config, with_defaults
from longrm.data.io import read_jsonl, write_jsonl
from longrm.data.records import BenchItem, PrefPair
from longrm.errors import ConfigError, InputError
from longrm.judges.parse import parse_verdict
from longrm.synth.demo import demo_distractors, demo_short_items
from longrm.vote import chunks as vote_chunks
from longrm.vote import run as vote_run
from longrm.vote.audit import _resamples, audit
from longrm.vote.cli import judge_cmd, run_cmd, split_cmd, tally_cmd
from longrm.vote.judgments import parts_dir
from longrm.vote.tally import tally

SMALL_CHUNK = 8  # several chunks from 24 items: resuming and batching across chunk boundaries


def always_verdict_checkpoint(src: Path, out: Path, letter: str = "B") -> Path:
    """A copy of a tiny checkpoint that answers every prompt with ' [[B]]': its layers add nothing to the
    residual stream, so each next token depends on the current one only (a bigram table in the LM head)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src, tie_word_embeddings=False)
    chain = [*tok(f" [[{letter}]]", add_special_tokens=False).input_ids, tok.eos_token_id]
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb, head = model.model.embed_tokens.weight, model.lm_head.weight
        emb.zero_()
        head.zero_()
        emb[:, 0] = 1.0  # any other token: direction 0 -> the first answer token
        for k, tid in enumerate(chain[:-1]):
            emb[tid, 0] = 0.0
            emb[tid, k + 1] = 1.0  # answer token k: direction k + 1 -> answer token k + 1
        for k, tid in enumerate(chain):
            head[tid, k] = 10.0
        model.model.norm.weight.fill_(1.0)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """24 synthesised items; the vote: the default's scorers + a random LM + the always-[[B]] LM."""
    from tests.helpers import tiny_checkpoint

    d = tmp_path_factory.mktemp("jobs")
    write_jsonl(d / "raw.jsonl", demo_short_items(12))
    write_jsonl(d / "dis.jsonl", demo_distractors(40))
    tok = tiny_checkpoint(d / "lm")
    always_b = always_verdict_checkpoint(tok, d / "lm-b")
    cfg = load_config()
    cfg.pop("_path")
    cfg["synth"]["lengths"] = [512]
    cfg["results_dir"] = str(d)
    cfg["vote"]["max_new_tokens"] = 6
    cfg["vote"]["judges"] = [j for j in cfg["vote"]["judges"] if j["kind"] == "scorer"] + [
        {"name": "lm", "kind": "transformers", "model": str(tok)},
        {"name": "lm-b", "kind": "transformers", "model": str(always_b)},
    ]
    cfg = with_defaults(cfg)  # the added judges' defaults, as load_config fills them
    (d / "cfg.yaml").write_text(json.dumps(cfg))
    assert (
        main(
            [
                "synth",
                "--config",
                str(d / "cfg.yaml"),
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
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vote_chunks, "CHUNK", SMALL_CHUNK)
        # today's single process: every judge live, side by side (the reference bytes)
        judges = vote_run.make_judges(cfg)
        items = read_jsonl(d / "items.jsonl", BenchItem.from_dict)
        write_jsonl(d / "votes-single.jsonl", vote_run.run_votes(items, judges, cfg["vote"]))
        for j in judges:
            j.close()
        # the workflow's way: one `vote judge` per LM judge, then `vote tally` (through the CLI: provenance)
        files = {name: str(d / "vote" / "judges" / f"{name}.jsonl") for name in ("lm", "lm-b")}
        c = ["--config", str(d / "cfg.yaml"), "--items", str(d / "items.jsonl")]
        for name, path in files.items():
            assert main(["vote", "judge", *c, "--judge", name, "--out", path]) == 0
        assert (
            main(
                [
                    "vote",
                    "tally",
                    *c,
                    "--judgments",
                    *(f"{n}={p}" for n, p in files.items()),
                    "--out",
                    str(d / "vote" / "votes.jsonl"),
                ]
            )
            == 0
        )
    return d, cfg, files


@pytest.mark.slow
def test_tally_of_per_judge_files_is_byte_identical_to_the_single_process_vote(setup):
    d, cfg, files = setup
    assert len(read_jsonl(d / "items.jsonl")) > 2 * SMALL_CHUNK
    assert (d / "vote" / "votes.jsonl").read_bytes() == (d / "votes-single.jsonl").read_bytes()
    votes = read_jsonl(d / "vote" / "votes.jsonl")
    records = read_jsonl(files["lm-b"])
    assert len(records) == sum(len(v["orders"]) for v in votes)
    pairs = [v for v in votes if v["n"] == 2]
    assert pairs and all(v["judges"]["lm-b"]["rankings"] == [[1, 0], [0, 1]] for v in pairs)  # always "B"
    assert not any(parts_dir(p).exists() for p in files.values())
    prov = json.loads(Path(str(d / "vote" / "votes.jsonl") + ".prov.json").read_text())
    assert all(p in json.dumps(prov["inputs"]) for p in files.values())  # the judge files are its inputs


def _failing_after(calls: int):
    """judges.factory.make_judge whose judge raises on call number `calls` + 1 (a job killed mid-way)."""
    from longrm.judges import factory

    real = factory.make_judge

    def make(spec, cfg, params=None):
        judge = real(spec, cfg, params)
        inner, count = judge.judge, [0]

        def judge_once(items, orders):
            count[0] += 1
            if count[0] > calls:
                raise KeyboardInterrupt("job killed")
            return inner(items, orders)

        judge.judge = judge_once
        return judge

    return make


@pytest.mark.slow
def test_a_killed_judge_job_resumes_from_its_finished_chunks(setup, tmp_path, monkeypatch):
    d, cfg, files = setup
    from longrm.judges import factory

    monkeypatch.setattr(vote_chunks, "CHUNK", SMALL_CHUNK)
    out = tmp_path / "vote" / "judges" / "lm-b.jsonl"
    with monkeypatch.context() as m:
        m.setattr(factory, "make_judge", _failing_after(2))
        with pytest.raises(KeyboardInterrupt):
            judge_cmd(cfg, d / "items.jsonl", "lm-b", out)
    assert not out.exists() and sorted(p.name for p in parts_dir(out).glob("c*.jsonl")) == [
        "c000000.jsonl",
        "c000001.jsonl",
    ]
    # a finished chunk that does not hold the expected jobs is judged again, never trusted
    second = parts_dir(out) / "c000001.jsonl"
    second.write_text("\n".join(second.read_text().splitlines()[:-1]) + "\n")
    n_chunks = -(-len(read_jsonl(d / "items.jsonl")) // SMALL_CHUNK)
    s = judge_cmd(cfg, d / "items.jsonl", "lm-b", out)
    assert n_chunks >= 3 and (s["chunks_reused"], s["chunks_judged"]) == (1, n_chunks - 1)
    assert out.read_bytes() == Path(files["lm-b"]).read_bytes() and not parts_dir(out).exists()


@pytest.mark.slow
def test_a_partial_run_under_other_settings_starts_over(setup, tmp_path, monkeypatch):
    d, cfg, files = setup
    from longrm.judges import factory

    monkeypatch.setattr(vote_chunks, "CHUNK", SMALL_CHUNK)
    out = tmp_path / "lm-b.jsonl"
    other = json.loads(json.dumps(cfg))
    other["vote"]["max_new_tokens"] = 5
    with monkeypatch.context() as m:
        m.setattr(factory, "make_judge", _failing_after(1))
        with pytest.raises(KeyboardInterrupt):
            judge_cmd(other, d / "items.jsonl", "lm-b", out)
    s = judge_cmd(cfg, d / "items.jsonl", "lm-b", out)
    assert s["chunks_reused"] == 0 and out.read_bytes() == Path(files["lm-b"]).read_bytes()


@pytest.mark.slow
def test_tally_refuses_partial_foreign_or_missing_judgments(setup, tmp_path, monkeypatch):
    d, cfg, files = setup
    monkeypatch.setattr(vote_chunks, "CHUNK", SMALL_CHUNK)
    lines = Path(files["lm-b"]).read_text().splitlines(keepends=True)
    out = tmp_path / "votes.jsonl"
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-1]))
    with pytest.raises(InputError, match=r"cut\.jsonl.*ends after line"):
        tally_cmd(cfg, d / "items.jsonl", {**files, "lm-b": str(cut)}, out)
    longer = tmp_path / "longer.jsonl"
    longer.write_text("".join(lines + lines[-1:]))
    with pytest.raises(InputError, match=r"longer\.jsonl.*more judgments") as exc:
        tally_cmd(cfg, d / "items.jsonl", {**files, "lm-b": str(longer)}, out)
    assert exc.value.line == len(lines) + 1
    with pytest.raises(InputError, match=r"field 'judge'|judge"):  # another judge's file
        tally_cmd(cfg, d / "items.jsonl", {"lm": files["lm-b"], "lm-b": files["lm"]}, out)
    with pytest.raises(ConfigError, match="lm-b"):
        tally_cmd(cfg, d / "items.jsonl", {"lm": files["lm"]}, out)
    with pytest.raises(ConfigError, match="one process holds one engine"):
        run_cmd(cfg, d / "items.jsonl", out)
    assert not out.exists()


@pytest.mark.slow
def test_negatives_come_from_the_lm_judges_real_disagreeing_judgments(setup, tmp_path):
    """Seen failing before: every negative was templated and no record said where it came from."""
    d, cfg, files = setup
    votes = {v["id"]: v for v in read_jsonl(d / "vote" / "votes.jsonl")}
    split_cmd(cfg, d / "items.jsonl", d / "vote" / "votes.jsonl", tmp_path / "real", files)
    split_cmd(cfg, d / "items.jsonl", d / "vote" / "votes.jsonl", tmp_path / "templated")
    real = read_jsonl(tmp_path / "real" / "pref.jsonl", PrefPair.from_dict)
    counts = {"judges": 0, "template": 0}
    with_judge = 0
    for pp in real:
        sources = pp.extra["negative_sources"]
        assert len(sources) == len(pp.rejected) and set(sources) <= {"lm-b", "template"}
        counts["judges"] += sum(s != "template" for s in sources)
        counts["template"] += sources.count("template") if pp.extra["format"] == "pairwise" else 0
        if pp.extra["format"] != "pairwise":
            assert set(sources) == {"template"}
            continue
        order, voted = pp.extra["order"], pp.extra["voted"]
        says_b = [order[1], order[0]]  # what the always-"B" judge ranks in this order
        if len(order) == 2 and says_b != voted:  # it disagrees with the vote: its judgment comes first
            assert sources[0] == "lm-b" and pp.rejected[0] == "[[B]]", pp.id
            with_judge += 1
        else:
            assert "lm-b" not in sources, pp.id
        assert all(parse_verdict(r, len(order)) is not None for r in pp.rejected)
    assert with_judge > 0 and counts["judges"] == with_judge
    rep = json.loads((tmp_path / "real" / "report.json").read_text())
    assert rep["negatives"]["pairwise"]["judges"] == with_judge == rep["negatives"]["by_judge"]["lm-b"]
    assert rep["negatives"]["pairwise"]["template"] == counts["template"]
    assert rep["negatives"]["lm_judges"] == ["lm", "lm-b"] and rep["negatives"]["by_judge"]["lm"] == 0
    templ = json.loads((tmp_path / "templated" / "report.json").read_text())["negatives"]
    assert templ["pairwise"]["judges"] == 0 and templ["lm_judges"] == []
    # the chosen targets (and so the SFT data) do not depend on where the negatives come from
    assert (tmp_path / "real" / "sft.jsonl").read_bytes() == (tmp_path / "templated" / "sft.jsonl").read_bytes()
    assert any(v["kept"] for v in votes.values())


@pytest.mark.slow
def test_split_refuses_judgments_of_other_items(setup, tmp_path):
    d, cfg, files = setup
    shuffled = tmp_path / "lm-b.jsonl"
    lines = Path(files["lm-b"]).read_text().splitlines(keepends=True)
    shuffled.write_text("".join(lines[2:] + lines[:2]))
    with pytest.raises(InputError, match=r"lm-b\.jsonl.*line 1.*field 'id'|lm-b\.jsonl:1"):
        split_cmd(cfg, d / "items.jsonl", d / "vote" / "votes.jsonl", tmp_path / "s", {"lm-b": str(shuffled)})
    assert not (tmp_path / "s" / "pref.jsonl").exists()


# ---------------------------------------------------------------- the fair comparison


def _vote(i: int, gold: list[int], rankings: dict[str, list[list[int] | None]]) -> dict:
    from longrm.vote.tally import consistent_label

    labels = {n: consistent_label(r) for n, r in rankings.items()}
    t = tally(labels, 0.6, 2)
    return {
        "id": f"i{i}",
        "gold": gold,
        "judge_names": list(rankings),
        "kept": t.kept,
        "majority": t.majority,
        "correct": None if t.majority is None else t.majority == gold,
        "task": "LongQA",
        "length_bucket": "1k",
        "tasktype": "PairWise",
        "position": None,
        "judges": {
            n: {"rankings": r, "consistent": labels[n] is not None, "label": labels[n]} for n, r in rankings.items()
        },
    }


def _fair_votes() -> list[dict]:
    """10 easy items (all right), 1 hard one (judge a right, b and c agree on the wrong one: kept, vote
    wrong), 10 dropped (every judge position-biased). Vote on kept 10/11; a on all items, per order 16/21
    (the old headline: the vote wins); a on the kept items 11/11 (the fair one: it does not)."""
    right, wrong, biased = [[0, 1], [0, 1]], [[1, 0], [1, 0]], [[0, 1], [1, 0]]
    votes = [_vote(i, [0, 1], {"a": right, "b": right, "c": right}) for i in range(10)]
    votes.append(_vote(10, [0, 1], {"a": right, "b": wrong, "c": wrong}))
    votes += [_vote(11 + i, [0, 1], {"a": biased, "b": biased, "c": biased}) for i in range(10)]
    return votes


def test_fair_comparison_puts_vote_and_judges_on_the_same_items():
    """Seen failing before the fix: the audit had no "fair" key and said the vote beat the best single judge
    (0.909 on kept items vs 0.762 per order on all items) where, on the same items, judge a scores 1.0."""
    rep = audit(_fair_votes(), 0.6, 2, seed=3)
    same = rep["fair"]["same_items"]
    assert same["n"] == 11 and same["vote"]["acc"] == pytest.approx(10 / 11, abs=1e-6)
    assert same["judges"]["a"]["acc"] == 1.0 and same["best_judge"] == "a"
    assert same["judges"]["b"]["acc"] == pytest.approx(10 / 11, abs=1e-6)
    assert not rep["vote_beats_best_single"]
    own = rep["fair"]["own_consistent"]
    assert own["a"]["n"] == 11 and own["a"]["judge"]["acc"] == 1.0
    assert own["a"]["vote"]["acc"] == pytest.approx(10 / 11, abs=1e-6)
    for cell in [same["vote"], *same["judges"].values(), *(c for o in own.values() for c in (o["judge"], o["vote"]))]:
        assert set(cell) == {"acc", "lo", "hi"} and cell["lo"] <= cell["acc"] <= cell["hi"]
    assert same["vote"]["lo"] < same["vote"]["acc"]  # a real interval around 10/11
    paired = rep["fair_paired"]["same_items"]["a"]
    assert paired["diff"] == pytest.approx(-1 / 11, abs=1e-6) and paired["lo"] <= paired["diff"] <= paired["hi"] <= 0
    # seeded: the same seed gives the same intervals, another seed other ones
    assert audit(_fair_votes(), 0.6, 2, seed=3)["fair"] == rep["fair"]
    assert (_resamples(11, 50, 3, "same_items") == _resamples(11, 50, 3, "same_items")).all()
    assert (_resamples(11, 50, 3, "same_items") != _resamples(11, 50, 4, "same_items")).any()


@pytest.mark.slow
def test_fair_comparison_in_the_audit_file(setup):
    d, cfg, files = setup
    out = d / "vote" / "audit.json"  # the CLI writes under results_dir only
    assert (
        main(
            [
                "vote",
                "audit",
                "--config",
                str(d / "cfg.yaml"),
                "--items",
                str(d / "items.jsonl"),
                "--votes",
                str(d / "vote" / "votes.jsonl"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    fair = json.loads(out.read_text())["fair"]
    names = [j["name"] for j in cfg["vote"]["judges"]]
    assert set(fair) == {"same_items", "own_consistent"}
    assert set(fair["same_items"]) == {"n", "vote", "judges", "best_judge"}
    assert set(fair["same_items"]["judges"]) == set(names) == set(fair["own_consistent"])
    votes = read_jsonl(d / "vote" / "votes.jsonl")
    assert fair["same_items"]["n"] == sum(v["kept"] for v in votes)
    for name, o in fair["own_consistent"].items():
        assert set(o) == {"n", "judge", "vote"}
        assert o["n"] == sum(v["judges"][name]["consistent"] for v in votes)
    assert fair["own_consistent"]["lm-b"]["n"] == 0  # position-biased: never consistent on a pair


def test_report_vote_table_and_figure_lead_with_the_fair_comparison(tmp_path):
    """Seen failing before: the report had no same-items table and its vote reading compared the vote on
    kept items with nothing on the same items."""
    from longrm.report import figures as F
    from longrm.report import tables as T

    rep = json.loads(json.dumps(audit(_fair_votes(), 0.6, 2, seed=3)))  # as read back from audit.json
    df = T.vote_fair_table(rep)
    assert list(df["judge"]) == ["a", "b", "c"] * 2 and list(df.columns) == T.FAIR_COLUMNS
    a = df[(df["items"] == T.SAME_ITEMS) & (df["judge"] == "a")].iloc[0]
    assert (a["n"], a["judge_acc"]) == (11, 1.0) and a["vote_acc"] == pytest.approx(10 / 11, abs=1e-6)
    assert a["vote_minus_judge"] == pytest.approx(-1 / 11, abs=1e-6)
    text = T.read_vote_fair(df)
    assert text.startswith("On the 11 items the vote keeps, the vote's label is right 0.909 [")
    assert "best single judge on the same items, a (every order), 1.000" in text
    fig, reading = F.vote_vs_judges(rep)
    assert reading.startswith(text)
    png, _ = F.save(fig, tmp_path, "vote_vs_judges")
    assert png.stat().st_size > 10_000
    assert T.read_vote_fair(T.vote_fair_table({"by_k": []})).startswith("No fair comparison")
