"""The report's claims (a-e) and control flags, computed from small hand-made metrics and item-score files,
and from the scored records of scripted judges: claims that hold, ones that do not, inputs that are
missing, and comparisons met only at chance (not informative)."""

from __future__ import annotations

import json

import pytest
import yaml

from longrm.bench.score import ScoreItem, columns, score_records
from longrm.cli import main
from longrm.data.records import Judgment
from longrm.report.claims import FAILS, HOLDS, MISSING, UNINFORMATIVE, paired_diff
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
    """Item scores with the given mean in every length bucket: in each, the first round(accuracy * n)
    items right, the rest wrong."""
    out = {}
    for bucket in dict.fromkeys(it.length_bucket for it in its):
        sel = [it for it in its if it.length_bucket == bucket]
        right = round(accuracy * len(sel))
        out.update({it.id: float(k < right) for k, it in enumerate(sel)})
    return out


def write_model(root, set_name, name, its, scores):
    d = root / "bench" / set_name / name
    d.mkdir(parents=True, exist_ok=True)
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
        "base": (0.9, 0.5, 0.5, 0.48, 0.8),
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
    assert main_rows["base"]["controls_at_chance"] == "True"
    assert main_rows["base"]["claims_role"] == "base" and main_rows["disrm"]["claims_role"] == ""
    reading = json.loads((tmp_path / "tables" / "index.json").read_text())
    main_reading = next(e["reading"] for e in reading if e["name"] == "main")
    assert main_reading.endswith(f"base model base {float(main_rows['base']['AVG']):.3f}.")
    controls = (tmp_path / "tables" / "controls.csv").read_text()
    assert "FLAG" in controls
    assert "hard" in (tmp_path / "tables" / "difficulty.csv").read_text()


def test_missing_inputs_say_so_instead_of_failing(study, tmp_path):
    claims = tables(study, tmp_path / "t", drop=("short/", "swap/", "nocontext/", "heldout/sft"))
    assert claims["b"]["status"] == MISSING and "sft" in claims["b"]["note"]
    assert claims["c"]["status"] == MISSING and claims["d"]["status"] == MISSING
    assert "'short'" in claims["d"]["note"]
    # no control judged: the fall with length cannot be told from a judge that ignores its context
    assert claims["a"]["status"] == MISSING
    assert "swap (no metrics)" in claims["a"]["note"] and "nocontext (no metrics)" in claims["a"]["note"]


def test_a_configured_control_without_metrics_is_named_and_not_measured(study, tmp_path):
    """One control set judged, the other configured but absent: named in the notes of (a) and (c), both
    not measured; the controls table keeps the absent set's columns, empty."""
    claims = tables(study, tmp_path / "t", drop=("swap/",))
    assert claims["a"]["status"] == MISSING and "swap (no metrics)" in claims["a"]["note"]
    assert claims["c"]["status"] == MISSING and "control set without metrics: swap" in claims["c"]["note"]
    assert claims["c"]["data"]["unjudged_controls"] == ["swap"]
    import csv

    rows = list(csv.DictReader((tmp_path / "t" / "controls.csv").open()))
    assert {r["swap"] for r in rows} == {""}
    # disrm scores 0.77 without its context, whatever the other control: flagged still
    assert {r["model"]: r["flag"] for r in rows} == {
        "base": "not measured",
        "sft": "not measured",
        "logo": "not measured",
        "disrm": "FLAG: judges without its context",
    }


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


@pytest.mark.parametrize(
    ("without_context", "status", "gain"),
    [(0.9, FAILS, 0.0), (0.85, UNINFORMATIVE, 0.05), (0.55, HOLDS, 0.35)],
    ids=["blind", "interval-reaches-0", "reads"],
)
def test_a_fall_with_length_counts_only_when_the_base_needs_its_context(study, tmp_path, without_context, status, gain):
    """The base (0.9 at 512, 0.5 at 2k) judged without context too: one that scores the same at the
    shortest bucket without its context shows no context boundary, so (a) does not hold however much it
    falls; one a few items worse without it gains, but the paired interval reaches 0: not informative;
    one near chance without it holds (the paired gain at 512 has an interval above 0)."""
    heldout = items("h", "512", 60) + items("h", "2k", 60)
    none = {**scores_at(heldout[:60], without_context), **scores_at(heldout[60:], 0.5)}
    write_model(study["root"], "nocontext", "base", heldout, none)  # in place of the fixture's
    a = tables(study, tmp_path / "tables")["a"]
    effect = a["data"]["context_effect"]
    assert effect["set"] == "nocontext" and effect["n"] == 60  # the weaker control (swap: 0.5)
    assert a["status"] == status and effect["diff"] == pytest.approx(gain)
    assert a["data"]["lo"] > 0  # the fall itself is clear in every case
    if status == FAILS:
        assert "not a context boundary" in a["note"]
    elif status == UNINFORMATIVE:
        assert effect["lo"] <= 0 and "the interval reaches 0" in a["note"]
    else:
        assert effect["lo"] > 0


# ---------------------------------------------------------------- scripted judges, scored as bench scores


def always_a(it: ScoreItem, order: list[int]) -> list[int]:
    """Answers "A" whatever it reads: the response shown first is best."""
    return list(order)


def never_parses(it: ScoreItem, order: list[int]) -> None:
    return None


def reads_context(it: ScoreItem, order: list[int]) -> list[int]:
    return list(it.gold_ranking)


def judged(root, set_name: str, name: str, its: list[ScoreItem], verdict) -> tuple[str, str]:
    """A judge's records on every item in both orders, scored as `longrm bench score` scores them:
    metrics.json (parse failure, position bias included) and item_scores.jsonl."""
    records = [
        (Judgment(it.id, name, order, ranking=verdict(it, order), extra={"model": name}), k)
        for k, (it, order) in enumerate((it, o) for it in its for o in ([0, 1], [1, 0]))
    ]
    rows: list[dict] = []
    metrics = score_records(records, its, n_boot=200, seed=1, item_rows=rows)
    d = root / "bench" / set_name / name
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps(metrics))
    (d / "item_scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"{set_name}/{name}={d / 'metrics.json'}", f"{set_name}/{name}={d / 'item_scores.jsonl'}"


def scripted_study(tmp_path, own: dict, controls, short) -> dict:
    """base, sft and logo judged on the held-out set (`own[bucket]` per length bucket), on both controls
    (`controls`) and on the short set (`short`)."""
    grouped = lambda its: [it._replace(group="pairs") for it in its]  # noqa: E731
    heldout = grouped(items("h", "512", 40) + items("h", "2k", 40))
    short_set = grouped(items("s", "256", 40))
    root, metrics, scores = tmp_path / "results", [], []
    on_own = lambda it, order: own[it.length_bucket](it, order)  # noqa: E731
    for name in ("base", "sft", "logo"):
        for set_name, its, verdict in (
            ("heldout", heldout, on_own),
            ("swap", heldout, controls),
            ("nocontext", heldout, controls),
            ("short", short_set, short),
        ):
            m, s = judged(root, set_name, name, its, verdict)
            metrics.append(m)
            scores.append(s)
    cfg = config_in(tmp_path)
    raw = yaml.safe_load(cfg.read_text())
    raw["report"] = {"claims": {"base": "base", "sft": "sft", "logo": "logo", "short_set": "short"}}
    cfg.write_text(yaml.safe_dump(raw))
    return {"root": root, "cfg": cfg, "metrics": metrics, "scores": scores}


@pytest.mark.parametrize("collapsed", [always_a, never_parses])
def test_a_judge_that_ignores_its_input_makes_c_and_d_not_informative(tmp_path, collapsed):
    """Every judge answers "A" (or never parses) everywhere: 0.5 with its own context, 0.5 under each
    control, 0.5 on the short set. The controls are at chance and LOGO ties the base, but only because
    nothing is read: (c) and (d) are not informative, and the collapse shows in the controls table."""
    study = scripted_study(tmp_path, {"512": collapsed, "2k": collapsed}, collapsed, collapsed)
    claims = tables(study, tmp_path / "tables")
    c, d = claims["c"], claims["d"]
    assert c["status"] == UNINFORMATIVE and d["status"] == UNINFORMATIVE
    rows = {r["model"]: r for r in c["data"]["rows"]}
    assert rows["base"]["own_context"] == pytest.approx(0.5) and rows["base"]["controls_at_chance"] is True
    assert rows["base"]["own_context_above_chance"] is False
    assert rows["logo"]["flag"] == "at chance with its own context: not informative"
    if collapsed is always_a:
        assert rows["sft"]["first_position_rate"] == 1.0 and rows["sft"]["parse_failure"] == 0.0
        assert "base 0.500 [0.500, 0.500] (parse failure 0.000, first position 1.000)" in c["note"]
    else:
        assert rows["sft"]["parse_failure"] == 1.0 and rows["sft"]["first_position_rate"] is None
    assert d["data"]["diff"] == 0.0 and "not above chance (0.5) on short" in d["note"]
    assert "target" in d and "not met" in d["target"]
    assert claims["a"]["status"] == FAILS and claims["b"]["status"] == FAILS  # nothing falls, nothing lifts
    index = json.loads((tmp_path / "tables" / "index.json").read_text())
    reading = next(e["reading"] for e in index if e["name"] == "controls")
    assert "3 of 3 models have every control within the margin of chance (0.5), 0 of them above chance" in reading
    assert "at chance with their own context too (not informative): base (parse failure" in reading


def test_a_judge_that_reads_its_context_makes_a_c_and_d_hold(tmp_path):
    """Every judge reads its context at 512 tokens and on the short set, and answers "A" at 2k tokens
    and under the controls: it falls with length where its context helps, is at chance without its
    context and above it with it, and keeps its short-context accuracy."""
    study = scripted_study(tmp_path, {"512": reads_context, "2k": always_a}, always_a, reads_context)
    claims = tables(study, tmp_path / "tables")
    assert claims["a"]["status"] == HOLDS and claims["a"]["data"]["context_effect"]["diff"] == pytest.approx(0.5)
    assert claims["c"]["status"] == HOLDS and claims["d"]["status"] == HOLDS
    rows = {r["model"]: r for r in claims["c"]["data"]["rows"]}
    assert rows["logo"]["own_context_above_chance"] is True and rows["logo"]["flag"] == ""
    assert rows["logo"]["first_position_rate"] == pytest.approx(0.75)  # reads at 512, "A" at 2k
    # (b): LOGO equals SFT and the base at the longest bucket: no lift
    assert claims["b"]["status"] == FAILS


@pytest.mark.parametrize(("sft_long", "status"), [(0.6, HOLDS), (0.883, UNINFORMATIVE), (0.95, FAILS)])
def test_b_needs_the_interval_of_logo_over_sft(study, tmp_path, sft_long, status):
    """LOGO 0.9 at the longest bucket, far above the base: over SFT 0.6 it holds; over SFT 0.883 (one
    item apart) the point estimate is positive but its interval reaches 0: not informative; below SFT it
    does not hold."""
    heldout = items("h", "512", 60) + items("h", "2k", 60)
    write_model(
        study["root"], "heldout", "sft", heldout, scores_at(heldout[:60], 0.9) | scores_at(heldout[60:], sft_long)
    )
    b = tables(study, tmp_path / "tables")["b"]
    assert b["status"] == status
    if status == UNINFORMATIVE:
        vs_sft = b["data"]["logo_minus_sft"]
        assert vs_sft["diff"] > 0 and vs_sft["lo"] <= 0 and b["data"]["logo_minus_base"]["lo"] > 0


def test_d_allows_a_small_loss_to_a_base_above_chance(study, tmp_path):
    """LOGO 0.7875 against a base of 0.8 on the short set (one item of 80 lost): within the tolerance."""
    short_set = items("s", "256", 80)
    write_model(study["root"], "short", "logo", short_set, scores_at(short_set, 0.7875))
    d = tables(study, tmp_path / "tables")["d"]
    assert d["status"] == HOLDS and d["data"]["diff"] == pytest.approx(-0.0125)
    assert d["data"]["base_cell"]["ci_low"] > 0.5 and "[" in d["ci95"] and "not met" in d["target"]
