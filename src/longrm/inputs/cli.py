"""`longrm inputs raw|distractors|tokenizer|pretrain`: build the embedded default's inputs."""

from __future__ import annotations

import sys

from longrm.commands import reads


def register(sub) -> None:
    p = sub.add_parser(
        "inputs", help="build the embedded default's inputs (raw data, distractors, tokenizer, base model)"
    )
    isub = p.add_subparsers(dest="inputs_command", metavar="ACTION")
    isub.required = True

    r = isub.add_parser(
        "raw",
        help="build the raw short preference dataset (ShortItem JSONL), or validate "
        "and copy inputs.raw_path when the config sets it",
    )
    r.add_argument("--config", help="study config (default: config/default.yaml)")
    r.add_argument("--out", required=True, help="output JSONL")
    r.add_argument("--tokenizer", help="the base's tokenizer: entities and values are words it keeps whole")
    r.set_defaults(func=_raw, prov_inputs=("tokenizer",), prov_outputs=("out",), prov_params=reads("inputs raw"))

    d = isub.add_parser("distractors", help="build the distractor document pool ({id,source,text} JSONL)")
    d.add_argument("--config")
    d.add_argument("--out", required=True, help="output JSONL")
    d.set_defaults(func=_distractors, prov_inputs=(), prov_outputs=("out",), prov_params=reads("inputs distractors"))

    t = isub.add_parser("tokenizer", help="train the byte-level BPE tokenizer on raw + distractors")
    t.add_argument("--config")
    t.add_argument("--raw", required=True)
    t.add_argument("--distractors", required=True)
    t.add_argument("--out", required=True, help="output tokenizer folder")
    t.set_defaults(
        func=_tokenizer,
        prov_inputs=("raw", "distractors"),
        prov_outputs=("out",),
        prov_params=reads("inputs tokenizer"),
    )

    m = isub.add_parser("pretrain", help="pre-train the tiny base model (safetensors + tokenizer + logs)")
    m.add_argument("--config")
    m.add_argument("--tokenizer", required=True, help="tokenizer folder from `longrm inputs tokenizer`")
    m.add_argument("--raw", required=True)
    m.add_argument("--distractors", required=True)
    m.add_argument("--out", required=True, help="output model folder")
    m.set_defaults(
        func=_pretrain,
        prov_inputs=("tokenizer", "raw", "distractors"),
        prov_outputs=("out",),
        prov_params=reads("inputs pretrain"),
    )

    s = isub.add_parser(
        "short-split",
        help="short judging data for the base judge (SFTExample JSONL) and the "
        "held-out short benchmark (BenchItem JSONL), split by source as `vote split` does",
    )
    s.add_argument("--config")
    s.add_argument("--raw", required=True, help="raw short items (ShortItem JSONL)")
    s.add_argument("--items", required=True, help="long items from `longrm synth` (their source ids)")
    s.add_argument("--out-train", required=True, help="output SFTExample JSONL (training sources)")
    s.add_argument("--out-bench", required=True, help="output BenchItem JSONL (held-out sources)")
    s.add_argument("--report", required=True, help="output JSON: counts")
    s.set_defaults(
        func=_short_split,
        prov_inputs=("raw", "items"),
        prov_outputs=("out_train", "out_bench", "report"),
        prov_params=reads("inputs short-split"),
    )


def _cfg(args):
    from longrm.config import load_config

    return load_config(args.config)


def _raw(args) -> int:
    from longrm.inputs.raw import write_raw

    n = write_raw(_cfg(args), args.out, args.tokenizer)
    print(f"wrote {n} raw items to {args.out}", file=sys.stderr)
    return 0


def _distractors(args) -> int:
    from longrm.inputs.distractors import write_distractors

    n = write_distractors(_cfg(args), args.out)
    print(f"wrote {n} distractor documents to {args.out}", file=sys.stderr)
    return 0


def _tokenizer(args) -> int:
    from longrm.inputs.tokenizer import build_tokenizer

    tok = build_tokenizer(_cfg(args), args.raw, args.distractors, args.out)
    print(f"wrote a {len(tok)}-token tokenizer to {args.out}", file=sys.stderr)
    return 0


def _pretrain(args) -> int:
    from longrm.inputs.pretrain import pretrain

    cfg = _cfg(args)
    if cfg["inputs"].get("base_model_path"):
        print(
            f"note: inputs.base_model_path is set ({cfg['inputs']['base_model_path']}); the workflow uses "
            "that checkpoint and this pre-trained model is not used",
            file=sys.stderr,
        )
    pretrain(cfg, args.tokenizer, args.raw, args.distractors, args.out)
    return 0


def _short_split(args) -> int:
    from longrm.data.io import write_json
    from longrm.inputs.short import short_split

    report = short_split(_cfg(args), args.raw, args.items, args.out_train, args.out_bench)
    write_json(args.report, report)
    print(
        f"short split: {report.get('train_pairwise', 0) + report.get('train_pointwise', 0)} training examples "
        f"-> {args.out_train}, {report['bench_items']} held-out pairs -> {args.out_bench}",
        file=sys.stderr,
    )
    return 0
