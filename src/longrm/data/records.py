"""Typed records that flow between stages, each with a checked `from_dict` and a `to_dict`.

ShortItem    raw short preference item (inputs -> synth)
BenchItem    a long-context item in the Long-RewardBench JSONL schema, plus our provenance extras
             (synth -> vote -> splits/bench.jsonl; also what the official benchmark files hold)
SFTExample   a judge prompt and its target judgment (splits/sft.jsonl -> train sft)
PrefPair     a prompt, one chosen and M rejected completions (splits/pref.jsonl -> train logo,
             splits/disrm.jsonl -> train disrm)
Judgment     one judge's verdict on one item in one presentation order (bench, vote)
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, get_type_hints

from longrm.errors import InputError

TASKS = ("LongQA", "Summ", "Safety", "ICL", "Cite", "Code", "Math")


def tasks_first(names) -> list[str]:
    """Task names in the release's order (TASKS), then any other names sorted: every table's task order."""
    seen = set(names)
    return [t for t in TASKS if t in seen] + sorted(seen - set(TASKS))


def bucket_key(label: str) -> tuple[float, str]:
    """Sort length-bucket labels '512' < '1k' < '4k' < '128k'; unknown labels last (by label)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", str(label or ""))
    if not m:
        return (float("inf"), str(label))
    return (float(m.group(1)) * {"": 1, "k": 1024, "m": 1 << 20}[m.group(2).lower()], str(label))


TASKTYPES = ("PairWise", "BestOfN")

_MISSING = object()


def _check(value: Any, typ: Any, path: str, line: int, name: str) -> Any:
    """Check (and lightly coerce) one field against a simple type annotation."""
    origin = getattr(typ, "__origin__", None)
    if typ is Any:
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(path, f"expected a number, got {type(value).__name__}", line, name)
        return float(value)
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(path, f"expected an integer, got {type(value).__name__}", line, name)
        return value
    if typ in (str, bool, dict):
        if not isinstance(value, typ):
            raise InputError(path, f"expected {typ.__name__}, got {type(value).__name__}", line, name)
        return value
    if origin is list:
        if not isinstance(value, list):
            raise InputError(path, f"expected a list, got {type(value).__name__}", line, name)
        (inner,) = typ.__args__
        return [_check(v, inner, path, line, f"{name}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(path, f"expected an object, got {type(value).__name__}", line, name)
        return value
    # Optional[X] written as X | None
    args = getattr(typ, "__args__", ())
    if type(None) in args:
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check(value, inner, path, line, name)
    return value


@functools.cache
def _type_hints(cls) -> dict[str, Any]:
    return get_type_hints(cls)  # resolved once per class: it dominated reading large records files


class Record:
    """Mixin: from_dict checks required fields and types; unknown keys go to `extra`."""

    REQUIRED: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, obj: dict, path: str = "<memory>", line: int = 0):
        hints = _type_hints(cls)
        kwargs: dict[str, Any] = {}
        names = {f.name for f in dataclasses.fields(cls)}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            value = obj.get(f.name, _MISSING)
            if value is _MISSING or (value is None and f.name in cls.REQUIRED):
                if f.name in cls.REQUIRED:
                    raise InputError(path, "missing required field", line or None, f.name)
                continue
            kwargs[f.name] = _check(value, hints[f.name], path, line or None, f.name)
        if "extra" in names:
            kwargs["extra"] = {k: v for k, v in obj.items() if k not in names}
        rec = cls(**kwargs)
        rec.check(path, line or None)
        return rec

    def check(self, path: str, line: int | None) -> None:
        """Cross-field checks; raise InputError."""

    def to_dict(self) -> dict:
        d = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "extra":
                d.update(v)
            elif v is not None:
                d[f.name] = v
        return d


@dataclass
class ShortItem(Record):
    """A short preference item: a question answerable from a short evidence passage.

    `candidates` are best-first: candidates[0] is the chosen response, the rest are rejected ones of
    decreasing quality (gold ranking = list order); `answer` is the ground truth kept for auditing.
    """

    REQUIRED: ClassVar = ("id", "task", "question", "evidence", "candidates")
    id: str
    task: str
    question: str
    evidence: list[str]
    candidates: list[str]
    candidates_model: list[str] = field(default_factory=list)
    candidates_score: list[float] = field(default_factory=list)
    answer: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict)

    def check(self, path, line):
        if self.task not in TASKS:
            raise InputError(path, f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}", line, "task")
        if not self.evidence or not any(e.strip() for e in self.evidence):
            raise InputError(path, "empty evidence", line, "evidence")
        if len(self.candidates) < 2:
            raise InputError(path, "need a chosen and at least one rejected response", line, "candidates")
        if any(not c.strip() for c in self.candidates):
            raise InputError(path, "empty response", line, "candidates")
        for name in ("candidates_model", "candidates_score"):
            v = getattr(self, name)
            if v and len(v) != len(self.candidates):
                raise InputError(path, f"has {len(v)} entries for {len(self.candidates)} candidates", line, name)

    @property
    def chosen(self) -> str:
        return self.candidates[0]

    @property
    def rejected(self) -> list[str]:
        return self.candidates[1:]


@dataclass
class BenchItem(Record):
    """A Long-RewardBench item (official JSONL schema), plus optional provenance extras.

    PairWise: `chosen` vs `rejected`. BestOfN: `candidates` best-first with `candidates_score`.
    The task prompt is the contents of `prompt_template` joined by blank lines (official protocol).
    """

    REQUIRED: ClassVar = ("id", "task", "tasktype", "prompt_template")
    id: str
    task: str
    tasktype: str
    prompt_template: list[dict]
    subtype: str = ""
    question: str = ""
    source: str = ""
    subtask: str = ""
    chosen: str | None = None
    rejected: str | None = None
    chosen_model: str | None = None
    rejected_model: str | None = None
    candidates: list[str] | None = None
    candidates_model: list[str] | None = None
    candidates_score: list[float] | None = None
    ctx_length_for_length: str = ""
    ctx_length_for_words: str = ""
    length: int | None = None
    words_count: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: dict, path: str = "<memory>", line: int = 0):
        # the release's evaluator calls str() on subtypes, so released files may store 3 for "3"
        sub = obj.get("subtype")
        if isinstance(sub, int) and not isinstance(sub, bool):
            obj = {**obj, "subtype": str(sub)}
        return super().from_dict(obj, path, line)

    def check(self, path, line):
        if self.tasktype not in TASKTYPES:
            raise InputError(
                path, f"unknown tasktype {self.tasktype!r}; expected PairWise or BestOfN", line, "tasktype"
            )
        for i, m in enumerate(self.prompt_template):
            if not isinstance(m, dict) or not isinstance(m.get("content"), str):
                raise InputError(path, "each message needs a string 'content'", line, f"prompt_template[{i}]")
        if self.tasktype == "PairWise":
            for name in ("chosen", "rejected"):
                if not isinstance(getattr(self, name), str):
                    raise InputError(path, "PairWise item needs a string", line, name)
            if self.subtype and self.subtype not in ("same", "diff"):
                raise InputError(
                    path, f"unknown PairWise subtype {self.subtype!r}; expected same or diff", line, "subtype"
                )
        else:
            if not self.candidates or len(self.candidates) < 2:
                raise InputError(path, "BestOfN item needs at least 2 candidates", line, "candidates")
            if self.subtype and self.subtype not in ("2", "3", "4"):
                raise InputError(path, f"unknown BestOfN subtype {self.subtype!r}; expected 2, 3 or 4", line, "subtype")
            if self.candidates_score is not None and len(self.candidates_score) != len(self.candidates):
                raise InputError(path, "one score per candidate expected", line, "candidates_score")

    @property
    def task_prompt(self) -> str:
        return "\n\n".join(m["content"] for m in self.prompt_template)

    @property
    def responses(self) -> list[str]:
        """Canonical responses, best-first: [chosen, rejected] or the candidates."""
        if self.tasktype == "PairWise":
            return [self.chosen, self.rejected]
        return list(self.candidates)

    @property
    def gold_ranking(self) -> list[int]:
        """Indices into `responses`, best-first. Candidates are stored best-first, so the identity;
        ties in candidates_score keep list order."""
        n = len(self.responses)
        if self.tasktype == "BestOfN" and self.candidates_score:
            return sorted(range(n), key=lambda i: (-self.candidates_score[i], i))
        return list(range(n))

    @property
    def length_bucket(self) -> str:
        return self.ctx_length_for_length or str(self.extra.get("length_bucket", ""))


@dataclass
class SFTExample(Record):
    REQUIRED: ClassVar = ("id", "prompt", "response")
    id: str
    prompt: str
    response: str
    extra: dict = field(default_factory=dict)


@dataclass
class PrefPair(Record):
    """A prompt with one chosen and M >= 1 rejected completions (judgments or responses)."""

    REQUIRED: ClassVar = ("id", "prompt", "chosen", "rejected")
    id: str
    prompt: str
    chosen: str
    rejected: list[str]
    extra: dict = field(default_factory=dict)

    def check(self, path, line):
        if not self.rejected:
            raise InputError(path, "need at least one rejected completion", line, "rejected")


@dataclass
class Judgment(Record):
    """One judge's output on one item in one presentation order.

    order[k] = index (into item.responses) of the response shown at position k (letter A+k).
    ranking = indices into item.responses, best-first, or None when the output did not parse.
    scores  = per-response scores (indices into item.responses) for scalar judges.
    """

    REQUIRED: ClassVar = ("id", "judge", "order")
    id: str
    judge: str
    order: list[int]
    raw: str = ""
    ranking: list[int] | None = None
    scores: list[float] | None = None
    truncated: bool = False
    prompt_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def parsed(self) -> bool:
        return self.ranking is not None

    def to_dict(self) -> dict:
        """Without `latency_s`: a timing of the run, not a result (bench run and vote judge log their time), so
        the same inputs give the same bytes; a record read back has 0.0."""
        d = super().to_dict()
        d.pop("latency_s", None)
        return d
