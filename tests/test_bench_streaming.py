"""`bench run` streams its bench file: pass 1 keeps a light ref per item, each batch re-reads its items by
byte offset. Same judgments as judging a list held in memory; a file edited between passes is refused."""

import json

import pytest

from longrm.bench.run import ItemRef, index_bench, load_items, plan, run_bench
from longrm.data.io import read_jsonl
from longrm.errors import InputError
from longrm.judges.baselines import BaselineJudge
from tests.test_bench_run import write_bench


class SeenJudge(BaselineJudge):
    """The seeded 'random' baseline, keeping the items it was handed."""

    def __init__(self):
        super().__init__("random", seed=7)
        self.seen = []

    def judge(self, items, orders):
        self.seen.append(list(items))
        return super().judge(items, orders)


def with_blank_lines(path):
    """The bench file with blank and whitespace-only lines between items (offsets != line * width)."""
    lines = path.read_text().splitlines()
    path.write_text("\n" + "\n   \n".join(lines) + "\n\n")
    return path


def without_latency(path):
    return [{k: v for k, v in r.items() if k != "latency_s"} for r in read_jsonl(path)]


def test_index_holds_refs_and_plans_like_the_items(tmp_path):
    bench = with_blank_lines(write_bench(tmp_path / "b.jsonl"))
    items, index = load_items(bench), index_bench(bench)
    assert all(isinstance(r, ItemRef) for r in index.refs)
    assert [r.id for r in index.refs] == [it.id for it in items]
    assert [r.line for r in index.refs] == [2 * k + 2 for k in range(len(items))]
    assert [(t[0].id, t[1], t[2]) for t in plan(index.refs, 2, 42)] == [
        (t[0].id, t[1], t[2]) for t in plan(items, 2, 42)
    ]
    assert index.read(index.refs[::-1]) == {it.id: it for it in items}


def test_streamed_run_gives_the_judgments_of_an_in_memory_run(tmp_path):
    bench = with_blank_lines(write_bench(tmp_path / "b.jsonl"))
    items = load_items(bench)
    mem, streamed = SeenJudge(), SeenJudge()
    run_bench(mem, "random", items, tmp_path / "mem.jsonl", chunk=4, progress=False)
    stats = run_bench(streamed, "random", index_bench(bench), tmp_path / "streamed.jsonl", chunk=4, progress=False)
    assert stats["items"] == 9 and stats["records"] == 33
    assert without_latency(tmp_path / "streamed.jsonl") == without_latency(tmp_path / "mem.jsonl")
    assert streamed.seen == mem.seen  # same items, same batches, same order
    assert max(len({it.id for it in batch}) for batch in streamed.seen) <= 4


def test_a_line_moved_between_the_passes_is_refused(tmp_path):
    bench = write_bench(tmp_path / "b.jsonl")
    index = index_bench(bench)
    lines = bench.read_text().splitlines(keepends=True)
    bench.write_text("".join([lines[1], lines[0]] + lines[2:]))  # another id now sits at line 1's offset
    out = tmp_path / "r.jsonl"
    with pytest.raises(InputError, match="no longer holds id") as e:
        run_bench(BaselineJudge("first"), "first", index, out, chunk=4, progress=False)
    assert e.value.field == "id" and e.value.path == str(bench)
    assert not out.exists()


def test_an_item_edited_in_place_between_the_passes_is_refused(tmp_path):
    bench = write_bench(tmp_path / "b.jsonl", long_doc=False)
    index = index_bench(bench)
    lines = bench.read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])
    last["candidates"][0] += ", said at more length"
    bench.write_text("".join(lines[:-1]) + json.dumps(last) + "\n")  # same id, same offset, longer response
    with pytest.raises(InputError, match="changed while being judged") as e:
        run_bench(BaselineJudge("first"), "first", index, tmp_path / "r.jsonl", chunk=64, progress=False)
    assert e.value.line == len(lines)


def test_pass_one_refuses_what_loading_refused(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text("\n\n")
    with pytest.raises(InputError, match="no items"):
        index_bench(p)
    line = json.dumps(json.loads(write_bench(tmp_path / "w.jsonl").read_text().splitlines()[0]))
    p.write_text(line + "\n\n" + line + "\n")
    with pytest.raises(InputError, match="duplicate id") as e:
        index_bench(p)
    assert e.value.line == 3 and e.value.field == "id"


def test_scoring_light_items_gives_the_metrics_of_full_items(tmp_path):
    from longrm.bench.score import ScoreItem, load_score_items, score_records
    from longrm.data.io import iter_jsonl
    from longrm.data.records import Judgment

    bench = with_blank_lines(write_bench(tmp_path / "b.jsonl"))
    rec = tmp_path / "r.jsonl"
    run_bench(BaselineJudge("longer"), "longer", index_bench(bench), rec, chunk=4, progress=False)
    light = load_score_items(bench)
    assert all(isinstance(it, ScoreItem) for it in light)

    def records():
        return iter_jsonl(rec, lambda obj, path, line: (Judgment.from_dict(obj, path, line), line))

    full = score_records(records(), load_items(bench), n_boot=20, seed=3)
    assert score_records(records(), light, n_boot=20, seed=3) == full
    assert full["protocols"]["ours"]["PairWise"]["value"] == 1.0 and full["n_items"] == 9
