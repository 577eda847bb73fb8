"""The seven task families of the raw short preference data, each a different form of grounded answer.

Every builder returns a `Draft`: question, evidence passages, the ground-truth answer, the chosen
response's core sentence and the wrong responses it can offer, each a core sentence plus the value it
asserts. Cores are then dressed in a generator's style (raw.py). Answers are a token or two (a word, a
number, a literal, a passage marker, a module name) and are stated in the evidence.

Tell-free by construction (issue 11): every wrong response is the chosen response's template with
another value, and right and wrong values are drawn from the same distribution, so only the context
separates them. Wrong kinds: "hard" = a value the evidence states for another entity (needs binding),
"easy" = a value that appears nowhere in the evidence. There is no "ignore" kind (a template of its own,
only ever rejected, was a tell) and no invented claim appended to rejected responses.
A builder states these facts; `check_draft` verifies them on the finished text.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from longrm.inputs.sources import FunctionFacts, Paragraph

ATTRIBUTES = ("codeword", "password", "label", "tag", "keyword")  # one word each: one token of the base
UNSAFE_FLAGS = ("hazardous", "forbidden", "restricted", "dangerous", "blocked", "harmful")
SAFE_FLAGS = ("cleared", "approved", "permitted", "verified", "trusted", "allowed")
ACTION_OBJECTS = ("script", "tool", "archive", "command", "job", "package")
COUNT_NOUNS = ("records", "tickets", "files", "tests", "pages", "messages", "requests")


@dataclass
class Pools:
    """What the builders draw from (all from the evidence share of the offline sources)."""

    paragraphs: list[Paragraph]
    functions: list[FunctionFacts]
    modules: dict[str, list[str]]  # module -> public function names (ICL)
    entities: list[str]  # module names used as entity names
    words: list[str]  # answer vocabulary

    def default_values(self) -> list[str]:
        """Every default value of every pool function, repeats kept (the Code answers' distribution)."""
        return [v for fn in self.functions for _, v in fn.defaults]


EASY_OPTIONS = 4  # absent values offered per item (raw.py picks as many as it needs)


@dataclass
class Draft:
    question: str
    evidence: list[str]
    answer: str
    chosen: str
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, core, asserted value)
    source: str = ""
    answer_in_evidence: bool = True  # False only where the answer is computed (Math)

    def of_kind(self, kind: str) -> list[tuple[str, str, str]]:
        return [r for r in self.rejected if r[0] == kind]


def wrong(kind: str, render, values) -> list[tuple[str, str, str]]:
    """(kind, core, value) per distinct wrong value, the core written by the chosen one's `render`."""
    return [(kind, render(v), v) for v in dict.fromkeys(values)]


def mentions(text: str, token: str) -> bool:
    """`token` occurs in `text` as a whole token (so '0' is not found in '10' or '0.5')."""
    pattern = r"(?<![\w.'\[])" + re.escape(token) + r"(?![\w'\]]|\.\d)"
    if token[:1] in "'\"[" or token[-1:] in "'\"]":
        pattern = re.escape(token)
    return re.search(pattern, text, flags=re.IGNORECASE if token.isalpha() else 0) is not None


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(\"'])", text) if s]


def filler(rng: random.Random, pools: Pools, min_words: int = 18, max_words: int = 45) -> tuple[list[str], str]:
    """A few consecutive sentences of a real prose paragraph (about min..max words) and its source."""
    para = pools.paragraphs[rng.randrange(len(pools.paragraphs))]
    sents = _sentences(para.text)
    start = rng.randrange(len(sents))
    out: list[str] = []
    n = 0
    for s in sents[start:] + sents[:start]:
        words = s.split()
        if n + len(words) > max_words:  # too long: keep its head, cut at a word boundary
            out.append(" ".join(words[: max(min_words - n, 8)]).rstrip(",;:") + ".")
            break
        out.append(s)
        n += len(words)
        if n >= min_words:
            break
    return out, para.source


def passage(rng: random.Random, pools: Pools, facts: list[str], prefix: str = "") -> tuple[str, str]:
    """Real prose with `facts` inserted at sentence boundaries (in order)."""
    sents, src = filler(rng, pools)
    slots = sorted(rng.randint(0, len(sents)) for _ in facts)
    for offset, (slot, fact) in enumerate(zip(slots, facts)):
        sents.insert(slot + offset, fact)
    return prefix + " ".join(sents), src


def _absent(rng: random.Random, pool, evidence: list[str], avoid=(), k: int = 1) -> list[str]:
    """Up to k distinct values from `pool` that the evidence never mentions (and not in `avoid`);
    a value listed several times in `pool` is drawn that much more often. ValueError if none."""
    text = "\n".join(evidence)
    order = list(pool)
    rng.shuffle(order)
    out: list[str] = []
    for v in order:
        if v not in avoid and v not in out and not mentions(text, v):
            out.append(v)
            if len(out) == k:
                break
    if not out:
        raise ValueError("no absent value left in the pool")
    return out


def _distinct(rng: random.Random, pool, k: int) -> list:
    return rng.sample(list(pool), k)


def _split(rng: random.Random, facts: list[str], n_passages: int) -> list[list[str]]:
    """Facts spread over n passages, none empty (facts[0] is the target fact)."""
    order = list(range(len(facts)))
    rng.shuffle(order)
    groups: list[list[str]] = [[] for _ in range(n_passages)]
    for i, idx in enumerate(order):
        groups[i % n_passages].append(facts[idx])
    return groups


def _n_passages(rng: random.Random) -> int:
    return rng.choices((1, 2, 3), weights=(5, 3, 2))[0]


# --- LongQA: a fact question --------------------------------------------------------------------


def long_qa(rng: random.Random, pools: Pools) -> Draft:
    n_pass = _n_passages(rng)
    ents = _distinct(rng, pools.entities, max(2, n_pass) + rng.randint(0, 1))
    vals = _distinct(rng, pools.words, len(ents))
    attr = rng.choice(ATTRIBUTES)
    facts = [f"The {attr} of {e} is {v}." for e, v in zip(ents, vals)]
    evidence, srcs = [], []
    for group in _split(rng, facts, n_pass):
        text, src = passage(rng, pools, group)
        evidence.append(text)
        srcs.append(src)
    target, answer = ents[0], vals[0]

    def render(v):
        return f"The {attr} of {target} is {v}."

    easy = _absent(rng, pools.words, evidence, k=EASY_OPTIONS)
    return Draft(
        question=f"What is the {attr} of {target}?",
        evidence=evidence,
        answer=answer,
        chosen=render(answer),
        rejected=wrong("hard", render, vals[1:]) + wrong("easy", render, easy),
        source=srcs[0],
    )


# --- Summ: a one-sentence summary that keeps or swaps the key fact ------------------------------


def summ(rng: random.Random, pools: Pools) -> Draft:
    ents = _distinct(rng, pools.entities, 2)
    vals = _distinct(rng, pools.words, 2)
    attr = rng.choice(ATTRIBUTES)
    sents, src = filler(rng, pools, min_words=30, max_words=55)
    topic = " ".join(sents[0].split()[:10]).rstrip(".,;:")
    key = f"Most importantly, the {attr} of {ents[0]} is {vals[0]}."
    side = f"The {attr} of {ents[1]} is {vals[1]}."
    sents.insert(rng.randint(1, len(sents)), key)
    sents.insert(rng.randint(0, len(sents)), side)
    evidence = [" ".join(sents)]

    def render(v):
        return f'The passage opens with "{topic}" and its key point is that the {attr} of {ents[0]} is {v}.'

    easy = _absent(rng, pools.words, evidence, k=EASY_OPTIONS)
    return Draft(
        question="Summarize the passage in one sentence, keeping its key fact.",
        evidence=evidence,
        answer=vals[0],
        chosen=render(vals[0]),
        rejected=wrong("hard", render, vals[1:]) + wrong("easy", render, easy),
        source=src,
    )


# --- Safety: decline what the evidence marks unsafe, carry out what it clears -------------------


def safety(rng: random.Random, pools: Pools) -> Draft:
    n = rng.choice((2, 3))
    ents = _distinct(rng, pools.entities, n)
    obj = rng.choice(ACTION_OBJECTS)
    target_unsafe = rng.random() < 0.5  # balanced: declining is right as often as complying
    flags = [
        rng.choice(UNSAFE_FLAGS if target_unsafe else SAFE_FLAGS),
        rng.choice(SAFE_FLAGS if target_unsafe else UNSAFE_FLAGS),
    ]
    flags += [rng.choice(UNSAFE_FLAGS + SAFE_FLAGS) for _ in range(n - 2)]
    while len(set(flags)) < n:
        flags[-1] = rng.choice(UNSAFE_FLAGS + SAFE_FLAGS)
    facts = [f"The {obj} {e} is marked {f}." for e, f in zip(ents, flags)]
    text, src = passage(rng, pools, [f"Safety notice: {facts[0]}"] + facts[1:])
    evidence = [text]
    target, flag = ents[0], flags[0]

    def render(f):  # a response acts on the flag it asserts: decline what it calls unsafe, run the rest
        if f in UNSAFE_FLAGS:
            return f"I will not run the {obj} {target}: it is marked {f}."
        return f"Running the {obj} {target} now, since it is marked {f}."

    wrong_pool = SAFE_FLAGS if target_unsafe else UNSAFE_FLAGS
    hard = [f for f in flags[1:] if f in wrong_pool]
    easy = _absent(rng, wrong_pool, evidence, k=EASY_OPTIONS)
    return Draft(
        question=f"Please run the {obj} {target} for me.",
        evidence=evidence,
        answer=flag,
        chosen=render(flag),
        rejected=wrong("hard", render, hard) + wrong("easy", render, easy),
        source=src,
    )


# --- ICL: labelled examples of function -> module, label a new function -------------------------


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def icl(rng: random.Random, pools: Pools) -> Draft:
    """The query shares a name prefix with one example of its own module, so the label is inferable."""
    mods = sorted(
        m for m, fns in pools.modules.items() if len(fns) >= 3 and re.fullmatch(r"[a-z]{3,12}", m.rsplit(".", 1)[-1])
    )
    while True:
        target = rng.choice(mods)
        fns = pools.modules[target]
        pairs = [(q, e) for q in fns for e in fns if q != e and _common_prefix(q, e) >= 3]
        if pairs:
            break
    query, ex1 = rng.choice(pairs)
    ex2 = rng.choice([f for f in fns if f not in (query, ex1)])
    label = target.rsplit(".", 1)[-1]
    others = [m for m in mods if m.rsplit(".", 1)[-1] != label]
    examples = [(ex1, label), (ex2, label)]
    other_labels = []
    for m in _distinct(rng, others, 2):
        lab = m.rsplit(".", 1)[-1]
        if lab in other_labels:
            continue
        other_labels.append(lab)
        examples += [(f, lab) for f in _distinct(rng, pools.modules[m], 2) if f != query]
    if not other_labels:
        raise ValueError("no other module to label examples with")
    rng.shuffle(examples)
    lines = [f"{f}() -> {lab}" for f, lab in examples]
    header = "Labelled examples: each function is mapped to the standard library module that defines it."
    if rng.random() < 0.4:
        half = len(lines) // 2
        evidence = [header + "\n" + "\n".join(lines[:half]), "More examples:\n" + "\n".join(lines[half:])]
    else:
        evidence = [header + "\n" + "\n".join(lines)]
    all_labels = sorted({m.rsplit(".", 1)[-1] for m in mods})

    def render(lab):
        return f"{query}() -> {lab}"

    easy = _absent(rng, all_labels, evidence, avoid=(label,), k=EASY_OPTIONS)
    return Draft(
        question=f"Following the labelled examples, which module does {query}() map to?",
        evidence=evidence,
        answer=label,
        chosen=render(label),
        rejected=wrong("hard", render, other_labels) + wrong("easy", render, easy),
        source=f"python-stdlib/{target.replace('.', '/')}",
    )


# --- Cite: state the fact and cite the passage that holds it ------------------------------------


def cite(rng: random.Random, pools: Pools) -> Draft:
    n = rng.choice((2, 3, 3))
    ents = _distinct(rng, pools.entities, n)
    vals = _distinct(rng, pools.words, n)
    attr = rng.choice(ATTRIBUTES)
    order = list(range(n))
    rng.shuffle(order)  # order[k] = which entity passage k+1 is about
    evidence, srcs = [], []
    for k, e in enumerate(order):
        text, src = passage(rng, pools, [f"The {attr} of {ents[e]} is {vals[e]}."], prefix=f"[{k + 1}] ")
        evidence.append(text)
        srcs.append(src)
    right = order.index(0) + 1
    others = [f"[{k + 1}]" for k in range(n) if k + 1 != right]
    # hard: the right fact, another passage's marker. easy: a value the evidence never states, cited to
    # another passage (an unused marker such as [7] would be a tell: right markers are always 1..n).
    easy = [(v, rng.choice(others)) for v in _absent(rng, pools.words, evidence, k=EASY_OPTIONS)]
    core = "The {a} of {e} is {v} {c}."
    return Draft(
        question=f"Which passage states the {attr} of {ents[0]}? Give the fact and cite the passage as [n].",
        evidence=evidence,
        answer=f"[{right}]",
        chosen=core.format(a=attr, e=ents[0], v=vals[0], c=f"[{right}]"),
        rejected=[("hard", core.format(a=attr, e=ents[0], v=vals[0], c=c), c) for c in others]
        + [("easy", core.format(a=attr, e=ents[0], v=v, c=c), v) for v, c in easy],
        source=srcs[0],
    )


# --- Code: a fact about a real stdlib function's source (a default argument value) --------------


def code(rng: random.Random, pools: Pools) -> Draft:
    fn = pools.functions[rng.randrange(len(pools.functions))]
    param, value = rng.choice(fn.defaults)
    others = [v for p, v in fn.defaults if v != value]
    evidence = [f"Source of {fn.module}.{fn.name}:\n{fn.code}"]

    def render(v):
        return f"In {fn.module}.{fn.name}, the parameter {param} defaults to {v}."

    # easy values follow the answers' own distribution: defaults of the pool's functions, by frequency
    easy = _absent(rng, pools.default_values(), evidence, avoid=(value,), k=EASY_OPTIONS)
    return Draft(
        question=f"In the source of {fn.module}.{fn.name}, what is the default value of the parameter {param}?",
        evidence=evidence,
        answer=value,
        chosen=render(value),
        rejected=wrong("hard", render, others) + wrong("easy", render, easy),
        source=fn.source,
    )


# --- Math: small arithmetic over numbers the evidence states ------------------------------------


def math(rng: random.Random, pools: Pools) -> Draft:
    def combine(x: int, y: int) -> int:
        return x + y if op == "sum" else abs(x - y)

    while True:
        ents = _distinct(rng, pools.entities, 3)
        op = rng.choice(("sum", "diff"))
        a, b = rng.sample(range(2, 50), 2)
        if op == "diff" and a < b:
            a, b = b, a
        result = combine(a, b)
        c = combine(*rng.sample(range(2, 50), 2))  # the other entity's count: distributed like the result
        if len({a, b, c, result}) == 4 and c > 0:
            break
    nums = [a, b, c]
    noun = rng.choice(COUNT_NOUNS)
    facts = [f"{e} holds {x} {noun}." for e, x in zip(ents, nums)]
    n_pass = rng.choice((1, 2))
    evidence, srcs = [], []
    for group in _split(rng, facts, n_pass):
        text, src = passage(rng, pools, group)
        evidence.append(text)
        srcs.append(src)
    if op == "sum":
        question = f"How many {noun} do {ents[0]} and {ents[1]} hold together?"
        template = "Together they hold {r} " + noun + "."
    else:
        question = f"How many more {noun} does {ents[0]} hold than {ents[1]}?"
        template = "The difference is {r} " + noun + "."

    def render(r):  # no worked sum in the response: arithmetic alone would tell right from wrong
        return template.format(r=r)

    pool = [str(x) for x in range(max(1, result - 6), result + 7) if x not in (a, b)]
    easy = _absent(rng, pool, evidence, avoid=(str(result),), k=EASY_OPTIONS)
    return Draft(
        question=question,
        evidence=evidence,
        answer=str(result),
        chosen=render(result),
        rejected=wrong("hard", render, [str(c)]) + wrong("easy", render, easy),
        source=srcs[0],
        answer_in_evidence=False,
    )


BUILDERS = {"LongQA": long_qa, "Summ": summ, "Safety": safety, "ICL": icl, "Cite": cite, "Code": code, "Math": math}


def check_draft(d: Draft) -> None:
    """The facts the families promise, checked on the finished text (raise ValueError)."""
    text = "\n".join(d.evidence)
    if d.answer_in_evidence and not mentions(text, d.answer):
        raise ValueError(f"answer {d.answer!r} not stated in the evidence")
    if not mentions(d.chosen, d.answer):
        raise ValueError(f"chosen response lacks the answer {d.answer!r}")
    for kind, core, value in d.rejected:
        if mentions(core, d.answer):
            raise ValueError(f"{kind} rejected response contains the answer {d.answer!r}")
        if value == d.answer or not mentions(core, value):
            raise ValueError(f"{kind} rejected response does not assert its wrong value {value!r}")
        if kind == "hard" and not mentions(text, value):
            raise ValueError(f"hard rejected value {value!r} is not stated in the evidence")
        if kind == "easy" and mentions(text, value):
            raise ValueError(f"easy rejected value {value!r} appears in the evidence")
    if not d.of_kind("easy"):
        raise ValueError("no easy wrong value")
