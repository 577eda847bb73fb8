"""`longrm inputs raw`: the raw short preference dataset (ShortItem JSONL) of the embedded default.

Per item: one family builder (families.py) makes the question, evidence and response cores; two
"generators" (gen-a terse, gen-b verbose: one lead-in per item) dress them, each response's generator
drawn independently of its correctness, so Same pairs share a style and in Diff pairs the chosen one is
the verbose one half of the time. Candidates are best-first: chosen (score 1.0), then the wrong ones,
hard before easy (a value the context states for another entity ranks above one it never states;
scores graded linearly down to 0.0). Every wrong response is the chosen one's template with another
value from the same distribution, so no response carries a tell without the context (issue 11).
Every choice is seeded by (config seed, item id).
"""

from __future__ import annotations

import functools
import random
import re
from pathlib import Path

from longrm.data.io import iter_jsonl, write_jsonl
from longrm.data.records import ShortItem
from longrm.errors import InputError
from longrm.inputs import families, sources
from longrm.seeding import rng_for

GENERATORS = ("gen-a", "gen-b")
MAX_ATTEMPTS = 50


LEADS = (
    "Based on the evidence, here is the answer.",
    "Having read the passages carefully:",
    "Looking at what the context states:",
)


def style(generator: str, core: str, lead: str) -> str:
    """The same content as a given generator would phrase it (gen-b opens with the item's lead-in)."""
    return core if generator == "gen-a" else f"{lead} {core}"


@functools.lru_cache(maxsize=2)
def build_pools(seed: int, corpus: str, one_token: frozenset[str] | None = None) -> families.Pools:
    """What the family builders draw from (cached per seed and snapshot: the builders only read it).
    With `one_token` (the words the base's tokenizer keeps whole), entities and answer words are only
    those: the base reads every fact's entity and value as one token."""
    ev_files = sources.files_in(seed, "evidence", corpus)
    paras = [p for f in ev_files for p in sources.paragraphs(f)]
    funcs = [fn for f in ev_files for fn in sources.functions_with_defaults(f)]
    modules = {}
    for f in sources.source_files(corpus):
        if f.kind == "code":
            fns = sources.public_functions(f)
            if fns:
                modules.setdefault(sources.module_name(f), fns)
    entities = sorted({m for m in modules if re.fullmatch(r"[a-z]{3,12}", m)})
    if not paras or not funcs:
        raise InputError(corpus, "found no prose or no functions with defaults to build items from")
    words = sources.answer_words(seed, corpus=corpus)
    if one_token is not None:
        entities = [e for e in entities if e in one_token]
        words = [w for w in words if w in one_token]
        if len(entities) < 8 or len(words) < 8:
            raise InputError(
                corpus, f"only {len(entities)} entities and {len(words)} answer words are one token of the base"
            )
    return families.Pools(paragraphs=paras, functions=funcs, modules=modules, entities=entities, words=words)


def grade(n_rejected: int) -> list[float]:
    """Scores best-first: chosen 1.0, rejected from 0.6 down to 0.0."""
    if n_rejected == 1:
        return [1.0, 0.0]
    return [1.0] + [round(0.6 * (n_rejected - 1 - j) / (n_rejected - 1), 4) for j in range(n_rejected)]


def _rejected_plan(draft: families.Draft, rng: random.Random, k: int) -> list[tuple[str, str, str]]:
    """k wrong responses (kind, core, asserted value), best-first: hard ones before easy ones.

    One of each kind where the item has both (the kind of a single wrong response is drawn), the rest
    of either kind at random; every asserted value distinct. ValueError if the draft has too few.
    """
    left = {kind: draft.of_kind(kind) for kind in ("hard", "easy")}
    for options in left.values():
        rng.shuffle(options)
    kinds = [kind for kind in ("hard", "easy") if left[kind]]
    rng.shuffle(kinds)
    while len(kinds) < k:
        open_kinds = [kind for kind in ("hard", "easy") if len(left[kind]) > kinds.count(kind)]
        if not open_kinds:
            raise ValueError(f"only {len(kinds)} wrong values for {k} rejected responses")
        kinds.append(rng.choice(open_kinds))
    picked = [left[kind][kinds[:i].count(kind)] for i, kind in enumerate(kinds[:k])]
    return sorted(picked, key=lambda r: r[0] != "hard")


def _dress(draft: families.Draft, rng: random.Random, n_rejected: int):
    """Candidates (styled), their generators and the rejected plan; ValueError if the lead-in happens
    to contain the answer."""
    plan = _rejected_plan(draft, rng, n_rejected)
    lead = rng.choice(LEADS)
    chosen_gen = rng.choice(GENERATORS)
    gens = [rng.choice(GENERATORS) for _ in plan]
    if len(plan) >= 2:  # at least one Same and one Diff rejected, on a random one of them
        j, other = rng.sample(range(len(plan)), 2)
        gens[other] = GENERATORS[1 - GENERATORS.index(gens[j])]
    candidates = [style(chosen_gen, draft.chosen, lead)]
    candidates += [style(g, p[1], lead) for g, p in zip(gens, plan)]
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
        id=item_id,
        task=task,
        question=draft.question,
        evidence=draft.evidence,
        candidates=candidates,
        candidates_model=models,
        candidates_score=grade(len(plan)),
        answer=draft.answer,
        source=draft.source,
        extra={
            "difficulty": plan[0][0],
            "candidates_difficulty": [""] + [p[0] for p in plan],
            "candidates_kind": ["chosen"] + [p[0] for p in plan],
            "candidates_fact": [draft.answer] + [p[2] for p in plan],
            "hops": len(draft.evidence),
        },
    )


def one_token_words(tokenizer_dir: str | Path) -> frozenset[str]:
    """The lower-case words that the tokenizer at `tokenizer_dir` keeps as one token after a space."""
    from longrm.base.text import one_token_words as ids_of_words
    from longrm.modeling import load_tokenizer

    tok = load_tokenizer(tokenizer_dir)
    return frozenset(tok.decode([i])[1:] for i in ids_of_words(tok))


def build_raw(cfg: dict, tokenizer_dir: str | Path | None = None) -> list[ShortItem]:
    from tqdm import tqdm

    icfg = cfg["inputs"]
    seed = cfg["seed"]
    pools = build_pools(seed, icfg["corpus"], one_token_words(tokenizer_dir) if tokenizer_dir else None)
    tasks = icfg["tasks"]
    n = icfg["items_per_task"]
    k = icfg["rejected_per_item"]
    jobs = [(t, i) for t in tasks for i in range(n)]
    return [build_item(t, i, seed, pools, k) for t, i in tqdm(jobs, desc="raw items", disable=None)]


def canonical_copy(src: str | Path, out: str | Path) -> int:
    """Validate a user-supplied raw file (ShortItem per line) and write it canonically."""
    return write_jsonl(out, iter_jsonl(src, ShortItem.from_dict))


def write_raw(cfg: dict, out: str | Path, tokenizer_dir: str | Path | None = None) -> int:
    raw_path = cfg["inputs"].get("raw_path")
    if raw_path:
        return canonical_copy(raw_path, out)
    return write_jsonl(out, build_raw(cfg, tokenizer_dir))
