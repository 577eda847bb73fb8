"""`vote relabel`: the votes file again, with the best single judge's labels in place of the vote's (the
ablation "vote labels vs single-judge labels", config `ablations.variants.*.labels: best_judge`).

The best single judge is the one the vote audit compares the vote with on the items it keeps
(audit `fair.same_items.best_judge`, claim e). Its label of an item is its verdict when it agrees with itself
over every order (the vote's `judges.NAME.label`), none otherwise. Training sources are those `vote split`
does not hold out (`assign_sources`, the same seed and share), so the benchmark split is unchanged. Among
the training items the judge labels, as many as the vote keeps there are kept, chosen by a seeded hash of
the item id (the same items whatever the file order): the same sources, as many items, other labels. Every
other field `vote split` reads is as the vote left it, so `vote split` makes the training data from these
records exactly as from the vote's.
"""

from __future__ import annotations

from longrm.data.io import iter_jsonl
from longrm.errors import InputError
from longrm.seeding import assign_sources, derive_seed


def best_judge(audit: dict, audit_path: str) -> str:
    """The judge the audit finds best on the items the vote keeps."""
    best = ((audit.get("fair") or {}).get("same_items") or {}).get("best_judge")
    if not best:
        raise InputError(audit_path, "no fair.same_items.best_judge (vote audit)", field="fair")
    return best


def chosen_items(train: list[dict], judge: str, n: int, seed: int) -> list[str]:
    """Ids of `n` training items the judge labels (all of them when it labels fewer), by seeded hash of id."""
    pool = [v["id"] for v in train if (v["judges"].get(judge) or {}).get("label") is not None]
    return sorted(pool, key=lambda i: (derive_seed(seed, "relabel", i), i))[:n]


def relabeled(v: dict, judge: str, chosen: set[str]) -> dict:
    """A training item's vote record with the judge's label (kept when chosen)."""
    label = v["judges"][judge]["label"] if v["id"] in chosen else None
    out = {**v, "kept": label is not None, "label_judge": judge, "vote_kept": v["kept"]}
    if label is not None:
        out.update(
            majority=label,
            correct=label == v["gold"],
            agreeing=[judge],
            agree=1,
            counted=1,
            share=1.0,
            margin=1.0,
            rationale_judge=judge if judge in (v.get("rationales") or {}) else None,
        )
    return out


def relabel(cfg: dict, votes_path: str, audit: dict, audit_path: str) -> tuple[list[dict], dict]:
    """(the relabelled vote records in file order, a report of what was kept)."""
    votes = [v for v in iter_jsonl(votes_path)]
    if not votes:
        raise InputError(votes_path, "no votes: the file is empty")
    judge = best_judge(audit, audit_path)
    if any(judge not in v.get("judges", {}) for v in votes):
        raise InputError(votes_path, f"a vote record without judge {judge!r} (the audit's best judge)", field="judges")
    held_out = assign_sources((v["source_id"] for v in votes), cfg["vote"]["splits"]["bench_share"], cfg["seed"])
    train = [v for v in votes if v["source_id"] not in held_out]
    n = sum(bool(v["kept"]) for v in train)
    chosen = set(chosen_items(train, judge, n, cfg["seed"]))
    records = [v if v["source_id"] in held_out else relabeled(v, judge, chosen) for v in votes]
    return records, relabel_report(train, records, judge, n)


def share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 6) if flags else None


def relabel_report(train: list[dict], records: list[dict], judge: str, n: int) -> dict:
    ids = {v["id"] for v in train}
    kept = [r for r in records if r["id"] in ids and r["kept"]]
    vote_kept = [v for v in train if v["kept"]]
    return {
        "judge": judge,
        "train_items": len(train),
        "vote_kept": n,
        "judge_labelled": sum((v["judges"][judge] or {}).get("label") is not None for v in train),
        "kept": len(kept),
        "kept_also_by_vote": sum(bool(r["vote_kept"]) for r in kept),
        "train_sources_vote": len({v["source_id"] for v in vote_kept}),
        "train_sources_judge": len({r["source_id"] for r in kept}),
        "label_accuracy_judge": share([r["majority"] == r["gold"] for r in kept]),
        "label_accuracy_vote": share([v["majority"] == v["gold"] for v in vote_kept]),
    }
