"""Response-only tells: how well the responses alone, without the context, tell chosen from rejected.

A benchmark of long-context judgment needs this at chance (issue 11). `response_only_probe` fits a
logistic regression on response features only (bag of words, lead-in words, length), on the pairs
(chosen, each rejected) of half the items (split by a seeded hash of the item id), and scores it on the
pairs of the other half, each pair shown in a seeded random order. `length_stats` compares the chosen
and rejected length distributions and scores the `longer` heuristic.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from longrm.data.records import ShortItem
from longrm.seeding import derive_seed, rng_for

_TOKEN = re.compile(r"\w+|[^\w\s]")


def features(text: str) -> Counter:
    """Bag of lower-cased tokens, the first three tokens apart (lead-ins), and length in words/chars."""
    toks = _TOKEN.findall(text.lower())
    out = Counter(toks)
    out.update(f"lead:{t}" for t in toks[:3])
    out["len:words"] = len(toks) / 10.0
    out["len:chars"] = len(text) / 50.0
    return out


def pairs(items: list[ShortItem]) -> list[tuple[str, str, str, str]]:
    """(item id, chosen, rejected, difficulty) for every rejected response."""
    out = []
    for it in items:
        kinds = it.extra.get("candidates_difficulty") or [""] * len(it.candidates)
        out += [
            (it.id, it.chosen, r, str(kinds[j + 1] if j + 1 < len(kinds) else "")) for j, r in enumerate(it.rejected)
        ]
    return out


def _rows(pair_list, seed: int):
    """(features of first - features of second, label 1 if the first is chosen, difficulty)."""
    rows = []
    for item_id, chosen, rejected, kind in pair_list:
        first, second = (
            (chosen, rejected) if rng_for(seed, "tells", item_id, rejected).random() < 0.5 else (rejected, chosen)
        )
        diff = features(first)
        diff.subtract(features(second))
        rows.append(({k: v for k, v in diff.items() if v}, int(first == chosen), kind))
    return rows


def _fit(rows, epochs: int = 60, lr: float = 0.5, l2: float = 1e-3) -> dict[str, float]:
    """Logistic regression (no bias: a pair's order is random) by plain gradient descent."""
    w: dict[str, float] = {}
    n = max(len(rows), 1)
    for _ in range(epochs):
        grad: Counter = Counter()
        for x, y, _ in rows:
            z = sum(w.get(k, 0.0) * v for k, v in x.items())
            err = 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0))) - y
            for k, v in x.items():
                grad[k] += err * v
        for k, g in grad.items():
            w[k] = w.get(k, 0.0) - lr * (g / n + l2 * w.get(k, 0.0))
    return w


def _accuracy(w, rows) -> float:
    score = 0.0
    for x, y, _ in rows:
        z = sum(w.get(k, 0.0) * v for k, v in x.items())
        score += 0.5 if abs(z) < 1e-12 else float((z > 0) == bool(y))
    return score / max(len(rows), 1)


def response_only_probe(items: list[ShortItem], seed: int) -> dict:
    """Held-out accuracy of the response-only classifier (chance 0.5), overall and per difficulty."""
    fit_half = [it for it in items if derive_seed(seed, "tells.split", it.id) % 2 == 0]
    test_half = [it for it in items if derive_seed(seed, "tells.split", it.id) % 2 == 1]
    w = _fit(_rows(pairs(fit_half), seed))
    test = _rows(pairs(test_half), seed)
    out = {"fit_pairs": len(pairs(fit_half)), "test_pairs": len(test), "accuracy": round(_accuracy(w, test), 4)}
    for kind in sorted({r[2] for r in test}):
        sub = [r for r in test if r[2] == kind]
        out[f"accuracy_{kind or 'unlabelled'}"] = round(_accuracy(w, sub), 4)
    return out


def length_stats(items: list[ShortItem]) -> dict:
    """Mean chosen/rejected length (characters) and the `longer` heuristic's pairwise accuracy."""
    rows = pairs(items)
    if not rows:
        return {"pairs": 0}
    chosen = [len(c) for _, c, _, _ in rows]
    rejected = [len(r) for _, _, r, _ in rows]
    longer = sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected)) / len(rows)
    return {
        "pairs": len(rows),
        "chosen_mean_chars": round(sum(chosen) / len(rows), 2),
        "rejected_mean_chars": round(sum(rejected) / len(rows), 2),
        "longer_accuracy": round(longer, 4),
    }
