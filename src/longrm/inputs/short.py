"""`longrm inputs short-split`: teach the base judge to judge SHORT items, and hold out a short benchmark.

The paper's base models judge well at short context; the embedded base learns it here, before any long-
context stage (issue 11). From the raw short preference items (evidence only, no distractors):
  train.jsonl  SFTExample per (training raw item, rejected response, order) with the pairwise verdict
               ([[A]]/[[B]]), and per (training raw item, response) with the pointwise score ([Score: 9]
               chosen, [Score: 2] rejected), as `vote.splits.formats` asks; verdict-only targets.
  bench.jsonl  BenchItem per (HELD-OUT raw item, rejected response): PairWise, the whole evidence as the
               context (bucket label "short"), extras source_id, difficulty (easy/hard), answer.
Held-out sources are exactly those `vote split` holds out: `longrm.seeding.assign_sources` over the source
ids of the long items (`--items`), with `vote.splits.bench_share`; a raw item no long item was built from
is not benchmarked anywhere and may train. Raw items of held-out sources never reach train.jsonl.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

from longrm.data.io import atomic_write, dumps, iter_jsonl
from longrm.data.records import BenchItem, SFTExample, ShortItem
from longrm.errors import InputError
from longrm.judges.prompts import SCORE_MAX, SCORE_MIN, build_point_prompt, build_prompt, format_score, format_verdict
from longrm.seeding import assign_sources

SHORT_BUCKET = "short"
CONTEXT_JOIN = "\n\n"  # the blank line synth puts between passages and before the question


def source_ids(items_path: str | Path) -> list[str]:
    """The source id of every long item (the universe `vote split` assigns from)."""
    out = []
    for line, obj in iter_jsonl(items_path, parse=lambda o, p, n: (n, o)):
        sid = obj.get("source_id")
        if not isinstance(sid, str) or not sid:
            raise InputError(items_path, "a long item needs its source_id", line, "source_id")
        out.append(sid)
    return out


def pair_item(raw: ShortItem, j: int) -> BenchItem:
    """The PairWise short item: raw.candidates[0] vs raw.candidates[j], evidence + question as the context."""
    models = raw.candidates_model or [""] * len(raw.candidates)
    kinds = raw.extra.get("candidates_difficulty") or []
    content = CONTEXT_JOIN.join([*(e.strip() for e in raw.evidence), f"Question: {raw.question}"])
    return BenchItem.from_dict(
        {
            "id": f"{raw.id}-short-{j}",
            "task": raw.task,
            "tasktype": "PairWise",
            "subtype": "same" if models[0] and models[0] == models[j] else "diff",
            "prompt_template": [{"role": "user", "content": content}],
            "question": raw.question,
            "source": raw.source or "raw",
            "chosen": raw.candidates[0],
            "rejected": raw.candidates[j],
            "chosen_model": models[0],
            "rejected_model": models[j],
            "ctx_length_for_length": SHORT_BUCKET,
            "words_count": len(content.split()),
            "source_id": raw.id,
            "length_bucket": SHORT_BUCKET,
            "difficulty": kinds[j] if j < len(kinds) else "",
            "answer": raw.answer,
            "hops": 1,
        }
    )


def training_examples(raw: ShortItem, formats: list[str]):
    """SFTExamples of one training raw item (one batch group per item: its pairs' orders and scores)."""
    base = {"group": raw.id, "source_id": raw.id, "task": raw.task, "length_bucket": SHORT_BUCKET}
    if "pairwise" in formats:
        for j in range(1, len(raw.candidates)):
            item = pair_item(raw, j)
            for order in ([0, 1], [1, 0]):
                yield SFTExample(
                    id=f"{item.id}/o{order[0]}",
                    prompt=build_prompt(item, order),
                    response=format_verdict([order.index(0), order.index(1)]),
                    extra={
                        **base,
                        "format": "pairwise",
                        "order": order,
                        "difficulty": item.extra.get("difficulty", ""),
                    },
                )
    if "pointwise" in formats:
        for idx in range(len(raw.candidates)):
            item, shown = (pair_item(raw, 1), 0) if idx == 0 else (pair_item(raw, idx), 1)
            score = SCORE_MAX if idx == 0 else SCORE_MIN + 1
            yield SFTExample(
                id=f"{raw.id}-short/p{idx}",
                prompt=build_point_prompt(item, shown),
                response=format_score(score),
                extra={**base, "format": "pointwise", "response_index": idx, "score": score},
            )


def short_split(
    cfg: dict, raw_path: str | Path, items_path: str | Path, out_train: str | Path, out_bench: str | Path
) -> dict:
    scfg = cfg["vote"]["splits"]
    share = scfg["bench_share"]
    formats = scfg["formats"]
    held_out = assign_sources(source_ids(items_path), share, cfg["seed"])
    counts: Counter = Counter()
    with contextlib.ExitStack() as stack:
        train = stack.enter_context(atomic_write(out_train))
        bench = stack.enter_context(atomic_write(out_bench))
        for raw in iter_jsonl(raw_path, ShortItem.from_dict):
            if len(raw.candidates) < 2:
                counts["raw_items_without_rejected"] += 1
                continue
            if raw.id in held_out:
                counts["bench_sources"] += 1
                for j in range(1, len(raw.candidates)):
                    item = pair_item(raw, j)
                    bench.write(dumps(item.to_dict()) + "\n")
                    counts["bench_items"] += 1
                    counts[f"bench_{item.extra.get('difficulty') or 'unlabelled'}"] += 1
                continue
            counts["train_sources"] += 1
            for ex in training_examples(raw, formats):
                train.write(dumps(ex.to_dict()) + "\n")
                counts[f"train_{ex.extra['format']}"] += 1
    if not counts["bench_items"]:
        raise InputError(raw_path, "no raw item belongs to a held-out source: the short benchmark would be empty")
    return {"bench_share": share, "formats": formats, "held_out_sources": len(held_out), **dict(sorted(counts.items()))}
