"""Tables of the study (CSV + Markdown) from bench metrics, the vote audit and training logs.

Every table is a pandas DataFrame plus one line of reading whose numbers come from that DataFrame.
Values are fractions in [0, 1] (accuracies and rates), as in the metrics files.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from longrm.data.io import atomic_write
from longrm.data.records import bucket_key, tasks_first
from longrm.report.failures import failure_table, read_failures

MAIN_PROTOCOL = "ours"  # every order; an unparseable verdict counts as chance
BON_COLUMNS = ("Rank2", "Rank3", "Rank4", "BestOfN")
SUMMARY_COLUMNS = ("Same", "Diff", "PairWise", "Rank2", "Rank3", "Rank4", "BestOfN", "AVG", "macro")


def value(cell) -> float | None:
    """A metrics cell's value ({"value": x, ...} or a bare number); None when absent."""
    if isinstance(cell, dict):
        cell = cell.get("value")
    return None if cell is None or (isinstance(cell, float) and math.isnan(cell)) else float(cell)


def _cols(m: dict, protocol: str = MAIN_PROTOCOL) -> dict:
    return m["protocols"][protocol]


def tasks_in(metrics: dict[str, dict]) -> list[str]:
    return tasks_first(t for m in metrics.values() for t in _cols(m).get("tasks", {}))


def buckets_in(metrics: dict[str, dict]) -> list[str]:
    seen = {b for m in metrics.values() for b in _cols(m).get("length", {})}
    return sorted(seen, key=bucket_key)


# ---------------------------------------------------------------- tables


def main_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """model x (per task, Same/Diff, PairWise, Rank2-4, BestOfN, AVG, macro, official AVG, reliability)."""
    rows = []
    for name, m in metrics.items():
        c = _cols(m)
        row = {"model": name}
        row.update({t: value(c.get("tasks", {}).get(t)) for t in tasks_in(metrics)})
        row.update({k: value(c.get(k)) for k in SUMMARY_COLUMNS})
        row["official_AVG"] = value(_cols(m, "official").get("AVG"))
        row["first_match_AVG"] = value(_cols(m, "official_first_match").get("AVG"))
        row["order_consistency"] = value(m.get("order_consistency", {}).get("all"))
        row["parse_failure"] = value(m.get("parse_failure", {}).get("all_orders"))
        row["truncation"] = value(m.get("truncation", {}).get("all"))
        row["AUC"] = value(m.get("auc"))
        row["n_items"] = m.get("n_items")
        if any("controls_at_chance" in v for v in metrics.values()):  # set by the report when controls ran
            row["controls_at_chance"] = m.get("controls_at_chance")
        if any("claims_role" in v for v in metrics.values()):  # report.claims: base, sft, logo
            row["claims_role"] = m.get("claims_role", "")
        rows.append(row)
    return pd.DataFrame(rows)


def per_task_table(metrics: dict[str, dict]) -> pd.DataFrame:
    tasks = tasks_in(metrics)
    return pd.DataFrame(
        [{"model": n, **{t: value(_cols(m)["tasks"].get(t)) for t in tasks}} for n, m in metrics.items()]
    )


def bon_table(metrics: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame([{"model": n, **{k: value(_cols(m).get(k)) for k in BON_COLUMNS}} for n, m in metrics.items()])


def length_table(metrics: dict[str, dict]) -> pd.DataFrame:
    buckets = buckets_in(metrics)
    return pd.DataFrame(
        [{"model": n, **{b: value(_cols(m)["length"].get(b)) for b in buckets}} for n, m in metrics.items()]
    )


def reliability_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """(model, length bucket) -> order consistency, parse-failure and truncation rates; bucket 'all' too."""
    rows = []
    for n, m in metrics.items():
        oc, pf, tr = m.get("order_consistency", {}), m.get("parse_failure", {}), m.get("truncation", {})
        rows.append(
            {
                "model": n,
                "length": "all",
                "order_consistency": value(oc.get("all")),
                "parse_failure": value(pf.get("all_orders")),
                "truncation": value(tr.get("all")),
            }
        )
        for b in buckets_in(metrics):
            rows.append(
                {
                    "model": n,
                    "length": b,
                    "order_consistency": value(oc.get("length", {}).get(b)),
                    "parse_failure": value(pf.get("length", {}).get(b)),
                    "truncation": value(tr.get("length", {}).get(b)),
                }
            )
    return pd.DataFrame(rows)


def controls_table(rows: list[dict]) -> pd.DataFrame:
    """Per model judged on a control set: pairwise accuracy with its own context (above chance or not;
    parse-failure and first-position rates, which show a collapsed judge) and under each control (95%
    intervals, item counts), and whether the controls are at chance (report.claims.chance_margin)."""
    df = pd.DataFrame(rows)
    counts = [c for c in df.columns if c.endswith("_n")]
    return df.astype({c: "Int64" for c in counts})  # counts stay integers where a model misses a control


def sets_table(by_set: dict[str, dict[str, dict]]) -> pd.DataFrame:
    """(set, model) -> PairWise and AVG with intervals and item counts: every benchmark set judged."""
    rows = []
    for set_name, models in by_set.items():
        for name, m in models.items():
            c, a = _cols(m).get("PairWise") or {}, _cols(m).get("AVG") or {}
            rows.append(
                {
                    "set": set_name,
                    "model": name,
                    "PairWise": value(c),
                    "PairWise_ci_low": c.get("ci_low"),
                    "PairWise_ci_high": c.get("ci_high"),
                    "AVG": value(a),
                    "n_items": m.get("n_items"),
                }
            )
    return pd.DataFrame(rows)


def difficulty_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """Pairwise accuracy on easy vs hard negatives (the items' `difficulty`), with 95% intervals."""
    levels = sorted({d for m in metrics.values() for d in _cols(m).get("difficulty", {})})
    rows = []
    for name, m in metrics.items():
        row = {"model": name}
        for d in levels:
            c = _cols(m).get("difficulty", {}).get(d) or {}
            row.update(
                {d: value(c), f"{d}_ci_low": c.get("ci_low"), f"{d}_ci_high": c.get("ci_high"), f"{d}_n": c.get("n")}
            )
        rows.append(row)
    return pd.DataFrame(rows) if levels else pd.DataFrame(columns=["model"])


def claims_table(claims: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [{k: c[k] for k in ("claim", "statement", "status", "measured", "ci95", "target", "note")} for c in claims]
    )


def cells_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """Every accuracy cell of every protocol, long form, with its 95% bootstrap interval and n."""
    rows = []
    for n, m in metrics.items():
        for protocol, cols in m["protocols"].items():
            for key, cell in cols.items():
                nested = isinstance(cell, dict) and "value" not in cell  # tasks, length, length_all
                group = cell if nested else {None: cell}
                for sub, c in group.items():
                    if isinstance(c, dict):
                        rows.append(
                            {
                                "model": n,
                                "protocol": protocol,
                                "column": key if sub is None else f"{key}:{sub}",
                                "value": c.get("value"),
                                "ci_low": c.get("ci_low"),
                                "ci_high": c.get("ci_high"),
                                "n": c.get("n"),
                            }
                        )
    return pd.DataFrame(rows, columns=["model", "protocol", "column", "value", "ci_low", "ci_high", "n"])


def vote_table(audit: dict) -> pd.DataFrame:
    rows = []
    for entry in audit["by_k"]:
        prefix, subsets = entry.get("config_order", {}), entry.get("all_subsets", {})
        rows.append(
            {
                "k": entry["k"],
                "added_judge": (entry.get("judges") or [None])[-1],
                "accuracy": prefix.get("accuracy"),
                "yield": prefix.get("yield"),
                "subsets_accuracy": subsets.get("accuracy"),
                "subsets_yield": subsets.get("yield"),
                "n_subsets": subsets.get("n_subsets"),
            }
        )
    return pd.DataFrame(rows)


FAIR_COLUMNS = [
    "items",
    "judge",
    "n",
    "judge_acc",
    "judge_lo",
    "judge_hi",
    "vote_acc",
    "vote_lo",
    "vote_hi",
    "vote_minus_judge",
    "diff_lo",
    "diff_hi",
]
SAME_ITEMS, OWN_CONSISTENT = "kept by the vote", "judge's consistent"


def _fair_row(items: str, name: str, n, judge: dict, vote: dict, diff: dict) -> dict:
    return {
        "items": items,
        "judge": name,
        "n": n,
        "judge_acc": judge.get("acc"),
        "judge_lo": judge.get("lo"),
        "judge_hi": judge.get("hi"),
        "vote_acc": vote.get("acc"),
        "vote_lo": vote.get("lo"),
        "vote_hi": vote.get("hi"),
        "vote_minus_judge": diff.get("diff"),
        "diff_lo": diff.get("lo"),
        "diff_hi": diff.get("hi"),
    }


def vote_fair_table(audit: dict) -> pd.DataFrame:
    """The vote against each single judge on the same items (docs/formats/vote.md, "fair"): on the items the
    vote keeps (each judge used alone, every order), and on each judge's own order-consistent items; with
    95% intervals and the paired difference vote - judge."""
    fair, paired = audit.get("fair"), audit.get("fair_paired") or {}
    if not fair:
        return pd.DataFrame(columns=FAIR_COLUMNS)
    same, own = fair["same_items"], fair.get("own_consistent") or {}
    names = [n for n in audit.get("judges") or [] if n in same["judges"]] or sorted(same["judges"])  # config order
    rows = [
        _fair_row(
            SAME_ITEMS, name, same["n"], same["judges"][name], same["vote"], paired.get("same_items", {}).get(name, {})
        )
        for name in names
    ]
    rows += [
        _fair_row(
            OWN_CONSISTENT,
            name,
            own[name]["n"],
            own[name]["judge"],
            own[name]["vote"],
            paired.get("own_consistent", {}).get(name, {}),
        )
        for name in names
        if name in own
    ]
    return pd.DataFrame(rows, columns=FAIR_COLUMNS)


def _interval(lo, hi) -> str:
    return "" if lo is None or hi is None or pd.isna(lo) or pd.isna(hi) else f" [{lo:.3f}, {hi:.3f}]"


def read_vote_fair(df: pd.DataFrame) -> str:
    """The headline: the vote vs the best single judge on the items it keeps, with 95% intervals."""
    same = df[df["items"] == SAME_ITEMS].dropna(subset=["judge_acc"]) if not df.empty else df
    if same.empty:
        return "No fair comparison in the vote audit (no kept items, or an audit written before it existed)."
    best = same.loc[same["judge_acc"].astype(float).idxmax()]
    diff, lo, hi = best["vote_minus_judge"], best["diff_lo"], best["diff_hi"]
    if diff is None or pd.isna(diff):
        verdict = ""
    elif lo is not None and not pd.isna(lo) and lo > 0:
        verdict = ": the vote beats the best single judge (interval above 0)"
    elif hi is not None and not pd.isna(hi) and hi < 0:
        verdict = ": the best single judge beats the vote (interval below 0)"
    else:
        verdict = ": no difference the interval can tell"
    text = (
        f"On the {int(best['n'])} items the vote keeps, the vote's label is right {fmt(best['vote_acc'])}"
        f"{_interval(best['vote_lo'], best['vote_hi'])}; the best single judge on the same items, "
        f"{best['judge']} (every order), {fmt(best['judge_acc'])}{_interval(best['judge_lo'], best['judge_hi'])}; "
        f"vote - {best['judge']} = {fmt(diff)}{_interval(lo, hi)}{verdict}."
    )
    own = df[(df["items"] == OWN_CONSISTENT) & (df["n"] > 0)].dropna(subset=["judge_acc"])
    if not own.empty:
        top = own.loc[own["judge_acc"].astype(float).idxmax()]
        text += (
            f" On its own order-consistent items ({int(top['n'])}), {top['judge']} is right "
            f"{fmt(top['judge_acc'])}{_interval(top['judge_lo'], top['judge_hi'])} and the vote's majority "
            f"{fmt(top['vote_acc'])}{_interval(top['vote_lo'], top['vote_hi'])}."
        )
    return text


def vote_threshold_table(audit: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [{k: t.get(k) for k in ("threshold", "accuracy", "yield", "kept")} for t in audit.get("by_threshold", [])]
    )


def training_table(runs: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for name, run in runs.items():
        last = run["log"][-1] if run["log"] else {}
        s = run.get("summary") or {}
        rows.append(
            {
                "run": name,
                "steps": s.get("steps", last.get("step")),
                "final_loss": s.get("final_loss", last.get("loss")),
                "final_accuracy": s.get("final_accuracy", last.get("accuracy")),
                "tokens_per_s": s.get("tokens_per_s", last.get("tokens_per_s")),
                "peak_rss_mb": s.get("peak_rss_mb", last.get("peak_rss_mb")),
                "wall_s": s.get("wall_s"),
                # pre-training only: held-out in-context recall (answer's first token, top-1)
                "heldout_recall_before": (s.get("heldout_before") or {}).get("answer_accuracy"),
                "heldout_recall": (s.get("heldout_after") or {}).get("answer_accuracy"),
                # its control: a random value among the example's facts (in context, no binding)
                "heldout_recall_no_binding_guess": (s.get("heldout_after") or {}).get("no_binding_guess"),
                **base_recall(s),
            }
        )
    return pd.DataFrame(rows)


BASE_KIND = "attr"  # "The ATTR of E is V." with the other facts' values in the context: the hard case


def base_recall(summary: dict) -> dict:
    """A shipped base's held-out recall of the fact form (its summary's last curves row): binding on the
    first restated fact and presence, at 1x / 4x / 8x its pre-training length, beside the presence
    shortcut's binding (a stated value at random: 1 / facts)."""
    final = (summary.get("final") or {}).get(BASE_KIND)
    if not final:
        return {}
    L = summary["seq_len"]
    out = {"base_binding_control": round(1 / summary["facts"], 4) if summary.get("facts") else None}
    for length, m in sorted(final.items(), key=lambda kv: int(kv[0])):
        k = f"{int(length) // L}x"
        out[f"base_binding_{k}"] = m["binding_first"]
        out[f"base_presence_{k}"] = m["presence"]
    return out


def flatten(obj, prefix: str = "") -> dict:
    """Scalar leaves of nested JSON as {'a.b.0.c': value}."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return {prefix: obj}
    out = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def benchmark_table(benchmarks: dict[str, object]) -> pd.DataFrame:
    rows = [{"file": f, "key": k, "value": v} for f, obj in benchmarks.items() for k, v in flatten(obj).items()]
    return pd.DataFrame(rows, columns=["file", "key", "value"])


def stage_times_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["job", "wall_s", "max_rss_mb", "cpu_s"])


# ---------------------------------------------------------------- readings (numbers from the tables)


def fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _best(df: pd.DataFrame, col: str, key: str = "model"):
    d = df.dropna(subset=[col]) if col in df else df.iloc[0:0]
    if d.empty:
        return None, None
    row = d.loc[d[col].idxmax()]
    return row[key], float(row[col])


def _get(df: pd.DataFrame, key: str, name: str, col: str, by: str = "model"):
    d = df[df[by] == name]
    return None if d.empty or col not in d or pd.isna(d[col].iloc[0]) else float(d[col].iloc[0])


def read_main(df: pd.DataFrame) -> str:
    df = df[~df["model"].astype(str).str.contains(" [", regex=False)]  # control rows are not candidates
    best, avg = _best(df, "AVG")
    if best is None:
        return "No model has an AVG score."
    official = _get(df, "model", best, "official_AVG")
    return (
        f"Highest AVG (every order, unparseable = chance): {best} {fmt(avg)} (official single-order protocol "
        f"{fmt(official)}); {base_text(df)}."
    )


def base_text(df: pd.DataFrame) -> str:
    """The base model's AVG: the row the claims call the base (report.claims.base, column claims_role)."""
    rows = df[df["claims_role"] == "base"] if "claims_role" in df else df.iloc[0:0]
    if rows.empty:
        return "no base model in the table (report.claims.base)"
    name = rows["model"].iloc[0]
    return f"base model {name} {fmt(_get(df, 'model', name, 'AVG'))}"


def read_per_task(df: pd.DataFrame) -> str:
    parts = []
    for t in [c for c in df.columns if c != "model"]:
        name, v = _best(df, t)
        if name is not None:
            parts.append(f"{t} {name} {fmt(v)}")
    return "Best model per task: " + "; ".join(parts) + "." if parts else "No per-task scores."


def read_bon(df: pd.DataFrame) -> str:
    name, v = _best(df, "BestOfN")
    if name is None:
        return "No Best-of-N items were evaluated."
    ranks = ", ".join(f"{k} {fmt(_get(df, 'model', name, k))}" for k in ("Rank2", "Rank3", "Rank4"))
    return f"Best Best-of-N partial credit: {name} {fmt(v)} ({ranks}); chance is 1/n per position."


def read_length(df: pd.DataFrame) -> str:
    buckets = [c for c in df.columns if c != "model"]
    if len(buckets) < 1 or df.empty:
        return "No length buckets."
    first, last = buckets[0], buckets[-1]
    parts = [f"{r.model} {fmt(value(r[first]))} -> {fmt(value(r[last]))}" for _, r in df.iterrows()]
    return f"Pairwise accuracy from {first} to {last} tokens: " + "; ".join(parts) + "."


def read_reliability(df: pd.DataFrame) -> str:
    d = df[df["length"] == "all"]
    if d.empty:
        return "No reliability rates."
    worst_oc = d.loc[d["order_consistency"].astype(float).idxmin()] if d["order_consistency"].notna().any() else None
    worst_pf = d.loc[d["parse_failure"].astype(float).idxmax()] if d["parse_failure"].notna().any() else None
    parts = []
    if worst_oc is not None:
        parts.append(f"lowest order consistency {worst_oc['model']} {fmt(worst_oc['order_consistency'])}")
    if worst_pf is not None:
        parts.append(f"highest parse-failure rate {worst_pf['model']} {fmt(worst_pf['parse_failure'])}")
    if d["truncation"].notna().any():
        parts.append(f"max truncation rate {fmt(float(d['truncation'].max()))}")
    return "Over all lengths: " + "; ".join(parts) + "."


def read_controls(df: pd.DataFrame) -> str:
    if df.empty:
        return "No model was judged on a control set."
    ok = df[df["controls_at_chance"] == True]  # noqa: E712
    off = df[df["controls_at_chance"] == False]  # noqa: E712
    blind = ok[ok["own_context_above_chance"] != True]  # noqa: E712
    text = (
        f"{len(ok)} of {len(df)} models have every control within the margin of chance (0.5), "
        f"{len(ok) - len(blind)} of them above chance with their own context"
    )
    if len(off):
        text += "; flagged (they score without their own context): " + ", ".join(off["model"])
    if len(blind):
        text += "; at chance with their own context too (not informative): " + ", ".join(
            f"{r['model']} (parse failure {fmt(value(r['parse_failure']))}, first position "
            f"{fmt(value(r['first_position_rate']))})"
            for _, r in blind.iterrows()
        )
    return text + "."


def read_sets(df: pd.DataFrame) -> str:
    if df.empty:
        return "No benchmark sets."
    return (
        f"{df['set'].nunique()} benchmark sets, {len(df)} (set, model) pairs judged: "
        + ", ".join(f"{k} {int(v)}" for k, v in df.groupby("set", sort=False)["model"].count().items())
        + "."
    )


def read_difficulty(df: pd.DataFrame) -> str:
    levels = [c for c in ("easy", "hard") if c in df.columns]
    if df.empty or not levels:
        return "The benchmark items carry no `difficulty`: easy and hard negatives cannot be told apart."
    parts = [f"{r['model']} " + " / ".join(fmt(value(r[lv])) for lv in levels) for _, r in df.iterrows()]
    return f"Pairwise accuracy, {' / '.join(levels)} negatives: " + "; ".join(parts) + "."


def read_claims(df: pd.DataFrame) -> str:
    if df.empty:
        return "No claims."
    return "; ".join(f"({r.claim}) {r.status}" for r in df.itertuples()) + "."


def read_vote(df: pd.DataFrame) -> str:
    if df.empty:
        return "No vote audit."
    one, full = df.iloc[0], df.iloc[-1]
    return (
        f"Label accuracy of the kept items with 1 judge {fmt(one['accuracy'])} (yield {fmt(one['yield'])}) and "
        f"with all {int(full['k'])} judges {fmt(full['accuracy'])} (yield {fmt(full['yield'])})."
    )


def read_vote_threshold(df: pd.DataFrame) -> str:
    if df.empty:
        return "No threshold sweep."
    lo, hi = df.iloc[0], df.iloc[-1]
    return (
        f"Raising the agreement threshold from {fmt(lo['threshold'])} to {fmt(hi['threshold'])} moves label "
        f"accuracy {fmt(lo['accuracy'])} -> {fmt(hi['accuracy'])} and yield {fmt(lo['yield'])} -> {fmt(hi['yield'])}."
    )


def read_training(df: pd.DataFrame) -> str:
    if df.empty:
        return "No training logs."
    parts = [
        f"{r.run} loss {fmt(value(r.final_loss))}, accuracy {fmt(value(r.final_accuracy))} after "
        f"{'n/a' if pd.isna(r.steps) else int(r.steps)} steps"
        for r in df.itertuples()
    ]
    recall = [
        f"{r.run} held-out recall {fmt(value(r.heldout_recall_before))} -> {fmt(value(r.heldout_recall))}"
        f" (a random value of the example's facts, no binding: "
        f"{fmt(value(getattr(r, 'heldout_recall_no_binding_guess', None)))})"
        for r in df.itertuples()
        if value(getattr(r, "heldout_recall", None)) is not None
    ]
    base = [
        f"the shipped base {r.run} binds a value to its entity on held-out rows (the hard case) at "
        + ", ".join(
            f"{k} {fmt(value(getattr(r, f'base_binding_{k}')))} (presence {fmt(value(getattr(r, f'base_presence_{k}')))})"
            for k in ("1x", "4x", "8x")
            if value(getattr(r, f"base_binding_{k}", None)) is not None
        )
        + f" its pre-training length; the presence shortcut binds {fmt(value(r.base_binding_control))}"
        for r in df.itertuples()
        if value(getattr(r, "base_binding_1x", None)) is not None
    ]
    return (
        "End of training: "
        + "; ".join(parts)
        + "."
        + (" Pre-training: " + "; ".join(recall) + "." if recall else "")
        + (" Base: " + "; ".join(base) + "." if base else "")
    )


def read_benchmark(df: pd.DataFrame) -> str:
    if df.empty:
        return (
            "No memory/throughput benchmark results (results/benchmarks/*.json absent): run the scripts in benchmarks/."
        )
    return f"{df['file'].nunique()} benchmark file(s), {len(df)} measured values."


def read_stage_times(df: pd.DataFrame) -> str:
    if df.empty or df["wall_s"].isna().all():
        return "No Snakemake job records (results/logs/benchmark/ is written by Snakemake runs)."
    slow = df.loc[df["wall_s"].astype(float).idxmax()]
    text = (
        f"{len(df)} jobs, {df['wall_s'].sum():.0f} s of job wall time in all (jobs run side by side where the "
        f"DAG allows); longest {slow['job']} {slow['wall_s']:.0f} s"
    )
    if df["max_rss_mb"].notna().any():
        big = df.loc[df["max_rss_mb"].astype(float).idxmax()]
        text += f"; largest memory {big['job']} {big['max_rss_mb']:.0f} MB"
    return text + "."


# ---------------------------------------------------------------- writing

TABLES: dict[str, tuple[str, Callable, Callable, str]] = {
    # name: (title, builder, reader, source)
    "claims": ("The paper's claims on this study", claims_table, read_claims, "claims"),
    "main": (
        "Main results: Long-RewardBench columns per model (control rows: `model [set]`)",
        main_table,
        read_main,
        "table_rows",
    ),
    "per_task": ("Pairwise accuracy per task", per_task_table, read_per_task, "metrics"),
    "bon": ("Best-of-N partial credit (Rank2/3/4)", bon_table, read_bon, "metrics"),
    "length": (
        "Pairwise accuracy per context-length bucket (control rows: `model [set]`)",
        length_table,
        read_length,
        "table_rows",
    ),
    "controls": (
        "Controls: pairwise accuracy with the item's own context, another item's, none",
        controls_table,
        read_controls,
        "controls",
    ),
    "difficulty": ("Easy vs hard negatives (pairwise)", difficulty_table, read_difficulty, "metrics"),
    "sets": ("Every benchmark set judged", sets_table, read_sets, "sets"),
    "reliability": (
        "Order consistency, parse failure and truncation by length",
        reliability_table,
        read_reliability,
        "metrics",
    ),
    "failure_modes": (
        "Failure modes by length: parse failure, first-shown response (chance 0.5), order inconsistency, "
        "context gap (own - swap), explanation vs verdict",
        failure_table,
        read_failures,
        "failures",
    ),
    "cells": (
        "Every cell with its 95% bootstrap interval",
        cells_table,
        lambda df: f"{len(df)} cells over {df['protocol'].nunique() if len(df) else 0} scoring protocols.",
        "metrics_all",
    ),
    "vote_fair": (
        "The vote vs each single judge on the same items (95% intervals)",
        vote_fair_table,
        read_vote_fair,
        "audit",
    ),
    "vote": ("Vote label accuracy and yield vs number of judges", vote_table, read_vote, "audit"),
    "vote_threshold": (
        "Vote label accuracy and yield vs agreement threshold",
        vote_threshold_table,
        read_vote_threshold,
        "audit",
    ),
    "training": ("Training runs", training_table, read_training, "runs"),
    "benchmark": ("Memory and throughput benchmark", benchmark_table, read_benchmark, "benchmarks"),
}
# Each job's wall time and memory (stage_times_table) is a fact of the run, not a result: `longrm report
# times` writes it beside the job logs (R/logs/times), so the same inputs give the same tables.


def to_markdown(df: pd.DataFrame, digits: int = 3) -> str:
    def cell(x):
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return ""
        if isinstance(x, float):
            return f"{x:.{digits}f}"
        return str(x).replace("|", "\\|")

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, out_dir: Path, name: str) -> tuple[Path, Path]:
    csv, md = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    with atomic_write(csv) as f:
        df.to_csv(f, index=False, float_format="%.6g", lineterminator="\n")
    with atomic_write(md) as f:
        f.write(to_markdown(df))
    return csv, md


def write_tables(sources: dict[str, object], out_dir: str | Path) -> list[dict]:
    """Write every table whose source is present; return the index entries (also in index.json)."""
    from longrm.report.load import dumps_index

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = []
    for name, (title, build, read, source) in TABLES.items():
        data = sources.get(source)
        if source != "benchmarks" and not data:
            index.append({"name": name, "title": title, "skipped": f"no {source} given"})
            continue
        df = build(data or ({} if source == "benchmarks" else []))
        csv, md = write_table(df, out_dir, name)
        index.append(
            {"name": name, "title": title, "reading": read(df), "csv": csv.name, "md": md.name, "rows": len(df)}
        )
    with atomic_write(out_dir / "index.json") as f:
        f.write(dumps_index(index))
    return index
