"""The released Long-RewardBench evaluator's protocol, reproduced (shared/reference/longrm.md, "The
official evaluator, exactly"): its presentation order, prompts, truncation, verdict reading and scoring.
Written for this project from the documented behaviour; the two system prompts are the release's text
(protocol data: the judged prompt must be the same).

Order     per group (a release file; items of our own files: their task), in file order:
          random.seed(42), shuffle the group's item list, then walking the shuffled list one shuffle
          of each item's candidate indices. order[k] = index (best-first) of the response shown at k.
Prompt    system prompt (pair, or ranking for EVERY BestOfN item, even one with 2 candidates) + user
          turn "[User Question]\\n{task prompt}" + "[The Start of Assistant X's Answer]" blocks, through
          the tokenizer's chat template (enable_thinking=False when it takes it), or without one the
          "zero_shot" conversation format. A prompt of >= 131,072 tokens keeps its first 65,536 and
          last 65,531 tokens; the ids are decoded to text and that text is what the model is given
          (re-encoded as a text prompt is: special tokens added).
Reading   pair: "[[A]]" anywhere, else "[[B]]", else nothing. Ranking: nothing if the text has more
          than 9 '>'; else the first bracketed "X > Y > ..." match, "assistant"/"Assistant"/":"/" "
          removed (newlines kept), letters A.. -> positions; any label that is not one character, or
          a position set that is not 0..m-1, gives nothing; m may differ from n (partial list).
          The result is the predicted rank of each shown position.
Scoring   share of positions k whose predicted rank equals the gold rank order[k], over the gold
          length (zip: a partial list earns partial credit, extra entries are ignored); nothing = 0.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CUT_AT = 131_072  # prompts of at least this many tokens are cut ...
KEEP_HEAD = 65_536  # ... to their first KEEP_HEAD tokens
KEEP_TAIL = 65_531  # ... and their last KEEP_TAIL tokens
MAX_GREATER = 9  # a ranking output with more '>' than this reads as nothing

PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants "
    "to the user questions. You should focus on who provides a better answer to the second user question. "
    "You should choose the assistant that follows the user's instructions and answers the user's question better. "
    "Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and "
    "level of detail of their responses. Begin your evaluation by comparing the two responses and provide a short "
    "explanation. Avoid any position biases and ensure that the order in which the responses were presented does "
    "not influence your decision. Do not allow the length of the responses to influence your evaluation. Do not "
    "favor certain names of the assistants. Be as objective as possible. After providing your explanation, output "
    'your final verdict by strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant '
    "B is better."
)
RANK_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by multiple AI assistants "
    "to the user's question. You should rank {n} responses based on their quality, with the highest quality "
    "response first, followed by the next best, and so on. Consider the following factors in your evaluation: "
    "helpfulness, relevance, accuracy, depth, creativity, and level of detail. Do not allow the order in which the "
    "responses were presented to influence your decision. Your ranking should be based purely on the overall "
    "quality of each response, not on the length or the name of the assistants. After evaluating the responses, "
    "please output the ranking of the assistants in the following format: {pattern}Please reply strictly in the "
    "following format, starting with [Analysis] and ending with patterns like {pattern}:\n[Analysis]\n"
    "(your analysis)\n[Ranking]\n(your ranking in the format of {pattern})"
)
# the "zero_shot" conversation the release falls back to when a tokenizer has no chat template
ZERO_SHOT = "{system}\n### Human: {user}\n### Assistant:"


def letter(k: int) -> str:
    return chr(ord("A") + k)


# ---------------------------------------------------------------- order
def order_group(item) -> str:
    """The group the official order shuffles within: the release file, else the item's task."""
    extra = getattr(item, "extra", None) or {}
    return str(extra.get("release_file") or item.task)


def release_orders(items: Iterable, seed: int = 42) -> dict[str, list[int]]:
    """id -> official order for every item (BenchItem, or a ref/ScoreItem with `group`), items in file
    order. Depends on each group's whole item list, as the release's does."""
    groups: dict[str, list] = defaultdict(list)
    for it in items:
        group = getattr(it, "group", None) or order_group(it)
        groups[group].append(it)
    orders: dict[str, list[int]] = {}
    for members in groups.values():
        rng = random.Random(seed)
        shuffled = list(members)
        rng.shuffle(shuffled)
        for it in shuffled:
            order = list(range(len(it.responses)))
            rng.shuffle(order)
            orders[it.id] = order
    return orders


# ---------------------------------------------------------------- prompt
def is_ranking(item) -> bool:
    """The release gives every BestOfN item the ranking prompt and reading, even with 2 candidates."""
    return item.tasktype == "BestOfN"


def system_prompt(item, n: int) -> str:
    if not is_ranking(item):
        return PAIR_SYSTEM
    pattern = "[[" + ">".join(letter(k) for k in range(n)) + "]]"
    return RANK_SYSTEM.format(n=n, pattern=pattern)


def user_prompt(task_prompt: str, answers: Sequence[str]) -> str:
    blocks = [
        f"[The Start of Assistant {letter(k)}'s Answer]\n{a}\n[The End of Assistant {letter(k)}'s Answer]"
        for k, a in enumerate(answers)
    ]
    return f"[User Question]\n{task_prompt}\n\n" + "\n\n".join(blocks)


def messages(item, order: Sequence[int]) -> list[dict]:
    answers = [item.responses[i] for i in order]
    return [
        {"role": "system", "content": system_prompt(item, len(order))},
        {"role": "user", "content": user_prompt(item.task_prompt, answers)},
    ]


def _ids(out) -> list[int]:
    """apply_chat_template's token ids, whether it returned a list or a BatchEncoding."""
    if hasattr(out, "keys") and "input_ids" in out:
        out = out["input_ids"]
    return list(out)


def template_ids(tokenizer, msgs: list[dict]) -> list[int]:
    """The release's templated ids: chat template with enable_thinking=False (retried without it if
    the template raises), or the zero_shot format tokenized with special tokens."""
    if getattr(tokenizer, "chat_template", None):
        try:
            return _ids(
                tokenizer.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True, enable_thinking=False)
            )
        except Exception:  # the release retries any template failure without the extra argument
            return _ids(tokenizer.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True))
    text = ZERO_SHOT.format(system=msgs[0]["content"], user=msgs[1]["content"])
    return list(tokenizer(text)["input_ids"])


def cut_whole(ids: Sequence[int]) -> tuple[list[int], bool]:
    """The release's middle cut of the whole prompt."""
    if len(ids) < CUT_AT:
        return list(ids), False
    return list(ids[:KEEP_HEAD]) + list(ids[len(ids) - KEEP_TAIL :]), True


@dataclass(frozen=True)
class OfficialPrompt:
    input_ids: list[int]
    truncated: bool
    template_tokens: int  # tokens of the templated prompt before any cut
    context_start: int | None = None  # where the task prompt starts in those tokens (cut prompts only)


def context_start(tokenizer, msgs: list[dict], ids: Sequence[int]) -> int:
    """Tokens of the templated prompt before the task prompt: the ids it shares with the same prompt
    whose user turn stops right after "[User Question]\n" (a token or so off at the joint)."""
    head = [msgs[0], {"role": "user", "content": "[User Question]\n"}]
    short = template_ids(tokenizer, head)
    k = 0
    while k < min(len(short), len(ids)) and short[k] == ids[k]:
        k += 1
    return k


def as_given(tokenizer, ids: Sequence[int]) -> list[int]:
    """What the model is given for templated ids: the release decodes them to text, and that text is
    encoded as a text prompt is (special tokens added). Training on the release's messages
    (train/data.py) conditions on the same ids."""
    return list(tokenizer(tokenizer.decode(list(ids)))["input_ids"])


def official_prompt(tokenizer, item, order: Sequence[int]) -> OfficialPrompt:
    """Token ids the model is given for `item` shown in `order`, exactly as the release builds them."""
    msgs = messages(item, order)
    ids = template_ids(tokenizer, msgs)
    kept, truncated = cut_whole(ids)
    start = context_start(tokenizer, msgs, ids) if truncated else None
    return OfficialPrompt(as_given(tokenizer, kept), truncated, len(ids), start)


# ---------------------------------------------------------------- reading and scoring
_RANKING = re.compile(r"\[[\w\s]+(?:\s*>\s*[\w\s]+)+\]")
_STRIPPED = ("assistant", "Assistant", ":", " ")


def read_pair(text: str) -> list[int]:
    if "[[A]]" in text:
        return [0, 1]
    if "[[B]]" in text:
        return [1, 0]
    return []


def read_ranking(text: str) -> list[int]:
    """Predicted rank of each shown position (maybe fewer or more entries than responses), or []."""
    if text.count(">") > MAX_GREATER:
        return []
    match = _RANKING.search(text)
    if match is None:
        return []
    labels = match.group(0).split(">")
    for mark in _STRIPPED:
        labels = [lab.replace(mark, "") for lab in labels]
    labels[0], labels[-1] = labels[0].strip("["), labels[-1].strip("]")
    if any(len(lab) != 1 for lab in labels):
        return []
    positions = [ord(lab) - ord("A") for lab in labels]
    if sorted(positions) != list(range(len(positions))):
        return []
    return [positions.index(k) for k in range(len(positions))]


def read_output(text: str, ranking: bool) -> list[int]:
    return read_ranking(text or "") if ranking else read_pair(text or "")


def ranks_from_scores(scores_by_position: Sequence[float]) -> list[int]:
    """A scalar judge: rank of each position by score, highest first, ties to the earlier position."""
    best_first = sorted(range(len(scores_by_position)), key=lambda k: -scores_by_position[k])
    return [best_first.index(k) for k in range(len(best_first))]


def ranks_from_ranking(ranking: Sequence[int], order: Sequence[int]) -> list[int]:
    """Rank of each shown position from a canonical best-first ranking."""
    rank_of = {idx: r for r, idx in enumerate(ranking)}
    return [rank_of[idx] for idx in order]


def ranking_from_ranks(ranks: Sequence[int], order: Sequence[int]) -> list[int] | None:
    """Canonical best-first ranking when `ranks` is a complete ranking of the shown positions."""
    if sorted(ranks) != list(range(len(order))):
        return None
    return [order[k] for k in sorted(range(len(order)), key=lambda k: ranks[k])]


def release_score(order: Sequence[int], ranks: Sequence[int]) -> float:
    """The release's per-item score: positions whose predicted rank equals the gold rank, over n."""
    if not ranks:
        return 0.0
    return sum(int(a == b) for a, b in zip(order, ranks)) / len(order)


# ---------------------------------------------------------------- judging
class OfficialJudge:
    """A generative backend (transformers or vLLM: `tokenizer`, `generate`, `budget`, `max_new_tokens`)
    judging with the release's prompts and reading. A prompt the model cannot hold (over the backend's
    max_model_len) is not run: its record has no output (scored 0, as an unparsed one) and `too_long`.
    An answer stops at max_model_len, as a server with that limit stops it."""

    def __init__(self, backend):
        self.backend = backend
        self.name = backend.name

    @property
    def limit(self) -> int:
        return self.backend.budget + self.backend.max_new_tokens

    def judge(self, items, orders):
        from longrm.data.records import Judgment

        tok = self.backend.tokenizer
        prompts = [official_prompt(tok, it, list(o)) for it, o in zip(items, orders)]
        runnable = [i for i, p in enumerate(prompts) if len(p.input_ids) < self.limit]
        outputs = dict(zip(runnable, self.backend.generate([prompts[i].input_ids for i in runnable])))
        out = []
        for i, (item, order) in enumerate(zip(items, orders)):
            order, p = list(order), prompts[i]
            new, _, latency = outputs.get(i, ([], None, 0.0))
            new = list(new)[: max(self.limit - len(p.input_ids), 0)]
            raw = tok.decode(new, skip_special_tokens=True) if new else ""
            ranks = read_output(raw, is_ranking(item))
            out.append(
                Judgment(
                    id=item.id,
                    judge=self.name,
                    order=order,
                    raw=raw,
                    ranking=ranking_from_ranks(ranks, order) if ranks else None,
                    truncated=p.truncated,
                    prompt_tokens=len(p.input_ids),
                    output_tokens=len(new),
                    latency_s=round(latency, 6),
                    extra={
                        "release_ranks": ranks,
                        "template_tokens": p.template_tokens,
                        "too_long": i not in outputs,
                        **({"context_start": p.context_start} if p.context_start is not None else {}),
                    },
                )
            )
        return out

    def close(self) -> None:
        self.backend.close()
