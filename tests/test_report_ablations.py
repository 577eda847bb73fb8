"""The report's failure modes by length (main study) and the ablations' report (`longrm report ablations`):
paired differences vs the main run, claim (f), and how both join REPORT.md; on scripted result files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from longrm.cli import main
from longrm.config import DEFAULT_CONFIG, load_config
from longrm.report.ablations import CLAIM_F, ablation_claims, ablation_inputs, claim_f, labels_table
from longrm.report.claims import FAILS, HOLDS, MISSING, UNINFORMATIVE
from longrm.report.failures import NOT_MEASURED, failure_rows, failure_table, read_failures

BUCKETS = ("512", "2k")


def item_rows(correct) -> dict[str, dict]:
    """Item scores: 40 pairwise items per bucket; `correct(k, bucket)` -> 1.0 / 0.0."""
    rows = {}
    for b in BUCKETS:
        for k in range(40):
            rows[f"{b}-{k}"] = {"id": f"{b}-{k}", "tasktype": "PairWise", "length_bucket": b, "ours": correct(k, b)}
    return rows


def share(p: float):
    """Correct on the first round(40 * p) items of each bucket."""
    return lambda k, b: float(k < round(40 * p))


# ---------------------------------------------------------------- failure modes


def rate(v, n=80):
    return {"value": v, "n": n}


def judge_metrics(first_at: dict, analysed: int = 0) -> dict:
    explained = {"value": 0.25, "n": analysed, "analysed": analysed, "undetermined": 0.1}
    return {
        "protocols": {"ours": {"length": {b: rate(0.5) for b in BUCKETS}}},
        "parse_failure": {"all_orders": rate(0.1), "length": {"512": rate(0.0), "2k": rate(0.2)}},
        "position_bias": {"first_position_rate": rate(0.75), "length": {b: rate(v) for b, v in first_at.items()}},
        "order_consistency": {"all": rate(0.7), "length": {"512": rate(0.9), "2k": rate(0.5)}},
        "explanation_vs_verdict": {"all": explained, "length": {b: explained for b in BUCKETS}},
    }


def test_failure_modes_by_length():
    metrics = {"reads": judge_metrics({"512": 0.5, "2k": 1.0}), "writes": judge_metrics({"512": 0.5, "2k": 0.5}, 30)}
    own = {"reads": item_rows(share(0.9))}
    swap = {"reads": item_rows(share(0.5))}
    df = failure_table(failure_rows(metrics, own, swap, n_boot=200, seed=1)).set_index(["model", "length"])
    reads = df.loc["reads"]
    assert list(reads.index) == ["all", "512", "2k"]
    assert reads.loc["2k", "first_position"] == 1.0 and reads.loc["2k", "chance"] == 0.5
    assert reads.loc["2k", "order_inconsistency"] == pytest.approx(0.5)
    assert reads.loc["512", "parse_failure"] == 0.0 and reads.loc["all", "parse_failure"] == 0.1
    assert reads.loc["2k", "context_gap"] == pytest.approx(0.4) and reads.loc["2k", "context_gap_n"] == 40
    lo, hi = (float(x) for x in reads.loc["2k", "context_gap_ci"].strip("[]").split(","))
    assert 0 < lo < 0.4 < hi
    assert reads.loc["2k", "explanation_vs_verdict"] == NOT_MEASURED  # no analysis in its judgments
    writes = df.loc["writes"]
    assert pd.isna(writes.loc["2k", "context_gap"])  # not judged under the swap control
    assert writes.loc["2k", "explanation_vs_verdict"] == 0.25 and writes.loc["2k", "explanation_n"] == 30


def test_the_failure_reading_says_when_explanations_are_not_measured():
    df = failure_table(failure_rows({"j": judge_metrics({"512": 0.5, "2k": 0.9})}, {}, {}, 10, 0))
    text = read_failures(df)
    assert "not measured" in text and "vote.splits.analysis: none" in text
    assert "first-shown response j 0.900" in text


# ---------------------------------------------------------------- ablations


@pytest.fixture(scope="module")
def cfg():
    return load_config(DEFAULT_CONFIG)


VARIANTS = ("sft-only", "sft-logo", "sft-dpo", "logo-from-base", "logo-m1", "logo-lambda0", "labels-best-judge")
LABELS = {"judge": "answer-match", "vote_kept": 600, "kept": 590, "label_accuracy_vote": 0.83}


def scores_of(levels: dict[str, float]) -> dict:
    """scores[set][variant]: each variant right on a share `levels[variant]` of every bucket (0.6 by default)."""
    held = {v: item_rows(share(levels.get(v, 0.6))) for v in VARIANTS}
    return {"heldout": held, "swap": {v: item_rows(share(0.5)) for v in VARIANTS}, "short": held}


def test_each_variant_minus_the_main_run_on_the_same_items(cfg):
    from longrm.report.ablations import ablations_table, variants_table

    x = ablation_inputs(cfg, scores_of({"sft-dpo": 0.8}), LABELS)
    df = ablations_table(x).set_index(["variant", "set", "length"])
    assert df.loc[("sft-dpo", "heldout", "2k"), "minus_main"] == pytest.approx(0.2)
    assert df.loc[("sft-dpo", "heldout", "all"), "n"] == 80
    assert df.loc[("sft-dpo", "heldout", "all"), "ci_low"] > 0
    assert pd.isna(df.loc[("sft-logo", "heldout", "all"), "minus_main"])  # the main run itself
    summary = variants_table(x).set_index("variant")
    assert summary.loc["sft-dpo", "overrides"] == "logo.loss=dpo"
    assert summary.loc["sft-dpo", "stages"] == "sft (main run), logo (trained)"
    assert summary.loc["sft-dpo", "context_gap"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("vote", "judge", "status"),
    [(0.9, 0.6, HOLDS), (0.6, 0.9, FAILS), (0.5, 0.5, UNINFORMATIVE)],
)
def test_claim_f(cfg, vote, judge, status):
    x = ablation_inputs(cfg, scores_of({"sft-logo": vote, "labels-best-judge": judge}), LABELS)
    c = claim_f(x)
    assert (c["claim"], c["status"]) == (CLAIM_F, status)
    assert c["data"]["vote"] == "sft-logo" and c["data"]["judge"] == "labels-best-judge"
    assert c["data"]["diff"]["diff"] == pytest.approx(vote - judge)
    table = labels_table(x)
    assert list(table["training_items"]) == [600, 590]


def test_claim_f_is_not_measured_without_its_inputs(cfg, tmp_path):
    x = ablation_inputs(cfg, {"heldout": {"sft-logo": item_rows(share(0.7))}}, None)
    assert claim_f(x)["status"] == MISSING
    (f,) = ablation_claims(tmp_path / "absent", configured=True)
    assert f["status"] == MISSING and "make ablations" in f["note"]
    (f,) = ablation_claims(None, configured=False)
    assert "ablations` section" in f["note"]


def test_the_ablations_join_report_md_when_built(cfg, tmp_path):
    named = []
    for s, by_variant in scores_of({"logo-m1": 0.7}).items():
        for v, rows in by_variant.items():
            path = tmp_path / "scores" / s / f"{v}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r) + "\n" for r in rows.values()))
            named.append(f"{s}/{v}={path}")
    config = tmp_path / "config.yaml"
    config.write_text(DEFAULT_CONFIG.read_text().replace("results_dir: results", f"results_dir: {tmp_path}"))
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(LABELS))
    out = tmp_path / "ablations" / "report"
    args = ["report", "ablations", "--config", str(config), "--item-scores", *named, "--labels", str(labels)]
    assert main([*args, "--out-dir", str(out)]) == 0
    index = {e["name"] for e in json.loads((out / "index.json").read_text())}
    assert index == {"ablations", "ablation_variants", "labels", "ablations_by_length"}
    assert json.loads((out / "claims.json").read_text())[0]["claim"] == CLAIM_F
    for folder, present in ((out, True), (tmp_path / "not-built", False)):
        text = report_md(tmp_path, config, folder)
        assert ("## Ablations" in text) == present and ("ablations_by_length.png" in text) == present


def report_md(tmp_path, config, ablations) -> str:
    tables, figures = tmp_path / "t", tmp_path / "f"
    for d in (tables, figures):
        d.mkdir(exist_ok=True)
        (d / "index.json").write_text("[]")
    out = tmp_path / "REPORT.md"
    cmd = ["report", "md", "--config", str(config), "--tables", str(tables), "--figures", str(figures)]
    assert main([*cmd, "--ablations", str(ablations), "--out", str(out)]) == 0
    return out.read_text()


def test_the_cost_of_each_variant_from_its_job_records(cfg, tmp_path):
    records = {
        "train_ablation:sft-dpo/logo": 100.0,
        "bench_ablation:heldout/sft-dpo": 40.0,
        "bench_score_ablation:heldout/sft-dpo": 1.0,
        "train_ablation:labels-best-judge/sft": 120.0,
        "vote_relabel": 3.0,
        "vote_split_relabeled": 4.0,
        "bench_ablation:heldout/logo-m1": 30.0,
    }
    args = []
    for job, seconds in records.items():
        tsv = tmp_path / f"{job.replace(':', '_').replace('/', '_')}.tsv"
        tsv.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{seconds}\t0:00:01\t100\t{seconds}\n")
        args.append(f"{job}={tsv}")
    out = tmp_path / "times"
    config = tmp_path / "config.yaml"
    config.write_text(DEFAULT_CONFIG.read_text().replace("results_dir: results", f"results_dir: {tmp_path}"))
    cmd = ["report", "times", "--config", str(config), "--stage-benchmarks", *args, "--by-variant"]
    assert main([*cmd, "--out-dir", str(out)]) == 0
    df = pd.read_csv(out / "variant_times.csv").set_index("variant")
    assert list(df.index) == list(VARIANTS)
    assert (df.loc["sft-dpo", "train_s"], df.loc["sft-dpo", "bench_s"], df.loc["sft-dpo", "total_s"]) == (100, 41, 141)
    assert df.loc["labels-best-judge", "labels_s"] == 7 and df.loc["labels-best-judge", "total_s"] == 127
    assert df.loc["sft-logo", "total_s"] == 0 and df.loc["sft-logo", "jobs"] == 0  # the main run: no job


def test_a_variant_not_judged_under_the_swap_control_has_no_context_gap(cfg):
    from longrm.report.ablations import variants_table

    scores = scores_of({})
    del scores["swap"]["sft-dpo"]
    summary = variants_table(ablation_inputs(cfg, scores, LABELS)).set_index("variant")
    assert pd.isna(summary.loc["sft-dpo", "context_gap"]) and summary.loc["sft-dpo", "context_gap_ci"] == ""
    assert summary.loc["logo-m1", "context_gap"] == pytest.approx(0.1)
