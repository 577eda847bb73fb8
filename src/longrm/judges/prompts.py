"""Judge prompts (written for this project) and judgment targets.

A prompt is three parts, so a backend can cut the long context in the middle to fit its token budget
without ever cutting the instructions, the responses or the verdict request:
    prefix  (instructions + verdict request) | context (the item's task prompt: long context + question)
    | suffix (the responses)
The verdict request comes BEFORE the context, so the judgment starts right after the last response.
A small judge decides far better there: on the embedded default, the same 150-step SFT of the 1M-param
model judges pairs at 0.65 with the request in front and at chance (0.50, always "A") with the request
after the responses; pointwise scores go from 0.54 to 0.68 (docs/formats/vote.md, "Judgment targets").

Formats:
  pairwise   two responses, verdict [[A]] / [[B]]
  ranking    3-4 responses, verdict [[B>A>C]]
  pointwise  one response, verdict [Score: k] (the released LongRM training data's format)
"""

from __future__ import annotations

from dataclasses import dataclass

from longrm.data.records import BenchItem

FORMATS = ("pairwise", "pointwise")
ANALYSIS_PLACEMENTS = ("before", "after", "none")
SCORE_MIN, SCORE_MAX = 1, 9  # single-digit scores: one token each in most tokenizers


def letter(k: int) -> str:
    return chr(ord("A") + k)


_GROUNDED = (
    "using only facts stated in the context: a good response is grounded in the context, "
    "a bad one contradicts, ignores or invents facts."
)
PAIR_INSTRUCTIONS = (
    "You are a careful judge. Below is a long context with a question, followed by two responses. "
    "Decide which response answers the question better, " + _GROUNDED + " "
    "Give your verdict as [[A]] if Response A is better or [[B]] if Response B is better"
    "{analysis}.\n\n[Context and question]\n"
)
RANK_INSTRUCTIONS = (
    "You are a careful judge. Below is a long context with a question, followed by {n} responses. "
    "Rank the responses from best to worst, " + _GROUNDED + " "
    "Give your ranking, best first, in the form {example} using each of the letters {letters} exactly once"
    "{analysis}.\n\n[Context and question]\n"
)
POINT_INSTRUCTIONS = (
    "You are a careful judge. Below is a long context with a question, followed by one response. "
    "Rate how well the response answers the question, " + _GROUNDED + " "
    f"Give your score as [Score: k], k from {SCORE_MIN} (contradicts, ignores or invents facts) to "
    f"{SCORE_MAX} (fully grounded and correct){{analysis}}.\n\n[Context and question]\n"
)
ANALYSIS_REQUEST = ", after a short analysis that cites the context"


@dataclass(frozen=True)
class PromptParts:
    prefix: str
    context: str
    suffix: str

    def join(self, context: str | None = None) -> str:
        return self.prefix + (self.context if context is None else context) + self.suffix


def requests_analysis(cfg: dict) -> bool:
    """Whether a judge prompt asks for an analysis before the verdict: where the training targets put
    their rationale first (vote.splits.analysis: before). The training data (vote/split.py) and every
    judge of the study (judges/factory.py) read it here, so a trained judge is asked what it learned."""
    return ((cfg.get("vote") or {}).get("splits") or {}).get("analysis") == "before"


def prompt_parts(item: BenchItem, order: list[int], analysis: bool = False) -> PromptParts:
    """The pairwise/ranking judge prompt for `item`, responses shown in `order` (order[k] -> letter k)."""
    responses = item.responses
    n = len(order)
    shown = "".join(f"\n\n[Response {letter(k)}]\n{responses[idx]}" for k, idx in enumerate(order))
    request = ANALYSIS_REQUEST if analysis else ""
    if n == 2:
        prefix = PAIR_INSTRUCTIONS.format(analysis=request)
    else:
        letters = ", ".join(letter(k) for k in range(n))
        example = "[[" + ">".join(letter(k) for k in reversed(range(n))) + "]]"
        prefix = RANK_INSTRUCTIONS.format(n=n, example=example, letters=letters, analysis=request)
    return PromptParts(prefix=prefix, context=item.task_prompt, suffix=shown + "\n\n")


def point_prompt_parts(item: BenchItem, index: int, analysis: bool = False) -> PromptParts:
    """The pointwise judge prompt for response `index` (into item.responses) of `item`."""
    prefix = POINT_INSTRUCTIONS.format(analysis=ANALYSIS_REQUEST if analysis else "")
    return PromptParts(prefix=prefix, context=item.task_prompt, suffix=f"\n\n[Response]\n{item.responses[index]}\n\n")


def build_prompt(item: BenchItem, order: list[int], analysis: bool = False) -> str:
    return prompt_parts(item, order, analysis).join()


def build_point_prompt(item: BenchItem, index: int, analysis: bool = False) -> str:
    return point_prompt_parts(item, index, analysis).join()


def format_verdict(ranking_positions: list[int]) -> str:
    """[[A]] for a pair won by position 0; [[B>A>C]] for a ranking (positions best-first)."""
    if len(ranking_positions) == 2:
        return f"[[{letter(ranking_positions[0])}]]"
    return "[[" + ">".join(letter(p) for p in ranking_positions) + "]]"


def format_score(score: int) -> str:
    return f"[Score: {score}]"


def score_for_rank(rank: int, n: int) -> int:
    """The pointwise score of the response ranked `rank` (0 = best) among n: SCORE_MAX for the best,
    SCORE_MIN + 1 for the worst, evenly spaced between (pairs 9 / 2; four responses 9 / 7 / 4 / 2)."""
    if n < 2:
        return SCORE_MAX
    top, bottom = SCORE_MAX, SCORE_MIN + 1
    return int(round(top - (top - bottom) * rank / (n - 1)))


def judgment_target(analysis: str, verdict: str, placement: str = "before") -> str:
    """An SFT/LOGO target: the verdict (format_verdict / format_score) with the analysis before it
    ('[Analysis] ...' then the verdict on its own line, as released), after it, or none."""
    if placement not in ANALYSIS_PLACEMENTS:
        raise ValueError(f"analysis placement must be one of {ANALYSIS_PLACEMENTS}, got {placement!r}")
    if placement == "none" or not analysis.strip():
        return verdict
    if placement == "after":
        return f"{verdict}\n[Analysis] {analysis.strip()}"
    return f"[Analysis] {analysis.strip()}\n{verdict}"
