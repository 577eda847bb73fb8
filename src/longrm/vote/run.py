"""`vote run`: every judge of `vote.judges` judges every item in all its orders; one vote record per item
(format: docs/formats/vote.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence

from longrm.config import with_defaults
from longrm.data.records import BenchItem, Judgment
from longrm.errors import ConfigError
from longrm.judges.base import Judge
from longrm.vote.chunks import lm_params, vote_chunks
from longrm.vote.recorded import RecordedJudge
from longrm.vote.tally import consistent_label, tally

_VERDICT = re.compile(r"\[\[[^\]]*\]\]\s*$")


def make_judges(cfg: dict, recorded: dict[str, str] | None = None) -> list[Judge]:
    """Judges of `vote.judges`, through judges.factory.make_judge when it exists (scorers directly
    otherwise); each is renamed to its spec name. A judge named in `recorded` (name -> a `vote judge`
    file) replays that file instead of loading its model."""
    recorded = dict(recorded or {})
    cfg = with_defaults(cfg)  # judges added to a loaded config get the schema's defaults too
    judges = []
    for spec in cfg["vote"]["judges"]:
        if spec["name"] in recorded:
            judge = RecordedJudge(spec["name"], recorded.pop(spec["name"]))
        else:
            judge = make_judge_of(spec, cfg)
        judge.name = spec["name"]
        judges.append(judge)
    if recorded:
        raise ConfigError(f"judgments given for {sorted(recorded)}, which are not vote judges of the config")
    names = [j.name for j in judges]
    if len(set(names)) != len(names):
        raise ConfigError(f"vote.judges: judge names must be unique, got {names}")
    return judges


def make_judge_of(spec: dict, cfg: dict) -> Judge:
    try:
        from longrm.judges.factory import make_judge
    except ModuleNotFoundError as exc:
        if exc.name != "longrm.judges.factory":
            raise
        make_judge = None
    if make_judge is not None:
        return make_judge(spec, cfg, lm_params(cfg["vote"]))
    if spec["kind"] == "scorer":
        from longrm.judges.scorers import make_scorer

        return make_scorer(spec["scorer"], cfg)
    raise ConfigError(
        f"vote.judges: judge {spec['name']!r} of kind {spec['kind']!r} needs "
        "longrm.judges.factory, which is not installed"
    )


def analysis_of(j: Judgment) -> str:
    """The rationale text of a judgment: a scorer's analysis, else the raw output minus its verdict."""
    text = j.extra.get("analysis") if isinstance(j.extra, dict) else None
    if text is None:
        text = _VERDICT.sub("", j.raw or "").strip()
        text = re.sub(r"^\[Analysis\]\s*", "", text)
    return " ".join(text.split())


def _rationale_rank(name: str, texts: list[str]) -> int:
    """Prefer rationales that quote the context, then any non-empty one."""
    if all("context states" in t for t in texts):
        return 0
    return 1 if all(texts) else 2


def vote_record(item: BenchItem, orders: list[list[int]], by_judge: dict[str, list[Judgment]], vcfg: dict) -> dict:
    judges, labels, rationales = {}, {}, {}
    for name, js in by_judge.items():
        rankings = [j.ranking for j in js]
        label = consistent_label(rankings)
        labels[name] = label
        judges[name] = {"rankings": rankings, "consistent": label is not None, "label": label}
        rationales[name] = [analysis_of(j) for j in js]
    t = tally(labels, vcfg["threshold"], vcfg["min_judges"])
    agreeing = {name: rationales[name] for name in t.agreeing}
    best = min(t.agreeing, key=lambda n: (_rationale_rank(n, rationales[n]), list(by_judge).index(n)), default=None)
    gold = item.gold_ranking
    return {
        "id": item.id,
        "source_id": str(item.extra.get("source_id", item.id)),
        "task": item.task,
        "tasktype": item.tasktype,
        "subtype": item.subtype,
        "length_bucket": item.length_bucket,
        "position": item.extra.get("position"),
        "hops": item.extra.get("hops"),
        "n": len(item.responses),
        "gold": gold,
        "orders": orders,
        "judge_names": list(by_judge),
        "judges": judges,
        "majority": t.majority,
        "agree": t.agree,
        "counted": t.counted,
        "share": round(t.share, 6),
        "margin": round(t.margin, 6),
        "kept": t.kept,
        "agreeing": list(t.agreeing),
        "rationales": agreeing,
        "rationale_judge": best,
        "correct": None if t.majority is None else t.majority == gold,
    }


def run_votes(
    items: Iterable[BenchItem], judges: Sequence[Judge], vcfg: dict, timing: dict | None = None, order_seed: int = 42
) -> Iterator[dict]:
    """Stream vote records; `timing` collects seconds per judge."""
    timing = timing if timing is not None else {}
    for chunk in vote_chunks(items, vcfg, order_seed):
        per_item: dict[str, dict[str, list[Judgment]]] = {it.id: {} for it in chunk.items}
        for judge in judges:
            t0 = time.perf_counter()
            out = judge.judge(chunk.flat_items, chunk.flat_orders)
            timing[judge.name] = timing.get(judge.name, 0.0) + time.perf_counter() - t0
            for item, j in zip(chunk.flat_items, out):
                per_item[item.id].setdefault(judge.name, []).append(j)
        for item in chunk.items:
            yield vote_record(item, chunk.orders_of[item.id], per_item[item.id], vcfg)
