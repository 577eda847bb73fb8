"""`longrm data ...`: inspect and validate data files."""

from __future__ import annotations


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
