import pytest

from longrm.judges.parse import parse_verdict


@pytest.mark.parametrize(
    "text,n,expected",
    [
        ("Analysis: A cites the code. [[A]]", 2, [0, 1]),
        ("[[B]]", 2, [1, 0]),
        ("I first thought [[A]] but the context says otherwise: [[B]]", 2, [1, 0]),  # last verdict wins
        ("Answer with [[A]] or [[B]].", 2, None),  # an echo is no verdict
        ("Answer with [[A]] or [[B]]. My verdict: [[A]]", 2, [0, 1]),
        ("[[A]]/[[B]]", 2, None),
        ("", 2, None),
        ("no verdict here", 2, None),
        ("[[C]]", 2, None),  # a letter out of range
        ("[[B>A]]", 2, [1, 0]),
        ("[[B>A>C]]", 3, [1, 0, 2]),
        ("[[B>A>A]]", 3, None),  # repeated letter
        ("[[B>A]]", 3, None),  # incomplete ranking
        ("[[C>A>B]] then, on reflection, [[A>A>B]]", 3, [2, 0, 1]),  # malformed last -> previous well-formed
        ("[[ d > c > b > a ]]", 4, [3, 2, 1, 0]),
    ],
)
def test_parse_verdict(text, n, expected):
    assert parse_verdict(text, n) == expected
