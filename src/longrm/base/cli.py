"""`longrm base build|check`: the base model as its own product (config/base.yaml, `make base`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("base", help="build or check the shipped base model (models/base)")
    bsub = p.add_subparsers(dest="base_command", metavar="ACTION")
    bsub.required = True
    b = bsub.add_parser("build", help="tokenizer + pre-training on the corpus snapshot (resumable), then ship")
    b.add_argument("--config", default="config/base.yaml")
    b.set_defaults(func=build)
    c = bsub.add_parser("check", help="verify a shipped base against its manifest (hashes, vocabulary)")
    c.add_argument("path", nargs="?", default="models/base")
    c.set_defaults(func=check)


def build(args: argparse.Namespace) -> int:
    import torch

    from longrm.base import text
    from longrm.base.config import load_base_config
    from longrm.base.model import init_model
    from longrm.base.rows import Rows
    from longrm.base.ship import ship
    from longrm.base.train import train
    from longrm.data.io import sha256_file
    from longrm.modeling import load_tokenizer
    from longrm.seeding import derive_seed

    cfg = load_base_config(args.config)
    torch.set_num_threads(cfg["train"]["threads"])
    work = Path(cfg["work_dir"])
    docs = text.read_documents(cfg["corpus"])
    tok_dir = work / "tokenizer"
    if not (tok_dir / "tokenizer.json").is_file():
        from longrm.inputs.tokenizer import atomic_dir

        print(f"longrm base: training the tokenizer on {len(docs)} documents", file=sys.stderr)
        with atomic_dir(tok_dir) as tmp:
            text.build_tokenizer(cfg["corpus"], cfg["tokenizer"]["vocab_size"], out_dir=tmp)
    tok = load_tokenizer(tok_dir)
    train_texts, held_texts = text.split_documents(docs)
    rows = Rows(cfg, tok, train_texts, held_texts)
    model = init_model(tok, cfg["model"], derive_seed(cfg["seed"], "base.init"))
    model, curves = train(cfg, model, rows, work, derive_seed(cfg["seed"], "base.grow"))
    ship(cfg, model, tok, curves, cfg["out"], sha256_file(cfg["corpus"]))
    return 0


def check(args: argparse.Namespace) -> int:
    from longrm.base.ship import check_base

    n = len(check_base(args.path))
    print(f"{args.path}: {n} files match the manifest; the tokenizer matches the model's vocabulary")
    return 0
