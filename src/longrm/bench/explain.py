"""Explanation vs verdict: whether a pairwise judgment's analysis names as better the response its verdict
picks (a failure mode of long-context judges: an explanation that contradicts the verdict).

The rule (docs/formats/bench.md, "Explanation vs verdict"), on the output outside thinking blocks:
  1. the analysis is the text with every verdict token ([[A]], [[B]], [[B>A]]) and a leading "[Analysis]"
     removed; a judgment whose analysis is empty has none (not counted);
  2. the analysis names response X as better when it says "Response X" (or "Assistant X", "Answer X") and,
     later in the same sentence with no other response named in between, "is/was (the) better|best|
     preferred|preferable|superior|stronger|more ..." ("Response A is better supported than Response B"),
     or when it says "prefer(s/red) Response X";
  3. exactly one response named -> the analysis's pick; none, or both -> undetermined (counted apart);
  4. the judgment disagrees when the pick is not the response its verdict puts first.
Pairwise generative judgments only (a scalar judge writes no analysis; a pointwise one scores one response).
"""

from __future__ import annotations

import re

from longrm.judges.parse import strip_thinking

_VERDICT = re.compile(r"\[\[\s*[A-Za-z](?:\s*>\s*[A-Za-z])*\s*\]\]")
_NAME = r"(?:response|assistant|answer)\s+([AB])\b"
_BETTER = (
    r"(?:is|was)\s+(?:the\s+|clearly\s+|much\s+)?(?:better|best|preferred|preferable|superior|stronger|more\s+\w+)"
)
_NOT_A_NAME = r"(?:(?!(?:response|assistant|answer)\s+[AB]\b)[^.!?\n])*?"  # no other response named between
_NAMED_BETTER = re.compile(_NAME + _NOT_A_NAME + r"\b" + _BETTER, re.IGNORECASE)
_PREFER = re.compile(r"\bprefer(?:s|red)?\s+" + _NAME, re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+")
UNDETERMINED = "undetermined"


def analysis_text(raw: str) -> str:
    """The analysis of a judge's output: outside thinking, without verdict tokens or a leading [Analysis]."""
    text = _VERDICT.sub(" ", strip_thinking(raw or ""))
    text = re.sub(r"^\s*\[Analysis\]\s*", "", text)
    return " ".join(text.split())


def named_better(analysis: str) -> set[int]:
    """Positions (A = 0) the analysis names as the better response (rule 2)."""
    named = set()
    for sentence in _SENTENCE.findall(analysis):
        for pattern in (_NAMED_BETTER, _PREFER):
            named.update(ord(m.group(1).upper()) - ord("A") for m in pattern.finditer(sentence))
    return named


def analysis_pick(raw: str) -> int | None | str:
    """The position the analysis names as better; None without analysis; UNDETERMINED when it names none or both."""
    analysis = analysis_text(raw)
    if not analysis:
        return None
    named = named_better(analysis)
    return next(iter(named)) if len(named) == 1 else UNDETERMINED


def explanation_flags(rec) -> str | None:
    """For a parsed pairwise generative judgment with an analysis: "agrees", "disagrees" or UNDETERMINED;
    None when it has no analysis to read (scalar scores, no text before or after the verdict, no verdict)."""
    if rec.scores is not None or rec.ranking is None or len(rec.order) != 2:
        return None
    pick = analysis_pick(rec.raw)
    if pick is None or pick == UNDETERMINED:
        return pick
    verdict = list(rec.order).index(rec.ranking[0])
    return "agrees" if pick == verdict else "disagrees"
