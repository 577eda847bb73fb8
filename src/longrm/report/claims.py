"""The paper's claims, each checked on the study's result files with numbers and 95% intervals.

  a  base accuracy falls with length: shortest vs longest bucket (pairwise), difference with a bootstrap
     interval over the items of the two buckets, counted only where the base's own context beats each
     control at the shortest bucket (paired): a judge that scores the same without the context shows no
     context boundary
  b  SFT then LOGO lift the longest bucket: LOGO - base and LOGO - SFT on the same items (paired bootstrap)
  c  controls at chance: every model judged on a control set within `chance_margin` of chance (0.5,
     pairwise) under every control, and above chance (interval) with its own context
  d  short-context accuracy kept: LOGO - base >= -KEPT_TOLERANCE on the short set (paired interval), the
     base above chance there (interval)
  e  the vote beats the best single judge on the same items (vote audit key "fair")
Each claim has one of four outcomes (STATUSES): "holds"; "does not hold" (its comparison fails); "not
measured" (an input is absent: named in the note); "not informative" (the comparison is met only because
the sides sit at chance or collapsed, or its interval cannot tell: a judge that ignores its input must not
make a claim hold).
Targets (issue 11) are reported beside: a claim can hold without reaching its target.
Inputs: bench metrics and item scores per (set, model), the vote audit. No model code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from longrm.data.records import bucket_key
from longrm.seeding import derive_seed

PAIR = "PairWise"
CHANCE = 0.5  # pairwise chance level
HOLDS, FAILS, MISSING, UNINFORMATIVE = "holds", "does not hold", "not measured", "not informative"
STATUSES = (HOLDS, FAILS, MISSING, UNINFORMATIVE)
KEPT_TOLERANCE = 0.02  # claim (d): how far LOGO may sit below the base on the short set


@dataclass
class Inputs:
    """What the claims read: metrics[set][model], item scores[set][model] = {id: row}, the audit."""

    metrics: dict[str, dict[str, dict]]
    scores: dict[str, dict[str, dict[str, dict]]]
    audit: dict | None
    main_set: str
    control_sets: list[str]
    roles: dict = field(default_factory=dict)  # report.claims: base, sft, logo, short_set, chance_margin
    n_boot: int = 1000
    seed: int = 0


def ci_text(lo, hi) -> str:
    return "" if lo is None or hi is None else f"[{lo:.3f}, {hi:.3f}]"


def pair_scores(rows: dict[str, dict], bucket: str | None = None) -> dict[str, float]:
    """{id: score (ours)} of the pairwise items, of one length bucket when given."""
    return {
        i: r["ours"]
        for i, r in rows.items()
        if r.get("tasktype") == PAIR
        and r.get("ours") is not None
        and (bucket is None or r.get("length_bucket") == bucket)
    }


def paired_diff(a: dict[str, float], b: dict[str, float], n_boot: int, seed: int) -> dict | None:
    """mean(a - b) over the items both have, with a percentile bootstrap interval over those items."""
    ids = sorted(set(a) & set(b))
    if not ids:
        return None
    d = np.array([a[i] - b[i] for i in ids], dtype=np.float64)
    lo = hi = None
    if len(d) > 1 and n_boot > 0:
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(1)
        lo, hi = (float(x) for x in np.percentile(means, [2.5, 97.5]))
    return {
        "diff": float(d.mean()),
        "lo": lo,
        "hi": hi,
        "n": len(ids),
        "a": float(np.mean([a[i] for i in ids])),
        "b": float(np.mean([b[i] for i in ids])),
    }


def unpaired_diff(a: list[float], b: list[float], n_boot: int, seed: int) -> dict | None:
    """mean(a) - mean(b), each resampled on its own (different items)."""
    if not a or not b:
        return None
    xa, xb = np.asarray(a, float), np.asarray(b, float)
    lo = hi = None
    if len(xa) > 1 and len(xb) > 1 and n_boot > 0:
        rng = np.random.default_rng(seed)
        da = xa[rng.integers(0, len(xa), (n_boot, len(xa)))].mean(1)
        db = xb[rng.integers(0, len(xb), (n_boot, len(xb)))].mean(1)
        lo, hi = (float(x) for x in np.percentile(da - db, [2.5, 97.5]))
    return {
        "diff": float(xa.mean() - xb.mean()),
        "lo": lo,
        "hi": hi,
        "n": len(xa) + len(xb),
        "a": float(xa.mean()),
        "b": float(xb.mean()),
    }


def pair_cell(m: dict | None, *path) -> dict | None:
    """A pairwise accuracy cell of metrics `m` (ours), e.g. ("PairWise",) or ("length", "2k")."""
    c = (m or {}).get("protocols", {}).get("ours", {})
    for p in path:
        c = (c or {}).get(p)
    return c if isinstance(c, dict) and c.get("value") is not None else None


def claim(
    key: str,
    statement: str,
    status: str,
    measured: str = "",
    interval: str = "",
    target: str = "",
    note: str = "",
    data: dict | None = None,
) -> dict:
    return {
        "claim": key,
        "statement": statement,
        "status": status,
        "measured": measured,
        "ci95": interval,
        "target": target,
        "note": note,
        "data": data or {},
    }


def missing(key: str, statement: str, what: str) -> dict:
    return claim(key, statement, MISSING, note=f"missing input: {what}")


def outcome(satisfied: bool, informative: bool) -> str:
    """A measured claim's status: does not hold when its comparison fails; not informative when the
    comparison is met only because a side sits at chance or its interval cannot tell; holds otherwise."""
    if not satisfied:
        return FAILS
    return HOLDS if informative else UNINFORMATIVE


def above(d: dict | None, level: float, low: str = "lo") -> bool:
    """Whether the interval of `d` (a difference: "lo"; a metrics cell: "ci_low") lies above `level`."""
    return d is not None and d.get(low) is not None and d[low] > level


def unjudged_controls(x: Inputs) -> list[str]:
    """The configured control sets with no metrics at all (named, never dropped)."""
    return [s for s in x.control_sets if not x.metrics.get(s)]


# ---------------------------------------------------------------- the claims


def claim_a(x: Inputs) -> dict:
    stmt = "Base accuracy falls with context length (pairwise, shortest vs longest bucket)"
    base = x.roles["base"]
    m = x.metrics.get(x.main_set, {}).get(base)
    if m is None:
        return missing("a", stmt, f"metrics of {base!r} on set {x.main_set!r}")
    buckets = sorted(m.get("protocols", {}).get("ours", {}).get("length") or {}, key=bucket_key)
    if len(buckets) < 2:
        return missing("a", stmt, f"two length buckets in {base!r}'s metrics")
    short, long_ = buckets[0], buckets[-1]
    rows = x.scores.get(x.main_set, {}).get(base)
    if rows is None:
        return missing("a", stmt, f"item scores of {base!r} on set {x.main_set!r}")
    seed = derive_seed(x.seed, "claims", "a")
    d = unpaired_diff(list(pair_scores(rows, short).values()), list(pair_scores(rows, long_).values()), x.n_boot, seed)
    if d is None:
        return missing("a", stmt, f"pairwise item scores of {base!r} in buckets {short} and {long_}")
    effects, absent = context_effects(x, base, short, rows)
    if absent:
        return missing("a", stmt, f"{base!r} at {short} under control {', '.join(absent)} (no context check)")
    # the weakest control: one the context does not beat at all first, else the lowest interval
    context = min(effects, key=lambda g: (g["diff"] > 0, -np.inf if g["lo"] is None else g["lo"]))
    status = outcome(above(d, 0) and context["diff"] > 0, above(context, 0))
    met = d["a"] >= 0.75 and d["diff"] >= 0.10
    return claim(
        "a",
        stmt,
        status,
        f"{base} {d['a']:.3f} at {short} -> {d['b']:.3f} at {long_} (drop {d['diff']:+.3f})",
        ci_text(d["lo"], d["hi"]),
        f"base >= 0.75 at {short} and >= 0.10 lower at {long_}: " + ("met" if met else "not met"),
        context_note(base, short, context),
        {"short": short, "long": long_, **d, "context_effect": context},
    )


def context_note(model: str, bucket: str, c: dict) -> str:
    verdict = (
        ""
        if above(c, 0)
        else (": not above 0, so the fall is not a context boundary" if c["diff"] <= 0 else ": the interval reaches 0")
    )
    return (
        f"context effect at {bucket}: {model} with its context - under control {c['set']} "
        f"{c['diff']:+.3f} {ci_text(c['lo'], c['hi'])} (n = {c['n']}){verdict}"
    )


def context_effects(x: Inputs, model: str, bucket: str, rows: dict) -> tuple[list[dict], list[str]]:
    """The paired gain of `model`'s own context over each configured control (same items, one bucket): a
    fall with length is a context boundary only if the context helps where accuracy is highest. Also the
    controls it cannot be computed for (no control configured, none judged, no items in common)."""
    if not x.control_sets:
        return [], ["none configured (bench.sets entries with `control`)"]
    own = pair_scores(rows, bucket)
    gains, absent = [], []
    for s in x.control_sets:
        ctrl = x.scores.get(s, {}).get(model)
        d = ctrl and paired_diff(own, pair_scores(ctrl, bucket), x.n_boot, derive_seed(x.seed, "claims", "a", s))
        if d:
            gains.append({**d, "set": s})
        else:
            absent.append(s if x.metrics.get(s) else f"{s} (no metrics)")
    return gains, absent


def claim_b(x: Inputs) -> dict:
    stmt = "SFT then LOGO lift the longest bucket (paired over the same items)"
    names = [x.roles[r] for r in ("base", "sft", "logo")]
    rows = {n: x.scores.get(x.main_set, {}).get(n) for n in names}
    absent = [n for n, r in rows.items() if r is None]
    if absent:
        return missing("b", stmt, f"item scores of {', '.join(absent)} on set {x.main_set!r}")
    buckets = sorted({r["length_bucket"] for r in rows[names[2]].values() if r.get("tasktype") == PAIR}, key=bucket_key)
    if not buckets:
        return missing("b", stmt, "pairwise items")
    long_ = buckets[-1]
    base, sft, logo = (pair_scores(rows[n], long_) for n in names)
    vs_base = paired_diff(logo, base, x.n_boot, derive_seed(x.seed, "claims", "b", "base"))
    vs_sft = paired_diff(logo, sft, x.n_boot, derive_seed(x.seed, "claims", "b", "sft"))
    if vs_base is None or vs_sft is None:
        return missing("b", stmt, f"items judged by all of {', '.join(names)} at {long_}")
    status = outcome(above(vs_base, 0) and vs_sft["diff"] > 0, above(vs_sft, 0))
    met = vs_base["diff"] >= 0.15 and vs_sft["diff"] >= 0.03 and above(vs_base, 0) and above(vs_sft, 0)
    return claim(
        "b",
        stmt,
        status,
        f"at {long_}: {names[0]} {vs_base['b']:.3f}, {names[1]} {vs_sft['b']:.3f}, {names[2]} {vs_base['a']:.3f}; "
        f"{names[2]} - {names[0]} {vs_base['diff']:+.3f}, {names[2]} - {names[1]} {vs_sft['diff']:+.3f} "
        f"(n = {vs_base['n']})",
        f"{names[2]} - {names[0]} {ci_text(vs_base['lo'], vs_base['hi'])}; "
        f"{names[2]} - {names[1]} {ci_text(vs_sft['lo'], vs_sft['hi'])}",
        "+0.15 over base and +0.03 over SFT, intervals excluding 0: " + ("met" if met else "not met"),
        f"holds when both {names[2]} - {names[0]} and {names[2]} - {names[1]} have intervals above 0; "
        "a positive point estimate over SFT alone is not informative",
        {"bucket": long_, "logo_minus_base": vs_base, "logo_minus_sft": vs_sft},
    )


def rate(m: dict | None, *path) -> float | None:
    """A rate cell's value in metrics `m` (e.g. "parse_failure", "all_orders"); None when absent."""
    c = m or {}
    for p in path:
        c = (c or {}).get(p)
    return c.get("value") if isinstance(c, dict) else None


def own_context(m: dict | None) -> dict:
    """A judge on its own context: pairwise accuracy (interval, n), whether the interval is above chance,
    and its parse-failure and first-position rates (a judge that answers one letter whatever it reads
    scores 0.5 with a first-position rate of 1 or 0; one that never parses, 0.5 with parse failure 1)."""
    c = pair_cell(m, PAIR)
    return {
        "own_context": c["value"] if c else None,
        "own_context_ci": ci_text(c["ci_low"], c["ci_high"]) if c else "",
        "own_context_n": c.get("n") if c else None,
        "own_context_above_chance": above(c, CHANCE, "ci_low"),
        "parse_failure": rate(m, "parse_failure", "all_orders"),
        "first_position_rate": rate(m, "position_bias", "first_position_rate"),
    }


def control_flag(row: dict) -> str:
    if row["controls_at_chance"] is False:
        return "FLAG: judges without its context"
    if row["controls_at_chance"] is None:
        return "not measured"
    return "" if row["own_context_above_chance"] else "at chance with its own context: not informative"


def control_rows(x: Inputs) -> list[dict]:
    """Per model judged on any control set: its main-set pairwise accuracy (95% interval, above chance or
    not, parse-failure and first-position rates) and its accuracy under each control, and whether every
    control is within the margin of chance."""
    margin = x.roles["chance_margin"]
    names = [n for s in x.control_sets for n in x.metrics.get(s, {})]
    rows = []
    for name in dict.fromkeys(names):
        row = {"model": name, **own_context(x.metrics.get(x.main_set, {}).get(name))}
        at_chance, measured = True, True
        for s in x.control_sets:
            c = pair_cell(x.metrics.get(s, {}).get(name), PAIR)
            row[s] = c["value"] if c else None
            row[f"{s}_ci"] = ci_text(c["ci_low"], c["ci_high"]) if c else ""
            row[f"{s}_n"] = c.get("n") if c else None  # pairs judged (a control may hold a share of them)
            if c is None:
                measured = False
            elif abs(c["value"] - CHANCE) > margin:
                at_chance = False
        row["controls_at_chance"] = False if not at_chance else (True if measured else None)
        row["flag"] = control_flag(row)
        rows.append(row)
    return rows


def collapse_text(r: dict) -> str:
    pf, first = r["parse_failure"], r["first_position_rate"]
    return (
        f"{r['model']} {'n/a' if r['own_context'] is None else format(r['own_context'], '.3f')} "
        f"{r['own_context_ci']} (parse failure {'n/a' if pf is None else format(pf, '.3f')}, "
        f"first position {'n/a' if first is None else format(first, '.3f')})"
    )


def claim_c(x: Inputs) -> dict:
    stmt = (
        f"Every model judged on the controls is within {x.roles['chance_margin']:.2f} of chance (0.5) under each, "
        "and above chance with its own context"
    )
    if not x.control_sets:
        return missing("c", stmt, "control sets (bench.sets entries with `control`)")
    rows = control_rows(x)
    if not rows:
        return missing("c", stmt, f"metrics on control sets {', '.join(x.control_sets)}")
    off = [r["model"] for r in rows if r["controls_at_chance"] is False]
    unmeasured = [r["model"] for r in rows if r["controls_at_chance"] is None]
    blind = [r for r in rows if r["controls_at_chance"] and not r["own_context_above_chance"]]
    unjudged = unjudged_controls(x)
    if unjudged or unmeasured:
        status = MISSING
    else:
        status = outcome(not off, not blind)
    notes = [
        f"control set without metrics: {', '.join(unjudged)}" if unjudged else "",
        f"flagged: {', '.join(off)}" if off else "",
        f"not every control run for {', '.join(unmeasured)}" if unmeasured else "",
        "at chance with its own context: " + "; ".join(collapse_text(r) for r in blind) if blind else "",
    ]
    parts = [
        f"{r['model']} "
        + " / ".join("n/a" if r[k] is None else f"{r[k]:.3f}" for k in ("own_context", *x.control_sets))
        for r in rows
    ]
    return claim(
        "c",
        stmt,
        status,
        f"own context / {' / '.join(x.control_sets)}: " + "; ".join(parts),
        "per model in the controls table",
        "within the margin for every trained judge: " + ("met" if status == HOLDS else "not met"),
        ". ".join(n for n in notes if n),
        {"rows": rows, "unjudged_controls": unjudged},
    )


def claim_d(x: Inputs) -> dict:
    stmt = (
        f"Short-context accuracy is kept: after SFT then LOGO, LOGO - base >= -{KEPT_TOLERANCE:.2f} on the short set "
        "(pairwise), the base above chance there"
    )
    short, base, logo = x.roles["short_set"], x.roles["base"], x.roles["logo"]
    if short not in x.metrics:
        return missing("d", stmt, f"set {short!r} (no metrics)")
    base_cell = pair_cell(x.metrics[short].get(base), PAIR)
    rows = {n: x.scores.get(short, {}).get(n) for n in (base, logo)}
    absent = [n for n, r in rows.items() if r is None]
    if absent or base_cell is None:
        return missing("d", stmt, f"metrics and item scores of {', '.join(absent or [base])} on set {short!r}")
    d = paired_diff(pair_scores(rows[logo]), pair_scores(rows[base]), x.n_boot, derive_seed(x.seed, "claims", "d"))
    if d is None:
        return missing("d", stmt, f"pairwise items judged by both {base} and {logo} on {short!r}")
    base_above = above(base_cell, CHANCE, "ci_low")
    status = outcome(d["diff"] >= -KEPT_TOLERANCE, base_above)
    base_ci = ci_text(base_cell["ci_low"], base_cell["ci_high"])
    return claim(
        "d",
        stmt,
        status,
        f"{base} {d['b']:.3f}, {logo} {d['a']:.3f} ({logo} - {base} {d['diff']:+.3f}, n = {d['n']})",
        f"{logo} - {base} {ci_text(d['lo'], d['hi'])}; {base} {base_ci or '(no interval)'}",
        f"{logo} >= {base}: " + ("met" if status == HOLDS and d["diff"] >= 0 else "not met"),
        "" if base_above else f"{base} is not above chance (0.5) on {short}: keeping its accuracy says nothing",
        data={**d, "base_cell": base_cell},
    )


def claim_e(x: Inputs) -> dict:
    stmt = "The vote beats the best single judge on the same kept items (paired)"
    audit = x.audit or {}
    fair, paired = audit.get("fair"), audit.get("fair_paired") or {}
    same = fair.get("same_items") if isinstance(fair, dict) else None
    if not isinstance(same, dict) or "vote" not in same or not same.get("judges"):
        return missing("e", stmt, "vote audit key 'fair' (results/vote/audit.json)")
    best = same.get("best_judge") or max(same["judges"], key=lambda j: same["judges"][j]["acc"])
    v, j = same["vote"], same["judges"][best]
    d = (paired.get("same_items") or {}).get(best) or {}
    if d.get("lo") is None:
        return missing("e", stmt, f"vote audit key 'fair_paired' for {best} (results/vote/audit.json)")
    holds = d["lo"] > 0
    return claim(
        "e",
        stmt,
        HOLDS if holds else FAILS,
        f"vote {v['acc']:.3f}, best judge {best} {j['acc']:.3f}, vote - {best} {d['diff']:+.3f} (n = {same.get('n')})",
        f"vote - {best} {ci_text(d['lo'], d['hi'])}; vote {ci_text(v.get('lo'), v.get('hi'))}; "
        f"{best} {ci_text(j.get('lo'), j.get('hi'))}",
        "vote above the best single judge, paired interval above 0: " + ("met" if holds else "not met"),
        note=own_items_note(fair, paired, best),
        data={"vote": v, "best": best, "judge": j, "diff": d},
    )


def own_items_note(fair: dict, paired: dict, judge: str) -> str:
    """The other fair comparison: the judge on the items where it is order-consistent, vs the vote there."""
    own = (fair.get("own_consistent") or {}).get(judge)
    d = (paired.get("own_consistent") or {}).get(judge) or {}
    if not own or d.get("diff") is None:
        return ""
    return (
        f"on {judge}'s own order-consistent items (n = {own['n']}): {judge} {own['judge']['acc']:.3f}, "
        f"vote {own['vote']['acc']:.3f} (vote - {judge} {d['diff']:+.3f} {ci_text(d['lo'], d['hi'])})"
    )


def all_claims(x: Inputs) -> list[dict]:
    return [claim_a(x), claim_b(x), claim_c(x), claim_d(x), claim_e(x)]
