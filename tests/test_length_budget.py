"""Length budget without silent evidence loss: synthesis sizes contexts to the judge's budget, records
where the evidence lies, and the bench says whether the evidence survived a cut, per length bucket."""

from longrm.bench.evidence import evidence_kept, span_kept
from longrm.bench.run import run_bench
from longrm.bench.score import load_score_items, score_records
from longrm.config import load_config
from longrm.data.io import read_jsonl, write_jsonl
from longrm.data.records import BenchItem, Judgment
from longrm.synth.cli import run
from longrm.synth.demo import demo_distractors, demo_short_items
from longrm.synth.tokens import WhitespaceTokenizer


def synth(tmp_path, max_model_len, fit=True, lengths=(256, 1024)):
    cfg = load_config()
    cfg["synth"].update(
        lengths=list(lengths),
        positions=["start", "middle", "end"],
        items_per_source=2,
        bon_share=0.3,
        multihop_share=0.3,
        fit_judge=fit,
    )
    cfg["bench"] = {**cfg["bench"], "max_model_len": max_model_len, "max_new_tokens": 16}
    write_jsonl(tmp_path / "raw.jsonl", demo_short_items(20))
    write_jsonl(tmp_path / "dis.jsonl", demo_distractors(80))
    out = tmp_path / f"items-{max_model_len}-{fit}.jsonl"
    report = run(
        cfg, tmp_path / "raw.jsonl", tmp_path / "dis.jsonl", WhitespaceTokenizer(), out, tmp_path / "report.json"
    )
    return cfg, read_jsonl(out, BenchItem.from_dict), report


def test_contexts_fit_the_judge_budget(tmp_path):
    cfg, items, report = synth(tmp_path, max_model_len=1200)
    budget_of = {}
    for it in items:
        responses = sum(len(r.split()) for r in it.responses)
        total = it.length + 512 + responses + 16  # context + template reserve + responses + new tokens
        assert total <= 1200, it.id
        budget_of[it.length_bucket] = max(budget_of.get(it.length_bucket, 0), it.length)
    assert budget_of["1k"] < 1024 and budget_of["256"] <= 256  # the bucket label stays
    assert report["judge_budget"]["fitted_to_judge"] > 0
    _, unfitted, rep2 = synth(tmp_path, max_model_len=1200, fit=False)
    assert max(it.length for it in unfitted if it.length_bucket == "1k") > 1024 * 0.9
    assert rep2["judge_budget"] == {"fitted_to_judge": 0, "over_judge_budget": 0}


def test_evidence_spans_point_at_the_evidence(tmp_path):
    _, items, _ = synth(tmp_path, max_model_len=4096)
    raw = {r["id"]: r for r in read_jsonl(tmp_path / "raw.jsonl")}
    for it in items:
        words = it.task_prompt.split()  # whitespace tokenizer: token offsets are words
        spans = it.extra["evidence_spans"]
        assert spans and [s for s, _ in spans] == it.extra["insert_positions"]
        shown = " ".join(" ".join(words[s:e]) for s, e in spans)
        evidence = " ".join(" ".join(e.split()) for e in raw[it.extra["source_id"]]["evidence"])
        assert shown.split() == evidence.split()


def test_span_survival_under_the_middle_cut():
    assert span_kept(0, 10, 100, 50, 50) and span_kept(90, 100, 100, 10, 10)
    assert not span_kept(45, 55, 100, 50, 40)  # straddles the cut
    item = BenchItem.from_dict(
        {
            "id": "x",
            "task": "LongQA",
            "tasktype": "PairWise",
            "chosen": "a",
            "rejected": "b",
            "prompt_template": [{"role": "user", "content": "c"}],
            "evidence_spans": [[480, 520]],
        }
    )
    # ours: 1000 context tokens, 600 kept = first 300 + last 300: the middle evidence is gone
    assert evidence_kept(item, {"context_tokens": 1000, "context_kept": 600}, True) is False
    assert evidence_kept(item, {"context_tokens": 1000, "context_kept": 600}, False) is True
    assert evidence_kept(item, {"context_tokens": 1000, "context_kept": 980}, True) is False  # 490 | 510
    early = BenchItem.from_dict({**item.to_dict(), "evidence_spans": [[10, 40], [700, 720]]})
    assert evidence_kept(early, {"context_tokens": 1000, "context_kept": 600}, True) is True
    # official: the whole prompt cut to 65,536 + 65,531 tokens; the context starts 200 tokens in
    assert evidence_kept(item, {"template_tokens": 140_000, "context_start": 200}, True) is True
    far = BenchItem.from_dict({**item.to_dict(), "evidence_spans": [[70_000, 70_100]]})
    assert evidence_kept(far, {"template_tokens": 140_000, "context_start": 200}, True) is False
    assert evidence_kept(BenchItem.from_dict({**item.to_dict(), "evidence_spans": []}), {}, True) is None


class CuttingJudge:
    """Says what a judge with a `keep`-token context budget keeps; always answers A."""

    name = "cutter"

    def __init__(self, keep):
        self.keep = keep

    def judge(self, items, orders):
        out = []
        for it, o in zip(items, orders):
            n = len(it.task_prompt.split())
            kept = min(n, self.keep)
            out.append(
                Judgment(
                    id=it.id,
                    judge=self.name,
                    order=list(o),
                    raw="[[A]]",
                    ranking=[o[0]] + [i for i in o if i != o[0]],
                    truncated=kept < n,
                    extra={"context_tokens": n, "context_kept": kept},
                )
            )
        return out


def test_bench_reports_the_evidence_lost_rate_per_bucket(tmp_path):
    _, items, _ = synth(tmp_path, max_model_len=4096, fit=False)
    bench = tmp_path / "bench.jsonl"
    write_jsonl(bench, items)
    records = tmp_path / "records.jsonl"
    run_bench(CuttingJudge(400), "cutter", items, records, progress=False)
    recs = read_jsonl(records)
    by_id = {it.id: it for it in items}
    for r in recs:
        it = by_id[r["id"]]
        n = len(it.task_prompt.split())
        if n <= 400:
            assert r["evidence_kept"] is True
        else:  # kept: first 200 and last 200 words
            s_e = it.extra["evidence_spans"]
            assert r["evidence_kept"] == all(e <= 200 or s >= n - 200 for s, e in s_e)
    m = score_records([(Judgment.from_dict(r), i) for i, r in enumerate(recs, 1)], load_score_items(bench), n_boot=0)
    lost = m["evidence_lost"]
    assert lost["length"]["256"]["value"] == 0.0
    assert 0.0 < lost["length"]["1k"]["value"] < 1.0  # middle placements lost, start/end kept
    assert lost["all"]["n"] == len(recs)
