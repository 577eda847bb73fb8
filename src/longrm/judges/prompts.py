"""Judge prompts (written for this project) and judgment targets.

A prompt is three parts, so a backend can cut the long context in the middle to fit its token budget
without ever cutting the instructions, the responses or the verdict request:
    prefix  (instructions) | context (the item's task prompt: long context + question) | suffix (responses, verdict format)
"""

from __future__ import annotations

from dataclasses import dataclass

from longrm.data.records import BenchItem


def letter(k: int) -> str:
    return chr(ord("A") + k)


PAIR_INSTRUCTIONS = (
    "You are a careful judge. Below is a long context with a question, followed by two responses. "
    "Decide which response answers the question better, using only facts stated in the context: "
    "a good response is grounded in the context, a bad one contradicts, ignores or invents facts.\n\n"
    "[Context and question]\n"
)
PAIR_VERDICT = (
    "Write a short analysis that cites the context, then give your verdict on the last line as "
    "[[A]] if Response A is better or [[B]] if Response B is better."
)
RANK_INSTRUCTIONS = (
    "You are a careful judge. Below is a long context with a question, followed by {n} responses. "
    "Rank the responses from best to worst, using only facts stated in the context: "
    "a good response is grounded in the context, a bad one contradicts, ignores or invents facts.\n\n"
    "[Context and question]\n"
)
RANK_VERDICT = (
    "Write a short analysis that cites the context, then give your ranking on the last line, best "
    "first, in the form {example} using each of the letters {letters} exactly once."
)


@dataclass(frozen=True)
class PromptParts:
    prefix: str
    context: str
    suffix: str

    def join(self, context: str | None = None) -> str:
        return self.prefix + (self.context if context is None else context) + self.suffix


def prompt_parts(item: BenchItem, order: list[int]) -> PromptParts:
    """The judge prompt for `item` with its responses shown in `order` (order[k] -> letter k)."""
    responses = item.responses
    n = len(order)
    shown = "".join(f"\n\n[Response {letter(k)}]\n{responses[idx]}" for k, idx in enumerate(order))
    if n == 2:
        prefix, verdict = PAIR_INSTRUCTIONS, PAIR_VERDICT
    else:
        letters = ", ".join(letter(k) for k in range(n))
        example = "[[" + ">".join(letter(k) for k in reversed(range(n))) + "]]"
        prefix = RANK_INSTRUCTIONS.format(n=n)
        verdict = RANK_VERDICT.format(example=example, letters=letters)
    return PromptParts(prefix=prefix, context=item.task_prompt, suffix=shown + "\n\n" + verdict + "\n")


def build_prompt(item: BenchItem, order: list[int]) -> str:
    return prompt_parts(item, order).join()


def format_verdict(ranking_positions: list[int]) -> str:
    """[[A]] for a pair won by position 0; [[B>A>C]] for a ranking (positions best-first)."""
    if len(ranking_positions) == 2:
        return f"[[{letter(ranking_positions[0])}]]"
    return "[[" + ">".join(letter(p) for p in ranking_positions) + "]]"


def judgment_target(analysis: str, ranking_positions: list[int]) -> str:
    """An SFT/LOGO target: '[Analysis] ... ' then the verdict on its own line."""
    return f"[Analysis] {analysis.strip()}\n{format_verdict(ranking_positions)}"
