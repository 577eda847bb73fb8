"""`longrm vote run|judge|tally|audit|split`: consistency majority voting, its audit, and the data splits.

`vote run` judges with every judge in one process (at most one LM judge: no process holds two engines);
the workflow runs `vote judge` once per LM judge (its own job) and `vote tally` (the scorers, plus the
LM judges' files), which writes the same bytes as `vote run`."""

from __future__ import annotations

from longrm.commands import reads


def register(sub) -> None:
    p = sub.add_parser("vote", help="consistency majority voting over K judges; audit; train/bench splits")
    vsub = p.add_subparsers(dest="vote_command", metavar="ACTION")
    vsub.required = True

    r = vsub.add_parser("run", help="judge every item in all orders with every judge; one vote per item")
    r.add_argument("--config")
    r.add_argument("--items", required=True, help="BenchItem JSONL (synth output)")
    r.add_argument("--out", required=True, help="votes JSONL")
    r.add_argument("--timing", help="optional JSON with seconds per judge")
    r.set_defaults(func=_run, prov_inputs=("items",), prov_outputs=("out", "timing"), prov_params=reads("vote run"))

    j = vsub.add_parser("judge", help="one LM judge of vote.judges over every item and order (its own job)")
    j.add_argument("--config")
    j.add_argument("--items", required=True, help="BenchItem JSONL (synth output)")
    j.add_argument("--judge", required=True, help="name of an LM judge in vote.judges")
    j.add_argument("--out", required=True, help="Judgment JSONL, one per (item, order); resumable")
    j.set_defaults(func=_judge, prov_inputs=("items",), prov_outputs=("out",), prov_params=reads("vote judge"))

    t = vsub.add_parser("tally", help="the vote from the LM judges' files and the scorers (no model loaded)")
    t.add_argument("--config")
    t.add_argument("--items", required=True, help="BenchItem JSONL (synth output)")
    t.add_argument(
        "--judgments",
        nargs="*",
        default=[],
        metavar="NAME=PATH",
        help="`vote judge` output of every LM judge of vote.judges",
    )
    t.add_argument("--out", required=True, help="votes JSONL")
    t.add_argument("--timing", help="optional JSON with seconds per judge")
    t.set_defaults(
        func=_tally, prov_inputs=("items", "judgments"), prov_outputs=("out", "timing"), prov_params=reads("vote tally")
    )

    a = vsub.add_parser("audit", help="label accuracy vs K and threshold, yield per task/length")
    a.add_argument("--config")
    a.add_argument("--items", required=True)
    a.add_argument("--votes", required=True)
    a.add_argument("--out", required=True, help="audit JSON")
    a.add_argument("--figure", help="PNG figure to write")
    a.set_defaults(
        func=_audit, prov_inputs=("items", "votes"), prov_outputs=("out", "figure"), prov_params=reads("vote audit")
    )

    s = vsub.add_parser("split", help="benchmark (gold labels) and SFT/preference/DisRM training splits")
    s.add_argument("--config")
    s.add_argument("--items", required=True)
    s.add_argument("--votes", required=True)
    s.add_argument(
        "--judgments",
        nargs="*",
        default=[],
        metavar="NAME=PATH",
        help="`vote judge` files of LM judges: their judgments that disagree with the vote become "
        "the preference negatives (templated ones fill up)",
    )
    s.add_argument("--out-dir", required=True, help="folder for sft/pref/disrm/bench.jsonl and report.json")
    s.set_defaults(
        func=_split,
        prov_inputs=("items", "votes", "judgments"),
        prov_outputs=("out_dir",),
        prov_params=reads("vote split"),
    )

    r = vsub.add_parser(
        "relabel",
        help="the votes with the best single judge's labels on as many training items (the labels ablation)",
    )
    r.add_argument("--config")
    r.add_argument("--votes", required=True, help="votes JSONL (vote tally)")
    r.add_argument("--audit", required=True, help="vote audit JSON: its fair.same_items.best_judge labels")
    r.add_argument("--out", required=True, help="votes JSONL, for `vote split --votes`")
    r.add_argument("--report", required=True, help="JSON: the judge, items kept, label accuracy of both")
    r.set_defaults(
        func=_relabel,
        prov_inputs=("votes", "audit"),
        prov_outputs=("out", "report"),
        prov_params=reads("vote relabel"),
    )


def _relabel(args) -> int:
    import sys

    from longrm.config import load_config
    from longrm.data.io import read_json, write_json, write_jsonl
    from longrm.vote.relabel import relabel

    records, report = relabel(load_config(args.config), args.votes, read_json(args.audit), args.audit)
    write_jsonl(args.out, records)
    write_json(args.report, report)
    print(
        f"vote relabel: {report['judge']}'s labels on {report['kept']} training items (the vote keeps "
        f"{report['vote_kept']}); label accuracy {report['label_accuracy_judge']} vs the vote's "
        f"{report['label_accuracy_vote']}",
        file=sys.stderr,
    )
    return 0


def run_cmd(
    cfg: dict, items_path: str, out: str, timing_path: str | None = None, recorded: dict[str, str] | None = None
) -> dict:
    import time

    from tqdm import tqdm

    from longrm.data.io import iter_jsonl, write_json, write_jsonl
    from longrm.data.records import BenchItem
    from longrm.errors import ConfigError
    from longrm.vote.judgments import lm_specs
    from longrm.vote.run import make_judges, run_votes

    live = [s["name"] for s in lm_specs(cfg) if s["name"] not in (recorded or {})]
    if len(live) > 1:
        raise ConfigError(
            f"vote.judges has {len(live)} LM judges ({', '.join(live)}): one process holds one "
            "engine, so run `longrm vote judge` once per LM judge, then `longrm vote tally`"
        )
    judges = make_judges(cfg, recorded)
    timing: dict = {}
    t0 = time.perf_counter()
    items = tqdm(
        _nonempty(iter_jsonl(items_path, BenchItem.from_dict, unique="id"), items_path),
        desc="vote",
        unit="item",
        disable=None,
    )
    n = write_jsonl(out, _closing(run_votes(items, judges, cfg["vote"], timing), judges))
    summary = {
        "items": n,
        "seconds": round(time.perf_counter() - t0, 3),
        "judge_seconds": {k: round(v, 3) for k, v in timing.items()},
    }
    if timing_path:
        write_json(timing_path, summary)
    return summary


def _closing(records, judges):
    """Pass records through, then close the judges (a replayed file with records left over raises here,
    before the output is renamed into place)."""
    yield from records
    for j in judges:
        j.close()


def _nonempty(records, path):
    """Pass records through; an input without any is an error (raised before the output is renamed)."""
    from longrm.errors import InputError

    n = 0
    for rec in records:
        n += 1
        yield rec
    if not n:
        raise InputError(path, "no items: the file is empty")


def _run(args) -> int:
    import sys

    from longrm.config import load_config

    s = run_cmd(load_config(args.config), args.items, args.out, args.timing)
    print(f"vote run: {s['items']} items in {s['seconds']} s; per judge {s['judge_seconds']}", file=sys.stderr)
    return 0


def parse_named(values: list[str], what: str) -> dict[str, str]:
    from longrm.errors import ConfigError

    out = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"{what}: expected NAME=PATH, got {v!r}")
        if name in out:
            raise ConfigError(f"{what}: {name!r} given twice")
        out[name] = path
    return out


def tally_cmd(cfg: dict, items_path: str, judgments: dict[str, str], out: str, timing_path: str | None = None) -> dict:
    """The vote with every LM judge replayed from its `vote judge` file: no model is loaded here."""
    from longrm.errors import ConfigError
    from longrm.vote.judgments import lm_specs

    missing = [s["name"] for s in lm_specs(cfg) if s["name"] not in judgments]
    if missing:
        raise ConfigError(
            f"vote tally: no --judgments for the LM judge(s) {', '.join(missing)} "
            "(run `longrm vote judge` for each first)"
        )
    return run_cmd(cfg, items_path, out, timing_path, recorded=judgments)


def _tally(args) -> int:
    import sys

    from longrm.config import load_config

    s = tally_cmd(
        load_config(args.config), args.items, parse_named(args.judgments, "--judgments"), args.out, args.timing
    )
    print(f"vote tally: {s['items']} items in {s['seconds']} s; per judge {s['judge_seconds']}", file=sys.stderr)
    return 0


def judge_cmd(cfg: dict, items_path: str, name: str, out: str) -> dict:
    from longrm.data.io import iter_jsonl
    from longrm.data.records import BenchItem
    from longrm.vote.judgments import judge_to_file

    items = _nonempty(iter_jsonl(items_path, BenchItem.from_dict, unique="id"), items_path)
    return judge_to_file(cfg, name, items, items_path, out)


def _judge(args) -> int:
    import sys

    from longrm.config import load_config

    s = judge_cmd(load_config(args.config), args.items, args.judge, args.out)
    print(
        f"vote judge {s['judge']}: {s['records']} judgments ({s['chunks_judged']} chunks judged, "
        f"{s['chunks_reused']} reused from an interrupted run) in {s['seconds']} s of judging",
        file=sys.stderr,
    )
    return 0


def audit_cmd(cfg: dict, items_path: str, votes_path: str, out: str, figure: str | None = None) -> dict:
    from longrm.data.io import iter_jsonl, read_jsonl, write_json
    from longrm.errors import InputError
    from longrm.vote.audit import audit, plot

    votes = read_jsonl(votes_path)
    if not votes:
        raise InputError(votes_path, "no vote records")
    item_ids = {o["id"] for o in iter_jsonl(items_path)}
    missing = [v["id"] for v in votes if v["id"] not in item_ids]
    if missing:
        raise InputError(votes_path, f"{len(missing)} votes for items absent from {items_path}, e.g. {missing[0]!r}")
    vcfg = cfg["vote"]
    report = audit(votes, vcfg["threshold"], vcfg["min_judges"], cfg["seed"])
    write_json(out, report)
    if figure:
        plot(report, figure)
    return report


def _audit(args) -> int:
    import sys

    from longrm.config import load_config

    r = audit_cmd(load_config(args.config), args.items, args.votes, args.out, args.figure)
    same = r["fair"]["same_items"]
    best = same["best_judge"]
    print(
        f"vote audit: on the {same['n']}/{r['items']} items the vote keeps, vote {same['vote']['acc']} vs best "
        f"single judge {best} {same['judges'][best]['acc'] if best else None} (same items)",
        file=sys.stderr,
    )
    return 0


def split_cmd(
    cfg: dict, items_path: str, votes_path: str, out_dir: str, judgments: dict[str, str] | None = None
) -> dict:
    from pathlib import Path

    from longrm.data.io import write_json
    from longrm.vote.split import split

    report = split(cfg, items_path, votes_path, out_dir, judgments)
    write_json(Path(out_dir) / "report.json", report)
    return report


def _split(args) -> int:
    import sys

    from longrm.config import load_config

    cfg = load_config(args.config)
    r = split_cmd(cfg, args.items, args.votes, args.out_dir, parse_named(args.judgments, "--judgments"))
    missing = [
        j["name"] for j in cfg["vote"]["judges"] if j.get("model") and j["name"] not in r["negatives"]["lm_judges"]
    ]
    if missing:
        print(
            f"vote split: no --judgments for the LM judge(s) {', '.join(missing)}: their judgments give no "
            "negatives (templated ones do)",
            file=sys.stderr,
        )
    neg = r["negatives"]["pairwise"]
    print(
        f"vote split: {r['counts']}; pairwise negatives: {neg['judges']} from LM judges, {neg['template']} templated",
        file=sys.stderr,
    )
    return 0
