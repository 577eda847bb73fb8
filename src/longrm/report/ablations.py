"""`longrm report ablations`: the training ablations' tables, figure and claim (f), from the item scores of
every variant on every ablation set (config `ablations`, plan: longrm.ablations) and the relabelling report.

  ablations.csv          variant x set x length bucket (`all` first): pairwise accuracy, and minus the main run
                         (`ablations.compare_with`) on the same items, with a 95% paired bootstrap interval
  ablation_variants.csv  per variant: what it trains and from what, its overrides and labels; on the main
                         set (the first file set of `ablations.sets`) its accuracy vs the main run overall and
                         at the longest bucket, and its context gap (own context - swap control, paired)
  labels.csv             vote labels vs the best single judge's: training items, label accuracy, held-out
                         accuracy of the model trained on them, and their paired difference (claim f)
  ablations_by_length    figure: accuracy by length per variant; each variant minus the main run (95% interval)
  claims.json            [claim (f)], which `report tables --ablations` puts in REPORT's claims table
  index.json             the tables' and figure's entries, as R/tables and R/figures index them
Reads result files and the config only; no model code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from longrm.data.io import atomic_write, read_json, write_json
from longrm.data.records import bucket_key
from longrm.report import tables as T
from longrm.report.claims import (
    CHANCE,
    FAILS,
    HOLDS,
    UNINFORMATIVE,
    above,
    ci_text,
    claim,
    missing,
    pair_scores,
    paired_diff,
)
from longrm.seeding import derive_seed

CLAIM_F = "f"
CLAIM_F_STATEMENT = (
    "Voting buys better training data: SFT + LOGO on the vote's labels beats the same training on the best "
    "single judge's labels (as many items, same sources), paired on the same held-out items"
)


@dataclass
class Ablations:
    """What the ablation report reads: item scores[set][variant] = {id: row}, the config's plan."""

    scores: dict[str, dict[str, dict[str, dict]]]
    plan: list  # longrm.ablations.Variant, config order
    specs: dict[str, dict]  # ablations.variants
    compare_with: str
    sets: list[str]
    main_set: str
    swap_set: str | None
    labels: dict | None
    n_boot: int
    seed: int


def ablation_inputs(cfg: dict, scores: dict, labels: dict | None) -> Ablations:
    from longrm.ablations import ablation_plan
    from longrm.bench.sets import bench_sets

    ab = cfg["ablations"]
    sets = {s.name: s for s in bench_sets(cfg)}
    main = next((s for s in ab["sets"] if not sets[s].control), ab["sets"][0])
    swap = next((s for s in ab["sets"] if sets[s].control == "swap" and sets[s].of == main), None)
    return Ablations(
        scores,
        ablation_plan(cfg),
        ab["variants"],
        ab["compare_with"],
        list(ab["sets"]),
        main,
        swap,
        labels,
        cfg["bench"]["bootstrap"],
        cfg["seed"],
    )


# ---------------------------------------------------------------- tables


def buckets(rows: dict) -> list[str]:
    return sorted({r["length_bucket"] for r in rows.values() if r.get("tasktype") == "PairWise"}, key=bucket_key)


def versus(x: Ablations, set_name: str, variant: str, bucket: str | None) -> tuple[dict, dict | None]:
    """(the variant's pairwise scores in the bucket, its paired difference from the main run there)."""
    rows = x.scores.get(set_name, {})
    mine = pair_scores(rows.get(variant) or {}, bucket)
    if variant == x.compare_with or x.compare_with not in rows:
        return mine, None
    main = pair_scores(rows[x.compare_with], bucket)
    seed = derive_seed(x.seed, "ablations", set_name, variant, bucket or "all")
    return mine, paired_diff(mine, main, x.n_boot, seed)


def length_row(x: Ablations, set_name: str, variant: str, bucket: str | None) -> dict:
    mine, d = versus(x, set_name, variant, bucket)
    return {
        "variant": variant,
        "set": set_name,
        "length": bucket or "all",
        "n": len(mine),
        "accuracy": round(sum(mine.values()) / len(mine), 6) if mine else None,
        "main": d["b"] if d else None,
        "minus_main": d["diff"] if d else None,
        "ci_low": d["lo"] if d else None,
        "ci_high": d["hi"] if d else None,
    }


def ablations_table(x: Ablations) -> pd.DataFrame:
    rows = []
    for v in x.plan:
        for s in x.sets:
            lengths = buckets(x.scores.get(s, {}).get(v.name) or {})
            for b in [None, *(lengths if len(lengths) > 1 else [])]:  # one bucket: its row is `all`
                rows.append(length_row(x, s, v.name, b))
    return pd.DataFrame(rows).astype({"n": "Int64"})


def overrides_text(spec: dict) -> str:
    return "; ".join(
        f"{section}.{k}={val}" for section, keys in (spec.get("train") or {}).items() for k, val in keys.items()
    )


def trained_text(variant) -> str:
    """Which stages the variant trains, and which are the main run's models."""
    parts = [f"{r.stage} ({'main run' if r.main else 'trained'})" for r in variant.runs]
    return ", ".join(parts)


def interval(d: dict | None) -> tuple:
    return (d["diff"], ci_text(d["lo"], d["hi"])) if d else (None, "")


def variant_row(x: Ablations, variant) -> dict:
    rows = x.scores.get(x.main_set, {}).get(variant.name) or {}
    longest = (buckets(rows) or [None])[-1]
    mine, overall = versus(x, x.main_set, variant.name, None)
    _, at_longest = versus(x, x.main_set, variant.name, longest)
    swap = (x.scores.get(x.swap_set, {}) if x.swap_set else {}).get(variant.name)
    seed = derive_seed(x.seed, "ablations", "gap", variant.name)
    gap = paired_diff(mine, pair_scores(swap), x.n_boot, seed) if swap else None
    spec = x.specs[variant.name]
    return {
        "variant": variant.name,
        "stages": trained_text(variant),
        "labels": variant.labels,
        "overrides": overrides_text(spec),
        "note": spec.get("note", ""),
        "accuracy": round(sum(mine.values()) / len(mine), 6) if mine else None,
        "minus_main": interval(overall)[0],
        "minus_main_ci": interval(overall)[1],
        "longest": longest or "",
        "minus_main_longest": interval(at_longest)[0],
        "minus_main_longest_ci": interval(at_longest)[1],
        "context_gap": interval(gap)[0],
        "context_gap_ci": interval(gap)[1],
    }


def variants_table(x: Ablations) -> pd.DataFrame:
    return pd.DataFrame([variant_row(x, v) for v in x.plan])


def label_arms(x: Ablations) -> tuple[str, str] | None:
    """(vote-label variant, best-judge-label variant): the first best_judge variant that has a vote twin."""
    for v in x.plan:
        twin = vote_twin(x, v) if v.labels == "best_judge" else None
        if twin:
            return twin, v.name
    return None


def vote_twin(x: Ablations, variant) -> str | None:
    """The variant on the vote's labels that trains the same stages with the same overrides as `variant`."""
    overrides = x.specs[variant.name].get("train") or {}
    for w in x.plan:
        if w.labels == "vote" and w.stages == variant.stages and (x.specs[w.name].get("train") or {}) == overrides:
            return w.name
    return None


def labels_table(x: Ablations) -> pd.DataFrame:
    arms = label_arms(x)
    if arms is None:
        return pd.DataFrame()
    vote, judge = arms
    rows = x.scores.get(x.main_set, {})
    d = paired_diff(
        pair_scores(rows.get(vote) or {}),
        pair_scores(rows.get(judge) or {}),
        x.n_boot,
        derive_seed(x.seed, "claims", CLAIM_F),
    )
    lab = x.labels or {}
    judge_name = lab.get("judge", "best single judge")
    out = []
    for arm, variant, labelled in (("vote", vote, "vote"), (f"best single judge ({judge_name})", judge, "judge")):
        out.append(
            {
                "labels": arm,
                "variant": variant,
                "training_items": lab.get("vote_kept" if labelled == "vote" else "kept"),
                "training_sources": lab.get(f"train_sources_{labelled}"),
                "label_accuracy": lab.get(f"label_accuracy_{labelled}"),
                "heldout_accuracy": (d["a"] if labelled == "vote" else d["b"]) if d else None,
                "n": d["n"] if d else None,
            }
        )
    df = pd.DataFrame(out)
    df["vote_minus_judge"] = d["diff"] if d else None
    df["ci95"] = ci_text(d["lo"], d["hi"]) if d else ""
    return df


# ---------------------------------------------------------------- claim (f)


def above_chance(scores: dict[str, float], n_boot: int, seed: int) -> bool:
    """Whether the mean pairwise accuracy's bootstrap interval lies above chance."""
    d = paired_diff(scores, {i: CHANCE for i in scores}, n_boot, seed)
    return above(d, 0)


def claim_f(x: Ablations) -> dict:
    arms = label_arms(x)
    if arms is None:
        return missing(CLAIM_F, CLAIM_F_STATEMENT, "an ablation variant with `labels: best_judge` and its vote twin")
    vote, judge = arms
    rows = x.scores.get(x.main_set, {})
    absent = [n for n in arms if not rows.get(n)]
    if absent:
        return missing(CLAIM_F, CLAIM_F_STATEMENT, f"item scores of {', '.join(absent)} on set {x.main_set!r}")
    a, b = pair_scores(rows[vote]), pair_scores(rows[judge])
    d = paired_diff(a, b, x.n_boot, derive_seed(x.seed, "claims", CLAIM_F))
    if d is None:
        return missing(CLAIM_F, CLAIM_F_STATEMENT, f"pairwise items judged by both {vote} and {judge}")
    informative = any(
        above_chance(s, x.n_boot, derive_seed(x.seed, "claims", CLAIM_F, n)) for n, s in zip(arms, (a, b))
    )
    status = UNINFORMATIVE if not informative else (HOLDS if above(d, 0) else FAILS)
    lab = x.labels or {}
    at_chance = "" if informative else " Both trained judges are at chance on the held-out set: the labels cannot show."
    return claim(
        CLAIM_F,
        CLAIM_F_STATEMENT,
        status,
        f"{vote} (vote labels) {d['a']:.3f}, {judge} ({lab.get('judge', 'best judge')}'s labels) {d['b']:.3f}, "
        f"{vote} - {judge} {d['diff']:+.3f} (n = {d['n']})",
        f"{vote} - {judge} {ci_text(d['lo'], d['hi'])}",
        "vote labels above single-judge labels, paired interval above 0: " + ("met" if status == HOLDS else "not met"),
        labels_note(lab) + at_chance,
        {"vote": vote, "judge": judge, "diff": d, "labels": lab},
    )


def labels_note(lab: dict) -> str:
    if not lab:
        return "no relabelling report"
    return (
        f"training labels: the vote's {lab.get('vote_kept')} items (label accuracy {lab.get('label_accuracy_vote')}), "
        f"{lab.get('judge')}'s {lab.get('kept')} items (label accuracy {lab.get('label_accuracy_judge')}), "
        f"{lab.get('kept_also_by_vote')} of them kept by the vote too."
    )


# ---------------------------------------------------------------- readings


def fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and pd.isna(x)) else f"{x:+.3f}"


def read_ablations(df: pd.DataFrame, x: Ablations) -> str:
    d = df[(df["set"] == x.main_set) & (df["length"] == "all")].dropna(subset=["minus_main"])
    if d.empty:
        return f"No variant was judged beside {x.compare_with} on {x.main_set}."
    parts = [
        f"{r['variant']} {fmt(r['minus_main'])} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        for _, r in d.iterrows()
        if pd.notna(r["ci_low"])
    ]
    return (
        f"On {x.main_set}, each variant minus {x.compare_with} on the same pairwise items (95% interval): "
        + "; ".join(parts)
        + "."
    )


def read_variants(df: pd.DataFrame, x: Ablations) -> str:
    d = df.dropna(subset=["context_gap"])
    gaps = "; ".join(f"{r['variant']} {fmt(r['context_gap'])} {r['context_gap_ci']}" for _, r in d.iterrows())
    return (
        f"What each variant trains and from what (a stage marked 'main run' is the main run's model, not retrained); "
        f"context gap on {x.main_set} (own context - swap control): {gaps or 'not measured'}."
    )


def read_labels(df: pd.DataFrame) -> str:
    if df.empty:
        return "No labels ablation."
    vote, judge = df.iloc[0], df.iloc[1]
    return (
        f"Trained on the vote's labels ({vote['variant']}) vs on {judge['labels']}'s ({judge['variant']}): held-out "
        f"accuracy {T.fmt(vote['heldout_accuracy'])} vs {T.fmt(judge['heldout_accuracy'])} (vote - judge "
        f"{fmt(vote['vote_minus_judge'])} {vote['ci95']}, n = {vote['n']}); training label accuracy "
        f"{T.fmt(vote['label_accuracy'])} vs {T.fmt(judge['label_accuracy'])}."
    )


# ---------------------------------------------------------------- figure


def ablations_figure(df: pd.DataFrame, x: Ablations):
    """Left: accuracy by length per variant on the main set; right: each variant minus the main run there."""
    from longrm.report.figures import _plt, colour_of, model_colours

    d = df[(df["set"] == x.main_set) & (df["length"] != "all")]
    if d.empty:
        return None
    plt, _ = _plt()
    lengths = sorted(d["length"].unique(), key=bucket_key)
    colours = model_colours([v.name for v in x.plan])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.0))
    names = list(dict.fromkeys(d["variant"]))
    for k, (name, g) in enumerate(d.groupby("variant", sort=False)):
        g = g.set_index("length").reindex(lengths)
        colour = colour_of(colours, name)
        left.plot(range(len(lengths)), g["accuracy"].astype(float), marker="o", label=name, color=colour)
        if g["minus_main"].notna().any():
            x_at = [i + (k - len(names) / 2) * 0.05 for i in range(len(lengths))]
            y = g["minus_main"].astype(float)
            err = [(y - g["ci_low"].astype(float)).fillna(0), (g["ci_high"].astype(float) - y).fillna(0)]
            right.errorbar(x_at, y, yerr=err, marker="o", capsize=2, label=name, color=colour)
    left.axhline(CHANCE, color="grey", linewidth=0.8, linestyle=":")
    right.axhline(0.0, color="grey", linewidth=0.8, linestyle=":")
    for ax, title in ((left, f"pairwise accuracy on {x.main_set}"), (right, f"minus {x.compare_with}, same items")):
        ax.set_xticks(range(len(lengths)), lengths)
        ax.set_xlabel("context length")
        ax.set_title(title)
    left.set_ylim(0, 1)
    left.legend(fontsize=7)
    return fig, read_ablations(df, x)


# ---------------------------------------------------------------- writing


def write_ablation_report(x: Ablations, out_dir: str | Path) -> list[dict]:
    from longrm.report.figures import save
    from longrm.report.load import dumps_index
    from longrm.report.tables import write_table

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_length = ablations_table(x)
    tables = (
        (
            "ablations",
            "Ablations: pairwise accuracy by length, each variant minus the main run (same items)",
            by_length,
            read_ablations(by_length, x),
        ),
        (
            "ablation_variants",
            "Ablation variants: what each trains, and its gain over the main run",
            variants_table(x),
            None,
        ),
        ("labels", "Vote labels vs the best single judge's labels (claim f)", labels_table(x), None),
    )
    index = []
    for name, title, df, reading in tables:
        reading = reading or (read_variants(df, x) if name == "ablation_variants" else read_labels(df))
        csv, md = write_table(df, out, name)
        index.append(
            {"name": name, "title": title, "reading": reading, "csv": csv.name, "md": md.name, "rows": len(df)}
        )
    made = ablations_figure(by_length, x)
    if made is not None:
        png, pdf = save(made[0], out, "ablations_by_length")
        title = "Ablations: accuracy by length per variant, and minus the main run (95% interval)"
        index.append(
            {"name": "ablations_by_length", "title": title, "reading": made[1], "png": png.name, "pdf": pdf.name}
        )
    write_json(out / "claims.json", [claim_f(x)])
    with atomic_write(out / "index.json") as f:
        f.write(dumps_index(index))
    return index


def ablation_claims(folder: str | Path | None, configured: bool) -> list[dict]:
    """Claim (f) for REPORT's claims table: from the ablations' report when it is there, else not measured."""
    path = Path(folder) / "claims.json" if folder else None
    if path is not None and path.is_file():
        return read_json(path)
    why = "the ablations' report (`make ablations`)" if configured else "an `ablations` section in the config"
    return [missing(CLAIM_F, CLAIM_F_STATEMENT, why)]


# ---------------------------------------------------------------- cost per variant (a timing: beside the logs)

COST_KINDS = {"train_ablation": "train_s", "bench_ablation": "bench_s", "bench_score_ablation": "bench_s"}
LABEL_JOBS = ("vote_relabel", "vote_split_relabeled")


def job_variant(job: str) -> tuple[str, str] | None:
    """(cost column, variant) of an ablation job record's name (`train_ablation:VARIANT/STAGE`,
    `bench_ablation:SET/VARIANT`, `bench_score_ablation:SET/VARIANT`); None for another job."""
    rule, _, wildcards = job.partition(":")
    if rule not in COST_KINDS:
        return None
    first, _, last = wildcards.partition("/")
    return COST_KINDS[rule], first if rule == "train_ablation" else last


def variant_costs(rows: list[dict], plan: list) -> pd.DataFrame:
    """Per variant: wall seconds of its training jobs, its bench jobs (run + score) and, for the labels
    ablation, of relabelling and splitting; 0 for a variant that is the main run's models and judgments."""
    costs = {v.name: {"variant": v.name, "train_s": 0.0, "bench_s": 0.0, "labels_s": 0.0, "jobs": 0} for v in plan}
    best_judge = [v.name for v in plan if v.labels == "best_judge"]
    for r in rows:
        hit = job_variant(r["job"])
        owners = [hit] if hit and hit[1] in costs else []
        owners += [("labels_s", name) for name in best_judge if r["job"] in LABEL_JOBS]
        for kind, name in owners:
            costs[name][kind] += r["wall_s"] or 0.0
            costs[name]["jobs"] += 1
    df = pd.DataFrame(list(costs.values()))
    df["total_s"] = df["train_s"] + df["bench_s"] + df["labels_s"]
    return df


def read_variant_costs(df: pd.DataFrame) -> str:
    if df.empty or not df["jobs"].any():
        return "No ablation job records."
    parts = [f"{r['variant']} {r['total_s']:.0f} s ({r['jobs']} jobs)" for _, r in df.iterrows()]
    return (
        "Wall time per variant (train + bench + labels; 0: the main run's models and judgments): "
        + "; ".join(parts)
        + "."
    )
