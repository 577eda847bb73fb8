import json

import pytest

from longrm.data.io import atomic_write, iter_jsonl, read_jsonl, write_jsonl
from longrm.data.records import BenchItem, ShortItem
from longrm.errors import InputError


def _short(i, **kw):
    d = {
        "id": f"s{i}",
        "task": "LongQA",
        "question": "q?",
        "evidence": ["the code is 7"],
        "candidates": ["7", "8"],
        "answer": "7",
    }
    d.update(kw)
    return d


def test_roundtrip_is_byte_identical(tmp_path):
    recs = [ShortItem.from_dict(_short(i)) for i in range(3)]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(a, recs)
    write_jsonl(b, read_jsonl(a, ShortItem.from_dict))
    assert a.read_bytes() == b.read_bytes()


def test_corrupt_line_names_file_and_line(tmp_path):
    p = tmp_path / "raw.jsonl"
    p.write_text(json.dumps(_short(1)) + "\n" + '{"id": "s2", "task": ' + "\n")
    with pytest.raises(InputError) as err:
        read_jsonl(p, ShortItem.from_dict)
    assert f"{p}:2" in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_field_names_field_and_line(tmp_path):
    p = tmp_path / "raw.jsonl"
    bad = _short(2)
    del bad["question"]
    p.write_text(json.dumps(_short(1)) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match=r"raw.jsonl:2: field 'question' missing required field"):
        read_jsonl(p, ShortItem.from_dict)


def test_mistyped_field(tmp_path):
    p = tmp_path / "raw.jsonl"
    p.write_text(json.dumps(_short(1, candidates="7")) + "\n")
    with pytest.raises(InputError, match=r":1: field 'candidates' expected a list"):
        read_jsonl(p, ShortItem.from_dict)


def test_non_object_and_non_utf8(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text("[1, 2]\n")
    with pytest.raises(InputError, match="expected a JSON object"):
        read_jsonl(p)
    p.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(InputError, match="x.jsonl:1: not valid UTF-8"):
        read_jsonl(p)


def test_failed_write_keeps_previous_file(tmp_path):
    p = tmp_path / "out.jsonl"
    write_jsonl(p, [{"id": "old"}])

    def gen():
        yield {"id": "new"}
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(p, gen())
    assert read_jsonl(p) == [{"id": "old"}]
    assert [f.name for f in tmp_path.iterdir()] == ["out.jsonl"]


def test_atomic_write_binary(tmp_path):
    p = tmp_path / "b.bin"
    with atomic_write(p, "wb") as f:
        f.write(b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"


def _bench(**kw):
    d = {
        "id": "b1",
        "task": "Cite",
        "tasktype": "PairWise",
        "subtype": "same",
        "prompt_template": [{"role": "user", "content": "ctx"}, {"role": "user", "content": "q?"}],
        "chosen": "good",
        "rejected": "bad",
    }
    d.update(kw)
    return d


def test_bench_item_task_prompt_and_gold():
    item = BenchItem.from_dict(_bench())
    assert item.task_prompt == "ctx\n\nq?"
    assert item.responses == ["good", "bad"] and item.gold_ranking == [0, 1]
    bon = BenchItem.from_dict(
        _bench(tasktype="BestOfN", subtype="3", candidates=["x", "y", "z"], candidates_score=[1.0, 3.0, 2.0])
    )
    assert bon.gold_ranking == [1, 2, 0]


def test_bench_item_unknown_tasktype_and_subtype():
    with pytest.raises(InputError, match="field 'tasktype' unknown tasktype"):
        BenchItem.from_dict(_bench(tasktype="Pointwise"), "b.jsonl", 3)
    with pytest.raises(InputError, match="b.jsonl:4: field 'subtype'"):
        BenchItem.from_dict(_bench(tasktype="BestOfN", subtype="9", candidates=["a", "b"]), "b.jsonl", 4)


def test_bench_item_integer_subtype_is_read_as_its_string(tmp_path):
    # released files may store the BestOfN subtype as an integer (the official evaluator str()s it)
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps(_bench(tasktype="BestOfN", subtype=3, candidates=["x", "y", "z"])) + "\n")
    (item,) = [BenchItem.from_dict(o, str(p), i + 1) for i, o in enumerate(read_jsonl(p))]
    assert item.subtype == "3" and item.to_dict()["subtype"] == "3"
    with pytest.raises(InputError, match="b.jsonl:2: field 'subtype'.*'9'"):
        BenchItem.from_dict(_bench(tasktype="BestOfN", subtype=9, candidates=["a", "b"]), "b.jsonl", 2)
    with pytest.raises(InputError, match="field 'subtype' expected str, got bool"):
        BenchItem.from_dict(_bench(tasktype="BestOfN", subtype=True, candidates=["a", "b"]), "b.jsonl", 2)


def test_extra_fields_survive_roundtrip():
    d = _bench(source_id="s1", insert_positions=[3])
    out = BenchItem.from_dict(d).to_dict()
    assert {k: out[k] for k in d} == d


def test_stream_reads_lazily(tmp_path):
    p = tmp_path / "big.jsonl"
    p.write_text(json.dumps({"id": 1}) + "\n" + "not json\n")
    it = iter_jsonl(p)
    assert next(it) == {"id": 1}
    with pytest.raises(InputError):
        next(it)
