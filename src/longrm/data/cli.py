"""`longrm data ...`: inspect and validate data files."""

from __future__ import annotations

from longrm.commands import reads


def register(sub) -> None:
    p = sub.add_parser("data", help="inspect and validate data files")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    v = dsub.add_parser(
        "validate",
        help="read a JSONL/Parquet file or HF save_to_disk folder; print counts and length statistics",
    )
    v.add_argument("paths", nargs="+", metavar="PATH")
    v.add_argument("--tokenizer", help="a local tokenizer folder to also count tokens")
    v.add_argument("--json", action="store_true", help="print the statistics as JSON")
    v.set_defaults(func=_validate)

    r = dsub.add_parser(
        "import-released",
        help="Long-RewardBench as released (folder of per-task JSONL files, or "
        "one file) -> one normalised bench JSONL (ids TASK/ID, release fields kept)",
    )
    r.add_argument("--config", required=True)
    r.add_argument("--src", required=True, help="the release folder or file (config: bench.released_path)")
    r.add_argument("--out", required=True, help="normalised bench JSONL")
    r.set_defaults(
        func=_import_released, prov_inputs=("src",), prov_outputs=("out",), prov_params=reads("data import-released")
    )

    b = dsub.add_parser(
        "import-rewardbench",
        help="a RewardBench-format JSONL (prompt, chosen, rejected, subset, "
        "id) -> a normalised short-context bench JSONL",
    )
    b.add_argument("--config", required=True)
    b.add_argument("--src", required=True, help="the RewardBench-format file (config: bench.short_path)")
    b.add_argument("--out", required=True, help="normalised bench JSONL")
    b.set_defaults(
        func=_import_rewardbench,
        prov_inputs=("src",),
        prov_outputs=("out",),
        prov_params=reads("data import-rewardbench"),
    )


def _import_released(args) -> int:
    import sys

    from longrm.config import load_config
    from longrm.data.imports import import_released

    load_config(args.config)
    print(f"import-released: {import_released(args.src, args.out)} items -> {args.out}", file=sys.stderr)
    return 0


def _import_rewardbench(args) -> int:
    import sys

    from longrm.config import load_config
    from longrm.data.imports import import_rewardbench

    load_config(args.config)
    print(f"import-rewardbench: {import_rewardbench(args.src, args.out)} items -> {args.out}", file=sys.stderr)
    return 0


def _validate(args) -> int:
    import json

    from longrm.data.validate import format_summary, summarize

    tok = None
    if args.tokenizer:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(args.tokenizer, trust_remote_code=False)
    for path in args.paths:
        summary = summarize(path, tok)
        print(json.dumps({path: summary}, indent=2) if args.json else format_summary(path, summary))
    return 0
