"""Property-based tests for the readers and the verdict parser."""

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longrm.data.io import read_jsonl, write_jsonl
from longrm.data.records import ShortItem
from longrm.errors import InputError
from longrm.judges.parse import parse_verdict
from longrm.judges.prompts import format_verdict

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
short_items = st.builds(
    lambda i, q, ev, c: {
        "id": f"i{i}",
        "task": "Math",
        "question": q,
        "evidence": [ev + "x"],
        "candidates": [x + "y" for x in c],
        "answer": "7",
    },
    st.integers(0, 10**6),
    text,
    text,
    st.lists(text, min_size=2, max_size=4),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(short_items, max_size=5))
def test_jsonl_roundtrip_any_unicode(tmp_path_factory, items):
    p = tmp_path_factory.mktemp("rt") / "x.jsonl"
    write_jsonl(p, items)
    back = [r.to_dict() for r in read_jsonl(p, ShortItem.from_dict)]
    assert [{k: b[k] for k in a} for a, b in zip(items, back)] == items


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=200))
def test_reader_never_crashes_with_an_unnamed_error(tmp_path_factory, blob):
    """Any bytes: either records come back or an InputError names the file and a line."""
    p = tmp_path_factory.mktemp("fz") / "f.jsonl"
    p.write_bytes(blob)
    try:
        read_jsonl(p, ShortItem.from_dict)
    except InputError as exc:
        assert str(p) in str(exc)
        assert exc.line is not None or "file not found" not in str(exc)


@given(st.permutations(range(4)).map(list), st.text(alphabet=string.ascii_letters + " .\n", max_size=60))
def test_parser_finds_a_formatted_verdict_after_any_prose(ranking, prose):
    n = len(ranking)
    assert parse_verdict(prose + "\n" + format_verdict(ranking), n) == ranking


@given(st.text(max_size=200), st.integers(2, 4))
def test_parser_output_is_none_or_a_permutation(text_in, n):
    out = parse_verdict(text_in, n)
    assert out is None or sorted(out) == list(range(n))


def test_corrupt_line_after_good_lines_reports_that_line(tmp_path):
    p = tmp_path / "x.jsonl"
    good = {"id": "a", "task": "Math", "question": "q", "evidence": ["e"], "candidates": ["1", "2"]}
    p.write_text("\n".join([json.dumps(good)] * 3 + ['{"id": "b", "task": "Math"']) + "\n")
    try:
        read_jsonl(p, ShortItem.from_dict)
    except InputError as exc:
        assert exc.line == 4
    else:
        raise AssertionError("a truncated line must be an error")
