"""Small self-made ShortItems and distractor documents (tests, benchmarks, dry runs).

Each item asks for one attribute of one invented entity; the evidence states it (sometimes over two
sentences, for multi-hop placement); candidates are best-first: a grounded answer, then the raw data's
weaker answers (some items have none, so synthesis must generate them).
"""

from __future__ import annotations

from longrm.seeding import rng_for

_SYL = (
    "ba",
    "cor",
    "del",
    "fen",
    "gar",
    "hol",
    "ish",
    "jun",
    "kel",
    "lom",
    "mar",
    "nor",
    "pel",
    "quin",
    "ros",
    "sal",
    "tev",
    "ulm",
    "var",
    "wes",
)
_ATTRS = ("founding year", "population", "altitude in metres", "number of bridges", "archive code")
_TOPICS = ("trade", "weather", "music", "rivers", "farming", "railways", "festivals", "mining", "poetry")
TASK_CYCLE = ("LongQA", "Cite", "Summ", "ICL", "Code", "Math", "Safety")


def _name(rng) -> str:
    return "".join(rng.choice(_SYL) for _ in range(3)).capitalize()


def demo_short_items(n: int, seed: int = 0, rejected: int = 2) -> list[dict]:
    items = []
    for i in range(n):
        rng = rng_for(seed, "demo-item", i)
        place, person = _name(rng), _name(rng)
        attr = _ATTRS[i % len(_ATTRS)]
        value = str(rng.randint(120, 9800))
        wrong = str(int(value) + rng.choice((-1, 1)) * rng.randint(15, 90))
        evidence = [
            f"The town of {place} was surveyed by {person}. Its {attr} is {value}, according to the survey of {person}."
        ]
        if i % 3 == 0:
            evidence.append(f"{person} later wrote that the survey of {place} was exact.")
        chosen = f"The {attr} of {place} is {value}, as recorded by {person}."
        pool = [
            f"The {attr} of {place} is {wrong}, as recorded by {person}.",
            f"{place} is a town; its {attr} is not given with any certainty.",
            f"The {attr} of {place} is probably around {wrong}.",
        ]
        k = rejected if i % 4 else 0  # every 4th item has no rejected response in the raw data
        cands = [chosen] + pool[:k]
        models = ["gen-a"] + [("gen-a" if j % 2 == 0 else "gen-b") for j in range(k)]
        items.append(
            {
                "id": f"demo-{i:04d}",
                "task": TASK_CYCLE[i % len(TASK_CYCLE)],
                "question": f"What is the {attr} of {place}?",
                "evidence": evidence,
                "candidates": cands,
                "candidates_model": models,
                "candidates_score": [float(len(cands) - j) for j in range(len(cands))],
                "answer": value,
                "source": "demo",
                "difficulty": ("easy", "medium", "hard")[i % 3],
            }
        )
    return items


def demo_distractors(n: int, seed: int = 0, sentences: tuple[int, int] = (4, 12)) -> list[dict]:
    docs = []
    for i in range(n):
        rng = rng_for(seed, "demo-doc", i)
        topic = rng.choice(_TOPICS)
        lines = []
        for _ in range(rng.randint(*sentences)):
            a, b = _name(rng), _name(rng)
            lines.append(
                rng.choice(
                    (
                        f"In {a}, the {topic} guild met {rng.randint(2, 40)} times under {b}.",
                        f"{a} wrote about {topic} and the old roads near {b}.",
                        f"The {rng.choice(_ATTRS)} of {a} was disputed by {b} for {rng.randint(2, 30)} years.",
                        f"Visitors to {a} remember the {topic} and the quiet harbour.",
                    )
                )
            )
        docs.append({"id": f"doc-{i:05d}", "source": "demo", "text": " ".join(lines)})
    return docs
