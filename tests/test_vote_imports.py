"""The vote package imports without a circle: no module of longrm.vote reaches itself through the others,
counting the imports inside functions too (a lazy import only hides a circle from the interpreter)."""

from __future__ import annotations

import ast
from pathlib import Path

import longrm.vote

PACKAGE = Path(longrm.vote.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every `longrm.vote.X` module a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "longrm.vote":
                found |= {f"longrm.vote.{a.name}" for a in node.names}
            elif node.module.startswith("longrm.vote."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("longrm.vote.")}
    return found


def import_graph() -> dict[str, set[str]]:
    return {f"longrm.vote.{p.stem}": imported_modules(p) for p in sorted(PACKAGE.glob("*.py"))}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import path that comes back to where it started (depth-first from every module)."""
    found = []

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == path[0]:
                found.append([*path, nxt])
            elif nxt not in path:
                walk([*path, nxt])

    for module in graph:
        walk([module])
    return found


def test_circles_finds_a_lazy_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert ["a", "b", "c", "a"] in circles(graph) and not any(c[0] == "d" for c in circles(graph))


def test_the_vote_package_has_no_import_circle():
    graph = import_graph()
    assert {"longrm.vote.run", "longrm.vote.judgments", "longrm.vote.chunks"} <= graph.keys()
    assert "longrm.vote.chunks" in graph["longrm.vote.judgments"]  # the parser sees `from longrm.vote import X`
    assert circles(graph) == []
    assert "longrm.vote.run" not in graph["longrm.vote.judgments"]
    assert "longrm.vote.judgments" not in graph["longrm.vote.run"]
