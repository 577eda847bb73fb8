"""`vote audit`: how good is the vote's label? (format: docs/formats/vote.md)

Label accuracy = share of KEPT items whose majority label equals the gold ranking (for a pair: the
vote picks the chosen response). A single judge is scored the way it would be used alone: every
(item, order) verdict against gold, over ALL items ("per_order_accuracy"); also over the items it is
consistent on, and over the items the full vote keeps. Curves re-run the vote (vote.tally) on subsets
of judges and at other thresholds from the per-judge verdicts stored in votes.jsonl.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from longrm.seeding import derive_seed, rng_for
from longrm.vote.tally import tally

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MAX_SUBSETS = 256
BOOTSTRAP = 1000  # item resamples behind each 95% interval of the fair comparison


def _vote_over(votes: list[dict], names: Sequence[str], threshold: float, min_judges: int) -> dict:
    kept = correct = 0
    for v in votes:
        t = tally({n: v["judges"][n]["label"] for n in names}, threshold, min(min_judges, len(names)))
        if t.kept:
            kept += 1
            correct += t.majority == v["gold"]
    return {"kept": kept, "yield": kept / len(votes) if votes else 0.0, "accuracy": correct / kept if kept else None}


def judge_stats(votes: list[dict], name: str) -> dict:
    per_order = [r == v["gold"] for v in votes for r in v["judges"][name]["rankings"]]
    cons = [v for v in votes if v["judges"][name]["consistent"]]
    kept = [v for v in votes if v["kept"]]
    kept_orders = [r == v["gold"] for v in kept for r in v["judges"][name]["rankings"]]
    return {
        "per_order_accuracy": sum(per_order) / len(per_order) if per_order else None,
        "consistency": len(cons) / len(votes) if votes else None,
        "consistent_accuracy": (sum(v["judges"][name]["label"] == v["gold"] for v in cons) / len(cons))
        if cons
        else None,
        "per_order_accuracy_on_kept": sum(kept_orders) / len(kept_orders) if kept_orders else None,
    }


def judge_item_score(v: dict, name: str) -> float:
    """A single judge used alone on one item: the share of its orders whose verdict equals gold
    (an unparsed verdict counts as wrong)."""
    rankings = v["judges"][name]["rankings"]
    return sum(r == v["gold"] for r in rankings) / len(rankings) if rankings else 0.0


def vote_item_score(v: dict) -> float:
    """The vote's majority label against gold (no majority, a tie, counts as wrong)."""
    return float(v["majority"] is not None and v["majority"] == v["gold"])


def _interval(samples: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))


def _cell(scores: np.ndarray, idx: np.ndarray) -> dict:
    """{acc, lo, hi}: the mean and its percentile 95% interval over the item resamples `idx`."""
    if not len(scores):
        return {"acc": None, "lo": None, "hi": None}
    lo, hi = _interval(scores[idx].mean(axis=1)) if len(idx) else (None, None)
    return {"acc": _r(scores.mean()), "lo": _r(lo), "hi": _r(hi)}


def _diff(a: np.ndarray, b: np.ndarray, idx: np.ndarray) -> dict:
    """Paired difference mean(a - b) over the same resampled items, with its 95% interval."""
    cell = _cell(a - b, idx)
    return {"diff": cell["acc"], "lo": cell["lo"], "hi": cell["hi"]}


def _r(x):
    return None if x is None else round(float(x), 6)


def _resamples(n: int, n_boot: int, seed: int, *key) -> np.ndarray:
    """n_boot resamples of n items (seeded from the config seed and `key`); none when n < 2."""
    if n < 2 or n_boot <= 0:
        return np.zeros((0, n), dtype=np.int64)
    return np.random.default_rng(derive_seed(seed, "vote-fair", *key)).integers(0, n, size=(n_boot, n))


def fair_comparison(votes: list[dict], names: Sequence[str], seed: int, n_boot: int = BOOTSTRAP) -> tuple[dict, dict]:
    """The vote against each single judge on the same items (docs/formats/vote.md, "fair"):
    same_items     the items the vote keeps: the vote's label vs each judge used alone (share of its orders
                   right), paired resamples of those items;
    own_consistent each judge's order-consistent items: its label vs the vote's majority label there.
    Returns ("fair", "fair_paired"): the accuracies with 95% intervals, and the paired differences
    vote - judge with theirs."""
    kept = [v for v in votes if v["kept"]]
    idx = _resamples(len(kept), n_boot, seed, "same_items")
    vote = np.array([vote_item_score(v) for v in kept])
    per_judge = {n: np.array([judge_item_score(v, n) for v in kept]) for n in names}
    judges = {n: _cell(x, idx) for n, x in per_judge.items()}
    best = max(
        names,
        key=lambda n: (judges[n]["acc"] if judges[n]["acc"] is not None else -1.0, -list(names).index(n)),
        default=None,
    )
    same = {"n": len(kept), "vote": _cell(vote, idx), "judges": judges, "best_judge": best}
    paired_same = {n: _diff(vote, x, idx) for n, x in per_judge.items()}
    own, paired_own = {}, {}
    for n in names:
        cons = [v for v in votes if v["judges"][n]["label"] is not None]
        jdx = _resamples(len(cons), n_boot, seed, "own_consistent", n)
        judge = np.array([float(v["judges"][n]["label"] == v["gold"]) for v in cons])
        vote_there = np.array([vote_item_score(v) for v in cons])
        own[n] = {"n": len(cons), "judge": _cell(judge, jdx), "vote": _cell(vote_there, jdx)}
        paired_own[n] = _diff(vote_there, judge, jdx)
    return (
        {"same_items": same, "own_consistent": own},
        {"bootstrap": n_boot, "same_items": paired_same, "own_consistent": paired_own},
    )


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def _best(names: Sequence[str], score) -> str | None:
    """The judge with the highest `score(name)` (None scores skipped), the earlier one on a tie."""
    scored = [n for n in names if score(n) is not None]
    return max(scored, key=lambda n: (score(n), -list(names).index(n)), default=None)


def by_k(votes: list[dict], names: Sequence[str], threshold: float, min_judges: int, seed: int) -> list[dict]:
    """The vote of the first K judges (config order) and the mean over K-subsets (at most MAX_SUBSETS,
    sampled), for every K."""
    rows = []
    for k in range(1, len(names) + 1):
        subsets = list(itertools.combinations(names, k))
        if len(subsets) > MAX_SUBSETS:
            subsets = rng_for(seed, "audit-subsets", k).sample(subsets, MAX_SUBSETS)
        runs = [_vote_over(votes, s, threshold, min_judges) for s in subsets]
        rows.append(
            {
                "k": k,
                "config_order": _vote_over(votes, names[:k], threshold, min_judges),
                "judges": list(names[:k]),
                "all_subsets": {
                    "n_subsets": len(runs),
                    "accuracy": _mean(r["accuracy"] for r in runs),
                    "yield": _mean(r["yield"] for r in runs),
                },
            }
        )
    return rows


def by_threshold(votes: list[dict], names: Sequence[str], min_judges: int) -> list[dict]:
    return [dict(threshold=t, **_vote_over(votes, names, t, min_judges)) for t in THRESHOLDS]


GROUPS = ("task", "length_bucket", "tasktype", "position")


def by_group(votes: list[dict]) -> dict:
    """Items, kept items, yield and label accuracy per value of each of GROUPS."""
    groups: dict[str, dict[str, list[dict]]] = {key: defaultdict(list) for key in GROUPS}
    for v in votes:
        for key in GROUPS:
            groups[key][str(v.get(key))].append(v)
    return {key: {g: _group_row(vs) for g, vs in sorted(d.items())} for key, d in groups.items()}


def _group_row(vs: list[dict]) -> dict:
    kept = sum(x["kept"] for x in vs)
    return {
        "items": len(vs),
        "kept": kept,
        "yield": kept / len(vs),
        "accuracy": _mean([x["correct"] for x in vs if x["kept"]] or [None]),
    }


def single_judges(judges: dict[str, dict], names: Sequence[str]) -> dict:
    """The best judge used alone (every order), and the best on its own order-consistent items: the
    strongest alternative to a vote."""
    best = _best(names, lambda n: judges[n]["per_order_accuracy"] or 0.0)
    best_cons = _best(names, lambda n: judges[n]["consistent_accuracy"])
    return {
        "best_single_judge": best,
        "best_single_accuracy": judges[best]["per_order_accuracy"] if best else None,
        "best_single_accuracy_on_kept": judges[best]["per_order_accuracy_on_kept"] if best else None,
        "best_consistent_judge": best_cons,
        "best_consistent_accuracy": judges[best_cons]["consistent_accuracy"] if best_cons else None,
        "best_consistent_coverage": judges[best_cons]["consistency"] if best_cons else None,
    }


def vote_beats_best(fair: dict) -> bool:
    """The headline, on the same items: the vote's label vs the best single judge on the items it keeps."""
    same = fair["same_items"]
    best = same["judges"][same["best_judge"]]["acc"] if same["best_judge"] else None
    return same["vote"]["acc"] is not None and best is not None and same["vote"]["acc"] > best


def audit(votes: list[dict], threshold: float, min_judges: int, seed: int = 0) -> dict:
    names = list(votes[0]["judge_names"]) if votes else []
    judges = {n: judge_stats(votes, n) for n in names}
    fair, paired = fair_comparison(votes, names, seed)
    return {
        "fair": fair,
        "fair_paired": paired,
        "items": len(votes),
        "judges": names,
        "threshold": threshold,
        "min_judges": min_judges,
        "vote": _vote_over(votes, names, threshold, min_judges),
        "judge_stats": judges,
        **single_judges(judges, names),
        "vote_beats_best_single": vote_beats_best(fair),
        "by_k": by_k(votes, names, threshold, min_judges, seed),
        "by_threshold": by_threshold(votes, names, min_judges),
        "by_group": by_group(votes),
    }


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from longrm.data.io import atomic_write

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ks = [r["k"] for r in report["by_k"]]
    ax = axes[0]
    ax.plot(ks, [r["config_order"]["accuracy"] for r in report["by_k"]], "o-", label="vote, first K judges")
    ax.plot(ks, [r["all_subsets"]["accuracy"] for r in report["by_k"]], "s--", label="vote, all K-subsets (mean)")
    ax.plot(
        ks,
        [r["config_order"]["yield"] for r in report["by_k"]],
        "o:",
        color="C0",
        alpha=0.5,
        label="yield, first K judges",
    )
    same = report["fair"]["same_items"]
    if same["best_judge"] is not None and same["judges"][same["best_judge"]]["acc"] is not None:
        ax.axhline(
            same["judges"][same["best_judge"]]["acc"],
            color="grey",
            ls=":",
            label=f"best single judge on the kept items ({same['best_judge']})",
        )
    if report.get("best_consistent_accuracy") is not None:
        ax.axhline(
            report["best_consistent_accuracy"],
            color="grey",
            ls="-.",
            lw=0.8,
            label=f"best single judge, consistent items ({report['best_consistent_coverage']:.0%})",
        )
    ax.set(xlabel="K (judges)", ylabel="label accuracy (kept items) / yield", title="Accuracy vs K", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    ax = axes[1]
    ts = [r["threshold"] for r in report["by_threshold"]]
    ax.plot(ts, [r["accuracy"] for r in report["by_threshold"]], "o-", label="accuracy")
    ax.plot(ts, [r["yield"] for r in report["by_threshold"]], "s--", label="yield (kept share)")
    ax.set(xlabel="agreement threshold", title="Accuracy and yield vs threshold", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    ax = axes[2]
    rows = [(f"{k}:{g}", s["yield"]) for k in ("task", "length_bucket") for g, s in report["by_group"][k].items()]
    ax.barh(
        [r[0] for r in rows],
        [r[1] for r in rows],
        color=["C0"] * len(report["by_group"]["task"]) + ["C1"] * len(report["by_group"]["length_bucket"]),
    )
    ax.set(xlabel="yield (kept share)", title="Yield per task and length", xlim=(0, 1))
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
