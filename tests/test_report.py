"""`longrm report`: tables, figures and REPORT.md from small synthetic result files written here in the
documented formats (docs/formats/bench.md, vote.md, train.md)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from longrm.cli import main
from longrm.config import DEFAULT_CONFIG

BUCKETS = ["512", "1k", "2k"]
TASKS = ["LongQA", "Summ", "Safety", "ICL", "Cite", "Code", "Math"]


def cell(v, n=40):
    return {"value": v, "n": n, "ci_low": max(0.0, v - 0.05), "ci_high": min(1.0, v + 0.05)}


def columns(level: float) -> dict:
    """Accuracy columns of a model whose accuracy is `level` at the shortest length, falling with length."""
    return {
        "tasks": {t: cell(round(level - 0.01 * i, 4)) for i, t in enumerate(TASKS)},
        "Same": cell(level),
        "Diff": cell(level - 0.02),
        "PairWise": cell(level - 0.01),
        "Rank2": cell(level - 0.1),
        "Rank3": cell(level - 0.2),
        "Rank4": cell(level - 0.25),
        "BestOfN": cell(level - 0.18),
        "length": {b: cell(round(level - 0.05 * i, 4)) for i, b in enumerate(BUCKETS)},
        "length_all": {b: cell(round(level - 0.06 * i, 4)) for i, b in enumerate(BUCKETS)},
        "AVG": cell(level - 0.05),
        "macro": cell(level - 0.06),
    }


def metrics(level: float, parse_fail: float) -> dict:
    rate = lambda v: {"value": v, "n": 100}  # noqa: E731
    return {
        "models": ["x"],
        "n_items": 120,
        "n_records": 260,
        "missing_items": 0,
        "protocols": {
            "ours": columns(level),
            "official": columns(level - 0.03),
            "official_first_match": columns(level - 0.04),
        },
        "order_consistency": {
            "all": cell(0.8),
            "PairWise": cell(0.8),
            "BestOfN": cell(0.7),
            "length": {b: cell(0.9 - 0.1 * i) for i, b in enumerate(BUCKETS)},
        },
        "order_consistency_top1": {"all": cell(0.85), "length": {}},
        "parse_failure": {
            "all_orders": rate(parse_fail),
            "official_order": rate(parse_fail),
            "length": {b: rate(parse_fail * (i + 1)) for i, b in enumerate(BUCKETS)},
        },
        "truncation": {"all": rate(0.0), "length": {b: rate(0.0) for b in BUCKETS}},
        "position_bias": {"first_position_rate": rate(0.5)},
        "auc": None,
        "tokens": {},
        "settings": {"bootstrap": 10, "seed": 1, "official_seed": 42},
    }


@pytest.fixture
def results(tmp_path):
    r = tmp_path / "results"
    named = []
    for name, level, pf in (("base", 0.55, 0.3), ("sft", 0.7, 0.05), ("logo", 0.8, 0.02), ("random", 0.5, 0.0)):
        p = r / "bench" / name / "metrics.json"
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps(metrics(level, pf)))
        named.append(f"{name}={p}")
    audit = {
        "items": 100,
        "judges": ["a", "b", "c"],
        "threshold": 0.6,
        "by_k": [
            {
                "k": k,
                "judges": ["a", "b", "c"][:k],
                "config_order": {"kept": 90 - 10 * k, "yield": 0.9 - 0.1 * k, "accuracy": 0.7 + 0.08 * k},
                "all_subsets": {"n_subsets": 3, "accuracy": 0.69 + 0.08 * k, "yield": 0.88 - 0.1 * k},
            }
            for k in (1, 2, 3)
        ],
        "by_threshold": [{"threshold": t, "kept": 50, "yield": 1.1 - t, "accuracy": t} for t in (0.5, 0.6, 1.0)],
    }
    (r / "vote").mkdir(parents=True)
    (r / "vote" / "audit.json").write_text(json.dumps(audit))
    runs = []
    for stage in ("sft", "logo"):
        d = r / "models" / stage
        d.mkdir(parents=True)
        (d / "train_log.jsonl").write_text(
            "".join(
                json.dumps({"step": s, "loss": 2.0 / s, "accuracy": 0.5 + 0.04 * s, "lr": 1e-3}) + "\n"
                for s in range(1, 11)
            )
        )
        (d / "train_summary.json").write_text(
            json.dumps(
                {
                    "steps": 10,
                    "final_loss": 0.2,
                    "final_accuracy": 0.9,
                    "tokens_per_s": 1000.0,
                    "peak_rss_mb": 900.0,
                    "wall_s": 12.0,
                }
            )
        )
        runs.append(str(d))
    return {"dir": r, "metrics": named, "audit": str(r / "vote" / "audit.json"), "runs": runs}


@pytest.fixture(autouse=True)
def _config_with_tmp_results(tmp_path, monkeypatch):
    """Outputs go to tmp_path: the CLI refuses them outside results_dir, so the default config used here
    (explicitly or implied) gets results_dir = tmp_path."""
    import longrm.config
    from tests.helpers import config_in

    path = config_in(tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "DEFAULT_CONFIG", path)
    monkeypatch.setattr(longrm.config, "DEFAULT_CONFIG", path)


def _args(res, out_dir, benchmarks=None):
    args = [
        "--config",
        str(DEFAULT_CONFIG),
        "--metrics",
        *res["metrics"],
        "--audit",
        res["audit"],
        "--train-runs",
        *res["runs"],
        "--out-dir",
        str(out_dir),
    ]
    return args + (["--benchmarks-dir", str(benchmarks)] if benchmarks else [])


def test_tables_carry_the_metrics_values(results):
    out = results["dir"] / "tables"
    assert main(["report", "tables", *_args(results, out)]) == 0
    main_csv = pd.read_csv(out / "main.csv")
    assert list(main_csv["model"]) == ["base", "sft", "logo", "random"]  # order as given
    assert main_csv.set_index("model").loc["logo", "AVG"] == pytest.approx(0.75)
    assert main_csv.set_index("model").loc["logo", "official_AVG"] == pytest.approx(0.72)
    assert main_csv.set_index("model").loc["base", "parse_failure"] == pytest.approx(0.3)
    assert list(main_csv.columns[1:8]) == TASKS
    length = pd.read_csv(out / "length.csv")
    assert list(length.columns) == ["model", "512", "1k", "2k"]  # ordered by size, not as text
    assert pd.read_csv(out / "vote.csv")["accuracy"].tolist() == pytest.approx([0.78, 0.86, 0.94])
    rel = pd.read_csv(out / "reliability.csv")
    assert rel[(rel.model == "base") & (rel.length == "2k")]["parse_failure"].item() == pytest.approx(0.9)
    assert pd.read_csv(out / "training.csv").set_index("run").loc["logo", "final_accuracy"] == pytest.approx(0.9)
    assert "| logo |" in (out / "main.md").read_text()
    cells = pd.read_csv(out / "cells.csv")
    assert cells["value"].notna().all()
    row = cells[(cells.model == "sft") & (cells.protocol == "ours") & (cells.column == "length_all:2k")]
    assert row["value"].item() == pytest.approx(0.58) and row["ci_low"].item() == pytest.approx(0.53)
    index = {e["name"]: e for e in json.loads((out / "index.json").read_text())}
    assert index["main"]["reading"].startswith("Highest AVG (every order, unparseable = chance): logo 0.750")
    # the default config's base (report.claims.base) is base-pointwise, not the model named "base" here
    assert index["main"]["reading"].endswith("; no base model in the table (report.claims.base).")
    assert "Rank2 0.700" in index["bon"]["reading"]
    assert "benchmark" in index and "absent" in index["benchmark"]["reading"]
    assert (out / "provenance.json").is_file()  # recorded by longrm.cli.main


def test_readings_follow_the_data(results, tmp_path):
    """Change a number in a metrics file: the reading changes with it (nothing is typed in)."""
    path = Path(results["metrics"][0].split("=", 1)[1])
    m = json.loads(path.read_text())
    m["protocols"]["ours"]["AVG"]["value"] = 0.91
    path.write_text(json.dumps(m))
    out = tmp_path / "t2"
    assert main(["report", "tables", *_args(results, out)]) == 0
    index = {e["name"]: e for e in json.loads((out / "index.json").read_text())}
    assert index["main"]["reading"].startswith("Highest AVG (every order, unparseable = chance): base 0.910")


def test_figures_and_report_md(results, tmp_path):
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    (bench_dir / "train_throughput.json").write_text(
        json.dumps(
            {
                "runs": [
                    {"length": 1024, "tokens_per_s": 1900.0, "peak_rss_mb": 1200.0},
                    {"length": 4096, "tokens_per_s": 800.0, "peak_rss_mb": 2400.0},
                ]
            }
        )
    )
    tables, figures = results["dir"] / "tables", results["dir"] / "figures"
    assert main(["report", "tables", *_args(results, tables, bench_dir)]) == 0
    assert main(["report", "figures", *_args(results, figures, bench_dir)]) == 0
    for name in (
        "accuracy_vs_length",
        "per_task_heatmap",
        "bon_ranks",
        "reliability_by_length",
        "failure_modes",
        "vote_vs_judges",
        "training_curves",
        "benchmark",
    ):
        png, pdf = figures / f"{name}.png", figures / f"{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert pdf.read_bytes()[:5] == b"%PDF-", name
    fig_index = {e["name"]: e for e in json.loads((figures / "index.json").read_text())}
    assert "logo 0.800 at 512 -> 0.700 at 2k" in fig_index["accuracy_vs_length"]["reading"]
    assert "tokens_per_s = 1900" in fig_index["benchmark"]["reading"]

    report = results["dir"] / "REPORT.md"
    assert (
        main(
            [
                "report",
                "md",
                "--config",
                str(DEFAULT_CONFIG),
                "--tables",
                str(tables),
                "--figures",
                str(figures),
                "--out",
                str(report),
            ]
        )
        == 0
    )
    text = report.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 8
    assert all((report.parent / p).is_file() for p in images)
    assert (
        text.count("Reading: ") == 8 + 14
    )  # every figure and table (vote_fair, claims, difficulty included) has its line
    assert "stage_times" not in text and "Job times" not in text  # job timings: `report times`, beside the logs
    assert "| logo |" in text and "LongRM study (default)" in text


def test_figures_are_byte_identical_across_runs(results, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["report", "figures", *_args(results, a)]) == 0
    assert main(["report", "figures", *_args(results, b)]) == 0
    for f in sorted(a.glob("*.p*")):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name


def test_missing_benchmarks_are_skipped_with_a_note(results, tmp_path):
    figures, tables = tmp_path / "f", tmp_path / "t"
    assert main(["report", "figures", *_args(results, figures, tmp_path / "nope")]) == 0
    assert main(["report", "tables", *_args(results, tables)]) == 0
    index = {e["name"]: e for e in json.loads((figures / "index.json").read_text())}
    assert "skipped" in index["benchmark"] and not (figures / "benchmark.png").exists()
    out = tmp_path / "R.md"
    assert main(["report", "md", "--tables", str(tables), "--figures", str(figures), "--out", str(out)]) == 0
    assert "_Skipped: no results/benchmarks/*.json" in out.read_text()


def test_a_file_that_is_not_metrics_is_named(results, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    assert main(["report", "tables", "--metrics", f"x={bad}", "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "protocols" in err


def test_job_records_of_snakemake_become_a_table_and_figure_beside_the_logs(results, tmp_path, capsys):
    """`report times`: each job's wall time and memory, in a folder of the logs (never among the results)."""
    jobs = tmp_path / "benchmark"
    (jobs / "bench_run").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (jobs / "synth.tsv").write_text(header + "6.67\t0:00:06\t284.29\t1\t1\t1\t0\t0\t50\t5.1\n")
    (jobs / "bench_run" / "base.tsv").write_text(header + "120.5\t0:02:00\t900.0\t1\t1\t1\t0\t0\t90\t118\n")
    (jobs / "report_tables.tsv").write_text(header + "999\t0:16:39\t1\t1\t1\t1\t0\t0\t9\t9\n")  # not counted
    times, tables = tmp_path / "logs" / "times", tmp_path / "t"
    assert main(["report", "times", "--stage-benchmarks", str(jobs), "--out-dir", str(times)]) == 0
    assert "longest bench_run:base 120 s" in capsys.readouterr().err
    df = pd.read_csv(times / "stage_times.csv").set_index("job")
    assert sorted(df.index) == ["bench_run:base", "synth"]
    assert df.loc["bench_run:base", "wall_s"] == pytest.approx(120.5)
    assert (times / "stage_times.png").is_file() and (times / "stage_times.pdf").is_file()
    assert main(["report", "tables", *_args(results, tables)]) == 0
    assert not (tables / "stage_times.csv").exists()
    with pytest.raises(SystemExit):  # the tables take no job records any more
        main(["report", "tables", *_args(results, tables), "--stage-benchmarks", str(jobs)])
    figures, out = tmp_path / "f", tmp_path / "REPORT.md"
    figures.mkdir()
    (figures / "index.json").write_text("[]")
    md = ["report", "md", "--tables", str(tables), "--figures", str(figures), "--out", str(out)]
    assert main([*md, "--times", str(times)]) == 0
    assert "[stage_times.md](logs/times/stage_times.md)" in out.read_text()


def test_train_memory_benchmark_figure_reads_the_fit_and_longest_cells(results, tmp_path):
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    cell = lambda impl, n, mb, tps: {"impl": impl, "length": n, "peak_delta_mb": mb, "tokens_per_s": tps}  # noqa: E731
    (bench_dir / "train_memory.json").write_text(
        json.dumps(
            {
                "params": 31392,
                "fit_ours": {"mb_per_1k_tokens": 5.0, "r2": 0.999},
                "fit_trl": {"mb_per_1k_tokens": 6.5},
                "ours": [cell("ours", 1024, 7.0, 30000.0), cell("ours", 16384, 85.0, 11000.0)],
                "trl": [cell("trl", 1024, 24.0, 8000.0), cell("trl", 16384, 177.0, 14000.0)],
            }
        )
    )
    (bench_dir / "streaming.json").write_text(
        json.dumps(
            {
                "rows": [
                    {"reader": "iter_bench", "file_mb": 30.0, "growth_mb": 0.7},
                    {"reader": "iter_bench", "file_mb": 300.0, "growth_mb": 0.8},
                ]
            }
        )
    )
    figures = results["dir"] / "figures"
    assert main(["report", "figures", *_args(results, figures, bench_dir)]) == 0
    reading = {e["name"]: e for e in json.loads((figures / "index.json").read_text())}["benchmark"]["reading"]
    assert "grows 5 MiB per 1k tokens" in reading and "TRL's 6.5" in reading
    assert "at 16384 tokens ours 85 MiB and 1.1e+04 tokens/s, TRL 177 MiB" in reading
    assert (figures / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_colour_per_model_in_every_panel_and_figure(monkeypatch, tmp_path):
    """A run that logs no accuracy (disrm here) drops out of the accuracy panel: the runs after it keep
    their colour there, and a model keeps it across figures (bench 'sft-pointwise' = training run 'sft')."""
    from matplotlib.colors import to_hex

    from longrm.report import figures as F

    log = lambda acc: [{"step": s, "loss": 1.0 / s, **({"accuracy": 0.5} if acc else {})} for s in (1, 2, 3)]
    runs = {
        "base_model": {"log": log(False)},
        "disrm": {"log": log(False)},
        "sft": {"log": log(True)},
        "logo": {"log": log(True)},
    }
    m = {"sft-pointwise": metrics(0.8, 0.0), "logo-pointwise": metrics(0.7, 0.0), "first": metrics(0.5, 0.0)}
    figs = {}
    monkeypatch.setattr(
        F, "save", lambda fig, out_dir, name: (figs.setdefault(name, fig), tmp_path / name, tmp_path / name)[1:]
    )
    monkeypatch.setattr(F, "FIGURES", {k: F.FIGURES[k] for k in ("accuracy_vs_length", "training_curves")})
    F.write_figures({"metrics": m, "runs": runs}, tmp_path)

    def colours(ax):
        return {line.get_label(): to_hex(line.get_color()) for line in ax.get_lines()}

    loss, acc = (colours(ax) for ax in figs["training_curves"].axes)
    assert set(acc) == {"sft", "logo"} and all(acc[n] == loss[n] for n in acc)
    by_length = {c.get_label(): to_hex(c.lines[0].get_color()) for c in figs["accuracy_vs_length"].axes[0].containers}
    assert by_length["sft-pointwise"] == loss["sft"] and by_length["logo-pointwise"] == loss["logo"]
    assert len(set(loss.values()) | {by_length["first"]}) == len(runs) + 1  # distinct models, distinct colours
