"""Build long-context BenchItems from short preference items (Short-to-Long synthesis).

For each short item (a question answerable from a short evidence passage), `items_per_source` long
items are built. Each draws, seeded by (config seed, item id):
  - a target length L (tokens of the judge tokenizer; the whole task prompt fits in L) and a position
    (start / middle / end / random slot) for the evidence among distractor documents;
  - PairWise (subtype "same" when both responses come from one generator, else "diff") or, with
    probability bon_share, BestOfN with 2, 3 or 4 candidates (subtype "2"/"3"/"4", gold ranking best-first);
  - with probability multihop_share, multi-hop placement: the evidence passages (or the sentences of a
    single passage) are grouped into up to max_hops pieces placed at several spread-out slots.
Missing rejected responses are written by controlled perturbations (synth.perturb) or a policy model.

Bad raw items are skipped and counted with a reason (see SKIP_REASONS); anything else that is wrong
with the input raises InputError naming file, line and field.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from longrm.data.records import BenchItem, ShortItem
from longrm.errors import InputError
from longrm.seeding import derive_seed, rng_for
from longrm.synth.perturb import KINDS, perturb
from longrm.synth.tokens import SEPARATOR, TokenCounter, bucket_label

SKIP_REASONS = {
    "missing_id": "the raw item has no id",
    "duplicate_id": "an earlier raw item has the same id (the first one is kept)",
    "missing_chosen": "no chosen response (candidates missing, empty, or the first one blank)",
    "empty_rejected": "a rejected response is blank",
    "empty_evidence": "no non-blank evidence passage",
    "longer_than_bucket": "question + evidence alone exceed the target length (per long item)",
}
# Items built anyway but counted: the judge budget is smaller than the bucket (fit_judge), or smaller than
# question + evidence alone (such an item will be cut by the judge; the bench records if its evidence survived)
BUDGET_COUNTS = ("fitted_to_judge", "over_judge_budget")
MAX_EXAMPLES = 50
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class DistractorPool:
    ids: list[str]
    texts: list[str]
    lengths: list[int]

    @classmethod
    def load(cls, records: Iterable[dict], counter: TokenCounter, path: str = "<distractors>") -> DistractorPool:
        ids, texts = [], []
        for i, rec in enumerate(records, start=1):
            text = rec.get("text")
            if not isinstance(text, str):
                raise InputError(path, "expected a string", i, "text")
            if text.strip():
                ids.append(str(rec.get("id", i)))
                texts.append(text.strip())
        if not texts:
            raise InputError(path, "the distractor pool is empty")
        return cls(ids, texts, counter.count_many(texts))

    @property
    def min_len(self) -> int:
        return min(self.lengths)


@dataclass
class SynthReport:
    raw_lines: int = 0
    sources_used: int = 0
    items: int = 0
    tokens: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)
    counts: dict = field(
        default_factory=lambda: {k: Counter() for k in ("task", "tasktype", "subtype", "bucket", "position", "hops")}
    )
    generated: Counter = field(default_factory=Counter)
    budget: Counter = field(default_factory=Counter)
    distractor_reuse: int = 0
    seconds: float = 0.0

    def skip(self, reason: str, line: int, item_id, detail: str = "") -> None:
        self.skipped[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"line": line, "id": item_id, "reason": reason, "detail": detail})

    def built(self, rec: dict) -> None:
        """Count a long item written."""
        self.items += 1
        self.tokens += rec["length"]
        for key, val in (
            ("task", rec["task"]),
            ("tasktype", rec["tasktype"]),
            ("subtype", rec["subtype"]),
            ("bucket", rec["length_bucket"]),
            ("position", rec["position"]),
            ("hops", str(rec["hops"])),
        ):
            self.counts[key][val] += 1

    def to_dict(self) -> dict:
        return {
            "raw_lines": self.raw_lines,
            "sources_used": self.sources_used,
            "items_written": self.items,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_total": sum(self.skipped.values()),
            "skip_reasons": SKIP_REASONS,
            "skipped_examples": self.examples,
            "counts": {k: dict(sorted(v.items())) for k, v in self.counts.items()},
            "generated_responses": dict(sorted(self.generated.items())),
            "judge_budget": {k: self.budget[k] for k in BUDGET_COUNTS},
            "items_reusing_distractors": self.distractor_reuse,
            "context_tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds > 0 else None,
        }


def check_raw(obj: dict, path: str, line: int, seen: set[str], report: SynthReport) -> dict | None:
    """The raw dict if usable, else None after counting the skip reason."""
    item_id = obj.get("id")
    if item_id is None or (isinstance(item_id, str) and not item_id.strip()):
        report.skip("missing_id", line, None)
        return None
    item_id = str(item_id)
    if item_id in seen:
        report.skip("duplicate_id", line, item_id)
        return None
    seen.add(item_id)
    cands = obj.get("candidates")
    if not isinstance(cands, list) or not cands or not isinstance(cands[0], str) or not cands[0].strip():
        report.skip("missing_chosen", line, item_id)
        return None
    if any(isinstance(c, str) and not c.strip() for c in cands[1:]):
        report.skip("empty_rejected", line, item_id)
        return None
    ev = obj.get("evidence")
    if isinstance(ev, str):
        ev = [ev]
    if not isinstance(ev, list) or not any(isinstance(e, str) and e.strip() for e in ev):
        report.skip("empty_evidence", line, item_id)
        return None
    return dict(obj, id=item_id, evidence=[e for e in ev if isinstance(e, str) and e.strip()])


@dataclass
class Variant:
    index: int
    length: int
    position: str
    n: int  # responses
    multihop: bool
    prefer: str  # "same" | "diff" (PairWise)
    bon: bool = False  # BestOfN (n = 2, 3 or 4); else PairWise (n = 2)


def plan_variants(item_id: str, syn: dict, seed: int) -> list[Variant]:
    rng = rng_for(seed, "synth", item_id)
    combos = [(L, p) for L in syn["lengths"] for p in syn["positions"]]
    rng.shuffle(combos)
    out = []
    for k in range(syn["items_per_source"]):
        L, p = combos[k % len(combos)]
        bon = rng.random() < syn["bon_share"]
        n = rng.choice((2, 3, 4)) if bon else 2
        multihop = rng.random() < syn["multihop_share"]
        out.append(Variant(k, L, p, n, multihop, rng.choice(("same", "diff")), bon))
    return out


def judge_room(cfg: dict) -> int | None:
    """Tokens a judge has for context + responses: bench.max_model_len - bench.max_new_tokens -
    synth.template_tokens (None when synth.fit_judge is off)."""
    if not cfg["synth"]["fit_judge"]:
        return None
    bench = cfg["bench"]
    return bench["max_model_len"] - bench["max_new_tokens"] - cfg["synth"]["template_tokens"]


@dataclass
class ContextLayout:
    """A long context being assembled: its texts (joined by SEPARATOR), the running token offset, and
    where each evidence piece went (token offset, index among the texts, token span)."""

    sep: int  # tokens of one SEPARATOR
    texts: list[str] = field(default_factory=list)
    offset: int = 0  # tokens so far
    insert_positions: list[int] = field(default_factory=list)
    insert_index: list[int] = field(default_factory=list)
    spans: list[list[int]] = field(default_factory=list)

    def add(self, text: str, n_tokens: int) -> int:
        """Append a text (after a separator unless it is the first); returns its token offset."""
        if self.texts:
            self.offset += self.sep
        start = self.offset
        self.texts.append(text)
        self.offset += n_tokens
        return start

    def add_evidence(self, text: str, n_tokens: int) -> None:
        self.insert_index.append(len(self.texts))
        start = self.add(text, n_tokens)
        self.insert_positions.append(start)
        self.spans.append([start, start + n_tokens])


class Synthesizer:
    """Turns ShortItems into long BenchItem dicts; holds the tokenizer cache and the distractor pool."""

    def __init__(self, cfg: dict, counter: TokenCounter, pool: DistractorPool, policy=None):
        self.cfg = cfg
        self.syn = cfg["synth"]
        self.seed = cfg["seed"]
        self.counter = counter
        self.pool = pool
        self.policy = policy
        self.judge_room = judge_room(cfg)

    # -- responses ---------------------------------------------------------------------------------
    def complete_candidates(self, obj: dict, need: int, report: SynthReport) -> dict:
        """Append perturbed responses until there are `need` candidates (chosen first)."""
        cands = list(obj["candidates"])
        if len(cands) >= need:
            return obj
        models = list(obj.get("candidates_model") or [])
        scores = list(obj.get("candidates_score") or [])
        chosen_model = models[0] if models else "chosen"
        floor = min(scores) if scores else 0.0
        kinds = iter(KINDS * 2)
        while len(cands) < need:
            kind = next(kinds)
            text, origin = "", "rule"
            if self.policy is not None:
                text = self.policy.generate(kind, obj.get("question", ""), obj["evidence"])
                origin = self.policy.name
            if not text:
                if self.policy is not None:
                    report.generated["policy_empty_fallback"] += 1
                text = perturb(
                    kind,
                    cands[0],
                    obj.get("question", ""),
                    obj["evidence"],
                    str(obj.get("answer", "")),
                    self.seed,
                    obj["id"] + f"#{len(cands)}",
                )
                origin = "rule"
            report.generated[f"{origin}:{kind}" if origin == "rule" else f"policy:{kind}"] += 1
            cands.append(text)
            if models:
                models.append(f"{chosen_model}+{kind}" if origin == "rule" else f"{origin}+{kind}")
            if scores:
                floor -= 1.0
                scores.append(floor)
        out = dict(obj, candidates=cands)
        if models:
            out["candidates_model"] = models
        if scores:
            out["candidates_score"] = scores
        return out

    # -- contexts ----------------------------------------------------------------------------------
    def judge_budget(self, item: ShortItem, n: int) -> int | None:
        """Context tokens the judge can take with this item's longest possible responses: bench.max_model_len
        - bench.max_new_tokens - synth.template_tokens - response tokens (chosen + the n-1 longest rejected,
        so no draw is needed); None when fit_judge is off."""
        if self.judge_room is None:
            return None
        counts = [self.counter.count(c) for c in item.candidates]
        return self.judge_room - counts[0] - sum(sorted(counts[1:], reverse=True)[: n - 1])

    def evidence_pieces(self, item: ShortItem, multihop: bool) -> list[str]:
        ev = [e.strip() for e in item.evidence]
        if not multihop:
            return ev
        pieces = ev if len(ev) >= 2 else [s for s in _SENTENCE.split(ev[0]) if s.strip()]
        hops = min(self.syn["max_hops"], len(pieces))
        if hops < 2:
            return ev
        groups = [pieces[round(g * len(pieces) / hops) : round((g + 1) * len(pieces) / hops)] for g in range(hops)]
        joiner = SEPARATOR if len(ev) >= 2 else " "
        return [joiner.join(g) for g in groups]

    def fill(self, budget: int, rng) -> tuple[list[int], bool]:
        """Distractor indices (pool order shuffled) whose joined cost fits `budget`; reuse flag."""
        sep = self.counter.sep_tokens
        order = list(range(len(self.pool.lengths)))
        rng.shuffle(order)
        picked: list[int] = []
        remaining = budget
        passes = 0
        while remaining >= self.pool.min_len + sep:
            added = False
            for i in order:
                cost = self.pool.lengths[i] + sep
                if cost <= remaining:
                    picked.append(i)
                    remaining -= cost
                    added = True
                    if remaining < self.pool.min_len + sep:
                        break
            passes += 1
            if not added:
                break
        return picked, passes > 1 and len(picked) > len(order)

    def slots(self, n_docs: int, position: str, hops: int, rng) -> list[int]:
        """Insertion slots (0 = before the first distractor, n_docs = after the last), one per piece."""
        if hops > 1:
            out = []
            for s in range(hops):
                lo, hi = s * (n_docs + 1) // hops, (s + 1) * (n_docs + 1) // hops - 1
                out.append(rng.randint(lo, max(lo, hi)))
            return out
        slot = {"start": 0, "middle": n_docs // 2, "end": n_docs}.get(position)
        return [rng.randint(0, n_docs) if slot is None else slot]

    def build(self, item: ShortItem, v: Variant, report: SynthReport, line: int) -> dict | None:
        """One long item of `item` as variant `v` (None, the skip counted, when question + evidence alone
        exceed the variant's length)."""
        # 1. what must fit: the question and the evidence (in pieces when multi-hop)
        vid = f"{item.id}-{v.index}"
        rng = rng_for(self.seed, "synth", vid)
        question_msg = f"Question: {item.question}"
        q_tokens = self.counter.count(question_msg)
        pieces = self.evidence_pieces(item, v.multihop)
        hops = len(pieces) if v.multihop and len(pieces) > 1 else 1
        piece_lens = [self.counter.count(p) for p in pieces]
        fixed = q_tokens + self.counter.sep_tokens + self.counter.joined(piece_lens)
        if fixed > v.length:
            report.skip(
                "longer_than_bucket",
                line,
                item.id,
                f"{fixed} tokens of question + evidence > {bucket_label(v.length)} ({v.length})",
            )
            return None
        # 2. distractors up to the target length, and the slots of the evidence among them
        docs, reused = self.fill(self.target_length(item, v, fixed, report) - fixed, rng)
        report.distractor_reuse += reused
        slots = self.slots(len(docs), v.position, hops, rng)
        # 3. the context: evidence piece j before distractor slots[j] (contiguous when one slot)
        layout = self.assemble(pieces, piece_lens, docs, [slots[0]] * len(pieces) if hops == 1 else slots)
        # 4. the record, its responses, checked as a reader would, counted
        rec = self.long_record(item, v, vid, layout, question_msg, q_tokens, hops, docs)
        self.add_responses(rec, item, v, rng)
        BenchItem.from_dict(rec, "<synth>", line)  # same checks a reader applies
        report.built(rec)
        return rec

    def target_length(self, item: ShortItem, v: Variant, fixed: int, report: SynthReport) -> int:
        """The variant's length, or less when the judge's budget is smaller (never below `fixed`)."""
        target, budget = v.length, self.judge_budget(item, v.n)
        if budget is not None and budget < target:
            target = max(budget, fixed)
            report.budget["fitted_to_judge" if budget >= fixed else "over_judge_budget"] += 1
        return target

    def assemble(self, pieces: list[str], piece_lens: list[int], docs: list[int], place: list[int]) -> ContextLayout:
        """Distractors `docs` in order, evidence piece j inserted before distractor place[j] (place[j] =
        len(docs): after the last)."""
        layout = ContextLayout(self.counter.sep_tokens)
        j = 0
        for d in range(len(docs) + 1):
            while j < len(pieces) and place[j] == d:
                layout.add_evidence(pieces[j], piece_lens[j])
                j += 1
            if d < len(docs):
                layout.add(self.pool.texts[docs[d]], self.pool.lengths[docs[d]])
        return layout

    def long_record(
        self,
        item: ShortItem,
        v: Variant,
        vid: str,
        layout: ContextLayout,
        question_msg: str,
        q_tokens: int,
        hops: int,
        docs: list[int],
    ) -> dict:
        """The long item's dict, responses not yet added: context + question as one user message."""
        content = SEPARATOR.join(layout.texts) + SEPARATOR + question_msg
        label = bucket_label(v.length)
        return {
            "id": vid,
            "task": item.task,
            "question": item.question,
            "source": item.source or "synth",
            "subtask": "multihop" if hops > 1 else "",
            "prompt_template": [{"role": "user", "content": content}],
            "ctx_length_for_length": label,
            "ctx_length_for_words": "",
            "length": layout.offset + self.counter.sep_tokens + q_tokens,
            "words_count": len(content.split()),
            "source_id": item.id,
            "insert_positions": layout.insert_positions,
            "insert_index": layout.insert_index,
            "evidence_spans": layout.spans,
            "position": "spread" if hops > 1 else v.position,
            "hops": hops,
            "seed": derive_seed(self.seed, "synth", vid),
            "length_bucket": label,
            "target_length": v.length,
            "answer": item.answer,
            "difficulty": item.extra.get("difficulty"),
            "distractor_ids": [self.pool.ids[d] for d in docs],
        }

    def add_responses(self, rec: dict, item: ShortItem, v: Variant, rng) -> None:
        cands = item.candidates
        models = item.candidates_model or [""] * len(cands)
        if not v.bon:
            rejected = list(range(1, len(cands)))
            same = [j for j in rejected if models[0] and models[j] == models[0]]
            diff = [j for j in rejected if j not in same]
            group = (same if v.prefer == "same" else diff) or same or diff
            j = group[rng.randrange(len(group))]
            rec.update(
                tasktype="PairWise",
                subtype="same" if j in same else "diff",
                chosen=cands[0],
                rejected=cands[j],
                chosen_model=models[0],
                rejected_model=models[j],
            )
            per_candidate = item.extra.get("candidates_difficulty")
            if isinstance(per_candidate, list) and len(per_candidate) == len(cands) and per_candidate[j]:
                rec["difficulty"] = per_candidate[j]  # the pair is as hard as its rejected response
            return
        picks = [0] + sorted(rng.sample(range(1, len(cands)), v.n - 1))
        scores = item.candidates_score or [float(len(cands) - j) for j in range(len(cands))]
        rec.update(
            tasktype="BestOfN",
            subtype=str(v.n),
            candidates=[cands[j] for j in picks],
            candidates_model=[models[j] for j in picks],
            candidates_score=[scores[j] for j in picks],
        )
        per_candidate = item.extra.get("candidates_difficulty")
        if isinstance(per_candidate, list) and len(per_candidate) == len(cands):
            rec["candidates_difficulty"] = [per_candidate[j] for j in picks]  # "" for the chosen one


def synthesize(
    raw: Iterable[tuple[int, dict]], synth: Synthesizer, report: SynthReport, path: str = "<raw>"
) -> Iterator[dict]:
    """Stream long BenchItem dicts from (line number, raw dict) pairs; fills `report`."""
    seen: set[str] = set()
    start = time.perf_counter()
    for line, obj in raw:
        report.raw_lines += 1
        obj = check_raw(obj, path, line, seen, report)
        if obj is None:
            continue
        variants = plan_variants(obj["id"], synth.syn, synth.seed)
        obj = synth.complete_candidates(obj, max(v.n for v in variants), report)
        item = ShortItem.from_dict(obj, path, line)
        built = 0
        for v in variants:
            rec = synth.build(item, v, report, line)
            if rec is not None:
                built += 1
                yield rec
        report.sources_used += built > 0
    report.seconds += time.perf_counter() - start
