"""Long-RewardBench as released (tests/fixtures/released: one file per task, ids restarting at 0, string
ids in Math, PairWise same/diff, BestOfN with 2, 3 and 4 candidates) and the released evaluator's
protocol, checked against numbers worked out by hand."""

import json
import random
from fractions import Fraction as F
from pathlib import Path

import pytest

from longrm.bench.run import index_bench, load_items, plan, run_bench
from longrm.cli import main
from longrm.data.io import read_jsonl
from longrm.errors import InputError
from longrm.judges import official as off
from tests.helpers import config_in

RELEASED = Path(__file__).parent / "fixtures" / "released"

# The release order, per task file: random.seed(42), shuffle the file's items, then one shuffle of
# each item's candidate indices walking the shuffled list. order[k] = candidate shown at letter k.
ORDERS = {
    "Cite/0": [1, 0],
    "Cite/1": [1, 0],
    "Cite/2": [1, 0],
    "Cite/3": [1, 2, 0],
    "LongQA/0": [0, 1],
    "LongQA/1": [1, 0],
    "LongQA/2": [3, 0, 2, 1],
    "LongQA/3": [1, 0],
    "LongQA/4": [1, 0, 2],
    "Math/0": [1, 0],
    "Math/1": [3, 1, 2, 0],
    "Math/2": [1, 2, 0],
}

# Scripted judge outputs (for the orders above) and the release's score of each, by hand.
OUTPUTS = {
    "Cite/0": ("Use [[A]] or [[B]]. Verdict: [[B]]", 0),  # echo: "[[A]]" anywhere wins; A = rejected
    "Cite/1": ("[[B]]", 1),  # B = chosen
    "Cite/2": ("[[B]]", 0),  # BestOfN of 2 reads a ranking: nothing
    "Cite/3": ("[Analysis] ok\n[Ranking]\n[[B>A]]", F(1, 3)),  # partial: ranks [1, 0] vs gold [1, 2, 0]
    "LongQA/0": ("", 0),  # unparsed
    "LongQA/1": ("I think [[B]] is right, not [[A]]", 0),  # A checked first, anywhere
    "LongQA/2": ("[[Assistant B > Assistant D > Assistant C > Assistant A]]", 1),  # labels stripped
    "LongQA/3": ("[[B]]", 1),
    "LongQA/4": ("[[B>\nA>C]]", 0),  # a newline stays in the label
    "Math/0": ("[[B]]", 1),
    "Math/1": ("[[D>B>C>A>E]]", 1),  # oversized: zip over the gold length
    "Math/2": ("a>b>c>d>e>f>g>h>i>j so [[B>C>A]]", 0),  # more than 9 '>': nothing
}

EXPECTED = {  # the release's table for OUTPUTS, by hand (empty columns 0, 5 decimals)
    "LongQA": round(1 / 3, 5),
    "Summ": 0.0,
    "Safety": 0.0,
    "ICL": 0.0,
    "Cite": 0.5,
    "Code": 0.0,
    "Math": 1.0,
    "Same.": round(1 / 3, 5),
    "Diff.": round(2 / 3, 5),
    "PairWise Avg.": 0.5,
    "Rank2": 0.0,
    "Rank3": round(1 / 9, 5),
    "Rank4": 1.0,
    "Rank Avg.": round(7 / 18, 5),
    "4k": 0.0,
    "8k": 0.5,
    "16k": 1.0,
    "32k": 0.0,
    "64k": 1.0,
    "128k": 0.0,
    "AVG.": round(4 / 9, 5),
}


# ---------------------------------------------------------------- reader
def test_every_fixture_item_validates_with_canonical_ids_and_released_fields():
    items = load_items(RELEASED)
    assert [it.id for it in items] == list(ORDERS)
    raw = [json.loads(line) for f in sorted(RELEASED.glob("*.jsonl")) for line in f.read_text().splitlines()]
    for it, obj in zip(items, raw):
        d = it.to_dict()
        for key, value in obj.items():  # every released field kept (null ones as absent)
            if key == "id":
                assert d["release_id"] == value and it.id == f"{obj['task']}/{value}"
            elif key == "subtype" and value == "Diff":
                assert d["subtype"] == "diff" and d["release_subtype"] == "Diff"
            elif key == "subtype":
                assert d["subtype"] == str(value)
            elif value is not None:
                assert d[key] == value, key
    assert items[0].extra["release_file"] == "Cite.jsonl" and items[0].extra["release_index"] == 0
    assert items[-1].extra["release_id"] == "2" and items[-1].extra["release_index"] == 2


def test_validate_accepts_the_folder(capsys):
    assert main(["data", "validate", str(RELEASED), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)[str(RELEASED)]
    assert {k: v["count"] for k, v in summary.items()} == {"Cite.jsonl": 4, "LongQA.jsonl": 5, "Math.jsonl": 3}


@pytest.mark.parametrize(
    "edit,field",
    [
        (lambda o: o.update(id=True), "id"),
        (lambda o: o.pop("task"), "task"),
        (lambda o: o.update(tasktype="Pointwise"), "tasktype"),
        (lambda o: o.update(candidates=["only one"]), "candidates"),
    ],
)
def test_bad_released_lines_name_file_line_and_field(tmp_path, edit, field):
    folder = tmp_path / "release"
    folder.mkdir()
    lines = (RELEASED / "LongQA.jsonl").read_text().splitlines()
    obj = json.loads(lines[2])  # a BestOfN item, line 3
    edit(obj)
    lines[2] = json.dumps(obj)
    (folder / "LongQA.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        load_items(folder)
    assert err.value.path.endswith("LongQA.jsonl") and err.value.line == 3 and err.value.field == field
    assert main(["data", "validate", str(folder)]) == 2


def test_ids_restarting_per_file_never_collide_but_a_repeat_within_a_task_does(tmp_path):
    merged = tmp_path / "all.jsonl"  # one file: ids 0.. of every task, integer ids
    merged.write_text("".join((RELEASED / f).read_text() for f in ("Cite.jsonl", "LongQA.jsonl")))
    assert len(load_items(merged)) == 9
    with merged.open("a") as f:
        f.write((RELEASED / "Cite.jsonl").read_text().splitlines()[1] + "\n")
    with pytest.raises(InputError, match="duplicate \\(task, id\\) 'Cite/1'") as err:
        load_items(merged)
    assert err.value.line == 10


# ---------------------------------------------------------------- order, prompt, reading
def test_release_order_per_task_file():
    items = load_items(RELEASED)
    assert off.release_orders(items, 42) == ORDERS
    for task, ns in (("Cite", [2, 2, 2, 3]), ("LongQA", [2, 2, 4, 2, 3]), ("Math", [2, 4, 3])):
        random.seed(42)  # the release's own loop, on the global generator
        rows = [[i, n, None] for i, n in enumerate(ns)]
        random.shuffle(rows)
        for row in rows:
            row[2] = list(range(row[1]))
            random.shuffle(row[2])
        assert {f"{task}/{i}": o for i, _, o in rows} == {k: v for k, v in ORDERS.items() if k.startswith(task)}
    # plan: the official protocol judges each item once, in that order
    refs = index_bench(RELEASED).refs
    assert [(r.id, o, flag) for r, o, flag in plan(refs, 2, 42, "official")] == [
        (k, v, True) for k, v in ORDERS.items()
    ]


class CharTokenizer:
    """One token per character, no chat template: the release's zero_shot conversation format."""

    chat_template = None

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids, skip_special_tokens=False):
        return "".join(map(chr, ids))


def test_official_prompt_text():
    items = {it.id: it for it in load_items(RELEASED)}
    tok = CharTokenizer()
    pair, bon2 = items["Cite/0"], items["Cite/2"]
    text = tok.decode(off.official_prompt(tok, pair, [1, 0]).input_ids)
    assert text.startswith(off.PAIR_SYSTEM + "\n### Human: [User Question]\n" + pair.task_prompt + "\n\n")
    assert text.endswith(
        f"[The Start of Assistant A's Answer]\n{pair.rejected}\n[The End of Assistant A's Answer]"
        f"\n\n[The Start of Assistant B's Answer]\n{pair.chosen}\n[The End of Assistant B's "
        "Answer]\n### Assistant:"
    )
    text2 = tok.decode(off.official_prompt(tok, bon2, [1, 0]).input_ids)
    assert "rank 2 responses" in text2 and "[[A>B]]" in text2  # BestOfN of 2: the ranking prompt
    four = off.system_prompt(items["LongQA/2"], 4)
    assert "rank 4 responses" in four and four.count("[[A>B>C>D]]") == 3


def test_official_cut_keeps_65536_first_and_65531_last():
    ids = list(range(off.CUT_AT))
    kept, cut = off.cut_whole(ids)
    assert cut and len(kept) == 131_067 and kept[:65_536] == ids[:65_536] and kept[65_536:] == ids[-65_531:]
    assert off.cut_whole(ids[:-1]) == (ids[:-1], False)


@pytest.mark.parametrize(
    "text,ranking,expected",
    [
        ("Use [[A]] or [[B]]", False, [0, 1]),
        ("[[B]] ... [[A]]", False, [0, 1]),
        ("[[B]]", False, [1, 0]),
        ("[[b]]", False, []),
        ("[[C>A>B]] then [[A>B>C]]", True, [1, 2, 0]),  # first match; rank of each position
        ("[C > A > B]", True, [1, 2, 0]),  # single brackets, spaces
        ("[[Assistant C > Assistant A > Assistant B]]", True, [1, 2, 0]),
        ("[[Assistant: C > Assistant: A > Assistant: B]]", True, []),  # ':' is stripped, but never matched
        ("[[B>A]]", True, [1, 0]),  # partial
        ("[[B>C]]", True, []),  # positions are not 0..m-1
        ("[[c>a>b]]", True, []),  # lowercase
        ("[[AB>C]]", True, []),  # multi-character label
        ("[[A>A>B]]", True, []),
        ("[[B>\nA>C]]", True, []),  # newline kept
        (">>>>>>>>>> [[A>B>C]]", True, []),  # more than 9 '>'
        (">>>>>>> [[A>B>C]]", True, [0, 1, 2]),
    ],
)
def test_release_reading(text, ranking, expected):
    assert off.read_output(text, ranking) == expected


def test_release_scores():
    assert off.release_score([1, 2, 0], [1, 0]) == pytest.approx(1 / 3)  # partial credit
    assert off.release_score([1, 0, 2], [1, 0, 2, 3]) == 1.0  # extra entries ignored
    assert off.release_score([1, 0], []) == 0.0
    assert off.ranks_from_scores([0.5, 2.0, 2.0]) == [2, 0, 1]  # ties: earlier position first


# ---------------------------------------------------------------- the protocol end to end
class ScriptedBackend:
    """A generative backend answering OUTPUTS; it checks that each prompt shows the responses in the
    official order."""

    name = "scripted"
    max_new_tokens = 200
    budget = 100_000

    def __init__(self, items):
        self.items = items
        self.tokenizer = CharTokenizer()
        self.seen = []

    def generate(self, prompts, watch_ids=(), sort_keys=None):
        out = []
        for ids in prompts:
            text = self.tokenizer.decode(ids)
            (item,) = [it for it in self.items if it.task_prompt in text]
            shown = sorted(
                range(len(item.responses)), key=lambda i: text.index(f"Answer]\n{item.responses[i]}\n[The End")
            )
            assert shown == ORDERS[item.id], item.id
            self.seen.append(item.id)
            out.append(([ord(c) for c in OUTPUTS[item.id][0]], [], 0.001))
        return out

    def close(self):
        pass


def test_official_columns_on_the_released_fixture_match_the_hand_computation(tmp_path):
    items = load_items(RELEASED)
    records = tmp_path / "scripted" / "records.jsonl"
    backend = ScriptedBackend(items)
    stats = run_bench(
        off.OfficialJudge(backend),
        "scripted",
        index_bench(RELEASED),
        records,
        seed=42,
        chunk=5,
        progress=False,
        protocol="official",
    )
    assert stats["records"] == 12 and sorted(backend.seen) == sorted(ORDERS)
    recs = {r["id"]: r for r in read_jsonl(records)}
    assert all(r["protocol"] == "official" and r["official"] for r in recs.values())
    assert recs["Cite/3"]["release_ranks"] == [1, 0] and recs["Cite/3"].get("ranking") is None
    assert recs["LongQA/2"]["ranking"] == [0, 1, 2, 3]
    metrics = tmp_path / "scripted" / "metrics.json"
    table = tmp_path / "scripted" / "table.csv"
    assert (
        main(
            [
                "bench",
                "score",
                "--config",
                str(config_in(tmp_path)),
                "--records",
                str(records),
                "--bench",
                str(RELEASED),
                "--out",
                str(metrics),
                "--table",
                str(table),
            ]
        )
        == 0
    )
    m = json.loads(metrics.read_text())
    assert m["official_columns"] == EXPECTED
    assert m["official_column_order"] == list(EXPECTED)  # the release's column order
    per_item = [F(s) for _, s in OUTPUTS.values()]
    assert m["protocols"]["official"]["AVG"]["value"] == pytest.approx(float(sum(per_item) / 12), abs=1e-6)
    assert m["parse_failure"]["all_orders"]["value"] == pytest.approx(4 / 12, abs=1e-6)  # Cite/2, LongQA/0, /4, Math/2
    assert table.read_text().splitlines()[:3] == ["Task,Value", f"LongQA,{EXPECTED['LongQA']}", "Summ,0.0"]


def test_both_protocols_run_on_the_released_folder_from_the_cli(tmp_path):
    cfg = str(config_in(tmp_path))
    out = {}
    for protocol in ("ours", "official"):
        rec, met = tmp_path / protocol / "records.jsonl", tmp_path / protocol / "metrics.json"
        assert (
            main(
                [
                    "bench",
                    "run",
                    "--config",
                    cfg,
                    "--model",
                    "first",
                    "--bench",
                    str(RELEASED),
                    "--out",
                    str(rec),
                    "--protocol",
                    protocol,
                ]
            )
            == 0
        )
        assert (
            main(
                ["bench", "score", "--config", cfg, "--records", str(rec), "--bench", str(RELEASED), "--out", str(met)]
            )
            == 0
        )
        out[protocol] = (read_jsonl(rec), json.loads(met.read_text()))
    ours_recs, ours = out["ours"]
    off_recs, official = out["official"]
    assert len(off_recs) == 12 and len(ours_recs) > 12
    # "first" ranks by position: a pair is right when the chosen one is shown at A (LongQA/0 only),
    # a ranking earns the positions k with order[k] == k
    assert official["official_columns"]["PairWise Avg."] == round(1 / 6, 5)
    # the official column of our run reads the same official order (our prompt, our reading)
    assert ours["protocols"]["official"]["PairWise"]["value"] == pytest.approx(1 / 6, abs=1e-6)
    with pytest.raises(InputError, match="mixes records"):
        from longrm.bench.score import load_score_items, score_records
        from longrm.data.records import Judgment

        mine = [r for r in ours_recs if r["id"] != off_recs[0]["id"]] + off_recs[:1]
        mixed = [(Judgment.from_dict(r), i) for i, r in enumerate(mine, 1)]
        score_records(mixed, load_score_items(RELEASED))


# ---------------------------------------------------------------- imports (normalised files for the DAG)
def test_import_released_gives_a_bench_file_with_the_same_items_and_official_orders(tmp_path):
    out = tmp_path / "lrb.jsonl"
    assert (
        main(
            ["data", "import-released", "--config", str(config_in(tmp_path)), "--src", str(RELEASED), "--out", str(out)]
        )
        == 0
    )
    assert (tmp_path / "lrb.jsonl.prov.json").exists()
    items = load_items(out)  # string ids: read as a normalised file
    assert [it.to_dict() for it in items] == [it.to_dict() for it in load_items(RELEASED)]
    assert off.release_orders(items, 42) == ORDERS

    def planned(path):
        return [(ref.id, order) for ref, order, _ in plan(index_bench(path).refs, 2, 42, "official")]

    assert planned(out) == planned(RELEASED) == list(ORDERS.items())


def test_import_rewardbench(tmp_path):
    src = Path(__file__).parent / "fixtures" / "rewardbench.jsonl"
    out = tmp_path / "short.jsonl"
    assert (
        main(["data", "import-rewardbench", "--config", str(config_in(tmp_path)), "--src", str(src), "--out", str(out)])
        == 0
    )
    items = load_items(out)
    assert [it.id for it in items] == [
        "rewardbench/30",
        "rewardbench/31",
        "rewardbench/1002",
        "rewardbench/4500",
        "rewardbench/5001",
    ]
    first = items[0]
    assert (first.task, first.tasktype, first.chosen, first.rejected) == (
        "alpacaeval-easy",
        "PairWise",
        "Paris.",
        "Lyon.",
    )
    assert first.task_prompt == "What is the capital of France?" and first.length_bucket == "short"
    assert first.chosen_model == "m1" and first.extra["release_id"] == 30
    bad = tmp_path / "bad.jsonl"
    lines = src.read_text().splitlines()
    obj = json.loads(lines[3])
    del obj["rejected"]
    bad.write_text("\n".join(lines[:3] + [json.dumps(obj)]) + "\n")
    with pytest.raises(InputError) as err:
        load_items_rb(bad)
    assert err.value.line == 4 and err.value.field == "rejected"
    assert (
        main(
            [
                "data",
                "import-rewardbench",
                "--config",
                str(config_in(tmp_path)),
                "--src",
                str(bad),
                "--out",
                str(tmp_path / "x.jsonl"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "x.jsonl").exists()


def load_items_rb(path):
    from longrm.data.imports import iter_rewardbench

    return list(iter_rewardbench(path))
