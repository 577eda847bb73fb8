"""Where an item's context ends and its question begins, so a control can swap or remove the context
and keep everything else.

A task prompt (BenchItem.prompt_template, chat messages) holds the long context, then the question.
The question part starts at the paragraph (text after a blank line, or the message start) holding the
LAST occurrence of the item's `question` text, and runs to the end of the prompt: the embedded study's
prompts are "<context>\\n\\nQuestion: <question>", so the question part is "Question: <question>".
Everything before it is the context: earlier messages and the head of the question's message. System
messages are instructions, not context: a control keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass

from longrm.data.records import BenchItem
from longrm.errors import InputError

PARAGRAPH = "\n\n"


@dataclass(frozen=True)
class PromptSplit:
    """A prompt_template cut at the question: messages before the question's message, that message's
    text before the question paragraph (`head`, the separator included), the rest of it (`tail`, from
    the question paragraph on) and the messages after it."""

    before: list[dict]
    message: dict
    head: str
    tail: str
    after: list[dict]

    def with_context(self, donor: PromptSplit) -> list[dict]:
        """This prompt with `donor`'s context in place of its own (the donor's system messages too)."""
        return [*donor.before, {**self.message, "content": donor.head + self.tail}, *self.after]

    def without_context(self) -> list[dict]:
        """This prompt with its context removed: system messages, the question part, later messages."""
        kept = [m for m in self.before if m.get("role") == "system"]
        return [*kept, {**self.message, "content": self.tail}, *self.after]


def paragraph_start(text: str, at: int) -> int:
    """Start of the paragraph holding text[at]: just after the last blank line before it, else 0."""
    cut = text.rfind(PARAGRAPH, 0, at)
    return 0 if cut < 0 else cut + len(PARAGRAPH)


def split_prompt(item: BenchItem, path: str = "<items>", line: int | None = None) -> PromptSplit:
    """Cut `item`'s prompt at its question; InputError (file, line, field 'question') when the item has
    no question or its prompt does not contain it."""
    question = (item.question or "").strip()
    if not question:
        raise InputError(
            path, f"item {item.id!r} has no question: cannot tell its context from its question", line, "question"
        )
    for k in range(len(item.prompt_template) - 1, -1, -1):
        content = item.prompt_template[k]["content"]
        at = content.rfind(question)
        if at >= 0:
            start = paragraph_start(content, at)
            return PromptSplit(
                before=list(item.prompt_template[:k]),
                message=item.prompt_template[k],
                head=content[:start],
                tail=content[start:],
                after=list(item.prompt_template[k + 1 :]),
            )
    raise InputError(
        path,
        f"item {item.id!r}: its question does not occur in prompt_template, so its context cannot be told apart",
        line,
        "question",
    )


def question_part(prompt: str) -> str:
    """A flat task prompt (a PrefPair's prompt) without its context: its last paragraph, the question in
    the embedded study's prompts."""
    cut = prompt.rstrip().rfind(PARAGRAPH)
    return prompt if cut < 0 else prompt[cut + len(PARAGRAPH) :]
