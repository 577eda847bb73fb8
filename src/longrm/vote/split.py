"""`vote split`: held-out benchmark and training splits, split by SOURCE item (format: docs/formats/vote.md).

`vote.splits.formats` picks the judgment formats of the generative judge's data (pairwise/ranking,
pointwise; extra["format"] tells them apart) and `vote.splits.analysis` where the rationale goes
(before the verdict as released, after it, or none: judges/prompts.py says why a small judge needs it
out of the way). Source items are ordered by a seeded hash of their id and the first
round(bench_share * n) go to the benchmark, so the assignment of one source never depends on the others. Every long item built from a
benchmark source goes to bench.jsonl with its GOLD labels (kept or not); kept items of training sources
become training data with the VOTED label:
  sft.jsonl    SFTExample per (item, order): judge prompt -> the agreeing judge's rationale + voted verdict;
               with the pointwise format also one per (item, response): -> [Score: k] from its voted rank
  pref.jsonl   PrefPair per (item, order): chosen = that target; rejected = up to max_negatives wrong
               judgments: first the LM judges' real judgments in that order that disagree with the vote
               (given `vote judge` files: the paper's failure mode), then, as a fallback, templated wrong
               verdicts whose rationales cite an irrelevant chunk or a contradicted fact; pointwise:
               rejected = the max_negatives scores farthest from the right one (templated);
               extra.negative_sources names each negative's source (a judge, or "template")
  disrm.jsonl  PrefPair per item: task prompt; chosen = voted-best response; rejected = the others, voted order
A source found in both the benchmark and a training split raises (nothing is written then).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter

from longrm.data.io import atomic_write, dumps, iter_jsonl
from longrm.data.records import BenchItem, Judgment, PrefPair, SFTExample
from longrm.errors import InputError, LongRMError
from longrm.judges.prompts import (
    SCORE_MAX,
    SCORE_MIN,
    build_point_prompt,
    build_prompt,
    format_score,
    format_verdict,
    judgment_target,
    letter,
    score_for_rank,
)
from longrm.judges.scorers import (
    best_sentence,
    content_words,
    context_and_question,
    key_tokens,
    quote,
    sentences,
    words,
)
from longrm.seeding import assign_sources, rng_for  # noqa: F401  (assign_sources: re-exported)
from longrm.synth.perturb import contradict
from longrm.vote.run import analysis_of

TEMPLATE = "template"

SPLITS = ("bench", "sft", "pref", "disrm")


class SplitLeakError(LongRMError):
    """A source item ended up in both the benchmark and a training split."""


def check_disjoint(written: dict[str, set[str]]) -> None:
    train = set().union(*(written[s] for s in SPLITS if s != "bench"))
    shared = written["bench"] & train
    if shared:
        raise SplitLeakError(
            f"{len(shared)} source item(s) in both benchmark and training splits, e.g. {sorted(shared)[:3]}"
        )


def positions_of(ranking: list[int], order: list[int]) -> list[int]:
    return [order.index(i) for i in ranking]


def wrong_rankings(majority: list[int], rng, limit: int) -> list[list[int]]:
    """Up to `limit` rankings that differ from the majority at the top (a wrong verdict), seeded."""
    perms = [list(p) for p in itertools.permutations(majority) if p[0] != majority[0]]
    rng.shuffle(perms)
    if len(perms) < limit:  # pairs: one wrong verdict, several wrong rationales
        perms = (perms * limit)[:limit]
    return perms[:limit]


def negative_rationale(kind: str, item: BenchItem, wrong: list[int], order: list[int], rng) -> str:
    """A wrong judgment's analysis: cites an irrelevant chunk, or a contradicted version of the fact."""
    context, question = context_and_question(item)
    win = letter(order.index(wrong[0]))
    loser = letter(order.index(wrong[-1]))
    if kind == "contradicted":
        target = set(content_words(item.responses[wrong[-1]])) | set(content_words(question))
        fact = best_sentence(context, target)
        if fact:
            answer = str(item.extra.get("answer") or "")
            right = set(words(item.responses[wrong[-1]]))
            distinct = [
                w
                for w in key_tokens(item.responses[wrong[0]], set(words(question)), set(words(context)))
                if w not in right
            ]
            if answer and answer in fact and distinct:  # the fact, rewritten to back the wrong winner
                swapped = fact.replace(answer, distinct[0])
            else:
                swapped = contradict(fact, fact, answer if answer in fact else "", rng)
            return (
                f'The context states: "{quote(swapped)}". Response {win} agrees with this, '
                f"while Response {loser} states a different fact, so Response {win} is better."
            )
    qwords = set(content_words(question))
    sents = [s for s in sentences(context) if len(s.split()) >= 4]
    irrelevant = sorted(sents, key=lambda s: len(set(content_words(s)) & qwords))[: max(1, len(sents) // 4)]
    chunk = rng.choice(irrelevant) if irrelevant else context[:200]
    return (
        f'The context states: "{quote(chunk)}". Response {win} is consistent with this passage, '
        f"so Response {win} is better supported than Response {loser}."
    )


def wrong_scores(score: int, limit: int) -> list[int]:
    """The `limit` scores of the scale farthest from `score` (ties: the lower first)."""
    others = [k for k in range(SCORE_MIN, SCORE_MAX + 1) if k != score]
    return sorted(others, key=lambda k: (-abs(k - score), k))[:limit]


def point_analyses(item: BenchItem, best: int) -> list[str]:
    """Pointwise rationales, one per response: the context's evidence for the question (found once per
    item), and whether the response agrees with it."""
    context, question = context_and_question(item)
    fact = best_sentence(context, set(content_words(item.responses[best])) | set(content_words(question)))
    out = []
    for index in range(len(item.responses)):
        verdict = "agrees with it" if index == best else "does not match it as well as the best answer"
        out.append(
            f'The context states: "{quote(fact)}". The response {verdict}.'
            if fact
            else f"The response {'is' if index == best else 'is not'} the one best supported by the context."
        )
    return out


def fallback_analysis(item: BenchItem, majority: list[int], order: list[int]) -> str:
    return f"Response {letter(order.index(majority[0]))} is the one best supported by the context."


def real_negatives(
    real: dict[str, list[Judgment]], k: int, order: list[int], majority: list[int], placement: str
) -> list[tuple[str, str]]:
    """(judge, judgment target) of each LM judge's parsed judgment in order k whose ranking disagrees
    with the vote: its own rationale and verdict, laid out like the chosen target (`placement`)."""
    out = []
    for name, judgments in real.items():
        j = judgments[k]
        if j.ranking is None or list(j.ranking) == list(majority):
            continue
        analysis = analysis_of(j) if placement != "none" else ""
        out.append((name, judgment_target(analysis, format_verdict(positions_of(j.ranking, order)), placement)))
    return out


def pairwise_negatives(
    item: BenchItem,
    majority: list[int],
    order: list[int],
    target: str,
    placement: str,
    max_neg: int,
    rng,
    real: list[tuple[str, str]],
) -> tuple[list[str], list[str]]:
    """Up to max_neg distinct wrong judgments (not the target) and the source of each: the LM judges' real
    ones first, then templated ones as a fallback."""
    negatives, sources = [], []
    for name, neg in real:
        if len(negatives) < max_neg and neg not in negatives and neg != target:
            negatives.append(neg)
            sources.append(name)
    for j, wrong in enumerate(wrong_rankings(majority, rng, max_neg)):
        if len(negatives) >= max_neg:
            break
        kind = ("irrelevant", "contradicted")[j % 2]
        for _ in range(3):  # re-draw a duplicate (same chunk cited for the same verdict)
            neg = judgment_target(
                negative_rationale(kind, item, wrong, order, rng), format_verdict(positions_of(wrong, order)), placement
            )
            if neg not in negatives and neg != target:
                negatives.append(neg)
                sources.append(TEMPLATE)
                break
    return negatives, sources


def judge_records(
    item: BenchItem,
    v: dict,
    formats: list[str],
    placement: str,
    max_neg: int,
    seed: int,
    real: dict[str, list[Judgment]] | None = None,
):
    """("sft" | "pref", record) pairs of a kept training item: per presentation order (pairwise/ranking)
    and per response (pointwise), labelled by the vote. `real`: the LM judges' judgments of the item, one
    per order of the vote (their disagreeing ones become the pairwise negatives)."""
    majority = v["majority"]
    rationale = v["rationales"].get(v["rationale_judge"]) if v["rationale_judge"] else None
    rng = rng_for(seed, "split", item.id)
    base = {
        "group": item.id,
        "source_id": v["source_id"],
        "voted": majority,
        "judge": v["rationale_judge"],
        "task": item.task,
        "length_bucket": item.length_bucket,
        "margin": v["margin"],
    }
    for k, order in enumerate(v["orders"] if "pairwise" in formats else []):
        prompt = build_prompt(item, order, analysis=placement == "before")
        analysis = rationale[k] if rationale and rationale[k] else fallback_analysis(item, majority, order)
        target = judgment_target(analysis, format_verdict(positions_of(majority, order)), placement)
        meta = {**base, "format": "pairwise", "order": order}
        yield "sft", SFTExample(id=f"{item.id}/o{k}", prompt=prompt, response=target, extra=meta)
        found = real_negatives(real, k, order, majority, placement) if real else []
        negatives, sources = pairwise_negatives(item, majority, order, target, placement, max_neg, rng, found)
        yield (
            "pref",
            PrefPair(
                id=f"{item.id}/o{k}",
                prompt=prompt,
                chosen=target,
                rejected=negatives,
                extra={**meta, "negative_sources": sources},
            ),
        )
    analyses = point_analyses(item, majority[0]) if "pointwise" in formats and placement != "none" else None
    for idx in range(len(item.responses)) if "pointwise" in formats else []:
        score = score_for_rank(majority.index(idx), len(majority))
        prompt = build_point_prompt(item, idx, analysis=placement == "before")
        analysis = analyses[idx] if analyses else ""
        meta = {**base, "format": "pointwise", "response_index": idx, "score": score}
        target = judgment_target(analysis, format_score(score), placement)
        yield "sft", SFTExample(id=f"{item.id}/p{idx}", prompt=prompt, response=target, extra=meta)
        negatives = [judgment_target(analysis, format_score(w), placement) for w in wrong_scores(score, max_neg)]
        yield (
            "pref",
            PrefPair(
                id=f"{item.id}/p{idx}",
                prompt=prompt,
                chosen=target,
                rejected=negatives,
                extra={**meta, "negative_sources": [TEMPLATE] * len(negatives)},
            ),
        )


def count_negatives(stats: Counter, rec: PrefPair) -> None:
    fmt, sources = rec.extra["format"], rec.extra["negative_sources"]
    for src in sources:
        stats[(fmt, "judges" if src != TEMPLATE else TEMPLATE)] += 1
        if src != TEMPLATE:
            stats[("by_judge", src)] += 1
    stats[
        (fmt, "records_with_judge_negatives" if any(s != TEMPLATE for s in sources) else "records_template_only")
    ] += 1


def negatives_report(stats: Counter, judges: list[str]) -> dict:
    """Where the preference negatives came from: per format, counts by source and records."""
    keys = ("judges", TEMPLATE, "records_with_judge_negatives", "records_template_only")
    report = {fmt: {k: stats[(fmt, k)] for k in keys} for fmt in ("pairwise", "pointwise")}
    report["lm_judges"] = judges
    report["by_judge"] = {name: stats[("by_judge", name)] for name in judges}
    return report


def split(cfg: dict, items_path: str, votes_path: str, out_dir, judgments: dict[str, str] | None = None) -> dict:
    """`judgments`: LM judge name -> its `vote judge` file (real judgments for the pairwise negatives)."""
    from pathlib import Path

    # 1. the votes, the benchmark's sources, the LM judges' judgments
    vcfg = cfg["vote"]
    scfg = vcfg["splits"]
    votes = load_votes(votes_path)
    bench_sources = assign_sources((v["source_id"] for v in votes.values()), scfg["bench_share"], cfg["seed"])
    out_dir = Path(out_dir)
    stats = Counter()
    readers = judgment_readers(vcfg["judges"], dict(judgments or {}))
    # 2. each item to the benchmark (gold labels) or, kept, to the training splits (voted labels)
    with contextlib.ExitStack() as stack:
        out = SplitFiles({s: stack.enter_context(atomic_write(out_dir / f"{s}.jsonl")) for s in SPLITS})
        for line, obj in iter_jsonl(items_path, parse=lambda o, p, n: (n, o)):
            item = BenchItem.from_dict(obj, str(items_path), line)
            v = votes.get(item.id)
            if v is None:
                raise InputError(items_path, f"item {item.id!r} has no vote in {votes_path}", line, "id")
            real = {name: r.take(item.id, v["orders"]) for name, r in readers.items()}
            if v["source_id"] in bench_sources:
                out.emit("bench", obj, v["source_id"])
            else:
                split_train_item(out, stats, item, v, real, scfg, cfg["seed"])
        check_disjoint(out.written)
        for r in readers.values():
            r.finish()
    # 3. the summary
    return split_summary(out, stats, votes, bench_sources, scfg, list(readers))


def load_votes(votes_path: str) -> dict[str, dict]:
    """The vote records by item id (each checked to be one)."""
    votes = {}
    for line, v in iter_jsonl(votes_path, parse=lambda o, p, n: (n, o)):
        if "id" not in v or "majority" not in v:
            raise InputError(votes_path, "not a vote record", line, "id" if "id" not in v else "majority")
        votes[v["id"]] = v
    return votes


def judgment_readers(vote_judges: list[dict], judgments: dict[str, str]) -> dict:
    """A JudgmentReader per LM judge given a judgments file, in the config's judge order; a file of a
    judge the config does not vote with is refused."""
    from longrm.vote.recorded import JudgmentReader

    unknown = sorted(set(judgments) - {j["name"] for j in vote_judges})
    if unknown:
        raise InputError(
            next(iter(judgments.values())), f"judgments of {unknown}, which are not vote judges of the config"
        )
    return {j["name"]: JudgmentReader(j["name"], judgments[j["name"]]) for j in vote_judges if j["name"] in judgments}


class SplitFiles:
    """The open split files, and per split what was written: the sources (for check_disjoint) and a
    count of records."""

    def __init__(self, files: dict):
        self.files = files
        self.written = {s: set() for s in SPLITS}
        self.counts = {s: 0 for s in SPLITS}

    def emit(self, name: str, rec, source: str) -> None:
        self.files[name].write(dumps(rec.to_dict() if hasattr(rec, "to_dict") else rec) + "\n")
        self.written[name].add(source)
        self.counts[name] += 1


def split_train_item(
    out: SplitFiles, stats: Counter, item: BenchItem, v: dict, real: dict[str, list[Judgment]], scfg: dict, seed: int
) -> None:
    """A training source's item: counted, and when the vote kept it its judge records (sft, pref) and
    its DisRM pair written with the voted labels."""
    source = v["source_id"]
    stats["train_items"] += 1
    if not v["kept"]:
        stats["train_items_dropped"] += 1
        return
    stats["train_items_kept"] += 1
    stats["train_label_errors"] += v["majority"] != item.gold_ranking
    for name, rec in judge_records(item, v, scfg["formats"], scfg["analysis"], scfg["max_negatives"], seed, real):
        out.emit(name, rec, source)
        if name == "pref":
            count_negatives(stats, rec)
    out.emit("disrm", disrm_pair(item, v), source)


def disrm_pair(item: BenchItem, v: dict) -> PrefPair:
    """The DisRM record: task prompt; chosen = voted-best response; rejected = the others, voted order."""
    majority, responses = v["majority"], item.responses
    return PrefPair(
        id=item.id,
        prompt=item.task_prompt,
        chosen=responses[majority[0]],
        rejected=[responses[i] for i in majority[1:]],
        extra={"source_id": v["source_id"], "voted": majority, "task": item.task, "length_bucket": item.length_bucket},
    )


def split_summary(
    out: SplitFiles, stats: Counter, votes: dict[str, dict], bench_sources: set, scfg: dict, judges: list[str]
) -> dict:
    return {
        "counts": out.counts,
        "sources": {s: len(out.written[s]) for s in SPLITS},
        "bench_sources": len(bench_sources),
        "all_sources": len({v["source_id"] for v in votes.values()}),
        "bench_share": scfg["bench_share"],
        "max_negatives": scfg["max_negatives"],
        "formats": scfg["formats"],
        "analysis": scfg["analysis"],
        "shared_sources": 0,
        "train_items": stats["train_items"],
        "train_items_kept": stats["train_items_kept"],
        "train_items_dropped": stats["train_items_dropped"],
        "train_label_error_rate": (
            stats["train_label_errors"] / stats["train_items_kept"] if stats["train_items_kept"] else None
        ),
        "negatives": negatives_report(stats, judges),
    }
