"""The embedded inputs are built from the committed corpus snapshot (corpus/), never from the machine's
Python or OS: its bytes are pinned, the script that takes it is deterministic, and a bad snapshot is
named by file, line and field."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sysconfig
from pathlib import Path

import pytest

from longrm.config import load_config
from longrm.errors import InputError
from longrm.inputs import distractors, raw, sources
from tests.helpers import load_script

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"


def snapshot_script():
    return load_script(REPO / "workflow" / "scripts" / "snapshot_corpus.py")


def small_config() -> dict:
    cfg = load_config()
    cfg["inputs"].update(items_per_task=2, rejected_per_item=3, distractor_docs=12)
    return cfg


def clear_caches() -> None:
    """Forget every cached file list, parse and pool, so the next build reads its text again."""
    for module in (sources, raw, distractors):
        for obj in vars(module).values():
            if callable(getattr(obj, "cache_clear", None)):
                obj.cache_clear()


def build_inputs(cfg: dict) -> tuple[list[dict], list[dict]]:
    clear_caches()
    return [item.to_dict() for item in raw.build_raw(cfg)], distractors.build_distractors(cfg)


def test_inputs_do_not_depend_on_the_machines_stdlib_or_licences(monkeypatch, tmp_path):
    """Seen failing on the code that read sysconfig's stdlib and /usr/share/common-licenses: with both
    pointing at nothing it found no text ('found no prose or no functions with defaults')."""
    cfg = small_config()
    expected = build_inputs(cfg)
    empty = tmp_path / "no-stdlib"
    empty.mkdir()
    monkeypatch.setattr(sysconfig, "get_paths", lambda *args, **kwargs: {"stdlib": str(empty)})
    monkeypatch.setattr(sources, "LICENSE_DIRS", (), raising=False)
    try:
        assert build_inputs(cfg) == expected
    finally:
        clear_caches()
    assert len(expected[0]) == 2 * len(cfg["inputs"]["tasks"]) and len(expected[1]) == 12


def test_committed_snapshot_matches_its_recorded_sha256():
    data = (CORPUS / "snapshot.jsonl.gz").read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    assert (CORPUS / "SHA256SUMS").read_text() == f"{sha256}  snapshot.jsonl.gz\n"
    assert f"`{sha256}`" in (CORPUS / "README.md").read_text()
    assert len(data) < 8_000_000


def test_committed_snapshot_is_the_default_and_holds_both_kinds():
    assert load_config()["inputs"]["corpus"] == "corpus/snapshot.jsonl.gz"
    files = sources.load_snapshot(CORPUS / "snapshot.jsonl.gz")
    names = [f.name for f in files]
    assert names == sorted(set(names))
    assert {"python-stdlib/json/decoder.py", "python-stdlib/LICENSE.txt", "common-licenses/GPL-3"} <= set(names)
    assert {f.kind for f in files} == {"code", "license"}
    assert all(f.kind == "code" for f in files if f.name.endswith(".py"))


def fake_machine(tmp: Path) -> tuple[Path, Path]:
    """A stdlib folder and a licence folder with one file of each case the enumeration rules decide."""
    root, licenses = tmp / "lib" / "python3.x", tmp / "common-licenses"
    texts = {
        "json/decoder.py": b'"""Decode JSON."""\r\ndef loads(s):\r\n    return s\r\n',
        "latin.py": b"# caf\xe9: not UTF-8\n",
        "test/test_json.py": b"skipped\n",
        "idlelib/run.py": b"skipped\n",
        "config-3.x-x86_64/makesetup.py": b"skipped\n",
        "_sysconfigdata__linux.py": b"skipped\n",
        "LICENSE.txt": b"PSF LICENSE AGREEMENT\n",
        "README.txt": b"not a .py file: skipped\n",
    }
    for rel, data in texts.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    licenses.mkdir()
    (licenses / "GPL-3").write_text("GNU GENERAL PUBLIC LICENSE\n")
    os.symlink("GPL-3", licenses / "GPL")
    return root, licenses


def test_snapshot_script_enumerates_by_the_rules_and_writes_the_same_bytes_twice(tmp_path):
    script = snapshot_script()
    root, licenses = fake_machine(tmp_path)
    files = script.machine_files(root, (licenses,))
    assert [(f.name, f.kind) for f in files] == [
        ("common-licenses/GPL-3", "license"),
        ("python-stdlib/LICENSE.txt", "license"),
        ("python-stdlib/json/decoder.py", "code"),
        ("python-stdlib/latin.py", "code"),
    ]
    first = script.write_corpus(tmp_path / "a", files)
    second = script.write_corpus(tmp_path / "b", list(reversed(files)))
    data = (tmp_path / "a" / "snapshot.jsonl.gz").read_bytes()
    assert first == second and data == (tmp_path / "b" / "snapshot.jsonl.gz").read_bytes()
    assert data[4:8] == b"\0\0\0\0" and not data[3] & 0x08, "gzip header: no mtime, no file name"
    loaded = sources.load_snapshot(tmp_path / "a" / "snapshot.jsonl.gz")
    assert [(f.name, f.kind, f.text) for f in loaded] == [(f.name, f.kind, script.read_text(f.path)) for f in files]
    assert loaded[2].text == '"""Decode JSON."""\ndef loads(s):\n    return s\n'  # read as text (universal newlines)
    assert loaded[3].text == "# caf\ufffd: not UTF-8\n"  # undecodable bytes replaced


# ------------------------------------------------------------------------------------------ bad input

GOOD = [
    {"name": "common-licenses/BSD", "kind": "license", "text": "Redistribution and use are permitted.\n"},
    {"name": "python-stdlib/a.py", "kind": "code", "text": "def f(x=1, y=2):\n    return x\n"},
    {"name": "python-stdlib/b.py", "kind": "code", "text": "'''Docs.'''\n" * 4000},
]


def gz(lines: list[str]) -> bytes:
    return gzip.compress("".join(line + "\n" for line in lines).encode(), mtime=0)


def good_lines() -> list[str]:
    return [json.dumps(obj) for obj in GOOD]


def with_line(i: int, line: str) -> bytes:
    lines = good_lines()
    lines[i] = line
    return gz(lines)


def load(path: Path):
    sources.load_snapshot.cache_clear()
    return sources.load_snapshot(path)


BAD = {
    "not JSON": (with_line(1, '{"name": "python-stdlib/a.py", "kind": "code", "te'), 2, None, "not valid JSON"),
    "not an object": (with_line(1, '["python-stdlib/a.py"]'), 2, None, "not a JSON object"),
    "no text": (with_line(2, json.dumps({"name": "python-stdlib/b.py", "kind": "code"})), 3, "text", "missing"),
    "name not a string": (with_line(0, json.dumps({**GOOD[0], "name": 7})), 1, "name", "not a string"),
    "unknown kind": (with_line(1, json.dumps({**GOOD[1], "kind": "data"})), 2, "kind", "one of code, license"),
    "unsorted": (gz([good_lines()[1], good_lines()[0]]), 2, "name", "unique and sorted"),
    "duplicate": (gz([good_lines()[1], good_lines()[1]]), 2, "name", "unique and sorted"),
    "not gzip": (b'{"name": "python-stdlib/a.py"}\n', 1, None, "not a readable gzip snapshot"),
    "truncated": (gz(good_lines())[:-40], 3, None, "not a readable gzip snapshot"),
    "empty": (gz([]), None, None, "holds no files"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_snapshot_is_named_by_file_line_and_field(case, tmp_path):
    data, line, field, reason = BAD[case]
    path = tmp_path / "snapshot.jsonl.gz"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        load(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), line, field)
    assert reason in err.value.reason
    where = str(path) if line is None else f"{path}:{line}"
    assert str(err.value).startswith(where) and (field is None or f"field '{field}'" in str(err.value))


def test_a_good_snapshot_loads(tmp_path):
    path = tmp_path / "snapshot.jsonl.gz"
    path.write_bytes(gz(good_lines()))
    assert [(f.name, f.kind, f.text) for f in load(path)] == [(o["name"], o["kind"], o["text"]) for o in GOOD]


def test_a_missing_snapshot_stops_the_build_naming_the_config_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default, corpus/snapshot.jsonl.gz, is read from the working directory
    cfg = small_config()
    clear_caches()
    for build in (raw.build_raw, distractors.build_distractors):
        with pytest.raises(
            InputError, match=r"snapshot\.jsonl\.gz: corpus snapshot not found \(config key inputs\.corpus\)"
        ):
            build(cfg)
    clear_caches()
