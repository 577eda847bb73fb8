"""`longrm report tables|figures|md`: the study's tables, figures and REPORT.md (docs/formats/report.md)."""

from __future__ import annotations

from longrm.commands import reads


def _sources_args(p) -> None:
    p.add_argument("--config", help="the study config (validated; the report reads result files only)")
    p.add_argument(
        "--metrics",
        nargs="+",
        default=[],
        metavar="NAME=PATH",
        help="bench metrics JSON per model, in table/legend order (e.g. base=results/bench/base/metrics.json)",
    )
    p.add_argument(
        "--item-scores",
        dest="item_scores",
        nargs="*",
        default=[],
        metavar="NAME=PATH",
        help="per-item scores (`bench score --item-scores`) per model, keyed as --metrics; the claims' "
        "paired intervals read them",
    )
    p.add_argument("--audit", help="vote audit JSON (results/vote/audit.json)")
    p.add_argument(
        "--train-runs",
        dest="train_runs",
        nargs="*",
        default=[],
        metavar="DIR",
        help="training folders holding train_log.jsonl (or pretrain_log.jsonl)",
    )
    p.add_argument(
        "--benchmarks-dir",
        dest="benchmarks_dir",
        help="folder of memory/throughput benchmark JSON (results/benchmarks); skipped when absent",
    )
    p.add_argument(
        "--ablations",
        help="the ablations' report folder (`longrm report ablations`): read when it is there (claim f, "
        "REPORT's ablation section); absent = not built",
    )
    p.add_argument("--out-dir", dest="out_dir", required=True)


def _times_args(p) -> None:
    p.add_argument("--config")
    p.add_argument(
        "--stage-benchmarks",
        dest="stage_benchmarks",
        nargs="*",
        default=[],
        metavar="JOB=TSV",
        help="Snakemake `benchmark:` TSV per job (synth=results/logs/benchmark/synth.tsv ...), or a "
        "folder of them (results/logs/benchmark); none: an empty table",
    )
    p.add_argument("--out-dir", dest="out_dir", required=True, help="results/logs/times")
    p.add_argument(
        "--by-variant",
        dest="by_variant",
        action="store_true",
        help="also each training ablation's cost (variant_times.csv/.md: its jobs' wall time; config `ablations`)",
    )


def register(sub) -> None:
    p = sub.add_parser("report", help="tables, figures and REPORT.md from result files")
    rsub = p.add_subparsers(dest="report_command", metavar="ACTION")
    rsub.required = True
    prov = dict(
        prov_inputs=("metrics", "item_scores", "audit", "train_runs", "benchmarks_dir", "ablations"),
        prov_outputs=("out_dir",),
    )
    t = rsub.add_parser("tables", help="results/tables/*.csv + *.md and index.json")
    _sources_args(t)
    t.set_defaults(func=_tables, prov_params=reads("report tables"), **prov)
    f = rsub.add_parser("figures", help="results/figures/*.png + *.pdf and index.json")
    _sources_args(f)
    f.set_defaults(func=_figures, prov_params=reads("report figures"), **prov)
    times = rsub.add_parser(
        "times", help="results/logs/times: each job's wall time and memory (a fact of the run, beside the logs)"
    )
    _times_args(times)
    times.set_defaults(
        func=_times, prov_inputs=("stage_benchmarks",), prov_outputs=("out_dir",), prov_params=reads("report times")
    )
    b = rsub.add_parser("benchmarks", help="the folder of memory/throughput records (made empty when absent)")
    b.add_argument("--config")
    b.add_argument(
        "--out-dir",
        dest="out_dir",
        required=True,
        help="results/benchmarks: `make benchmarks` (benchmarks/*.py) writes its JSON records there",
    )
    b.set_defaults(
        func=_benchmarks_folder, prov_inputs=(), prov_outputs=("out_dir",), prov_params=reads("report benchmarks")
    )
    m = rsub.add_parser("md", help="results/REPORT.md: every figure and table with a line of reading")
    m.add_argument("--config")
    m.add_argument("--tables", required=True, help="folder written by `longrm report tables`")
    m.add_argument("--figures", required=True, help="folder written by `longrm report figures`")
    m.add_argument("--out", required=True)
    m.add_argument("--times", help="folder of `longrm report times` (results/logs/times): linked, not read")
    m.add_argument("--ablations", help="the ablations' report folder: its tables and figure join REPORT when there")
    m.set_defaults(
        func=_md, prov_inputs=("tables", "figures", "ablations"), prov_outputs=("out",), prov_params=reads("report md")
    )
    a = rsub.add_parser(
        "ablations",
        help="the training ablations' tables, figure and claim (f) (config `ablations`; docs/formats/report.md)",
    )
    a.add_argument("--config", required=True)
    a.add_argument(
        "--item-scores",
        dest="item_scores",
        nargs="+",
        required=True,
        metavar="SET/VARIANT=PATH",
        help="item scores of every variant on every set of ablations.sets",
    )
    a.add_argument("--labels", help="`vote relabel` report (the labels ablation), when a variant has best_judge labels")
    a.add_argument("--out-dir", dest="out_dir", required=True, help="results/ablations/report")
    a.set_defaults(
        func=_ablations,
        prov_inputs=("item_scores", "labels"),
        prov_outputs=("out_dir",),
        prov_params=reads("report ablations"),
    )


def _set_settings(config_path) -> dict:
    """Main set, control sets, claim roles and bootstrap settings: from the config (defaults in the schema)."""
    from longrm.bench.sets import bench_sets
    from longrm.config import load_config, schema_default

    if not config_path:
        roles = schema_default("report.claims")
        return {
            "main": "heldout",
            "controls": ["swap", "nocontext"],
            "swap": "swap",
            "roles": roles,
            "n_boot": schema_default("bench.bootstrap"),
            "seed": 0,
            "ablations": False,
        }
    cfg = load_config(config_path)
    sets = bench_sets(cfg)
    return {
        "main": sets[0].name,
        "controls": [s.name for s in sets if s.control],
        "swap": next((s.name for s in sets if s.control == "swap" and s.of == sets[0].name), None),
        "roles": cfg["report"]["claims"],
        "n_boot": cfg["bench"]["bootstrap"],
        "seed": cfg["seed"],
        "ablations": bool(cfg.get("ablations")),
    }


def _sources(args) -> dict:
    from longrm.report.ablations import ablation_claims
    from longrm.report.claims import Inputs, all_claims, control_rows
    from longrm.report.failures import failure_rows
    from longrm.report.load import (
        by_set,
        load_audit,
        load_benchmarks,
        load_item_scores,
        load_metrics,
        load_runs,
        parse_named,
    )

    st = _set_settings(args.config)
    metrics = by_set(load_metrics(parse_named(args.metrics)), st["main"])
    scores = by_set(load_item_scores(parse_named(args.item_scores, "--item-scores")), st["main"])
    audit = load_audit(args.audit)
    main = metrics[st["main"]]
    tagged = lambda sets: {
        (n if s == st["main"] else f"{n} [{s}]"): m  # noqa: E731
        for s in sets
        if s in metrics
        for n, m in metrics[s].items()
    }
    x = Inputs(
        metrics,
        scores,
        audit,
        st["main"],
        st["controls"],  # every configured control: one without metrics is named by the claims, not dropped
        st["roles"],
        st["n_boot"],
        st["seed"],
    )
    controls = control_rows(x)
    rows = table_rows(tagged([st["main"], *st["controls"]]), controls, main, st["roles"])
    return {
        "metrics": main,
        "table_rows": rows,
        "metrics_all": tagged(metrics),
        "sets": metrics if len(metrics) > 1 else {},
        "controls": controls,
        "claims": all_claims(x) + ablation_claims(args.ablations, st["ablations"]),
        "failures": failure_rows(
            main, scores.get(st["main"], {}), scores.get(st["swap"], {}) if st["swap"] else {}, st["n_boot"], st["seed"]
        ),
        "audit": audit,
        "runs": load_runs(args.train_runs),
        "benchmarks": load_benchmarks(args.benchmarks_dir),
    }


def table_rows(rows: dict[str, dict], controls: list[dict], main: dict[str, dict], roles: dict) -> dict[str, dict]:
    """The main table's rows, each model marked with its control flag and, on the main set, the role the
    claims give it (report.claims: base, sft, logo), which the table's reading looks up."""
    flags = {r["model"]: r["controls_at_chance"] for r in controls}
    role_of = {roles[r]: r for r in ("base", "sft", "logo") if roles.get(r) in main}
    out = {}
    for n, m in rows.items():
        extra = {"controls_at_chance": flags[n]} if n in flags else {}
        extra.update({"claims_role": role_of.get(n, "")} if n in main else {})
        out[n] = {**m, **extra}
    return out


def _print_index(index) -> None:
    import sys

    for e in index:
        print(f"{e['name']}: {e.get('reading') or 'skipped: ' + e['skipped']}", file=sys.stderr)


def _tables(args) -> int:
    from pathlib import Path

    from longrm.data.io import write_json
    from longrm.report.tables import write_tables

    sources = _sources(args)
    _print_index(write_tables(sources, args.out_dir))
    write_json(Path(args.out_dir) / "claims.json", sources["claims"])  # the claims with their numbers
    return 0


def _figures(args) -> int:
    from longrm.report.figures import write_figures

    _print_index(write_figures(_sources(args), args.out_dir))
    return 0


def _times(args) -> int:
    """Each job's wall time and memory (Snakemake's `benchmark:` records) as a table and a figure, in a folder
    of the logs: measured, so never the same twice, and kept out of the results (docs/formats/report.md)."""
    from pathlib import Path

    from longrm.report.figures import save, stage_times
    from longrm.report.load import load_stage_benchmarks
    from longrm.report.tables import read_stage_times, stage_times_table, write_table

    if args.config:
        from longrm.config import load_config

        load_config(args.config)
    rows = load_stage_benchmarks(args.stage_benchmarks)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_table(stage_times_table(rows), out, "stage_times")
    made = stage_times(rows)
    if made is not None:
        save(made[0], out, "stage_times")
    _print_index([{"name": "stage_times", "reading": read_stage_times(stage_times_table(rows))}])
    if args.by_variant:
        write_variant_costs(args.config, rows, out)
    return 0


def write_variant_costs(config_path, rows: list[dict], out) -> None:
    from longrm.ablations import ablation_plan
    from longrm.config import load_config
    from longrm.errors import ConfigError
    from longrm.report.ablations import read_variant_costs, variant_costs
    from longrm.report.tables import write_table

    cfg = load_config(config_path)
    if not cfg.get("ablations"):
        raise ConfigError(f"{cfg['_path']}: --by-variant needs an `ablations` section")
    df = variant_costs(rows, ablation_plan(cfg))
    write_table(df, out, "variant_times")
    _print_index([{"name": "variant_times", "reading": read_variant_costs(df)}])


def _benchmarks_folder(args) -> int:
    """The report reads the memory/throughput records from a folder the DAG declares (and DVC stores), so
    the folder is an output of the DAG: made here, empty, for `make benchmarks` to fill; records already
    in it are kept."""
    from pathlib import Path

    if args.config:
        from longrm.config import load_config

        load_config(args.config)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    return 0


def _md(args) -> int:
    from longrm.report.markdown import build

    title = "LongRM study"
    if args.config:
        from longrm.config import load_config

        title = f"LongRM study ({load_config(args.config)['name']})"
    build(args.tables, args.figures, args.out, title=title, times_dir=args.times, ablations_dir=args.ablations)
    return 0


def _ablations(args) -> int:
    from longrm.config import load_config
    from longrm.data.io import read_json
    from longrm.report.ablations import ablation_inputs, write_ablation_report
    from longrm.report.load import by_set, load_item_scores, parse_named

    cfg = load_config(args.config)
    if not cfg.get("ablations"):
        from longrm.errors import ConfigError

        raise ConfigError(f"{cfg['_path']}: no `ablations` section: nothing to report")
    scores = by_set(load_item_scores(parse_named(args.item_scores, "--item-scores")), cfg["ablations"]["sets"][0])
    labels = read_json(args.labels) if args.labels else None
    _print_index(write_ablation_report(ablation_inputs(cfg, scores, labels), args.out_dir))
    return 0
