"""The `longrm` command. Thin: each stage registers its own subcommands (in `<stage>/cli.py`,
function `register(subparsers)`), imports heavy packages only inside its handlers, and sets
`func` on its parser. Errors from bad input or config print one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from longrm import __version__
from longrm.errors import LongRMError

# Order = the order the study runs in; `longrm --help` lists them so.
STAGE_CLIS = (
    "longrm.data.cli",
    "longrm.base.cli",
    "longrm.inputs.cli",
    "longrm.synth.cli",
    "longrm.vote.cli",
    "longrm.train.cli",
    "longrm.bench.cli",
    "longrm.report.cli",
    "longrm.provenance",
    "longrm.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longrm", description="The LongRM study, stage by stage: each subcommand is one stage of the DAG."
    )
    parser.add_argument("--version", action="version", version=f"longrm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in STAGE_CLIS:
        importlib.import_module(name).register(sub)
    return parser


def _output_paths(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def check_outputs_inside_results(args) -> None:
    """Refuse an output argument (`args.prov_outputs`) that resolves outside the config's results_dir
    or the DVC cache, unless the config sets `allow_outside_results: true`. Symlinks and `..` are
    resolved first, so neither can be used to escape."""
    dests = getattr(args, "prov_outputs", None) or ()
    if not dests:
        return
    from pathlib import Path

    from longrm.config import REPO_ROOT, load_config
    from longrm.errors import ConfigError

    cfg = load_config(getattr(args, "config", None))
    if cfg["allow_outside_results"]:
        return
    allowed = [
        Path(cfg["results_dir"]).resolve(),
        (Path.cwd() / ".dvc" / "cache").resolve(),
        (REPO_ROOT / ".dvc" / "cache").resolve(),
    ]
    for dest in dests:
        for raw in _output_paths(getattr(args, dest, None)):
            path = Path(raw).resolve()
            if not any(path == root or root in path.parents for root in allowed):
                raise ConfigError(
                    f"{cfg['_path']}: output --{dest.replace('_', '-')} {raw} resolves to {path}, outside "
                    f"results_dir {allowed[0]}; set allow_outside_results: true in the config to allow it"
                )


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    args = build_parser().parse_args(argv)
    try:
        check_outputs_inside_results(args)
        rc = args.func(args)
        if not rc and getattr(args, "prov_outputs", None):
            from longrm import provenance

            provenance.record(args, sys.argv[1:] if argv is None else argv)
    except LongRMError as exc:
        print(f"longrm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("longrm: interrupted; finished outputs are kept, rerun to resume", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
