"""Every random choice is seeded from the config seed and the item id, so items do not depend on
each other's order or count."""

from __future__ import annotations

import hashlib
import random


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (config seed, stage name, item id, ...)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def rng_for(*parts: object) -> random.Random:
    return random.Random(derive_seed(*parts))


def assign_sources(source_ids, bench_share: float, seed: int) -> set[str]:
    """The benchmark's source ids (seeded, exact share): sources ordered by a seeded hash of their id,
    the first round(bench_share * n) held out. `vote split` (long items) and `inputs short-split` (the
    raw short items) both call this on the same source ids, so they hold out the same sources."""
    ordered = sorted(set(source_ids), key=lambda s: (derive_seed(seed, "split", s), s))
    return set(ordered[: round(bench_share * len(ordered))])
