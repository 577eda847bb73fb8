"""`longrm bench run|score`: Long-RewardBench evaluation (records first, metrics derived from them)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from longrm.commands import reads

log = logging.getLogger("longrm.bench")


def register(sub) -> None:
    p = sub.add_parser("bench", help="evaluate judges on Long-RewardBench-format files")
    bsub = p.add_subparsers(dest="bench_command", metavar="ACTION")
    bsub.required = True

    r = bsub.add_parser("run", help="judge every item in every order; one Judgment record per (item, order)")
    r.add_argument("--config", required=True)
    r.add_argument(
        "--model",
        required=True,
        help="a bench.models[].name, a baseline (random, longer, first) or an ablations.variants name",
    )
    r.add_argument(
        "--bench",
        required=True,
        help="benchmark JSONL (Long-RewardBench schema), or the release as "
        "it is: a folder of per-task JSONL files / a file of integer ids (ids become TASK/ID)",
    )
    r.add_argument(
        "--protocol",
        choices=("ours", "official"),
        default="ours",
        help="ours: every order, our prompts, last verdict (default); official: the released "
        "evaluator (its order, prompts, cut and first-match reading; judges/official.py)",
    )
    r.add_argument("--out", required=True, help="records JSONL (a .partial sibling holds an unfinished run)")
    r.add_argument(
        "--model-path",
        dest="model_path",
        default=None,
        help="override the checkpoint folder of the named model (default: bench.models[].path)",
    )
    r.set_defaults(
        func=_run, prov_inputs=("bench", "model_path"), prov_outputs=("out",), prov_params=reads("bench run")
    )

    s = bsub.add_parser("score", help="metrics (and a table) from saved records; runs no model")
    s.add_argument("--config", required=True)
    s.add_argument("--records", required=True)
    s.add_argument("--bench", required=True)
    s.add_argument("--out", required=True, help="metrics JSON")
    s.add_argument("--table", default=None, help="also write a table: .md or .csv")
    s.add_argument(
        "--item-scores",
        dest="item_scores",
        default=None,
        help="also write each item's scores (JSONL: id, task, length_bucket, difficulty, ours, official)",
    )
    s.set_defaults(
        func=_score,
        prov_inputs=("records", "bench"),
        prov_outputs=("out", "table", "item_scores"),
        prov_params=reads("bench score"),
    )

    c = bsub.add_parser(
        "control",
        help="a control benchmark file: contexts swapped within task and length bucket, "
        "or removed (judged by the same `bench run`)",
    )
    c.add_argument("--config", required=True)
    c.add_argument("--kind", required=True, choices=("swap", "none"))
    c.add_argument("--bench", required=True, help="benchmark JSONL to derive the control from")
    c.add_argument("--out", required=True, help="control benchmark JSONL")
    c.add_argument(
        "--share",
        type=float,
        default=1.0,
        help="keep this share of each (task, length bucket) group's items (seeded by id; default 1: all)",
    )
    c.add_argument("--report", default=None, help="JSON: counts, and the items left out of a swap")
    c.set_defaults(
        func=_control, prov_inputs=("bench",), prov_outputs=("out", "report"), prov_params=reads("bench control")
    )

    o = bsub.add_parser(
        "response-pairs",
        help="preference pairs with the contexts removed (prompt = the question): "
        "training data of the response-only baseline",
    )
    o.add_argument("--config", required=True)
    o.add_argument("--pairs", required=True, help="PrefPair JSONL (results/splits/disrm.jsonl)")
    o.add_argument("--out", required=True)
    o.set_defaults(
        func=_response_pairs, prov_inputs=("pairs",), prov_outputs=("out",), prov_params=reads("bench response-pairs")
    )


def input_fingerprints(bench: str, spec: dict) -> dict:
    """sha256 of the benchmark file (or folder) and of the model's local folder, if any: a partial run
    resumes only on the same inputs (large files hashed once, provenance's cache)."""
    from longrm.provenance import hash_path

    model = spec.get("path")
    return {
        "bench": hash_path(bench)["sha256"],
        "model": hash_path(model)["sha256"] if model and Path(model).exists() else model,
    }


def ablation_spec(cfg: dict, args) -> dict | None:
    """The bench model entry of an ablation variant named by --model (longrm.ablations; its judge settings join
    the provenance), else None."""
    from longrm.ablations import find_variant, variant_bench_spec

    if args.model not in ((cfg.get("ablations") or {}).get("variants") or {}):
        return None  # a bench model or baseline: the ablations are not planned (nor checked) here
    variant = find_variant(cfg, args.model)
    args.prov_params = reads("bench run ablation")
    return variant_bench_spec(cfg, variant)


def _run(args) -> int:
    from longrm.bench.run import index_bench, run_bench
    from longrm.config import load_config
    from longrm.judges.factory import find_model_spec, make_judge

    if not log.handlers:  # our own handler: transformers/deepspeed imports may configure the root logger
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    cfg = load_config(args.config)
    spec = dict(ablation_spec(cfg, args) or find_model_spec(cfg, args.model))
    if args.model_path:
        spec["path"] = args.model_path
    if spec["kind"] == "baseline":
        args.prov_inputs = ("bench",)  # no weights to record
    else:
        args.model_path = spec["path"]
    items = index_bench(args.bench)  # pass 1: validated, items re-read per batch
    b = cfg["bench"]
    judge = official_judge(make_judge(spec, cfg), spec) if args.protocol == "official" else make_judge(spec, cfg)
    chunk = getattr(judge, "preferred_chunk", None) or cfg["bench"]["batch_size"]
    try:
        settings = {
            "spec": spec,
            "bench": {k: v for k, v in b.items() if k not in ("models", "baselines")},
            "config_seed": cfg["seed"],
            "inputs": input_fingerprints(args.bench, spec),
            "torch_threads": torch_threads(),  # kernels split work by thread count: never two counts in one file
        }
        stats = run_bench(
            judge,
            args.model,
            items,
            args.out,
            bon_orders=b["bon_orders"],
            seed=b["official_seed"],
            chunk=chunk,
            settings=settings,
            protocol=args.protocol,
        )
    finally:
        judge.close()
    log.info(
        "%s: %d records (%d judged now, %d resumed) in %.1f s: %s judgments/s, %s tokens/s",
        stats["model"],
        stats["records"],
        stats["judged_now"],
        stats["resumed"],
        stats["seconds"],
        stats["judgments_per_s"],
        stats["tokens_per_s"],
    )
    return 0


def torch_threads() -> int | None:
    """The torch CPU threads the judge computes with (it set them when built; None when it loads no model)."""
    if "torch" not in sys.modules:
        return None
    import torch

    return torch.get_num_threads()


def official_judge(judge, spec: dict):
    """The judge a model entry gets under the official protocol: a generative backend judges with the
    release's prompts and reading; scalar RMs and baselines rank the official order as they always do.
    A pointwise entry has no official counterpart (the release judges pairs and rankings only)."""
    from longrm.errors import ConfigError
    from longrm.judges.official import OfficialJudge

    if spec.get("format") == "pointwise":
        judge.close()
        raise ConfigError(
            f"bench model {spec['name']!r}: the official protocol has no pointwise prompt; run it "
            "for an entry of the same checkpoint without format: pointwise"
        )
    if hasattr(judge, "generate"):
        return OfficialJudge(judge)
    return judge


def _score(args) -> int:
    from longrm.bench.score import load_score_items, score_records
    from longrm.bench.table import write_table
    from longrm.config import load_config
    from longrm.data.io import iter_jsonl, write_json
    from longrm.data.records import Judgment

    cfg = load_config(args.config)
    b = cfg["bench"]
    items = load_score_items(args.bench)  # no texts: scoring needs ids, labels and n
    records = iter_jsonl(args.records, lambda obj, path, line: (Judgment.from_dict(obj, path, line), line))
    rows = [] if args.item_scores else None
    metrics = score_records(
        records,
        items,
        n_boot=b["bootstrap"],
        seed=cfg["seed"],
        official_seed=b["official_seed"],
        records_path=args.records,
        item_rows=rows,
    )
    if metrics["missing_items"]:
        print(f"longrm bench score: warning: {metrics['missing_items']} bench items have no records", file=sys.stderr)
    write_json(args.out, metrics)
    if args.item_scores:
        from longrm.data.io import write_jsonl

        write_jsonl(args.item_scores, rows)
    if args.table:
        write_table(args.table, metrics)
    return 0


def _control(args) -> int:
    from longrm.bench.control import write_control
    from longrm.config import load_config

    cfg = load_config(args.config)
    report = write_control(args.bench, args.out, args.kind, cfg["seed"], args.report, args.share)
    print(
        f"longrm bench control --kind {args.kind}: {report['items_out']} of {report['items_in']} items"
        + (
            f" ({report['left_out_items']} left out: no donor of another source)"
            if report.get("left_out_items")
            else ""
        ),
        file=sys.stderr,
    )
    return 0


def _response_pairs(args) -> int:
    from longrm.bench.control import response_only_pairs
    from longrm.config import load_config
    from longrm.data.io import write_jsonl

    load_config(args.config)
    from longrm.errors import InputError

    n = write_jsonl(args.out, response_only_pairs(args.pairs))
    if not n:
        raise InputError(args.pairs, "no pairs: the file is empty")
    print(f"longrm bench response-pairs: {n} pairs without their contexts -> {args.out}", file=sys.stderr)
    return 0
