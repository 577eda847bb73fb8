"""`longrm bench run`: every item in every order, resumable, and end to end through the CLI on a tiny
random checkpoint (generative and discriminative) plus every baseline."""

import json
from collections import Counter

import pytest
import yaml

from longrm.bench.run import ItemList, load_items, partial_path, plan, plan_batches, run_bench
from longrm.bench.score import ranking_score
from longrm.data.io import read_jsonl
from longrm.data.records import BenchItem
from longrm.errors import InputError
from longrm.judges.base import judge_orders, official_order
from longrm.judges.baselines import BaselineJudge
from longrm.judges.official import release_orders
from tests.helpers import tiny_checkpoint
from tests.test_bench_score import FIXTURE, official_line

DOC = " ".join(f"Fact {i}: door {i} has code {1000 + i}." for i in range(150))


def write_bench(path, long_doc=True):
    lines = []
    for id_, task, subtype, bucket, n, _ in FIXTURE:
        obj = official_line(id_, task, subtype, bucket, n)
        if long_doc and bucket == "8k":
            obj["prompt_template"] = [{"role": "user", "content": DOC + "\nQuestion: which code?"}]
        lines.append(json.dumps(obj))
    path.write_text("\n".join(lines) + "\n")
    return path


class CountingJudge(BaselineJudge):
    """The 'first' baseline, counting calls and able to fail on a given call (an interrupted run)."""

    def __init__(self, fail_on_call=None):
        super().__init__("first")
        self.calls, self.judged, self.fail_on_call = 0, [], fail_on_call

    def judge(self, items, orders):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt
        self.judged += [(it.id, tuple(o)) for it, o in zip(items, orders)]
        return super().judge(items, orders)


def test_plan_covers_every_order_and_marks_the_official_one(tmp_path):
    items = load_items(write_bench(tmp_path / "b.jsonl"))
    tasks = plan(items, bon_orders=2, seed=42)
    official_of = release_orders(items, 42)
    pairs = [t for t in tasks if t[0].tasktype == "PairWise"]
    assert len(pairs) == 12 and {tuple(o) for _, o, _ in pairs} == {(0, 1), (1, 0)}
    for it in items:
        mine = [(o, off) for i, o, off in tasks if i.id == it.id]
        assert sum(off for _, off in mine) == 1
        orders = [o for o, _ in mine]
        n = len(it.responses)
        assert list(range(n)) in orders and list(range(n))[::-1] in orders
        assert len({tuple(o) for o in orders}) == len(orders)
        if n > 2:  # the n rotations of the identity and of the reverse, plus the official order if new
            official = official_of[it.id]
            balanced = [o for o in orders if o != official] if len(orders) == 2 * n + 1 else orders
            assert len(balanced) == 2 * n and official in orders
    bon = [(i, o) for i, o, _ in tasks if i.tasktype == "BestOfN"]
    assert len(bon) == 6 + 9 + 6  # n = 3 (official among the 3! = 6), n = 4 (8 + official), n = 3


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("bon_orders", [1, 2])
def test_bon_orders_are_position_balanced(n, bon_orders):
    item = BenchItem.from_dict(official_line("lrb-bal", "Math", str(n), "4k", n))
    official = official_order(item, 42)
    orders = judge_orders(item, bon_orders, 42)
    assert orders[:2] == [list(range(n)), list(range(1, n)) + [0]]
    assert official in orders
    balanced = orders[: bon_orders * n]
    assert orders[bon_orders * n :] in ([], [official])
    if bon_orders == 2:
        assert list(range(n))[::-1] in balanced
    for pos in range(n):  # every response equally often at every position
        assert Counter(o[pos] for o in balanced) == {k: bon_orders for k in range(n)}
    # always-first ranks by position; its mean BoN partial credit over the balanced orders is chance, 1/n.
    # By hand for n = 3, bon_orders = 2: the rotations of (0,1,2) earn 1, 0, 0 and those of (2,1,0),
    # each with one fixed point, 1/3 each: (1 + 3 * 1/3) / 6 = 1/3.
    judged = BaselineJudge("first").judge([item] * len(balanced), balanced)
    credit = [ranking_score(j.ranking, item.gold_ranking, False, 0.0) for j in judged]
    assert sum(credit) / len(credit) == pytest.approx(1 / n)
    if n == 3 and bon_orders == 2:
        assert sorted(credit) == pytest.approx([0, 0, 1 / 3, 1 / 3, 1 / 3, 1])


def test_bon_orders_outside_the_balanced_sets_are_refused():
    item = BenchItem.from_dict(official_line("lrb-bal", "Math", "3", "4k", 3))
    with pytest.raises(ValueError, match="bon_orders must be 1 or 2"):
        judge_orders(item, 3, 42)


def test_duplicate_ids_are_refused(tmp_path):
    p = tmp_path / "b.jsonl"
    line = json.dumps(official_line("x", "LongQA", "same", "4k"))
    p.write_text(line + "\n" + line + "\n")
    with pytest.raises(InputError, match="duplicate id") as e:
        load_items(p)
    assert e.value.line == 2


def batch_sizes(items, chunk: int = 4) -> list[int]:
    """The sizes of the batches `run_bench` judges (its plan over the items' refs)."""
    return [len(b) for b in plan_batches(plan(ItemList(items).refs, bon_orders=2, seed=42), chunk)]


def test_batches_are_fixed_by_the_plan_and_never_split_an_item(tmp_path):
    items = load_items(write_bench(tmp_path / "b.jsonl"))
    tasks = plan(ItemList(items).refs, bon_orders=2, seed=42)
    batches = plan_batches(tasks, 4)
    assert sorted(map(id, (t for b in batches for t in b))) == sorted(map(id, tasks))  # each task once
    owner = {}
    for k, batch in enumerate(batches):
        for ref, _, _ in batch:
            assert owner.setdefault(ref.id, k) == k  # an item's orders in one batch
        assert len(batch) <= 4 or len({ref.id for ref, _, _ in batch}) == 1  # a big item alone
    lengths = [max(ref.length for ref, _, _ in b) for b in batches]
    assert lengths == sorted(lengths, reverse=True)  # longest first
    assert plan_batches(list(reversed(tasks)), 4) != batches or len(batches) == 1  # the plan's order kept
    assert max(batch_sizes(items)) > 4 and sum(batch_sizes(items)) == 33


def test_resume_skips_finished_records(tmp_path):
    items = load_items(write_bench(tmp_path / "b.jsonl"))
    sizes = batch_sizes(items)
    out = tmp_path / "r.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_bench(CountingJudge(fail_on_call=3), "first", items, out, chunk=4, progress=False)
    assert not out.exists()
    part = partial_path(out)
    first_pass = [json.loads(line) for line in part.read_text().splitlines()]
    assert len(first_pass) == sizes[0] + sizes[1]  # two batches flushed
    with part.open("a") as f:
        f.write('{"id": "lrb-00')  # torn line of the interrupted write
    with pytest.raises(KeyboardInterrupt):  # interrupted again after one batch
        run_bench(CountingJudge(fail_on_call=2), "first", items, out, chunk=4, progress=False)
    first_pass = [json.loads(line) for line in part.read_text().splitlines()]
    assert len(first_pass) == sum(sizes[:3])
    judge = CountingJudge()
    stats = run_bench(judge, "first", items, out, chunk=4, progress=False)
    done_before = {(r["id"], tuple(r["order"])) for r in first_pass}
    assert stats["resumed"] == sum(sizes[:3]) and stats["judged_now"] == 33 - sum(sizes[:3]) and stats["records"] == 33
    assert not done_before & set(judge.judged) and len(judge.judged) == 33 - sum(sizes[:3])
    recs = read_jsonl(out)
    assert len(recs) == 33 and not part.exists()
    assert len({(r["id"], tuple(r["order"])) for r in recs}) == 33
    # records come in bench-file order, whatever order they were judged in
    assert [r["id"] for r in recs][:2] == ["lrb-001", "lrb-001"]
    assert all(r["model"] == "first" and r["task"] and r["length_bucket"] for r in recs)
    assert not (tmp_path / "r.jsonl.partial.settings.json").exists()
    # a finished run reruns afresh (to the same records: the judge is deterministic)
    again = CountingJudge()
    run_bench(again, "first", items, out, chunk=4, progress=False)
    assert len(again.judged) == 33 and read_jsonl(out) == recs


class BatchSensitiveJudge(CountingJudge):
    """Scores that depend on the whole batch the judge was handed, as an LM's do (padding, the prefix shared
    with the previous prompt, kernels chosen by shape): a resumed run is byte-identical only if it judges
    the same batches as an uninterrupted one."""

    def judge(self, items, orders):
        recs = super().judge(items, orders)
        batch = sum(len(o) for o in orders) + 0.001 * sum(int(it.id[-3:]) for it in items)
        for rec in recs:
            rec.scores = [round(batch + k / 10, 6) for k in range(len(rec.order))]
            rec.latency_s = 0.5  # a timing: never written
        return recs


def test_an_interrupted_run_resumes_to_the_uninterrupted_bytes(tmp_path):
    """Interrupted after two batches, then cut inside the next one (a SIGKILL between two records of a
    batch): the rerun judges that batch whole again, keeps only the missing records, and OUT has the bytes
    of a run never interrupted. Seen failing before the batches were fixed by the plan: the resumed
    records' scores came from other batches."""
    items = load_items(write_bench(tmp_path / "b.jsonl"))
    whole = tmp_path / "whole.jsonl"
    run_bench(BatchSensitiveJudge(), "first", items, whole, chunk=4, progress=False)
    out = tmp_path / "r.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_bench(BatchSensitiveJudge(fail_on_call=4), "first", items, out, chunk=4, progress=False)
    part = partial_path(out)
    lines = part.read_bytes().splitlines(keepends=True)
    part.write_bytes(b"".join(lines[:-1]))  # the last batch's last record never reached the disk
    judge = BatchSensitiveJudge()
    stats = run_bench(judge, "first", items, out, chunk=4, progress=False)
    assert stats["resumed"] == len(lines) - 1 and stats["judged_now"] == 33 - len(lines) + 1
    assert len(judge.judged) > stats["judged_now"]  # the cut batch judged whole again
    assert out.read_bytes() == whole.read_bytes()
    assert b"latency_s" not in whole.read_bytes()


def interrupt_at_call(calls: int, items, out, model: str = "first", **kw) -> None:
    """A run the judge interrupts on its `calls`-th call: the chunks judged before stay in the partial file."""
    with pytest.raises(KeyboardInterrupt):
        run_bench(CountingJudge(fail_on_call=calls), model, items, out, chunk=4, progress=False, **kw)


def run_to_the_end(items, out, model: str = "first", **kw) -> dict:
    return run_bench(CountingJudge(), model, items, out, chunk=4, progress=False, **kw)


def test_a_partial_file_resumes_only_under_its_own_settings(tmp_path, capsys):
    """Same settings: resumed. Other settings or inputs (a retrained model: another fingerprint): the
    partial file is stale, discarded with a message, and every pair judged afresh - never a mix."""
    items = load_items(write_bench(tmp_path / "b.jsonl"))
    out = tmp_path / "r.jsonl"
    interrupt_at_call(2, items, out, settings={"inputs": {"model": "sha-1"}})
    stats = run_to_the_end(items, out, settings={"inputs": {"model": "sha-2"}})
    assert stats["discarded_stale_partial"] == ["inputs"] and stats["resumed"] == 0
    assert stats["judged_now"] == stats["records"]
    assert "started under other settings (inputs changed): discarded" in capsys.readouterr().err
    interrupt_at_call(2, items, out, settings={"inputs": {"model": "sha-2"}})
    stats = run_to_the_end(items, out, settings={"inputs": {"model": "sha-2"}})
    assert stats["resumed"] == batch_sizes(items)[0] and stats["discarded_stale_partial"] == []


def test_a_partial_file_of_another_model_is_discarded(tmp_path):
    items = load_items(write_bench(tmp_path / "b.jsonl"))
    out = tmp_path / "r.jsonl"
    interrupt_at_call(2, items, out)
    stats = run_to_the_end(items, out, model="random")
    assert stats["discarded_stale_partial"] == ["model"] and stats["resumed"] == 0
    assert {r["judge"] for r in read_jsonl(out)} == {"random"}


def test_baselines(tmp_path):
    items = load_items(write_bench(tmp_path / "b.jsonl"))
    by = {it.id: it for it in items}
    first = BaselineJudge("first").judge([by["lrb-007"]], [[2, 0, 1]])[0]
    assert first.raw == "[[A>B>C]]" and first.ranking == [2, 0, 1]
    longer = BaselineJudge("longer").judge([by["lrb-001"]] * 2, [[0, 1], [1, 0]])
    # "good answer lrb-001" (chosen) is longer than "bad answer lrb-001"
    assert [r.ranking for r in longer] == [[0, 1], [0, 1]]
    rnd = BaselineJudge("random", seed=3)
    a = [r.ranking for r in rnd.judge(items, [[1, 0]] * 6 + [[0, 1, 2], [0, 1, 2, 3], [0, 1, 2]])]
    b = [
        r.ranking
        for r in BaselineJudge("random", seed=3).judge(items, [[1, 0]] * 6 + [[0, 1, 2], [0, 1, 2, 3], [0, 1, 2]])
    ]
    c = [
        r.ranking
        for r in BaselineJudge("random", seed=4).judge(items, [[1, 0]] * 6 + [[0, 1, 2], [0, 1, 2, 3], [0, 1, 2]])
    ]
    assert a == b and a != c


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A config whose bench models are a tiny random checkpoint (generative) and a scalar RM on it."""
    import torch
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("study")
    gen = tiny_checkpoint(root / "gen")
    rm = tiny_checkpoint(root / "rm", seed=1)
    hidden = json.loads((rm / "config.json").read_text())["hidden_size"]
    torch.manual_seed(0)
    save_file({"weight": torch.randn(1, hidden)}, str(rm / "score_head.safetensors"))
    cfg = yaml.safe_load(open("config/default.yaml"))
    cfg["results_dir"] = str(root)  # outputs go under root (the CLI refuses paths outside results_dir)
    cfg["bench"].update(max_model_len=512, max_new_tokens=6, batch_size=4, bootstrap=50)
    cfg["bench"]["models"] = [
        {"name": "base", "kind": "generative", "path": str(gen)},
        {"name": "disrm", "kind": "discriminative", "path": str(rm)},
    ]
    (root / "config.yaml").write_text(yaml.safe_dump(cfg))
    return root, write_bench(root / "bench.jsonl")


@pytest.mark.parametrize("name", ["base", "disrm", "random", "longer", "first"])
def test_cli_end_to_end(study, name):
    from longrm.cli import main

    root, bench = study
    cfg = str(root / "config.yaml")
    rec, met = root / name / "records.jsonl", root / name / "metrics.json"
    assert main(["bench", "run", "--config", cfg, "--model", name, "--bench", str(bench), "--out", str(rec)]) == 0
    assert (
        main(
            [
                "bench",
                "score",
                "--config",
                cfg,
                "--records",
                str(rec),
                "--bench",
                str(bench),
                "--out",
                str(met),
                "--table",
                str(root / name / "table.md"),
            ]
        )
        == 0
    )
    recs = read_jsonl(rec)
    m = json.loads(met.read_text())
    assert len(recs) == m["n_records"] == 33 and m["n_items"] == 9
    assert (rec.parent / "records.jsonl.prov.json").exists() and (met.parent / "metrics.json.prov.json").exists()
    if name == "base":
        assert m["truncation"]["length"]["8k"]["value"] == 1.0 and m["truncation"]["length"]["4k"]["value"] == 0.0
        assert all(r["prompt_tokens"] <= 506 and r["output_tokens"] <= 6 for r in recs)
        assert m["auc"] is None
    if name == "disrm":
        assert m["auc"]["n_items"] == 9 and 0.0 <= m["auc"]["value"] <= 1.0
        assert m["parse_failure"]["all_orders"]["value"] == 0.0
        assert all(r["scores"] and r["raw"] == "" for r in recs)
    if name in ("random", "longer", "first"):
        assert m["parse_failure"]["all_orders"]["value"] == 0.0
    if name == "first":
        # always A: right in exactly one of the two orders of every pair
        assert m["protocols"]["ours"]["PairWise"]["value"] == 0.5
        assert m["position_bias"]["first_position_rate"]["value"] == 1.0
        assert m["order_consistency"]["PairWise"]["value"] == 0.0
        # BoN over balanced orders only: 1/3 for 007 and 010 (their 6 orders are all 3! permutations),
        # 1/4 for 008 (8 balanced orders earn 2 in all; its extra official order [3, 1, 2, 0] is left out)
        assert m["protocols"]["ours"]["BestOfN"]["value"] == pytest.approx((1 / 3 + 1 / 4 + 1 / 3) / 3, abs=1e-6)
        assert sum(not r["balanced"] for r in recs) == 1
        # official (release) order only: 007 [1, 2, 0] 0, 008 [3, 1, 2, 0] 2/4, 010 [1, 2, 0] 0
        assert m["protocols"]["official"]["BestOfN"]["value"] == pytest.approx(1 / 6, abs=1e-6)
    if name == "longer":
        # every chosen response ("good answer ...") is longer than its rejected one ("bad answer ...")
        assert m["protocols"]["ours"]["PairWise"]["value"] == 1.0


def test_reruns_give_the_same_judgments_and_metrics_bytes(study):
    from longrm.cli import main

    root, bench = study
    cfg = str(root / "config.yaml")
    metrics = []
    for k in range(2):
        rec, met = root / f"again{k}" / "records.jsonl", root / f"again{k}" / "metrics.json"
        assert main(["bench", "run", "--config", cfg, "--model", "base", "--bench", str(bench), "--out", str(rec)]) == 0
        assert (
            main(["bench", "score", "--config", cfg, "--records", str(rec), "--bench", str(bench), "--out", str(met)])
            == 0
        )
        metrics.append(met.read_bytes())
    records = [(root / f"again{k}" / "records.jsonl").read_bytes() for k in range(2)]
    assert records[0] == records[1] and metrics[0] == metrics[1]  # no timing in a record: the same bytes
    assert b"latency_s" not in records[0]


def test_a_complete_last_record_without_its_newline_is_judged_again(tmp_path):
    """A crash can cut the write between a record and its newline; copying that line as is would glue
    two records together in OUT. Seen failing (two records on one output line) before the newline check."""
    items = load_items(write_bench(tmp_path / "b.jsonl"))
    whole = tmp_path / "whole.jsonl"
    run_bench(CountingJudge(), "first", items, whole, chunk=4, progress=False)
    out = tmp_path / "r.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_bench(CountingJudge(fail_on_call=2), "first", items, out, chunk=4, progress=False)
    part = partial_path(out)
    part.write_bytes(part.read_bytes().rstrip(b"\n"))  # the last record lost its newline
    judge = CountingJudge()
    stats = run_bench(judge, "first", items, out, chunk=4, progress=False)
    first = batch_sizes(items)[0]
    assert stats["resumed"] == first - 1 and stats["judged_now"] == 33 - first + 1
    assert out.read_bytes() == whole.read_bytes()


def test_input_fingerprints_follow_the_weights_and_the_bench_file(tmp_path):
    from longrm.bench.cli import input_fingerprints

    bench = write_bench(tmp_path / "b.jsonl")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights v1")
    first = input_fingerprints(str(bench), {"path": str(model)})
    (model / "model.safetensors").write_bytes(b"weights v2")  # retrained in place: same path
    second = input_fingerprints(str(bench), {"path": str(model)})
    assert first["bench"] == second["bench"] and first["model"] != second["model"]
    assert input_fingerprints(str(bench), {"path": "Org/hub-name"})["model"] == "Org/hub-name"
