"""Run a command and write its wall time, peak memory and CPU time as a Snakemake `benchmark:` TSV.

    python workflow/scripts/timed.py --log results/logs/synth.log --benchmark results/logs/benchmark/synth.tsv \
        -- longrm synth --config ...

DVC stages run each Snakemake job's command through this script (dvc.yaml, from make_dvc_yaml.py), so a
`dvc repro` leaves the same per-job record Snakemake does, and the report (which reads those records)
sees the same kind of file whichever tool ran the job. The command's stderr goes to the log, as Snakemake's
`2> {log}` sends it (the log's folder is created first, as Snakemake does). The columns follow Snakemake's; the ones this
script cannot measure (virtual, unique and proportional memory, I/O, load) are NA. The record is written
only when the command succeeds (as Snakemake does); the exit status is the command's.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HEADER = ("s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load", "cpu_time")


def record_row(wall_s: float, usage: resource.struct_rusage) -> list[str]:
    """One TSV row: seconds, h:m:s, max RSS in MB (Linux reports KiB), CPU seconds (user + system)."""
    hms = str(datetime.timedelta(seconds=round(wall_s)))
    cpu_s = usage.ru_utime + usage.ru_stime
    return [f"{wall_s:.2f}", hms, f"{usage.ru_maxrss / 1024:.2f}", "NA", "NA", "NA", "NA", "NA", "NA", f"{cpu_s:.2f}"]


def write_tsv(path: Path, row: list[str]) -> None:
    """Atomically: a reader sees the old record or the new one, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\t".join(HEADER) + "\n" + "\t".join(row) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", type=Path, required=True, help="file that receives the command's stderr")
    ap.add_argument("--benchmark", type=Path, required=True, help="the TSV record to write")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    args = ap.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        ap.error("no command given after --")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(args.log, "wb") as log:
        status = subprocess.run(args.command, stderr=log).returncode
    wall_s = time.monotonic() - start
    if status == 0:
        write_tsv(args.benchmark, record_row(wall_s, resource.getrusage(resource.RUSAGE_CHILDREN)))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
