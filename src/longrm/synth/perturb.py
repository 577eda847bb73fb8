"""Controlled perturbations that make a grounded response ungrounded (deterministic).

contradict  swap the fact: the answer (or a number / name / content word the chosen response shares
            with the evidence) is replaced by a different value
ignore      a generic answer that does not use the context
invent      the chosen response plus a confident fact that appears nowhere in the context

Each kind is seeded from (config seed, item id, kind), so the same item always gets the same text.
"""

from __future__ import annotations

import re

from longrm.seeding import rng_for

KINDS = ("contradict", "ignore", "invent")

_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
_WORD = re.compile(r"\b[A-Za-z][A-Za-z'-]{3,}\b")
_SYLLABLES = ("ka", "lo", "mi", "ren", "tas", "vo", "dri", "nel", "qua", "sor", "bex", "tul")

GENERIC = (
    "This depends on many factors, and in general it is best to consult a reliable source.",
    "There are several possible answers to this question; a common view is that it varies by case.",
    "Generally speaking, the answer is not straightforward and different people would see it differently.",
    "I am not sure; questions like this usually have more than one reasonable answer.",
)
INVENTED_TEMPLATES = (
    "In addition, the records show that this was confirmed by {name} in {year}.",
    "Note also that the figure was later revised to {num} by {name}.",
    "The documents further state that {name} was responsible for it since {year}.",
)


def _invented_name(rng) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()


def _other_number(value: str, rng) -> str:
    digits = value.replace(",", "")
    try:
        num = float(digits)
    except ValueError:
        return str(rng.randint(10, 999))
    delta = rng.choice([-1, 1]) * max(1, round(abs(num) * rng.uniform(0.2, 0.8)))
    new = num + delta
    if new == num:
        new = num + 7
    return str(int(new)) if "." not in digits else f"{new:.{len(digits.split('.')[1])}f}"


def contradict(chosen: str, evidence: str, answer: str, rng) -> str:
    """Swap the fact the chosen response states for a different one."""
    if answer and answer in chosen:
        nums = _NUMBER.fullmatch(answer.strip())
        new = _other_number(answer, rng) if nums else _invented_name(rng)
        return chosen.replace(answer, new)
    nums = [m for m in _NUMBER.finditer(chosen)]
    if nums:
        m = nums[rng.randrange(len(nums))]
        return chosen[: m.start()] + _other_number(m.group(), rng) + chosen[m.end() :]
    ev_words = {w.lower() for w in _WORD.findall(evidence)}
    shared = [m for m in _WORD.finditer(chosen) if m.group().lower() in ev_words]
    if shared:
        m = max(shared, key=lambda m: (len(m.group()), -m.start()))
        repl = _invented_name(rng) if m.group()[0].isupper() else _invented_name(rng).lower()
        return chosen[: m.start()] + repl + chosen[m.end() :]
    return "No. " + chosen if not chosen.startswith("No") else chosen[3:].lstrip()


def ignore(question: str, rng) -> str:
    return rng.choice(GENERIC)


def invent(chosen: str, context_words: set[str], rng) -> str:
    """Append a fact whose name is absent from the context (re-drawn until absent)."""
    for _ in range(20):
        name = _invented_name(rng)
        if name.lower() not in context_words:
            break
    year = str(rng.randint(1890, 1990))
    num = str(rng.randint(11, 9999))
    return chosen.rstrip() + " " + rng.choice(INVENTED_TEMPLATES).format(name=name, year=year, num=num)


def perturb(kind: str, chosen: str, question: str, evidence: list[str], answer: str, seed: int, item_id: str) -> str:
    """One perturbed response of `kind` (see module doc); deterministic in (seed, item_id, kind)."""
    rng = rng_for(seed, "perturb", item_id, kind)
    ev = "\n".join(evidence)
    if kind == "contradict":
        out = contradict(chosen, ev, answer, rng)
    elif kind == "ignore":
        out = ignore(question, rng)
    elif kind == "invent":
        out = invent(chosen, {w.lower() for w in _WORD.findall(ev)}, rng)
    else:
        raise ValueError(f"unknown perturbation {kind!r}; expected one of {', '.join(KINDS)}")
    return out
