"""The vote itself, as pure functions over per-judge verdicts (used by `vote run` and `vote audit`).

A judge's *label* for an item is its ranking (canonical indices, best-first; for a pair, [winner, loser])
when it gives the same ranking in every order it was shown, else None: an order-inconsistent (or
unparseable) judge abstains. Among the judges that did not abstain:
    majority = the most common label (None when two labels tie for the top)
    share    = votes for the majority / judges counted
    margin   = (votes for the majority - votes for the runner-up) / judges counted
    kept     = majority is not None and judges counted >= min_judges and share >= threshold
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def consistent_label(rankings: Sequence[Sequence[int] | None]) -> list[int] | None:
    """The judge's label if every order gave the same (parsed) ranking, else None."""
    if not rankings or any(r is None for r in rankings):
        return None
    first = list(rankings[0])
    return first if all(list(r) == first for r in rankings[1:]) else None


@dataclass(frozen=True)
class Tally:
    majority: list[int] | None
    agree: int
    counted: int
    share: float
    margin: float
    kept: bool
    agreeing: tuple[str, ...]


def tally(labels: Mapping[str, Sequence[int] | None], threshold: float, min_judges: int = 2) -> Tally:
    """Vote over judges' labels (None = abstain); `labels` keeps config order for `agreeing`."""
    counted = {name: tuple(lab) for name, lab in labels.items() if lab is not None}
    if not counted:
        return Tally(None, 0, 0, 0.0, 0.0, False, ())
    counts = Counter(counted.values()).most_common()
    top, n_top = counts[0]
    n_second = counts[1][1] if len(counts) > 1 else 0
    n = len(counted)
    majority = None if n_top == n_second else list(top)
    share = n_top / n if majority is not None else 0.0
    agreeing = tuple(name for name, lab in counted.items() if majority is not None and list(lab) == majority)
    kept = majority is not None and n >= min_judges and share >= threshold
    return Tally(majority, n_top if majority is not None else 0, n, share, (n_top - n_second) / n, kept, agreeing)
