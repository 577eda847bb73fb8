"""Figures of the study (PNG + PDF, matplotlib Agg + seaborn) from the same result files as the tables.

Each figure function takes loaded data and returns (figure, reading) or None when its data is absent;
the reading's numbers come from the plotted data. A model has one colour in every panel and figure
(`model_colours`, built once by `write_figures` over every source).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from longrm.data.io import atomic_write
from longrm.data.records import bucket_key
from longrm.report import tables as T
from longrm.report.load import dumps_index


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


BASELINE_NAMES = ("random", "longer", "first")


def model_key(name: str) -> str:
    """The model a plotted name stands for: a bench name without its prompt format ('sft-pointwise'), a
    training folder's name ('disrm_response') and a bench name ('disrm-response') meet on one key."""
    return re.sub(r"-(pointwise|pairwise)$", "", str(name).lower().replace("_", "-"))


def model_colours(*groups) -> dict[str, tuple]:
    """One colour per model: each model key of `groups` (name lists, in order) gets the next colour of one
    qualitative palette, in order of first appearance."""
    import seaborn as sns

    keys = list(dict.fromkeys(model_key(n) for group in groups for n in group))
    return dict(zip(keys, sns.color_palette("tab10" if len(keys) <= 10 else "tab20", len(keys))))


def colour_of(colours: dict, name: str):
    return colours[model_key(name)]


def _v(cell):
    return T.value(cell)


def _err(cell):
    """(value, lower error, upper error) for an error bar; zero-width when the interval is absent."""
    v = _v(cell)
    if v is None:
        return None, 0.0, 0.0
    lo = cell.get("ci_low") if isinstance(cell, dict) else None
    hi = cell.get("ci_high") if isinstance(cell, dict) else None
    return v, (v - lo) if lo is not None else 0.0, (hi - v) if hi is not None else 0.0


def accuracy_vs_length(metrics: dict, colours: dict | None = None):
    buckets = T.buckets_in(metrics)
    if not buckets:
        return None
    plt, _ = _plt()
    colours = colours or model_colours(metrics)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    x = list(range(len(buckets)))
    ends = []
    for name, m in metrics.items():
        cells = [T._cols(m)["length"].get(b) for b in buckets]
        vals = [_err(c) for c in cells]
        ys = [v for v, _, _ in vals]
        ax.errorbar(
            x,
            [math.nan if y is None else y for y in ys],
            yerr=[[lo for _, lo, _ in vals], [hi for _, _, hi in vals]],
            marker="o",
            capsize=3,
            label=name,
            color=colour_of(colours, name),
            linestyle="--" if name in BASELINE_NAMES else "-",
        )
        ends.append((name, ys[0], ys[-1]))
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xticks(x, buckets)
    ax.set_xlabel("context length (judge tokens)")
    ax.set_ylabel("pairwise accuracy (every order)")
    ax.set_ylim(0, 1)
    ax.legend(ncol=2, fontsize=8)
    ax.set_title("Accuracy vs context length")
    reading = "; ".join(f"{n} {T.fmt(a)} at {buckets[0]} -> {T.fmt(b)} at {buckets[-1]}" for n, a, b in ends)
    return fig, f"Pairwise accuracy by length (dotted line: chance 0.5): {reading}."


def per_task_heatmap(metrics: dict):
    df = T.per_task_table(metrics).set_index("model")
    if df.empty or df.shape[1] == 0:
        return None
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * df.shape[1], 1.0 + 0.45 * df.shape[0]))
    sns.heatmap(
        df.astype(float),
        annot=True,
        fmt=".2f",
        vmin=0,
        vmax=1,
        cmap="viridis",
        ax=ax,
        cbar_kws={"label": "pairwise accuracy"},
    )
    ax.set_title("Accuracy per task")
    ax.set_ylabel("")
    stacked = df.astype(float).stack()
    (m_hi, t_hi), (m_lo, t_lo) = stacked.idxmax(), stacked.idxmin()
    return fig, (
        f"Highest cell {m_hi} on {t_hi} {T.fmt(stacked.max())}; lowest {m_lo} on {t_lo} {T.fmt(stacked.min())}."
    )


def bon_ranks(metrics: dict):
    df = T.bon_table(metrics)
    cols = [c for c in ("Rank2", "Rank3", "Rank4") if df[c].notna().any()]
    if not cols:
        return None
    plt, sns = _plt()
    long = df.melt(id_vars="model", value_vars=cols, var_name="rank", value_name="score").dropna()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    sns.barplot(data=long, x="model", y="score", hue="rank", ax=ax)
    for c in cols:
        n = int(c[-1])
        ax.axhline(1.0 / n, linewidth=0.8, linestyle=":", color="grey")
    ax.set_ylim(0, 1)
    ax.set_ylabel("partial credit (share of ranks right)")
    ax.set_title("Best-of-N: Rank2 / Rank3 / Rank4 (dotted: chance 1/n)")
    ax.tick_params(axis="x", rotation=30)
    return fig, T.read_bon(df)


def reliability_by_length(metrics: dict, colours: dict | None = None):
    df = T.reliability_table(metrics)
    df = df[df["length"] != "all"]
    if df.empty:
        return None
    plt, _ = _plt()
    colours = colours or model_colours(metrics)
    buckets = sorted(df["length"].unique(), key=bucket_key)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), sharex=True)
    panels = (
        ("order_consistency", "order consistency"),
        ("parse_failure", "parse-failure rate"),
        ("truncation", "truncation rate"),
    )
    for ax, (col, label) in zip(axes, panels):
        for name, g in df.groupby("model", sort=False):
            g = g.set_index("length").reindex(buckets)
            ax.plot(range(len(buckets)), g[col].astype(float), marker="o", label=name, color=colour_of(colours, name))
        ax.set_xticks(range(len(buckets)), buckets)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(label)
        ax.set_xlabel("context length")
    axes[0].legend(fontsize=7)
    return fig, T.read_reliability(T.reliability_table(metrics)) + " By length: see the three panels."


def vote_vs_judges(audit: dict):
    """Left: the vote and each single judge on the same items (those the vote keeps), with 95% intervals
    (the headline); right: label accuracy and yield vs the number of judges."""
    df = T.vote_table(audit)
    fair = T.vote_fair_table(audit)
    same = fair[fair["items"] == T.SAME_ITEMS].dropna(subset=["judge_acc"])
    if df.empty and same.empty:
        return None
    plt, _ = _plt()
    fig, (left, ax) = plt.subplots(1, 2, figsize=(11.0, 3.8), gridspec_kw={"width_ratios": [1, 1.2]})
    if not same.empty:
        names = ["vote"] + list(same["judge"])
        accs = [float(same["vote_acc"].iloc[0])] + list(same["judge_acc"].astype(float))
        los = [same["vote_lo"].iloc[0]] + list(same["judge_lo"])
        his = [same["vote_hi"].iloc[0]] + list(same["judge_hi"])
        err = [
            [a - (lo if lo is not None and not math.isnan(lo) else a) for a, lo in zip(accs, los)],
            [(hi if hi is not None and not math.isnan(hi) else a) - a for a, hi in zip(accs, his)],
        ]
        left.bar(range(len(names)), accs, yerr=err, capsize=3, color=["C3"] + ["C0"] * (len(names) - 1))
        left.set_xticks(range(len(names)), names, rotation=30, ha="right")
        left.set_ylim(0, 1.02)
        left.set_ylabel("label accuracy")
        left.set_title(f"Same items: the {int(same['n'].iloc[0])} the vote keeps")
    if not df.empty:
        ax.plot(df["k"], df["accuracy"].astype(float), marker="o", label="label accuracy (config order)")
        ax.plot(
            df["k"],
            df["subsets_accuracy"].astype(float),
            marker="s",
            linestyle="--",
            label="label accuracy (mean over judge subsets)",
        )
        ax.plot(df["k"], df["yield"].astype(float), marker="^", label="yield (share kept)")
        ax.set_xticks(df["k"])
        ax.set_xlabel("number of judges K")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
        ax.set_title("Consistency majority vote vs number of judges")
    reading = T.read_vote_fair(fair) + (" " + T.read_vote(df) if not df.empty else "")
    return fig, reading


def training_curves(runs: dict, colours: dict | None = None):
    if not runs:
        return None
    plt, _ = _plt()
    colours = colours or model_colours(runs)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, run in runs.items():
        steps = [r.get("step") for r in run["log"]]
        for ax, key in zip(axes, ("loss", "accuracy")):
            ys = [r.get(key) for r in run["log"]]
            if any(y is not None for y in ys):
                ax.plot(steps, [math.nan if y is None else y for y in ys], label=name, color=colour_of(colours, name))
    axes[0].set_title("training loss")
    axes[1].set_title("training accuracy")
    for ax in axes:
        ax.set_xlabel("optimizer step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    return fig, T.read_training(T.training_table(runs))


FAILURE_PANELS = (
    ("parse_failure", "parse failure"),
    ("first_position", "first-shown response picked (chance 0.5)"),
    ("order_inconsistency", "order inconsistency"),
    ("context_gap", "context gap: own - swap control"),
    ("explanation_vs_verdict", "explanation vs verdict disagreement"),
)


def failure_modes(rows: list, colours: dict | None = None):
    """One panel per failure mode by length bucket, a line per judge (context gap with its 95% interval);
    a mode no judge was measured on says so in its panel."""
    from longrm.report.failures import NOT_MEASURED, failure_table, read_failures

    df = failure_table(rows)
    df = df[df["length"] != "all"]
    if df.empty:
        return None
    plt, _ = _plt()
    colours = colours or model_colours(df["model"].unique())
    buckets = sorted(df["length"].unique(), key=bucket_key)
    fig, axes = plt.subplots(1, len(FAILURE_PANELS), figsize=(17, 3.6), sharex=True)
    for ax, (col, label) in zip(axes, FAILURE_PANELS):
        numeric = df[col].map(lambda v: math.nan if v is None or v == NOT_MEASURED else float(v))
        for name, g in df.assign(v=numeric).groupby("model", sort=False):
            g = g.set_index("length").reindex(buckets)
            if g["v"].notna().any():
                err = gap_errors(g) if col == "context_gap" else None
                ax.errorbar(
                    range(len(buckets)),
                    g["v"],
                    yerr=err,
                    marker="o",
                    capsize=2,
                    label=name,
                    color=colour_of(colours, name),
                )
        if not ax.get_legend_handles_labels()[0]:
            ax.text(0.5, 0.5, NOT_MEASURED, ha="center", va="center", transform=ax.transAxes)
        ax.axhline(0.5 if col == "first_position" else 0.0, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xticks(range(len(buckets)), buckets)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("context length")
    axes[0].legend(fontsize=7)
    return fig, read_failures(failure_table(rows))


def gap_errors(g) -> list[list[float]]:
    """Error bars of the context gap from its interval text ('[lo, hi]'); zero where there is none."""
    lo, hi = [], []
    for v, ci in zip(g["v"], g["context_gap_ci"].fillna("")):
        bounds = [float(x) for x in str(ci).strip("[]").split(",")] if ci else []
        lo.append(v - bounds[0] if bounds and not math.isnan(v) else 0.0)
        hi.append(bounds[1] - v if bounds and not math.isnan(v) else 0.0)
    return [lo, hi]


_SPEED = re.compile(r"(?:tokens?_per_s|throughput|per_second|per_s)$")
_MEMORY = re.compile(r"(?:rss|mem|memory)[a-z_]*(?:mb|mib|gb|gib)?$", re.IGNORECASE)


TRAIN_IMPLS = (
    ("ours_shared", "ours (shared prompt, default)"),
    ("ours", "ours (grad cache)"),
    ("ours_joint", "ours (joint)"),
    ("trl", "TRL CPOTrainer simpo"),
)


def train_memory_benchmark(tm: dict, streaming: dict | None):
    """Peak memory and tokens/s of one LOGO step against context length (ours vs TRL), and the readers'
    memory growth against benchmark file size when the streaming benchmark ran."""
    plt, _ = _plt()
    panels = 3 if streaming and streaming.get("rows") else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4))
    for impl, label in TRAIN_IMPLS:
        rows = sorted(tm.get(impl) or [], key=lambda r: r["length"])
        if rows:
            x = [r["length"] for r in rows]
            axes[0].plot(x, [r["peak_delta_mb"] for r in rows], marker="o", label=label)
            axes[1].plot(x, [r["tokens_per_s"] for r in rows], marker="o", label=label)
    axes[0].set(xlabel="tokens per sequence", ylabel="peak memory of the step (MiB)", title="LOGO step: memory")
    axes[1].set(xlabel="tokens per sequence", ylabel="tokens/s", title="LOGO step: throughput")
    axes[0].legend(fontsize=8)
    if panels == 3:
        by_reader: dict[str, list] = {}
        for r in streaming["rows"]:
            by_reader.setdefault(r["reader"], []).append((r["file_mb"], r["growth_mb"]))
        for reader, pts in sorted(by_reader.items()):
            pts.sort()
            axes[2].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=reader)
        axes[2].set(xlabel="benchmark file (MB)", ylabel="peak RSS growth (MB)", title="readers: memory")
        axes[2].legend(fontsize=7)
    fig.tight_layout()
    longest = {impl: max(tm[impl], key=lambda r: r["length"]) for impl, _ in TRAIN_IMPLS if tm.get(impl)}
    main = "ours_shared" if "ours_shared" in longest else "ours"
    fit, fit_trl = tm.get(f"fit_{main}") or {}, tm.get("fit_trl") or {}
    reading = (
        f"Our step's ({dict(TRAIN_IMPLS)[main]}) peak memory grows {fit.get('mb_per_1k_tokens', float('nan')):.3g} MiB per 1k tokens "
        f"(R^2 {fit.get('r2', float('nan')):.3g}), TRL's {fit_trl.get('mb_per_1k_tokens', float('nan')):.3g}"
    )
    if main in longest and "trl" in longest:
        o, t = longest[main], longest["trl"]
        reading += (
            f"; at {o['length']} tokens ours {o['peak_delta_mb']:.4g} MiB and {o['tokens_per_s']:.4g} tokens/s, "
            f"TRL {t['peak_delta_mb']:.4g} MiB and {t['tokens_per_s']:.4g} tokens/s"
        )
    return fig, reading + f" ({tm.get('params', '?')}-parameter model)."


def benchmark(benchmarks: dict):
    if not benchmarks:
        return None
    if isinstance(benchmarks.get("train_memory"), dict) and benchmarks["train_memory"].get("ours"):
        return train_memory_benchmark(benchmarks["train_memory"], benchmarks.get("streaming"))
    df = T.benchmark_table(benchmarks)
    df = df[df["value"].map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))]
    speed = df[df["key"].str.contains(_SPEED)]
    memory = df[df["key"].str.contains(_MEMORY)]
    if speed.empty and memory.empty:
        return None
    plt, _ = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.8 + 0.3 * max(len(speed), len(memory), 4)))
    for ax, part, label in ((axes[0], speed, "throughput"), (axes[1], memory, "memory")):
        labels = [f"{f}: {k}" for f, k in zip(part["file"], part["key"])]
        ax.barh(range(len(part)), part["value"].astype(float))
        ax.set_yticks(range(len(part)), labels, fontsize=6)
        ax.set_title(label)
    best = speed.loc[speed["value"].astype(float).idxmax()] if not speed.empty else None
    reading = (
        f"Highest throughput {best['file']}: {best['key']} = {float(best['value']):.4g}"
        if best is not None
        else "No throughput values"
    )
    mem = memory.loc[memory["value"].astype(float).idxmax()] if not memory.empty else None
    if mem is not None:
        reading += f"; highest memory {mem['file']}: {mem['key']} = {float(mem['value']):.4g}"
    return fig, reading + "."


def stage_times(rows: list):
    df = T.stage_times_table(rows).dropna(subset=["wall_s"])
    if df.empty:
        return None
    plt, _ = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.0 + 0.28 * len(df)), sharey=True)
    y = range(len(df))
    axes[0].barh(y, df["wall_s"].astype(float))
    axes[0].set_yticks(y, df["job"], fontsize=7)
    axes[0].set_xlabel("wall time (s)")
    axes[1].barh(y, df["max_rss_mb"].astype(float).fillna(0))
    axes[1].set_xlabel("peak resident memory (MB)")
    axes[0].invert_yaxis()
    fig.suptitle("Jobs of the study: wall time and memory")
    return fig, T.read_stage_times(T.stage_times_table(rows))


FIGURES = {
    # name: (title, function, source)
    "accuracy_vs_length": ("Accuracy vs context length per model", accuracy_vs_length, "metrics"),
    "per_task_heatmap": ("Per-task accuracy", per_task_heatmap, "metrics"),
    "bon_ranks": ("Best-of-N Rank2 / Rank3 / Rank4", bon_ranks, "metrics"),
    "reliability_by_length": (
        "Order consistency, parse failure and truncation by length",
        reliability_by_length,
        "metrics",
    ),
    "failure_modes": ("Failure modes of each judge by context length", failure_modes, "failures"),
    "vote_vs_judges": ("The vote vs single judges on the same items, and vs number of judges", vote_vs_judges, "audit"),
    "training_curves": ("Training curves", training_curves, "runs"),
    "benchmark": ("Memory and throughput benchmark", benchmark, "benchmarks"),
}
# stage_times (each job's wall time and memory) is drawn by `longrm report times` beside the job logs: a
# fact of the run, not a result.


BY_MODEL = (accuracy_vs_length, reliability_by_length, failure_modes, training_curves)  # one line per model: colours


def save(fig, out_dir: Path, name: str) -> tuple[Path, Path]:
    """PNG and PDF without timestamps, so the same data gives the same bytes."""
    import matplotlib.pyplot as plt

    png, pdf = out_dir / f"{name}.png", out_dir / f"{name}.pdf"
    fig.tight_layout()
    with atomic_write(png, "wb") as f:
        fig.savefig(f, format="png", dpi=120, metadata={"Software": None})
    with atomic_write(pdf, "wb") as f:
        fig.savefig(f, format="pdf", metadata={"CreationDate": None, "Creator": None, "Producer": None})
    plt.close(fig)
    return png, pdf


def write_figures(sources: dict[str, object], out_dir: str | Path) -> list[dict]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = []
    colours = model_colours(sources.get("metrics") or {}, sources.get("runs") or {})
    for name, (title, make, source) in FIGURES.items():
        data = sources.get(source)
        made = (make(data, colours) if make in BY_MODEL else make(data)) if data else None
        if made is None:
            why = {
                "benchmarks": "no results/benchmarks/*.json with throughput or memory values: run the scripts "
                "in benchmarks/",
            }.get(source, f"no {source} data to plot")
            index.append({"name": name, "title": title, "skipped": why})
            continue
        fig, reading = made
        png, pdf = save(fig, out_dir, name)
        index.append({"name": name, "title": title, "reading": reading, "png": png.name, "pdf": pdf.name})
    with atomic_write(out_dir / "index.json") as f:
        f.write(dumps_index(index))
    return index
