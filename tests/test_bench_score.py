"""Scoring: on a fixture in the exact official Long-RewardBench JSONL schema, judged by a fake judge with
scripted outputs, the official-compatible columns equal the release's rules worked out by hand."""

import json
from fractions import Fraction as F

import pytest

from longrm.bench.run import load_items, run_bench
from longrm.bench.score import auc, first_match_positions, ranking_score, score_records
from longrm.data.io import read_jsonl
from longrm.data.records import Judgment
from longrm.judges.base import Judge
from longrm.judges.official import release_orders
from longrm.judges.parse import parse_verdict
from longrm.judges.prompts import format_verdict, letter

CTX = [{"role": "system", "content": "Read the document."}, {"role": "user", "content": "Doc ... Question?"}]


def official_line(id_, task, subtype, bucket, n=2):
    """A line with exactly the fields of the released benchmark files."""
    base = {
        "id": id_,
        "prompt_template": CTX,
        "question": "Question?",
        "source": task.lower(),
        "subtask": "",
        "task": task,
        "subtype": subtype,
        "ctx_length_for_length": bucket,
        "ctx_length_for_words": bucket,
        "length": 4000,
        "words_count": 3000,
    }
    if n == 2:
        base.update(
            tasktype="PairWise",
            chosen=f"good answer {id_}",
            rejected=f"bad answer {id_}",
            chosen_model="m1",
            rejected_model="m2" if subtype != "same" else "m1",
            candidates=None,
            candidates_model=None,
            candidates_score=None,
        )
    else:
        base.update(
            tasktype="BestOfN",
            chosen=None,
            rejected=None,
            chosen_model=None,
            rejected_model=None,
            candidates=[f"cand {k} of {id_}" for k in range(n)],
            candidates_model=["m"] * n,
            candidates_score=[float(10 - k) for k in range(n)],
        )
    return base


# (id, task, subtype, bucket, n, behaviour). The official (release) order of lrb-003 shows the chosen
# response at A, those of lrb-005 and lrb-009 show it at B (asserted below).
FIXTURE = [
    ("lrb-001", "LongQA", "same", "4k", 2, "correct"),
    ("lrb-002", "LongQA", "diff", "8k", 2, "wrong"),
    ("lrb-003", "Cite", "same", "4k", 2, "echo"),
    ("lrb-004", "Cite", "diff", "8k", 2, "empty"),
    ("lrb-005", "Cite", "same", "8k", 2, "two_verdicts"),
    ("lrb-009", "Code", "diff", "4k", 2, "always_b"),
    ("lrb-007", "Math", "3", "4k", 3, "gold"),
    ("lrb-008", "Math", "4", "8k", 4, "swap_top2"),
    ("lrb-010", "Math", "3", "4k", 3, "repeated_letter"),
]


def output(behaviour, order):
    """Scripted judge output for canonical responses shown in `order` (order[k] at letter k)."""
    at = [order.index(k) for k in range(len(order))]  # position of canonical response k
    if behaviour == "correct":
        return f"[Analysis] A is grounded.\n[[{letter(at[0])}]]"
    if behaviour == "wrong":
        return f"[Analysis] wrong.\n[[{letter(at[1])}]]"
    if behaviour == "echo":
        return "Answer with [[A]] or [[B]]."
    if behaviour == "empty":
        return ""
    if behaviour == "two_verdicts":
        return f"At first [[{letter(at[1])}]]; on reflection the context supports the other: [[{letter(at[0])}]]"
    if behaviour == "always_b":
        return "[[B]]"
    if behaviour == "gold":
        return format_verdict(at)
    if behaviour == "swap_top2":
        return format_verdict([at[1], at[0]] + at[2:])
    if behaviour == "repeated_letter":
        return "[[A>A>B]]"
    raise AssertionError(behaviour)


class ScriptedJudge(Judge):
    name = "scripted"

    def __init__(self, behaviours):
        self.behaviours = behaviours

    def judge(self, items, orders):
        out = []
        for item, order in zip(items, orders):
            raw = output(self.behaviours[item.id], list(order))
            pos = parse_verdict(raw, len(order))
            out.append(
                Judgment(
                    id=item.id,
                    judge=self.name,
                    order=list(order),
                    raw=raw,
                    ranking=None if pos is None else [order[p] for p in pos],
                    prompt_tokens=100,
                    output_tokens=len(raw.split()),
                )
            )
        return out


@pytest.fixture
def judged(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps(official_line(*row[:5])) + "\n" for row in FIXTURE))
    items = load_items(bench)
    records = tmp_path / "records.jsonl"
    run_bench(
        ScriptedJudge({r[0]: r[5] for r in FIXTURE}),
        "scripted",
        items,
        records,
        bon_orders=2,
        seed=42,
        chunk=3,
        progress=False,
    )
    recs = [(Judgment.from_dict(o), i + 1) for i, o in enumerate(read_jsonl(records))]
    return items, recs, bench, records


def test_fixture_official_orders_are_as_planned(judged):
    items, _, _, _ = judged
    orders = release_orders(items, 42)  # per task (the release's per-file seed), file order
    assert orders["lrb-003"] == [0, 1]
    assert orders["lrb-005"] == [1, 0]
    assert orders["lrb-009"] == [1, 0]


def approx(x):
    return pytest.approx(float(x), abs=1e-6)


def test_official_columns_match_hand_computation(judged):
    items, recs, _, _ = judged
    m = score_records(recs, items, n_boot=200, seed=1, official_seed=42)
    off = m["protocols"]["official"]
    # official order, unparseable = 0. Pair scores: 001 1, 002 0, 003 0 (echo), 004 0 (empty),
    # 005 1 (last verdict), 009 1 (B = chosen in its official order). BoN partial credit: 007 1,
    # 008 2/4 (top two swapped), 010 0 (repeated letter).
    assert off["tasks"]["LongQA"]["value"] == approx(F(1, 2))
    assert off["tasks"]["Cite"]["value"] == approx(F(1, 3))
    assert off["tasks"]["Code"]["value"] == approx(1)
    assert "Math" not in off["tasks"]  # per-task columns are pairwise only
    assert off["Same"]["value"] == approx(F(2, 3)) and off["Same"]["n"] == 3
    assert off["Diff"]["value"] == approx(F(1, 3)) and off["Diff"]["n"] == 3
    assert off["PairWise"]["value"] == approx(F(1, 2)) and off["PairWise"]["n"] == 6
    assert off["Rank3"]["value"] == approx(F(1, 2)) and off["Rank3"]["n"] == 2
    assert off["Rank4"]["value"] == approx(F(1, 2)) and off["Rank4"]["n"] == 1
    assert off["Rank2"]["n"] == 0 and off["Rank2"]["value"] is None
    assert off["BestOfN"]["value"] == approx(F(1, 2))
    assert off["length"]["4k"]["value"] == approx(F(2, 3))  # pairwise only: 001, 003, 009
    assert off["length"]["8k"]["value"] == approx(F(1, 3))  # 002, 004, 005
    assert off["length_all"]["8k"]["value"] == approx(F(3, 2) / 4)  # + BoN 008 (1/2)
    assert off["AVG"]["value"] == approx(F(9, 2) / 9)  # (3 pair + 1.5 BoN) / 9, pooled
    lo, hi = off["AVG"]["ci_low"], off["AVG"]["ci_high"]
    assert lo <= off["AVG"]["value"] <= hi and lo < hi


def test_our_columns_score_unparseable_as_chance_and_average_orders(judged):
    items, recs, _, _ = judged
    ours = score_records(recs, items, n_boot=0, seed=1)["protocols"]["ours"]
    # 003, 004 unparseable -> 0.5; 009 "always B" -> right in one order, wrong in the other -> 0.5;
    # 010 unparseable ranking of 3 -> 1/3 (the partial credit of a random ranking) in each of its 6 orders;
    # 007 (1) and 008 (1/2) score the same in every order: BestOfN = (1 + 1/2 + 1/3) / 3.
    assert ours["tasks"]["Cite"]["value"] == approx(F(2, 3))
    assert ours["tasks"]["Code"]["value"] == approx(F(1, 2))
    assert ours["PairWise"]["value"] == approx(F(7, 12))
    assert ours["BestOfN"]["value"] == approx(F(11, 18))
    assert ours["AVG"]["value"] == approx(F(16, 27))
    assert ours["macro"]["value"] == approx((F(7, 12) + F(11, 18)) / 2)
    assert ours["AVG"]["ci_low"] is None  # bootstrap off


def test_first_match_column_shows_what_echoes_earn(judged):
    items, recs, _, _ = judged
    fm = score_records(recs, items, n_boot=0, seed=1)["protocols"]["official_first_match"]
    # release reading: '[[A]]' anywhere wins. 003's echo picks A = chosen (1); 005 says [[B]] then [[A]],
    # first match A = rejected in its official order (0).
    assert fm["tasks"]["Cite"]["value"] == approx(F(1, 3))  # 003 1, 004 0, 005 0
    assert fm["PairWise"]["value"] == approx(F(1, 2))


def test_diagnostics(judged):
    items, recs, _, _ = judged
    m = score_records(recs, items, n_boot=100, seed=1)
    # 6 pairs x 2 + BoN 007 6 (3 + 3 rotations; official among them), 008 8 + its official order, 010 6
    assert m["n_items"] == 9 and m["n_records"] == 33
    # unparsed: 003 x2, 004 x2, 010 x6
    assert m["parse_failure"]["all_orders"] == {"value": approx(F(10, 33)), "n": 33}
    assert m["parse_failure"]["official_order"]["value"] == approx(3 / 9)
    # consistent: 001, 002, 005, 007, 008; not: 003, 004 (unparsed), 009 (flips), 010
    assert m["order_consistency"]["all"]["value"] == approx(F(5, 9))
    assert m["order_consistency"]["PairWise"]["value"] == approx(F(3, 6))
    assert m["truncation"]["all"]["value"] == 0.0
    assert m["auc"] is None


def test_scoring_is_deterministic_and_cli_matches(judged, tmp_path):
    from longrm.cli import main

    items, recs, bench, records = judged
    out1, out2, table = tmp_path / "m1.json", tmp_path / "m2.json", tmp_path / "t.md"
    from tests.helpers import config_in

    argv = ["bench", "score", "--config", str(config_in(tmp_path)), "--records", str(records), "--bench", str(bench)]
    assert main(argv + ["--out", str(out1), "--table", str(table)]) == 0
    assert main(argv + ["--out", str(out2)]) == 0
    assert out1.read_bytes() == out2.read_bytes()
    m = json.loads(out1.read_text())
    assert m["protocols"]["official"]["PairWise"]["value"] == approx(F(1, 2))
    assert "| PairWise | 6 | 0.5833 |" in table.read_text()
    csv = tmp_path / "t.csv"
    assert main(argv + ["--out", str(out2), "--table", str(csv)]) == 0
    assert csv.read_text().splitlines()[0] == "column,n,ours,ours_ci95,official,official_first_match"


def test_records_that_do_not_match_the_bench_are_refused(judged, tmp_path):
    from longrm.errors import InputError

    items, recs, _, _ = judged
    bad = Judgment.from_dict({**recs[0][0].to_dict(), "id": "nope"})
    with pytest.raises(InputError, match="not in the bench file"):
        score_records([(bad, 7)], items)
    dup = [recs[0], recs[0]]
    with pytest.raises(InputError, match="second record"):
        score_records(dup, items)
    wrong = Judgment.from_dict({**recs[0][0].to_dict(), "ranking": [0, 0]})
    with pytest.raises(InputError, match="ranking"):
        score_records([(wrong, 3)], items)


@pytest.mark.parametrize(
    "text,n,expected",
    [
        ("Answer with [[A]] or [[B]]", 2, [0, 1]),  # the release counts an echo as A
        ("[[B]] then [[A]]", 2, [0, 1]),  # '[[A]]' anywhere wins
        ("[[B]]", 2, [1, 0]),
        ("", 2, None),
        ("[[C>A>B]] later [[A>B>C]]", 3, [2, 0, 1]),  # first ranking
        ("[[A>A>B]]", 3, None),
        ("Ranking: [B>C>A] and later [[A>B>C]]", 3, [1, 2, 0]),  # single brackets count for the release
    ],
)
def test_first_match_reading(text, n, expected):
    assert first_match_positions(text, n) == expected


def test_ranking_score_partial_credit():
    assert ranking_score([0, 1, 2, 3], [0, 1, 2, 3], False, 0) == 1.0
    assert ranking_score([1, 0, 2, 3], [0, 1, 2, 3], False, 0) == 0.5
    assert ranking_score([3, 2, 1, 0], [0, 1, 2, 3], False, 0) == 0.0
    assert ranking_score(None, [0, 1], True, 0.5) == 0.5


def test_auc_counts_ties_as_half():
    assert auc([2.0, 3.0], [1.0, 0.0]) == 1.0
    assert auc([1.0], [1.0]) == 0.5
    assert auc([0.0, 2.0], [1.0]) == 0.5
    assert auc([], [1.0]) is None
