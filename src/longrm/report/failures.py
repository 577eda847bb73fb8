"""Failure modes of the judges by context length (the paper's diagnosis), from the main set's metrics and the
item scores of the main set and its swap control: one row per (judge, length bucket or `all`) with

  parse_failure        share of records whose verdict does not parse (every order)
  first_position       share of parsed pairwise verdicts that pick the response shown first; chance 0.5
  order_inconsistency  share of items whose orders disagree (1 - order consistency)
  context_gap          pairwise accuracy with its own context - under the swap control, on the same items
                       (paired, 95% bootstrap interval); empty for a judge not judged on the swap control
  explanation_vs_verdict  share of judgments whose analysis names the other response than the verdict
                       (bench.explain's rule), with the share the rule cannot tell; "not measured" when no
                       judgment carries an analysis (vote.splits.analysis: none, the toy scale's setting)
"""

from __future__ import annotations

import pandas as pd

from longrm.data.records import bucket_key
from longrm.report.claims import CHANCE, ci_text, pair_scores, paired_diff
from longrm.seeding import derive_seed

NOT_MEASURED = "not measured"
COLUMNS = (
    "model",
    "length",
    "parse_failure",
    "first_position",
    "chance",
    "order_inconsistency",
    "context_gap",
    "context_gap_ci",
    "context_gap_n",
    "explanation_vs_verdict",
    "explanation_undetermined",
    "explanation_n",
)


def cell_value(c) -> float | None:
    return c.get("value") if isinstance(c, dict) else None


def by_bucket(m: dict, key: str, bucket: str, overall: str = "all"):
    """A rate cell of metrics `m` for one bucket (`all`: the overall cell under `overall`)."""
    block = m.get(key) or {}
    return block.get(overall) if bucket == "all" else (block.get("length") or {}).get(bucket)


def explanation(m: dict, bucket: str) -> tuple:
    """(disagreement, undetermined, n) of one bucket, or NOT_MEASURED when no judgment has an analysis."""
    c = by_bucket(m, "explanation_vs_verdict", bucket) or {}
    if not c.get("analysed"):
        return NOT_MEASURED, None, 0
    return c.get("value"), c.get("undetermined"), c.get("n")


def context_gap(own: dict | None, swap: dict | None, bucket: str, n_boot: int, seed: int) -> dict | None:
    if not own or not swap:
        return None
    b = None if bucket == "all" else bucket
    return paired_diff(pair_scores(own, b), pair_scores(swap, b), n_boot, derive_seed(seed, "failures", bucket))


def failure_row(name: str, m: dict, bucket: str, gap: dict | None) -> dict:
    oc = cell_value(by_bucket(m, "order_consistency", bucket))
    disagree, undetermined, n_explained = explanation(m, bucket)
    return {
        "model": name,
        "length": bucket,
        "parse_failure": cell_value(by_bucket(m, "parse_failure", bucket, "all_orders")),
        "first_position": cell_value(by_bucket(m, "position_bias", bucket, "first_position_rate")),
        "chance": CHANCE,
        "order_inconsistency": None if oc is None else round(1 - oc, 6),
        "context_gap": gap["diff"] if gap else None,
        "context_gap_ci": ci_text(gap["lo"], gap["hi"]) if gap else "",
        "context_gap_n": gap["n"] if gap else None,
        "explanation_vs_verdict": disagree,
        "explanation_undetermined": undetermined,
        "explanation_n": n_explained,
    }


def buckets_of(m: dict) -> list[str]:
    return sorted((m.get("protocols", {}).get("ours", {}).get("length") or {}), key=bucket_key)


def failure_rows(
    metrics: dict[str, dict], own: dict[str, dict], swap: dict[str, dict], n_boot: int, seed: int
) -> list[dict]:
    """Rows for every judge of the main set: `all`, then each length bucket. `own`/`swap`: item scores on the
    main set and on its swap control, by model."""
    rows = []
    for name, m in metrics.items():
        for bucket in ["all", *buckets_of(m)]:
            gap = context_gap(own.get(name), swap.get(name), bucket, n_boot, derive_seed(seed, name))
            rows.append(failure_row(name, m, bucket, gap))
    return rows


def failure_table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return df.astype({"context_gap_n": "Int64", "explanation_n": "Int64"})


def fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and pd.isna(x)) else f"{x:.3f}"


def read_failures(df: pd.DataFrame) -> str:
    """The worst judge on each failure mode at the longest bucket, and whether explanations were measured."""
    if df.empty:
        return "No judge on the main set."
    buckets = sorted({b for b in df["length"] if b != "all"}, key=bucket_key)
    at = df[df["length"] == (buckets[-1] if buckets else "all")]
    parts = []
    for col, what in (("parse_failure", "parse failure"), ("order_inconsistency", "order inconsistency")):
        d = at.dropna(subset=[col])
        if not d.empty:
            r = d.loc[d[col].astype(float).idxmax()]
            parts.append(f"highest {what} {r['model']} {fmt(r[col])}")
    d = at.dropna(subset=["first_position"])
    if not d.empty:
        r = d.loc[(d["first_position"].astype(float) - CHANCE).abs().idxmax()]
        parts.append(f"furthest from chance (0.5) on the first-shown response {r['model']} {fmt(r['first_position'])}")
    d = at.dropna(subset=["context_gap"])
    if not d.empty:
        r = d.loc[d["context_gap"].astype(float).idxmin()]
        parts.append(f"smallest context gap (own - swap) {r['model']} {r['context_gap']:+.3f} {r['context_gap_ci']}")
    where = f"At {buckets[-1]}: " if buckets else "Over all lengths: "
    return where + "; ".join(parts) + ". " + explanation_note(df)


def explanation_note(df: pd.DataFrame) -> str:
    measured = df[df["explanation_vs_verdict"] != NOT_MEASURED]
    if measured.empty:
        return (
            "Explanation vs verdict: not measured: no judgment carries an analysis (at toy scale the judges "
            "write the verdict alone, vote.splits.analysis: none; `before` makes it measurable)."
        )
    d = measured[measured["length"] == "all"].dropna(subset=["explanation_vs_verdict"])
    if d.empty:
        return "Explanation vs verdict: the rule could tell no judgment's pick."
    r = d.loc[d["explanation_vs_verdict"].astype(float).idxmax()]
    return (
        f"Explanation vs verdict: most disagreement {r['model']} {fmt(r['explanation_vs_verdict'])} of "
        f"{r['explanation_n']} judgments the rule can tell ({fmt(r['explanation_undetermined'])} it cannot)."
    )
