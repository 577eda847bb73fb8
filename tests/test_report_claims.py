"""The report's claims (a-e) and control flags, computed from small hand-made metrics and item-score files:
claims that hold, one that does not, and inputs that are missing."""

from __future__ import annotations

import json

import pytest
import yaml

from longrm.bench.score import ScoreItem, columns
from longrm.cli import main
from longrm.report.claims import FAILS, HOLDS, MISSING, paired_diff
from tests.helpers import config_in


def items(prefix: str, bucket: str, n: int, difficulty: str = "") -> list[ScoreItem]:
    return [
        ScoreItem(
            f"{prefix}{bucket}-{k}",
            "LongQA",
            "PairWise",
            "same",
            bucket,
            [0, 1],
            (None, None),
            difficulty=difficulty if difficulty else ("easy" if k % 2 else "hard"),
        )
        for k in range(n)
    ]


def scores_at(its: list[ScoreItem], accuracy: float) -> dict[str, float]:
    """Item scores with the given mean: the first round(accuracy * n) items right, the rest wrong."""
    right = round(accuracy * len(its))
    return {it.id: float(k < right) for k, it in enumerate(its)}


def write_model(root, set_name, name, its, scores):
    d = root / "bench" / set_name / name
    d.mkdir(parents=True)
    cols = columns(its, scores, 200, 1, "ours")
    m = {
        "models": [name],
        "n_items": len(its),
        "protocols": {p: cols for p in ("ours", "official", "official_first_match")},
    }
    (d / "metrics.json").write_text(json.dumps(m))
    rows = [
        {
            "id": it.id,
            "tasktype": it.tasktype,
            "length_bucket": it.length_bucket,
            "difficulty": it.difficulty,
            "ours": scores[it.id],
            "official": scores[it.id],
        }
        for it in its
    ]
    (d / "item_scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"{set_name}/{name}={d / 'metrics.json'}", f"{set_name}/{name}={d / 'item_scores.jsonl'}"


@pytest.fixture
def study(tmp_path):
    root = tmp_path / "results"
    short_b, long_b = items("h", "512", 60), items("h", "2k", 60)
    heldout = short_b + long_b
    short_set = items("s", "256", 80)
    levels = {  # (512, 2k) on heldout; swap; nocontext; short set
        "base": (0.9, 0.5, None, None, 0.8),
        "sft": (0.9, 0.6, 0.5, 0.52, None),
        "logo": (0.9, 0.9, 0.48, 0.5, 0.7),
        "disrm": (0.8, 0.75, 0.75, 0.77, None),
    }
    metrics, scores = [], []
    for name, (acc_s, acc_l, swap, none, short) in levels.items():
        s = {**scores_at(short_b, acc_s), **scores_at(long_b, acc_l)}
        for arg, lst in zip(write_model(root, "heldout", name, heldout, s), (metrics, scores)):
            lst.append(arg)
        for set_name, acc, its in (("swap", swap, heldout), ("nocontext", none, heldout), ("short", short, short_set)):
            if acc is not None:
                for arg, lst in zip(write_model(root, set_name, name, its, scores_at(its, acc)), (metrics, scores)):
                    lst.append(arg)
    cfg = config_in(tmp_path)
    raw = yaml.safe_load(cfg.read_text())
    raw["report"] = {"claims": {"base": "base", "sft": "sft", "logo": "logo", "short_set": "short"}}
    cfg.write_text(yaml.safe_dump(raw))
    return {"root": root, "cfg": cfg, "metrics": metrics, "scores": scores}


def tables(study, out, audit=None, drop=()):
    args = [
        "report",
        "tables",
        "--config",
        str(study["cfg"]),
        "--metrics",
        *[m for m in study["metrics"] if not m.startswith(drop)],
        "--item-scores",
        *[s for s in study["scores"] if not s.startswith(drop)],
        "--out-dir",
        str(out),
    ]
    if audit:
        args += ["--audit", str(audit)]
    assert main(args) == 0
    return {c["claim"]: c for c in json.loads((out / "claims.json").read_text())}


def test_claims_hold_fail_and_go_unmeasured_from_the_files(study, tmp_path):
    claims = tables(study, tmp_path / "tables")
    a, b, c, d, e = (claims[k] for k in "abcde")
    assert a["status"] == HOLDS and a["data"]["a"] == pytest.approx(0.9) and a["data"]["b"] == pytest.approx(0.5)
    assert a["data"]["lo"] > 0 and "drop +0.400" in a["measured"]
    assert "met" in a["target"] and "not met" not in a["target"]
    # b: paired over the 60 items of the longest bucket
    assert b["status"] == HOLDS and b["data"]["bucket"] == "2k"
    assert b["data"]["logo_minus_base"]["diff"] == pytest.approx(0.4) and b["data"]["logo_minus_base"]["n"] == 60
    assert b["data"]["logo_minus_sft"]["diff"] == pytest.approx(0.3)
    # c: disrm scores 0.75 / 0.77 without its own context: flagged, so the claim does not hold
    assert c["status"] == FAILS and "disrm" in c["note"]
    rows = {r["model"]: r for r in c["data"]["rows"]}
    assert rows["sft"]["controls_at_chance"] is True and rows["logo"]["controls_at_chance"] is True
    assert rows["disrm"]["controls_at_chance"] is False and rows["disrm"]["flag"].startswith("FLAG")
    # d: logo 0.70 < base 0.80 on the short set
    assert d["status"] == FAILS and d["data"]["diff"] == pytest.approx(-0.1)
    # e: no vote audit given
    assert e["status"] == MISSING and "fair" in e["note"]
    md = (tmp_path / "tables" / "main.md").read_text()
    assert "| disrm [swap] |" in md and "| sft [nocontext] |" in md and "[short]" not in md
    import csv

    main_rows = {r["model"]: r for r in csv.DictReader((tmp_path / "tables" / "main.csv").open())}
    assert main_rows["disrm"]["controls_at_chance"] == "False" and main_rows["sft"]["controls_at_chance"] == "True"
    assert main_rows["base"]["controls_at_chance"] == ""  # never judged on a control
    controls = (tmp_path / "tables" / "controls.csv").read_text()
    assert "FLAG" in controls
    assert "hard" in (tmp_path / "tables" / "difficulty.csv").read_text()


def test_missing_inputs_say_so_instead_of_failing(study, tmp_path):
    claims = tables(study, tmp_path / "t", drop=("short/", "swap/", "nocontext/", "heldout/sft"))
    assert claims["b"]["status"] == MISSING and "sft" in claims["b"]["note"]
    assert claims["c"]["status"] == MISSING and claims["d"]["status"] == MISSING
    assert "'short'" in claims["d"]["note"]
    assert claims["a"]["status"] == HOLDS


def test_vote_claim_reads_the_paired_fair_comparison(study, tmp_path):
    audit = tmp_path / "audit.json"
    fair = {
        "same_items": {
            "n": 300,
            "vote": {"acc": 0.81, "lo": 0.77, "hi": 0.85},
            "best_judge": "retrieval",
            "judges": {
                "retrieval": {"acc": 0.84, "lo": 0.8, "hi": 0.88},
                "overlap": {"acc": 0.7, "lo": 0.65, "hi": 0.75},
            },
        },
        "own_consistent": {
            "retrieval": {"n": 200, "judge": {"acc": 0.9}, "vote": {"acc": 0.85}},
        },
    }
    paired = {
        "same_items": {"retrieval": {"diff": -0.03, "lo": -0.05, "hi": -0.01}},
        "own_consistent": {"retrieval": {"diff": -0.05, "lo": -0.08, "hi": -0.02}},
    }

    def claim_e(name):
        audit.write_text(json.dumps({"by_k": [], "fair": fair, "fair_paired": paired}))
        return tables(study, tmp_path / name, audit=audit)["e"]

    e = claim_e("below")
    assert e["status"] == FAILS and "retrieval 0.840" in e["measured"] and "[0.770, 0.850]" in e["ci95"]
    assert "vote - retrieval [-0.050, -0.010]" in e["ci95"]
    assert "own order-consistent items (n = 200)" in e["note"] and "-0.050 [-0.080, -0.020]" in e["note"]
    # above the judge, but the paired interval reaches 0: not a win
    fair["same_items"]["vote"]["acc"] = 0.85
    paired["same_items"]["retrieval"] = {"diff": 0.01, "lo": -0.005, "hi": 0.025}
    assert claim_e("tie")["status"] == FAILS
    paired["same_items"]["retrieval"] = {"diff": 0.01, "lo": 0.002, "hi": 0.025}
    assert claim_e("above")["status"] == HOLDS
    del paired["same_items"]["retrieval"]
    gone = claim_e("gone")
    assert gone["status"] == MISSING and "fair_paired" in gone["note"]


def test_report_md_puts_the_claims_first(study, tmp_path):
    out = tmp_path / "tables"
    tables(study, out)
    figs = tmp_path / "figures"
    figs.mkdir()
    (figs / "index.json").write_text("[]")
    report = tmp_path / "REPORT.md"
    assert (
        main(
            [
                "report",
                "md",
                "--config",
                str(study["cfg"]),
                "--tables",
                str(out),
                "--figures",
                str(figs),
                "--out",
                str(report),
            ]
        )
        == 0
    )
    text = report.read_text()
    assert text.index("## The paper's claims") < text.index("## Figures")
    assert "| a | Base accuracy falls" in text and "does not hold" in text


def test_paired_difference_interval():
    a = {str(k): float(k % 2) for k in range(40)}
    b = {str(k): 0.0 for k in range(40)}
    d = paired_diff(a, b, 500, 3)
    assert d["diff"] == pytest.approx(0.5) and d["lo"] < 0.5 < d["hi"] and d["n"] == 40
    assert paired_diff(a, {}, 500, 3) is None


@pytest.mark.parametrize("blind", [True, False])
def test_a_fall_with_length_counts_only_when_the_base_needs_its_context(study, tmp_path, blind):
    """The base judged without context too: a base that scores the same at the shortest bucket without its
    context shows no context boundary, so (a) does not hold however much it falls; one at chance without
    it does (the paired gain at 512 has an interval above 0)."""
    heldout = items("h", "512", 60) + items("h", "2k", 60)
    short_b, long_b = heldout[:60], heldout[60:]
    if blind:  # the same levels as with its context: 0.9 at 512, 0.5 at 2k
        none = {**scores_at(short_b, 0.9), **scores_at(long_b, 0.5)}
    else:
        none = {**scores_at(short_b, 0.5), **scores_at(long_b, 0.5)}
    m, s = write_model(study["root"], "nocontext", "base", heldout, none)
    study = {**study, "metrics": study["metrics"] + [m], "scores": study["scores"] + [s]}
    a = tables(study, tmp_path / "tables")["a"]
    effect = a["data"]["context_effect"]
    assert effect["set"] == "nocontext" and effect["n"] == 60
    if blind:
        assert a["status"] == FAILS and effect["diff"] == pytest.approx(0.0)
        assert "not a context boundary" in a["note"]
    else:
        assert a["status"] == HOLDS and effect["diff"] == pytest.approx(0.4) and effect["lo"] > 0
