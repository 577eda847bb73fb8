"""Bad input, one case per test, through the stage that reads it (the real CLI, in process).

Contract (docs/CONTRACTS.md): one clear error naming file, line, field and what was expected, exit code 2
(or, for synth's raw items, skipped and counted in its report); and nothing already written is lost:
the output from the previous good run keeps its bytes and no temporary file is left behind.
"""

from __future__ import annotations

import json

import pytest

from longrm.data.io import write_jsonl
from tests.reliability.conftest import cli, snapshot, temp_leftovers, write_config
from tests.test_bench_score import official_line

GOOD = [official_line("a1", "LongQA", "same", "4k"), official_line("a2", "Code", "3", "8k", 3)]


@pytest.fixture
def bench_env(tmp_path, capsys):
    """A finished `bench run` (baseline 'first') whose records must survive every bad rerun."""
    res = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", res)
    bench = res / "bench.jsonl"
    write_jsonl(bench, GOOD)
    out = res / "bench" / "first" / "records.jsonl"
    rc, err = cli(["bench", "run", "--config", cfg, "--model", "first", "--bench", bench, "--out", out], capsys)
    assert rc == 0, err
    return cfg, bench, out, snapshot(out.parent)


def rerun_bad(bench_env, capsys, lines_bytes: bytes) -> str:
    cfg, bench, out, before = bench_env
    bench.write_bytes(lines_bytes)
    rc, err = cli(["bench", "run", "--config", cfg, "--model", "first", "--bench", bench, "--out", out], capsys)
    assert rc == 2, err
    assert snapshot(out.parent) == before, "the previous records changed"
    assert not temp_leftovers(out.parent)
    return err.strip()


def jl(*objs) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def test_truncated_jsonl(bench_env, capsys, ledger):
    """Seen failing on a broken copy: iter_jsonl catching another exception instead of JSONDecodeError ->
    a bare json.decoder.JSONDecodeError escaped (no file, no line)."""
    data = jl(*GOOD)
    err = rerun_bad(bench_env, capsys, data[: len(data) - 40])  # the last line cut mid-object
    assert "bench.jsonl:2:" in err and "not valid JSON" in err
    ledger("bad input", "truncated JSONL (last line cut)", "bench run", "error names file:line, exit 2")


def test_non_utf8(bench_env, capsys, ledger):
    """Seen failing on a broken copy: iter_jsonl decoding with errors='replace' -> the error no longer said
    UTF-8 (a later field error instead)."""
    err = rerun_bad(bench_env, capsys, jl(GOOD[0]) + b'{"id": "\xff\xfe"}\n')
    assert "bench.jsonl:2:" in err and "UTF-8" in err
    ledger("bad input", "non-UTF-8 bytes", "bench run", "error names file:line, exit 2")


def test_line_not_an_object(bench_env, capsys, ledger):
    """Seen failing on a broken copy: iter_jsonl's isinstance(obj, dict) check disabled -> AttributeError
    traceback."""
    err = rerun_bad(bench_env, capsys, jl(GOOD[0]) + b"[1, 2]\n")
    assert "bench.jsonl:2:" in err and "expected a JSON object, got list" in err
    ledger("bad input", "line is a JSON list, not an object", "bench run", "error names file:line, exit 2")


def test_missing_field(bench_env, capsys, ledger):
    """Seen failing on a broken copy: the required-field check in Record.from_dict disabled -> TypeError
    from the dataclass constructor, naming no file or line."""
    bad = {k: v for k, v in GOOD[1].items() if k != "tasktype"}
    err = rerun_bad(bench_env, capsys, jl(GOOD[0], bad))
    assert "bench.jsonl:2:" in err and "'tasktype'" in err
    ledger("bad input", "missing field (tasktype)", "bench run", "error names file:line:field, exit 2")


def test_mistyped_field(bench_env, capsys, ledger):
    """Seen failing on a broken copy: the list check in records._check disabled -> no error naming
    'candidates' at line 2."""
    bad = dict(GOOD[1], candidates="not a list")
    err = rerun_bad(bench_env, capsys, jl(GOOD[0], bad))
    assert "bench.jsonl:2:" in err and "'candidates'" in err
    ledger("bad input", "mistyped field (candidates is a string)", "bench run", "error names file:line:field, exit 2")


def test_unknown_tasktype(bench_env, capsys, ledger):
    """Seen failing on a broken copy: BenchItem.check's TASKTYPES test disabled -> not refused as expected."""
    err = rerun_bad(bench_env, capsys, jl(GOOD[0], dict(GOOD[1], tasktype="Listwise")))
    assert "bench.jsonl:2:" in err and "'tasktype'" in err and "PairWise or BestOfN" in err
    ledger("bad input", "unknown tasktype", "bench run", "error names file:line:field, exit 2")


def test_unknown_subtype(bench_env, capsys, ledger):
    """Seen failing before the fix (PairWise subtypes were not checked: rc 0) and on a
    broken copy with the new check disabled."""
    err = rerun_bad(bench_env, capsys, jl(dict(GOOD[0], subtype="weird"), GOOD[1]))
    assert "bench.jsonl:1:" in err and "'subtype'" in err
    ledger("bad input", "unknown subtype", "bench run", "error names file:line:field, exit 2")


def test_duplicate_ids(bench_env, capsys, ledger):
    """Seen failing on a broken copy: the `seen` check in bench.run.load_items disabled -> rc 0."""
    err = rerun_bad(bench_env, capsys, jl(GOOD[0], dict(GOOD[1], id="a1")))
    assert "bench.jsonl:2:" in err and "duplicate id" in err
    ledger("bad input", "duplicated item ids", "bench run", "error names file:line:field, exit 2")


def test_empty_dataset(bench_env, capsys, ledger):
    """Seen failing before the fix: bench run accepted an empty file (rc 0, "0 records"); again on a broken copy with the new check disabled."""
    err = rerun_bad(bench_env, capsys, b"")
    assert "bench.jsonl" in err and "no items" in err
    ledger("bad input", "empty dataset (0 lines)", "bench run", "error names file, exit 2")


def test_empty_items_for_vote(tmp_path, capsys, ledger):
    """Seen failing before the fix: vote run accepted it (no error); again on a broken copy with the new check disabled."""
    res = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", res)
    (res / "synth").mkdir(parents=True)
    items = res / "synth" / "items.jsonl"
    items.write_text("\n\n")
    out = res / "vote" / "votes.jsonl"
    out.parent.mkdir()
    out.write_text('{"old": true}\n')
    rc, err = cli(["vote", "run", "--config", cfg, "--items", items, "--out", out], capsys)
    assert rc == 2 and "items.jsonl" in err and "no items" in err, err
    assert out.read_text() == '{"old": true}\n' and not temp_leftovers(out.parent)
    ledger("bad input", "empty dataset (blank lines)", "vote run", "error names file, exit 2")


def test_item_longer_than_every_bucket_is_skipped_and_counted(tmp_path, capsys, ledger):
    """Contract of synth: skipped, counted under 'longer_than_bucket' in its report; the rest is built.
    Seen failing on a broken copy: the `fixed > v.length` check in synth/build.py disabled -> the item was
    built and nothing counted."""
    from longrm.config import load_config
    from longrm.synth.cli import run
    from longrm.synth.demo import demo_distractors, demo_short_items
    from longrm.synth.tokens import WhitespaceTokenizer

    good = demo_short_items(4)
    write_jsonl(tmp_path / "raw.jsonl", good + [dict(good[0], id="huge", evidence=["word " * 5000])])
    write_jsonl(tmp_path / "dis.jsonl", demo_distractors(60))
    cfg = load_config()
    cfg["synth"]["lengths"] = [512, 1024]
    rep = run(
        cfg,
        tmp_path / "raw.jsonl",
        tmp_path / "dis.jsonl",
        WhitespaceTokenizer(),
        tmp_path / "items.jsonl",
        tmp_path / "report.json",
    )
    # counted once per long item it would have made (items_per_source), and under no other reason
    assert rep["skipped"] == {"longer_than_bucket": cfg["synth"]["items_per_source"]}
    ids = {json.loads(x)["source_id"] for x in (tmp_path / "items.jsonl").read_text().splitlines()}
    assert "huge" not in ids and ids == {g["id"] for g in good}
    assert json.loads((tmp_path / "report.json").read_text())["skipped_total"] == cfg["synth"]["items_per_source"]
    ledger("bad input", "item longer than every length bucket", "synth", "skipped, counted in report")


@pytest.mark.parametrize(
    "change,key",
    [({"vote.colour": "red"}, "vote"), ({"seed": "1234"}, "seed"), ({"vote.threshold": "high"}, "vote.threshold")],
)
def test_bad_config(bench_env, capsys, ledger, change, key, tmp_path):
    """Seen failing on a broken copy: load_config without validate() -> rc 0 and the records rewritten."""
    cfg, bench, out, before = bench_env
    bad = write_config(tmp_path / "bad.yaml", out.parents[2], **change)
    rc, err = cli(["bench", "run", "--config", bad, "--model", "first", "--bench", bench, "--out", out], capsys)
    assert rc == 2 and "bad.yaml" in err and f"key '{key}'" in err, err
    assert snapshot(out.parent) == before and not temp_leftovers(out.parent)
    what = "unknown key" if "colour" in str(change) else "wrong type"
    ledger(
        "bad input", f"config {what} ({next(iter(change))})", "config (any stage)", "error names file and key, exit 2"
    )


def test_duplicate_ids_for_vote(tmp_path, capsys, ledger):
    """Seen failing before the fix: vote run raised a ConfigError naming neither file nor line."""
    res = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", res)
    items = res / "synth" / "items.jsonl"
    write_jsonl(items, [GOOD[0], GOOD[1], dict(GOOD[1], id="a1")])
    out = res / "vote" / "votes.jsonl"
    out.parent.mkdir()
    out.write_text('{"old": true}\n')
    rc, err = cli(["vote", "run", "--config", cfg, "--items", items, "--out", out], capsys)
    assert rc == 2 and "items.jsonl:3: field 'id' duplicate id 'a1' (first on line 1)" in err, err
    assert out.read_text() == '{"old": true}\n' and not temp_leftovers(out.parent)
    ledger("bad input", "duplicated item ids", "vote run", "error names file:line:field, exit 2")
