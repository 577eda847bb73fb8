"""`longrm bench score`: metrics from saved Judgment records and the bench file (no model needed).

Three scoring protocols over the same records (docs/formats/bench.md):
  ours                  every order; unparseable = chance (0.5 for a pair, 1/n for a BoN ranking);
                        item score = mean over its orders
  official              the one official order; unparseable = 0 (the release's rules)
  official_first_match  as official, but the verdict re-read from the raw text with the release's
                        first-match reading (shows what echoing "[[A]] or [[B]]" was worth)
Per-record score: PairWise 1/0 (picked the chosen response or not); BestOfN the share of responses
whose predicted rank equals the gold rank (the release's partial credit).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from longrm.data.io import iter_jsonl
from longrm.data.records import TASKS, BenchItem, Judgment, bucket_key, tasks_first
from longrm.data.released import is_released, iter_released_bench
from longrm.errors import InputError
from longrm.judges.official import order_group, ranks_from_ranking, ranks_from_scores, release_orders, release_score
from longrm.seeding import derive_seed

PROTOCOLS = ("ours", "official", "official_first_match")
# the release accepts single or double brackets around a ranking
_RELEASE_RANKING = re.compile(r"\[\[?\s*([A-Za-z](?:\s*>\s*[A-Za-z])+)\s*\]\]?")


# ---------------------------------------------------------------- per record
class ScoreItem(NamedTuple):
    """What scoring reads of a bench item, without its texts (a bench file is ~300 MB). `responses`
    holds n Nones: scoring (and official_order) use only its length."""

    id: str
    task: str
    tasktype: str
    subtype: str
    length_bucket: str
    gold_ranking: list[int]
    responses: tuple
    group: str = ""  # the official order's group (judges.official.order_group)
    difficulty: str = ""  # the `difficulty` extra (easy | hard negative), "" when absent


def score_item(item: BenchItem) -> ScoreItem:
    return ScoreItem(
        item.id,
        item.task,
        item.tasktype,
        item.subtype,
        item.length_bucket,
        item.gold_ranking,
        (None,) * len(item.responses),
        order_group(item),
        str(item.extra.get("difficulty") or ""),
    )


def load_score_items(path: str | Path) -> list[ScoreItem]:
    """The bench file (or released folder) streamed into ScoreItems, file order; every line validated,
    a repeated id (naming both lines) or an empty file refused."""
    if is_released(path):
        items = [score_item(item) for item, _file, _line in iter_released_bench(path)]
    else:
        items = list(iter_jsonl(path, lambda obj, p, no: score_item(BenchItem.from_dict(obj, p, no)), unique="id"))
    if not items:
        raise InputError(path, "no items: the benchmark file is empty")
    return items


def first_match_positions(text: str, n: int) -> list[int] | None:
    """The release's reading: for pairs '[[A]]' anywhere wins, else '[[B]]'; for rankings the FIRST
    ranking in single or double brackets, malformed -> None. Positions best-first."""
    if n == 2:
        if "[[A]]" in text:
            return [0, 1]
        if "[[B]]" in text:
            return [1, 0]
        return None
    m = _RELEASE_RANKING.search(text or "")
    if not m:
        return None
    pos = [ord(c.strip().upper()) - ord("A") for c in m.group(1).split(">")]
    return pos if sorted(pos) == list(range(n)) else None


def ranking_score(ranking: Sequence[int] | None, gold: Sequence[int], pairwise: bool, unparsed: float) -> float:
    """PairWise: 1.0 if the predicted best is the gold best. BestOfN: share of responses whose predicted
    rank equals their gold rank. `unparsed` when ranking is None."""
    if ranking is None:
        return unparsed
    if pairwise:
        return float(ranking[0] == gold[0])
    pred_rank = {idx: r for r, idx in enumerate(ranking)}
    return sum(pred_rank[idx] == r for r, idx in enumerate(gold)) / len(gold)


def chance(item: BenchItem) -> float:
    """Expected score of a uniformly random ranking: 1/2 for a pair, 1/n partial credit for n responses."""
    return 0.5 if item.tasktype == "PairWise" else 1.0 / len(item.responses)


# ---------------------------------------------------------------- cells
def bootstrap_ci(values: Sequence[float], n_boot: int, seed: int, stat=np.mean) -> tuple[float | None, float | None]:
    """Percentile 95% interval of `stat` over item resamples (seeded); None when < 2 values or n_boot 0."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2 or n_boot <= 0:
        return None, None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    stats = stat(x[idx], axis=1)
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))


def cell(values: Sequence[float], n_boot: int, seed: int) -> dict:
    if not values:
        return {"value": None, "n": 0, "ci_low": None, "ci_high": None}
    lo, hi = bootstrap_ci(values, n_boot, seed)
    return {"value": _r(float(np.mean(values))), "n": len(values), "ci_low": _r(lo), "ci_high": _r(hi)}


def macro_cell(a: Sequence[float], b: Sequence[float], n_boot: int, seed: int) -> dict:
    """Mean of the PairWise and BestOfN averages (each resampled on its own)."""
    if not a or not b:
        return cell(list(a) or list(b), n_boot, seed)
    value = (np.mean(a) + np.mean(b)) / 2
    lo = hi = None
    if n_boot > 0 and len(a) > 1 and len(b) > 1:
        rng = np.random.default_rng(seed)
        xa, xb = np.asarray(a, float), np.asarray(b, float)
        sa = xa[rng.integers(0, len(xa), (n_boot, len(xa)))].mean(1)
        sb = xb[rng.integers(0, len(xb), (n_boot, len(xb)))].mean(1)
        lo, hi = np.percentile((sa + sb) / 2, [2.5, 97.5])
    return {"value": _r(float(value)), "n": len(a) + len(b), "ci_low": _r(lo), "ci_high": _r(hi)}


def _r(x):
    return None if x is None else round(float(x), 6)


def subtype_of(item: BenchItem) -> str:
    return item.subtype or (str(len(item.responses)) if item.tasktype == "BestOfN" else "")


def columns(items: Sequence[BenchItem | ScoreItem], scores: dict[str, float], n_boot: int, seed: int, tag: str) -> dict:
    """The benchmark's columns from item-level scores: per task (pairwise), Same/Diff, PairWise,
    Rank2/3/4, BestOfN, per length bucket (pairwise, as the release), AVG (all items pooled, as the
    release) and macro (mean of PairWise and BestOfN)."""

    def mk(name, sel):
        return cell([scores[it.id] for it in sel if it.id in scores], n_boot, derive_seed(seed, tag, name))

    pair = [it for it in items if it.tasktype == "PairWise"]
    bon = [it for it in items if it.tasktype == "BestOfN"]
    tasks = tasks_first(it.task for it in pair)
    buckets = sorted({it.length_bucket for it in pair}, key=bucket_key)
    out = {
        "tasks": {t: mk(f"task:{t}", [it for it in pair if it.task == t]) for t in tasks},
        "Same": mk("Same", [it for it in pair if it.subtype == "same"]),
        "Diff": mk("Diff", [it for it in pair if it.subtype != "same"]),
        "PairWise": mk("PairWise", pair),
        "Rank2": mk("Rank2", [it for it in bon if subtype_of(it) == "2"]),
        "Rank3": mk("Rank3", [it for it in bon if subtype_of(it) == "3"]),
        "Rank4": mk("Rank4", [it for it in bon if subtype_of(it) == "4"]),
        "BestOfN": mk("BestOfN", bon),
        "length": {b: mk(f"length:{b}", [it for it in pair if it.length_bucket == b]) for b in buckets},
        "length_all": {
            b: mk(f"length_all:{b}", [it for it in items if it.length_bucket == b])
            for b in sorted({it.length_bucket for it in items}, key=bucket_key)
        },
        "difficulty": {
            d: mk(f"difficulty:{d}", [it for it in pair if getattr(it, "difficulty", "") == d])
            for d in sorted({getattr(it, "difficulty", "") for it in pair} - {""})
        },
        "AVG": mk("AVG", [it for it in items]),
        "macro": macro_cell(
            [scores[it.id] for it in pair if it.id in scores],
            [scores[it.id] for it in bon if it.id in scores],
            n_boot,
            derive_seed(seed, tag, "macro"),
        ),
    }
    return out


# ---------------------------------------------------------------- AUC
def auc(pos: Sequence[float], neg: Sequence[float]) -> float | None:
    """P(score of a chosen response > score of a rejected one), ties counted as half (Mann-Whitney)."""
    if not len(pos) or not len(neg):
        return None
    p, q = np.asarray(pos, float), np.asarray(neg, float)
    _, inverse, counts = np.unique(np.concatenate([p, q]), return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2  # 1-based rank of each distinct value, averaged over ties
    u = mean_rank[inverse[: len(p)]].sum() - len(p) * (len(p) + 1) / 2
    return float(u / (len(p) * len(q)))


def auc_block(
    items: Sequence[BenchItem | ScoreItem], item_scores: dict[str, list[float]], n_boot: int, seed: int
) -> dict | None:
    """AUC of chosen (gold best) vs rejected (all others) response scores, over items with scores; its
    interval resamples items (an item's rejected responses go with it)."""
    have = [it for it in items if it.id in item_scores]
    if not have:
        return None
    pos = np.array([item_scores[it.id][it.gold_ranking[0]] for it in have], float)  # (n,)
    negs = [[v for k, v in enumerate(item_scores[it.id]) if k != it.gold_ranking[0]] for it in have]
    neg = np.array([v for n in negs for v in n], float)  # (sum of rejected,)
    owner = np.repeat(np.arange(len(have)), [len(n) for n in negs])  # the item of each rejected score
    value = auc(pos, neg)
    lo = hi = None
    if n_boot > 0 and len(have) > 1:
        rng = np.random.default_rng(derive_seed(seed, "auc"))
        stats = []
        for _ in range(n_boot):
            idx = rng.integers(0, len(have), len(have))
            times = np.bincount(idx, minlength=len(have))  # how often each item was drawn
            stats.append(auc(pos[idx], np.repeat(neg, times[owner])))
        lo, hi = np.percentile(stats, [2.5, 97.5])
    pair_wins = [
        float(
            item_scores[it.id][it.gold_ranking[0]]
            > max(v for k, v in enumerate(item_scores[it.id]) if k != it.gold_ranking[0])
        )
        for it in have
    ]
    return {
        "value": _r(value),
        "n_pos": len(pos),
        "n_neg": len(neg),
        "n_items": len(have),
        "ci_low": _r(lo),
        "ci_high": _r(hi),
        "chosen_strictly_highest": _r(float(np.mean(pair_wins))),
    }


# ---------------------------------------------------------------- main entry
def rate_cell(flags: Sequence[bool]) -> dict:
    return {"value": _r(float(np.mean(flags))) if flags else None, "n": len(flags)}


def item_row(item: BenchItem | ScoreItem, ours: float, official: float) -> dict:
    """One item's scores (both protocols) and what groups it: the rows of item_scores.jsonl, which
    paired comparisons between models (report claims) read."""
    difficulty = getattr(item, "difficulty", None) if isinstance(item, ScoreItem) else item.extra.get("difficulty")
    return {
        "id": item.id,
        "task": item.task,
        "tasktype": item.tasktype,
        "subtype": item.subtype,
        "length_bucket": item.length_bucket,
        "difficulty": difficulty or "",
        "ours": _r(ours),
        "official": _r(official),
    }


def check_record(rec: Judgment, item: BenchItem, path: str, line: int) -> None:
    n = len(item.responses)
    if sorted(rec.order) != list(range(n)):
        raise InputError(path, f"order {rec.order} is not a permutation of {n} responses", line, "order")
    if rec.ranking is not None and sorted(rec.ranking) != list(range(n)):
        raise InputError(path, f"ranking {rec.ranking} is not a permutation of {n} responses", line, "ranking")
    if rec.scores is not None and len(rec.scores) != n:
        raise InputError(path, f"{len(rec.scores)} scores for {n} responses", line, "scores")


def score_records(
    records: Iterable[tuple[Judgment, int]],
    items: Sequence[BenchItem | ScoreItem],
    n_boot: int = 1000,
    seed: int = 1234,
    official_seed: int = 42,
    records_path: str = "<records>",
    item_rows: list | None = None,
) -> dict:
    """Metrics (docs/formats/bench.md) from (Judgment, line number) pairs and the bench items. When
    `item_rows` is a list, one row per scored item (item_row) is appended to it, file order."""
    # 1. records grouped per item (checked), the official orders, one protocol per run
    per_item, models = group_records(records, {it.id: it for it in items}, records_path)
    scored = [it for it in items if it.id in per_item]
    missing = [it.id for it in items if it.id not in per_item]
    official_orders = release_orders(items, official_seed)
    if one_protocol(per_item, records_path) == "official":
        return score_official(
            per_item, items, official_orders, n_boot, seed, official_seed, records_path, sorted(models)
        )
    # 2. item-level scores under each protocol, and order consistency
    s = ItemScores()
    for it in scored:
        s.add(it, per_item[it.id], official_orders[it.id], records_path)
    if item_rows is not None:
        item_rows.extend(item_row(it, s.ours[it.id], s.official[it.id]) for it in scored)
    # 3. the metrics
    all_recs = [(it, r) for it in scored for r in per_item[it.id]]
    buckets = sorted({it.length_bucket for it in scored}, key=bucket_key)
    item_scores = {it.id: list(per_item[it.id][0].scores) for it in scored if per_item[it.id][0].scores is not None}
    return {
        "models": sorted(models),
        "n_items": len(scored),
        "n_records": len(all_recs),
        "missing_items": len(missing),
        "protocols": {
            "ours": columns(scored, s.ours, n_boot, seed, "ours"),
            "official": columns(scored, s.official, n_boot, seed, "official"),
            "official_first_match": columns(scored, s.first, n_boot, seed, "official_first_match"),
        },
        "order_consistency": consistency_cells(s.consistent, scored, buckets, n_boot, seed),
        "order_consistency_top1": consistency_cells(s.top1_consistent, scored, buckets, n_boot, seed),
        "parse_failure": parse_failure_rates(all_recs, official_orders, buckets),
        "truncation": {
            "all": rate_cell([r.truncated for _, r in all_recs]),
            "length": rates_by_bucket(all_recs, buckets, lambda r: r.truncated),
        },
        "evidence_lost": evidence_lost(all_recs, buckets),
        "position_bias": position_bias(all_recs, buckets),
        "explanation_vs_verdict": explanation_vs_verdict(all_recs, buckets),
        "auc": auc_block(scored, item_scores, n_boot, seed),
        "tokens": token_stats(all_recs),
        "settings": {"bootstrap": n_boot, "seed": seed, "official_seed": official_seed},
    }


def group_records(
    records: Iterable[tuple[Judgment, int]], by_id: dict, records_path: str
) -> tuple[dict[str, list[Judgment]], set]:
    """The records per item id, each checked against its item (known id, permutations, one record per
    order), and the models that made them."""
    per_item: dict[str, list[Judgment]] = defaultdict(list)
    models = set()
    for rec, line in records:
        item = by_id.get(rec.id)
        if item is None:
            raise InputError(records_path, f"id {rec.id!r} is not in the bench file", line, "id")
        check_record(rec, item, records_path, line)
        if any(tuple(r.order) == tuple(rec.order) for r in per_item[rec.id]):
            raise InputError(records_path, f"a second record for ({rec.id}, order {rec.order})", line, "order")
        per_item[rec.id].append(rec)
        models.add(rec.extra.get("model", rec.judge))
    return per_item, models


def one_protocol(per_item: dict[str, list[Judgment]], records_path: str) -> str | None:
    """The run's protocol ("ours" unless recorded; None for no records); a mix is refused."""
    protocols = {r.extra.get("protocol", "ours") for recs in per_item.values() for r in recs}
    if len(protocols) > 1:
        raise InputError(
            records_path, f"mixes records of protocols {sorted(protocols)}: score each run alone", field="protocol"
        )
    return next(iter(protocols), None)


class ItemScores:
    """Item-level scores under the three protocols, and whether an item's orders agree (whole ranking;
    best response), filled one item at a time."""

    def __init__(self):
        self.ours, self.official, self.first = {}, {}, {}
        self.consistent, self.top1_consistent = {}, {}

    def add(self, it: BenchItem | ScoreItem, recs: list[Judgment], off: list[int], records_path: str) -> None:
        gold, pw = it.gold_ranking, it.tasktype == "PairWise"
        balanced = [r for r in recs if r.extra.get("balanced", True)] or recs
        self.ours[it.id] = float(np.mean([ranking_score(r.ranking, gold, pw, chance(it)) for r in balanced]))
        off_rec = next((r for r in recs if list(r.order) == off), None)
        if off_rec is None:
            raise InputError(records_path, f"item {it.id!r} has no record in its official order {off}", field="order")
        self.official[it.id] = ranking_score(off_rec.ranking, gold, pw, 0.0)
        self.first[it.id] = ranking_score(first_match_ranking(off_rec, off), gold, pw, 0.0)
        if len(recs) > 1:
            ranks = [r.ranking for r in recs]
            self.consistent[it.id] = all(r is not None for r in ranks) and all(r == ranks[0] for r in ranks)
            self.top1_consistent[it.id] = all(r is not None for r in ranks) and len({r[0] for r in ranks}) == 1


def first_match_ranking(rec: Judgment, order: list[int]) -> list[int] | None:
    """The official-order record's ranking as the release's first-match reading gives it (a scalar
    judge's ranking as is)."""
    if rec.scores is not None:
        return rec.ranking
    pos = first_match_positions(rec.raw, len(order))
    return None if pos is None else [order[p] for p in pos]


def consistency_cells(
    flags: dict[str, bool], scored: Sequence[BenchItem | ScoreItem], buckets: Sequence[str], n_boot: int, seed: int
) -> dict:
    """Share of items whose orders agree: all, PairWise, BestOfN and per length bucket."""
    groups = {
        "all": scored,
        "PairWise": [it for it in scored if it.tasktype == "PairWise"],
        "BestOfN": [it for it in scored if it.tasktype == "BestOfN"],
    }
    out = {
        k: cell([float(flags[it.id]) for it in sel if it.id in flags], n_boot, derive_seed(seed, "consistency", k))
        for k, sel in groups.items()
    }
    out["length"] = {
        b: cell(
            [float(flags[it.id]) for it in scored if it.length_bucket == b and it.id in flags],
            n_boot,
            derive_seed(seed, "consistency", b),
        )
        for b in buckets
    }
    return out


def rates_by_bucket(pairs: Sequence[tuple], buckets: Sequence[str], flag) -> dict:
    return {b: rate_cell([flag(r) for it, r in pairs if it.length_bucket == b]) for b in buckets}


def parse_failure_rates(
    all_recs: Sequence[tuple], official_orders: dict[str, list[int]], buckets: Sequence[str]
) -> dict:
    """Share of unparseable records: all orders, the official order only, per length bucket."""
    official_recs = [(it, r) for it, r in all_recs if list(r.order) == official_orders[it.id]]
    return {
        "all_orders": rate_cell([r.ranking is None for _, r in all_recs]),
        "official_order": rate_cell([r.ranking is None for _, r in official_recs]),
        "length": rates_by_bucket(all_recs, buckets, lambda r: r.ranking is None),
    }


def position_bias(all_recs: Sequence[tuple], buckets: Sequence[str] = ()) -> dict:
    """How often a parsed pairwise verdict picks the response shown first (chance: 0.5), overall and per
    length bucket."""
    pair_recs = [(it, r) for it, r in all_recs if it.tasktype == "PairWise" and r.ranking is not None]
    return {
        "first_position_rate": rate_cell([r.ranking[0] == r.order[0] for _, r in pair_recs]),
        "length": rates_by_bucket(pair_recs, buckets, lambda r: r.ranking[0] == r.order[0]),
    }


def explanation_cell(recs: Sequence[tuple]) -> dict:
    """Share of judgments whose analysis names the other response than the verdict (bench.explain's rule),
    among those it can tell (`n`); `analysed`: judgments with an analysis; `undetermined`: the share of
    those the rule cannot tell."""
    from longrm.bench.explain import UNDETERMINED, explanation_flags

    read = [f for f in (explanation_flags(r) for _, r in recs) if f is not None]
    told = [f == "disagrees" for f in read if f != UNDETERMINED]
    undetermined = rate_cell([f == UNDETERMINED for f in read])["value"]
    return {**rate_cell(told), "analysed": len(read), "undetermined": undetermined}


def explanation_vs_verdict(all_recs: Sequence[tuple], buckets: Sequence[str]) -> dict:
    """explanation_cell overall and per length bucket (pairwise judgments; none without analysis)."""
    pairs = [(it, r) for it, r in all_recs if it.tasktype == "PairWise"]
    return {
        "all": explanation_cell(pairs),
        "length": {b: explanation_cell([(it, r) for it, r in pairs if it.length_bucket == b]) for b in buckets},
    }


def token_stats(all_recs: Sequence[tuple]) -> dict:
    """Prompt and output lengths. No timings: metrics are byte-identical whenever the judgments are
    (latency stays in records)."""
    return {
        "prompt_mean": _r(np.mean([r.prompt_tokens for _, r in all_recs])) if all_recs else None,
        "prompt_max": max((r.prompt_tokens for _, r in all_recs), default=None),
        "output_mean": _r(np.mean([r.output_tokens for _, r in all_recs])) if all_recs else None,
    }


def evidence_lost(pairs: Sequence[tuple], buckets: Sequence[str]) -> dict:
    """Share of records whose item's evidence did not survive the prompt's cut (`evidence_kept`, set for
    items with evidence spans judged by a generative judge), overall and per length bucket."""

    def flags(sel):
        return [not r.extra["evidence_kept"] for it, r in sel if r.extra.get("evidence_kept") is not None]

    return {
        "all": rate_cell(flags(pairs)),
        "length": {b: rate_cell(flags([(it, r) for it, r in pairs if it.length_bucket == b])) for b in buckets},
    }


# ---------------------------------------------------------------- the official protocol's run
RELEASE_BUCKETS = ("4k", "8k", "16k", "32k", "64k", "128k")


def release_ranks(rec: Judgment) -> list[int]:
    """The release's reading of a record: predicted rank of each shown position (maybe partial), [] for
    nothing. Generative: as read from the output; scalar RM: by score, ties to the earlier position."""
    if "release_ranks" in rec.extra:
        return list(rec.extra["release_ranks"] or [])
    if rec.scores is not None:
        return ranks_from_scores([rec.scores[i] for i in rec.order])
    if rec.ranking is not None:
        return ranks_from_ranking(rec.ranking, rec.order)
    return []


def release_columns(items: Sequence[ScoreItem], scores: dict[str, float]) -> dict[str, float]:
    """The released evaluator's table: micro averages per column, an empty column 0, rounded to 5
    decimals. Tasks and length buckets count PairWise items only; AVG. pools pairs and BestOfN. Length
    buckets beyond the release's six are added after them (our own splits)."""

    def mean(sel):
        vals = [scores[it.id] for it in sel]
        return round(sum(vals) / max(len(vals), 1), 5)

    pair = [it for it in items if it.tasktype != "BestOfN"]
    bon = [it for it in items if it.tasktype == "BestOfN"]
    cols = {t: mean([it for it in pair if it.task == t]) for t in TASKS}
    cols["Same."] = mean([it for it in pair if it.subtype == "same"])
    cols["Diff."] = mean([it for it in pair if it.subtype != "same"])
    cols["PairWise Avg."] = mean(pair)
    for n in ("2", "3", "4"):
        cols[f"Rank{n}"] = mean([it for it in bon if subtype_of(it) == n])
    cols["Rank Avg."] = mean(bon)
    extra = sorted({it.length_bucket for it in pair} - set(RELEASE_BUCKETS), key=bucket_key)
    for b in list(RELEASE_BUCKETS) + extra:
        cols[b] = mean([it for it in pair if it.length_bucket == b])
    cols["AVG."] = mean([it for it in items if it.task in TASKS])
    return cols


def score_official(
    per_item: dict,
    items: Sequence[ScoreItem],
    official_orders: dict,
    n_boot: int,
    seed: int,
    official_seed: int,
    records_path: str,
    models: list[str],
) -> dict:
    """Metrics of an official-protocol run (one record per item, in its official order)."""
    scored = [it for it in items if it.id in per_item]
    scores, recs = {}, []
    for it in scored:
        (rec,) = per_item[it.id][:1]
        if len(per_item[it.id]) != 1 or list(rec.order) != official_orders[it.id]:
            raise InputError(
                records_path,
                f"item {it.id!r}: an official run has one record per item, in the "
                f"official order {official_orders[it.id]}",
                field="order",
            )
        scores[it.id] = release_score(rec.order, release_ranks(rec))
        recs.append((it, rec))
    buckets = sorted({it.length_bucket for it in scored}, key=bucket_key)
    return {
        "protocol": "official",
        "models": models,
        "n_items": len(scored),
        "n_records": len(recs),
        "missing_items": len(items) - len(scored),
        "official_columns": release_columns(scored, scores),
        "official_column_order": list(release_columns(scored, scores)),  # JSON keys are sorted
        "protocols": {"official": columns(scored, scores, n_boot, seed, "official")},
        "parse_failure": {
            "all_orders": rate_cell([not release_ranks(r) for _, r in recs]),
            "official_order": rate_cell([not release_ranks(r) for _, r in recs]),
            "length": rates_by_bucket(recs, buckets, lambda r: not release_ranks(r)),
        },
        "too_long": rate_cell([bool(r.extra.get("too_long")) for _, r in recs]),
        "truncation": {
            "all": rate_cell([r.truncated for _, r in recs]),
            "length": rates_by_bucket(recs, buckets, lambda r: r.truncated),
        },
        "evidence_lost": evidence_lost(recs, buckets),
        "tokens": token_stats(recs),
        "settings": {"bootstrap": n_boot, "seed": seed, "official_seed": official_seed},
    }
