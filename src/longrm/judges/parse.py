"""Verdict parsing: the LAST well-formed verdict wins; an echo of the instruction is not a verdict.

Pairs:    [[A]] / [[B]] (also a 2-letter ranking [[B>A]]).
Rankings: [[B>A>C]]: each of the n letters exactly once (a repeated or missing letter is malformed).
An echo is a verdict token joined to another by 'or', '/', ',' or 'and' (as in "[[A]] or [[B]]");
both tokens of an echo are ignored. Returns positions best-first, or None when nothing parses.
Text inside a <think>...</think> block is never read (strip_thinking).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\[\[\s*([A-Za-z](?:\s*>\s*[A-Za-z])*)\s*\]\]")
_JOINER = re.compile(r"\s*(?:or|/|,|and|\|)\s*", re.IGNORECASE)


def _positions(body: str, n: int) -> list[int] | None:
    letters = [c.strip().upper() for c in body.split(">")]
    pos = [ord(c) - ord("A") for c in letters]
    if any(p < 0 or p >= n for p in pos) or len(set(pos)) != len(pos):
        return None
    if len(pos) == n:
        return pos
    if n == 2 and len(pos) == 1:
        return [pos[0], 1 - pos[0]]
    return None


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def strip_thinking(text: str) -> str:
    """The text outside thinking blocks: closed <think>...</think> blocks removed, then everything up
    to an unmatched </think> (a template that opens the block in the prompt) and from an unclosed
    <think> on (an answer cut while thinking). A verdict inside thinking is never read."""
    text = _THINK_BLOCK.sub(" ", text or "")
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text.split("<think>", 1)[0]


def parse_verdict(text: str, n: int) -> list[int] | None:
    """Positions (0 = A) best-first from a judge's output for n responses, or None (thinking ignored)."""
    text = strip_thinking(text)
    if not text:
        return None
    matches = list(_TOKEN.finditer(text))
    echo = set()
    for i in range(len(matches) - 1):
        between = text[matches[i].end() : matches[i + 1].start()]
        if _JOINER.fullmatch(between):
            echo.update((i, i + 1))
    for i in reversed(range(len(matches))):
        if i in echo:
            continue
        pos = _positions(matches[i].group(1), n)
        if pos is not None:
            return pos
    return None


_SCORE = re.compile(r"\[\s*Score\s*:\s*(\d{1,2})\s*\]", re.IGNORECASE)


def parse_score(text: str, low: int = 0, high: int = 10) -> int | None:
    """The LAST well-formed [Score: k] with low <= k <= high outside thinking, or None (pointwise)."""
    for m in reversed(list(_SCORE.finditer(strip_thinking(text)))):
        k = int(m.group(1))
        if low <= k <= high:
            return k
    return None
