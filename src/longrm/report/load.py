"""Read the result files the report is made of (formats: docs/formats/{bench,vote,train}.md).

The report reads result files only: no model code, no config beyond names.
"""

from __future__ import annotations

import json
from pathlib import Path

from longrm.data.io import read_json, read_jsonl
from longrm.errors import InputError


def parse_named(values: list[str], what: str = "--metrics") -> dict[str, Path]:
    """NAME=PATH pairs, in the order given (the order models appear in tables and legends)."""
    out: dict[str, Path] = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise InputError(v, f"{what} expects NAME=PATH")
        if name in out:
            raise InputError(v, f"{what}: model {name!r} given twice")
        out[name] = Path(path)
    return out


def by_set(named: dict[str, object], main_set: str) -> dict[str, dict[str, object]]:
    """{set: {model: value}} from keys 'SET/NAME' (a plain 'NAME' belongs to the main set); main set first."""
    out: dict[str, dict[str, object]] = {main_set: {}}
    for key, v in named.items():
        set_name, _, name = key.rpartition("/")
        out.setdefault(set_name or main_set, {})[name] = v
    return out


def load_item_scores(named: dict[str, Path]) -> dict[str, dict[str, dict]]:
    """{key: {item id: row}} from `bench score --item-scores` files (JSONL rows with id, tasktype,
    length_bucket, ours, official)."""
    out = {}
    for key, path in named.items():
        rows = {}
        for line, r in enumerate(read_jsonl(path), start=1):
            if "id" not in r or "ours" not in r:
                raise InputError(
                    path, "not an item-scores row (needs id and ours)", line, "id" if "id" not in r else "ours"
                )
            rows[str(r["id"])] = r
        out[key] = rows
    return out


def load_metrics(named: dict[str, Path]) -> dict[str, dict]:
    metrics = {}
    for name, path in named.items():
        m = read_json(path)
        if not isinstance(m, dict) or "protocols" not in m:
            raise InputError(
                path, "not a bench metrics file (no 'protocols'; see docs/formats/bench.md)", field="protocols"
            )
        metrics[name] = m
    return metrics


def load_audit(path: str | Path | None) -> dict | None:
    if not path:
        return None
    audit = read_json(path)
    if not isinstance(audit, dict) or "by_k" not in audit:
        raise InputError(path, "not a vote audit file (no 'by_k'; see docs/formats/vote.md)", field="by_k")
    return audit


LOG_NAMES = ("train_log.jsonl", "pretrain_log.jsonl")


BASE_SUMMARY = "base_summary.json"  # a shipped base (models/base, `make base`): its curves' last row


def load_runs(dirs: list[str | Path]) -> dict[str, dict]:
    """{run name: {"log": [step records], "summary": dict | None}} for each training folder that has a
    log, or a shipped base's summary; the name is the folder's name (sft, logo, disrm, base), a shipped
    base's its path (models/base)."""
    runs = {}
    for d in map(Path, dirs or []):
        if (d / BASE_SUMMARY).is_file():
            # named by its path: the short judge's folder is results/models/base
            runs[d.as_posix()] = {"log": [], "summary": read_json(d / BASE_SUMMARY), "path": str(d / BASE_SUMMARY)}
            continue
        for log_name in LOG_NAMES:
            log = d / log_name
            if log.is_file():
                summary = d / ("pretrain_summary.json" if log_name.startswith("pretrain") else "train_summary.json")
                runs[d.name] = {
                    "log": read_jsonl(log),
                    "summary": read_json(summary) if summary.is_file() else None,
                    "path": str(log),
                }
                break
    return runs


def load_benchmarks(folder: str | Path | None) -> dict[str, object]:
    """Every JSON file of the memory/throughput benchmarks (benchmarks/*.py writes them); {} if none."""
    if not folder or not Path(folder).is_dir():
        return {}
    out = {}
    for f in sorted(Path(folder).glob("*.json")):
        if f.name.endswith(".prov.json") or f.name == "provenance.json":
            continue
        out[f.stem] = read_json(f)
    return out


def _job_record(name: str, tsv: Path) -> dict | None:
    """One job's row from its `benchmark:` TSV (the last line of measurements); None when it has none."""
    lines = [ln.split("\t") for ln in tsv.read_text().splitlines() if ln.strip()]
    if len(lines) < 2:
        return None
    rec = dict(zip(lines[0], lines[-1]))

    def num(key):
        try:
            return float(rec[key])
        except (KeyError, ValueError):
            return None

    return {"job": name, "wall_s": num("s"), "max_rss_mb": num("max_rss"), "cpu_s": num("cpu_time")}


def _stage_benchmark_files(values) -> list[tuple[str, Path]]:
    """(job name, TSV) from JOB=PATH pairs (what the Snakefile passes: the records of the jobs it declares
    as inputs) or a folder (every TSV under it, named after its path: bench_run/base.tsv -> bench_run:base;
    the report's own jobs left out, so the report does not depend on which of them ran first)."""
    if not values:
        return []
    files = []
    for value in [values] if isinstance(values, (str, Path)) else values:
        if Path(value).is_dir():
            folder = Path(value)
            files += [
                (f.relative_to(folder).with_suffix("").as_posix().replace("/", ":"), f)
                for f in sorted(folder.rglob("*.tsv"))
                if not f.name.startswith("report_")
            ]
            continue
        if "=" not in str(value):
            continue  # a folder that is not there: no records
        for name, path in parse_named([str(value)], "--stage-benchmarks").items():
            if not path.is_file():
                raise InputError(path, "no such job record (a Snakemake `benchmark:` TSV)")
            files.append((name, path))
    return files


def load_stage_benchmarks(values) -> list[dict]:
    """Snakemake's per-job records (`benchmark:` TSV files: wall seconds, max RSS, CPU time), one row per
    job, from JOB=PATH pairs or a folder (see _stage_benchmark_files); [] when none is given or the
    folder is absent."""
    rows = [_job_record(name, tsv) for name, tsv in _stage_benchmark_files(values)]
    return [r for r in rows if r is not None]


def dumps_index(entries: list[dict]) -> str:
    return json.dumps(entries, indent=2, sort_keys=True, allow_nan=False) + "\n"
