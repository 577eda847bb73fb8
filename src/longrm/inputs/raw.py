"""`longrm inputs raw`: the raw short preference dataset (ShortItem JSONL) of the embedded default.

Per item: one family builder (families.py) makes the question, evidence and response cores; two
"generators" (gen-a terse, gen-b verbose) dress them, so Same/Diff pairs differ in style and not in
correctness. Candidates are best-first: chosen (score 1.0), a wrong fact of the item's difficulty,
a wrong fact of the other kind plus an invented claim, a response that ignores the evidence
(scores graded linearly down to 0.0). Every choice is seeded by (config seed, item id).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from longrm.data.io import iter_jsonl, write_jsonl
from longrm.data.records import TASKS, ShortItem
from longrm.errors import InputError
from longrm.inputs import families, sources
from longrm.seeding import rng_for

GENERATORS = ("gen-a", "gen-b")
MAX_ATTEMPTS = 50


def style(generator: str, core: str, rng: random.Random) -> str:
    """The same content as a given generator would phrase it."""
    if generator == "gen-a":
        return core
    lead = rng.choice(("Based on the evidence, here is the answer.", "Having read the passages carefully:",
                       "Looking at what the context states:"))
    return f"{lead} {core}"


def build_pools(seed: int) -> families.Pools:
    ev_files = sources.files_in(seed, "evidence")
    paras = [p for f in ev_files for p in sources.paragraphs(f)]
    funcs = [fn for f in ev_files for fn in sources.functions_with_defaults(f)]
    modules = {}
    for f in sources.source_files():
        if f.kind == "code":
            fns = sources.public_functions(f)
            if fns:
                modules.setdefault(sources.module_name(f), fns)
    entities = sorted({m for m in modules if re.fullmatch(r"[a-z]{3,12}", m)})
    if not paras or not funcs:
        raise InputError(sources.stdlib_root(), "found no prose or no functions with defaults to build items from")
    return families.Pools(paragraphs=paras, functions=funcs, modules=modules, entities=entities,
                          words=sources.answer_words(seed))


def grade(n_rejected: int) -> list[float]:
    """Scores best-first: chosen 1.0, rejected from 0.6 down to 0.0."""
    if n_rejected == 1:
        return [1.0, 0.0]
    return [1.0] + [round(0.6 * (n_rejected - 1 - j) / (n_rejected - 1), 4) for j in range(n_rejected)]


def _rejected_plan(draft: families.Draft, rng: random.Random, k: int):
    """(kind, core, difficulty, asserted value) for k rejected responses, worst last."""
    by_kind = {kind: (core, value) for kind, core, value in draft.rejected}
    first = rng.choice(("hard", "easy"))
    second = "easy" if first == "hard" else "hard"
    plan = [(first, by_kind[first][0], first, by_kind[first][1]),
            (f"{second}+invented", f"{by_kind[second][0]} {draft.invented}", second, by_kind[second][1])]
    for _ in range(max(0, k - 3)):  # more rejected responses than kinds: re-use the wrong facts, with claims
        plan.append(("easy+invented", f"{by_kind['easy'][0]} {draft.invented}", "easy", by_kind["easy"][1]))
    plan.append(("ignore", by_kind["ignore"][0], "ignore", ""))
    return plan[:k] if k < 3 else plan


def _dress(draft: families.Draft, rng: random.Random, n_rejected: int):
    """Candidates (styled), their generators and the rejected plan; ValueError if a lead-in or an
    invented claim happens to contain the answer."""
    plan = _rejected_plan(draft, rng, n_rejected)
    chosen_gen = rng.choice(GENERATORS)
    gens = [rng.choice(GENERATORS)]
    gens.append(GENERATORS[1 - GENERATORS.index(gens[0])])  # at least one Same and one Diff rejected
    gens += [rng.choice(GENERATORS) for _ in range(len(plan) - 2)]
    gens = gens[:len(plan)]
    candidates = [style(chosen_gen, draft.chosen, rng)]
    candidates += [style(g, p[1], rng) for g, p in zip(gens, plan)]
    if any(families.mentions(c, draft.answer) for c in candidates[1:]):
        raise ValueError("a rejected response contains the answer")
    return candidates, [chosen_gen] + gens, plan


def build_item(task: str, index: int, seed: int, pools: families.Pools, n_rejected: int) -> ShortItem:
    item_id = f"{task}-{index:04d}"
    for attempt in range(MAX_ATTEMPTS):
        rng = rng_for(seed, "inputs.raw", item_id, attempt)
        try:
            draft = families.BUILDERS[task](rng, pools)
            families.check_draft(draft)
            candidates, models, plan = _dress(draft, rng, n_rejected)
        except ValueError:
            continue
        break
    else:
        raise RuntimeError(f"{item_id}: no valid item after {MAX_ATTEMPTS} attempts")
    return ShortItem(
        id=item_id, task=task, question=draft.question, evidence=draft.evidence, candidates=candidates,
        candidates_model=models, candidates_score=grade(len(plan)), answer=draft.answer, source=draft.source,
        extra={"difficulty": plan[0][2], "candidates_difficulty": [""] + [p[2] for p in plan],
               "candidates_kind": ["chosen"] + [p[0] for p in plan],
               "candidates_fact": [draft.answer] + [p[3] for p in plan], "hops": len(draft.evidence)})


def build_raw(cfg: dict) -> list[ShortItem]:
    from tqdm import tqdm

    icfg = cfg["inputs"]
    seed = cfg["seed"]
    pools = build_pools(seed)
    tasks = icfg.get("tasks", list(TASKS))
    n = icfg.get("items_per_task", 120)
    k = icfg.get("rejected_per_item", 3)
    jobs = [(t, i) for t in tasks for i in range(n)]
    return [build_item(t, i, seed, pools, k) for t, i in tqdm(jobs, desc="raw items", disable=None)]


def canonical_copy(src: str | Path, out: str | Path) -> int:
    """Validate a user-supplied raw file (ShortItem per line) and write it canonically."""
    return write_jsonl(out, iter_jsonl(src, ShortItem.from_dict))


def write_raw(cfg: dict, out: str | Path) -> int:
    raw_path = cfg["inputs"].get("raw_path")
    if raw_path:
        return canonical_copy(raw_path, out)
    return write_jsonl(out, build_raw(cfg))
