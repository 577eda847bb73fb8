"""`longrm synth`: short preference items + distractor pool + judge tokenizer -> long BenchItems."""

from __future__ import annotations

from longrm.commands import reads


def register(sub) -> None:
    p = sub.add_parser("synth", help="Short-to-Long synthesis: build long-context items from short ones")
    p.add_argument("--config", required=False, help="study config (default: config/default.yaml)")
    p.add_argument("--raw", required=True, help="ShortItem JSONL")
    p.add_argument("--distractors", required=True, help='distractor documents JSONL {"id","source","text"}')
    p.add_argument("--tokenizer", required=True, help="the judge tokenizer folder (lengths are its tokens)")
    p.add_argument("--out", required=True, help="BenchItem JSONL to write")
    p.add_argument("--report", required=True, help="report JSON (counts, skip reasons, throughput)")
    p.set_defaults(
        func=_run,
        prov_inputs=("raw", "distractors", "tokenizer"),
        prov_outputs=("out", "report"),
        prov_params=reads("synth"),
    )


def run(cfg: dict, raw_path: str, distractors_path: str, tokenizer, out: str, report_path: str) -> dict:
    """Library entry point (tests call it with any tokenizer object)."""
    from longrm.data.io import iter_jsonl, write_json, write_jsonl
    from longrm.synth.build import DistractorPool, Synthesizer, SynthReport, synthesize
    from longrm.synth.tokens import TokenCounter

    counter = TokenCounter(tokenizer)
    pool = DistractorPool.load(iter_jsonl(distractors_path), counter, str(distractors_path))
    policy = None
    if cfg["synth"].get("policy_model"):
        from longrm.seeding import derive_seed
        from longrm.synth.policy import PolicyGenerator

        policy = PolicyGenerator(
            cfg["synth"]["policy_model"], cfg["trust_remote_code"], seed=derive_seed(cfg["seed"], "synth")
        )
    report = SynthReport()
    raw = ((line, obj) for line, obj in _numbered(raw_path))
    write_jsonl(out, synthesize(_progress(raw), Synthesizer(cfg, counter, pool, policy), report, str(raw_path)))
    summary = report.to_dict()
    # its time is a fact of the run, not of the items: the job's log has it (_run), the report file does not
    write_json(report_path, {k: v for k, v in summary.items() if k not in ("seconds", "tokens_per_s")})
    return summary


def _numbered(path):
    from longrm.data.io import iter_jsonl

    return iter_jsonl(path, parse=lambda obj, _path, line: (line, obj))


def _progress(it):
    from tqdm import tqdm

    return tqdm(it, desc="synth", unit="item", disable=None)


def _run(args) -> int:
    import sys

    from longrm.config import load_config
    from longrm.modeling import load_tokenizer

    cfg = load_config(args.config)
    tok = load_tokenizer(args.tokenizer, cfg["trust_remote_code"])
    s = run(cfg, args.raw, args.distractors, tok, args.out, args.report)
    print(
        f"synth: {s['items_written']} items from {s['sources_used']} sources; skipped {s['skipped']}; "
        f"{s['context_tokens']} context tokens in {s['seconds']} s, {s['tokens_per_s']} tokens/s",
        file=sys.stderr,
    )
    return 0
