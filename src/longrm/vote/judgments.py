"""One LM judge of the vote in its own process (`vote judge`), and its judgments read back by the tally.

`vote judge` writes one Judgment per (item, order), in the order `vote run` asks for them (items file
order, CHUNK items per call to the judge, the same batches: vote/chunks.py), to R/vote/judges/NAME.jsonl (no
timings: the judge's time goes to its log, so the same inputs give the same bytes). The tally
(`vote tally`) replays these files through `vote.recorded.RecordedJudge`, so the votes are byte-identical to
the single-process `vote run` over the same judges.

Resuming a killed job: each finished chunk is written atomically to NAME.jsonl.parts/cNNNNNN.jsonl, next to
a fingerprint of everything that decides the judgments (the items file, the judge spec, generation and
order settings, seed, the checkpoint's files). A rerun with the same fingerprint keeps the chunks whose
records are exactly the expected (item, order) jobs and judges the rest; a different fingerprint, or a
chunk that does not match, is judged again. The output file appears only once every chunk is there.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from longrm.data.io import atomic_write, dumps, iter_jsonl, read_json, sha256_file, write_json, write_jsonl
from longrm.data.records import BenchItem, Judgment
from longrm.errors import ConfigError, InputError
from longrm.judges.base import Judge
from longrm.vote import chunks
from longrm.vote.chunks import Chunk, lm_params, vote_chunks

FINGERPRINT = "fingerprint.json"


def is_lm(spec: dict) -> bool:
    """A vote judge that loads a model (its own job); scorers run inside the tally."""
    return bool(spec.get("model"))


def lm_specs(cfg: dict) -> list[dict]:
    return [s for s in cfg["vote"]["judges"] if is_lm(s)]


def judge_spec(cfg: dict, name: str) -> dict:
    """The `vote.judges` entry called `name`, which must be an LM judge."""
    for spec in cfg["vote"]["judges"]:
        if spec["name"] == name:
            if not is_lm(spec):
                raise ConfigError(
                    f"{cfg.get('_path', '<config>')}: vote judge {name!r} is a scorer: "
                    "it runs inside `vote tally`, not as its own job"
                )
            return spec
    names = [s["name"] for s in lm_specs(cfg)]
    raise ConfigError(
        f"{cfg.get('_path', '<config>')}: no LM vote judge named {name!r}; LM judges: {', '.join(names) or 'none'}"
    )


def parts_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _checkpoint_files(model: str) -> list:
    """(relative name, size, mtime_ns) of the checkpoint's files: cheap, and any rewrite changes it."""
    root = Path(model)
    if not root.exists():
        return [model, None]
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return [[str(p.relative_to(root)) if p != root else p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def fingerprint(cfg: dict, spec: dict, items_path: str | Path) -> dict:
    """Everything that decides this judge's records; a partial run is reused only under the same one."""
    from longrm.judges.factory import bench_params
    from longrm.modeling import job_threads

    vcfg = cfg["vote"]
    return {
        "items_sha256": sha256_file(items_path),
        "spec": spec,
        "seed": cfg["seed"],
        "chunk": chunks.CHUNK,
        "orders": [vcfg["orders"], vcfg["bon_orders"]],
        "params": bench_params(cfg, lm_params(vcfg)),
        "trust_remote_code": cfg["trust_remote_code"],
        "job_threads": job_threads(),  # bench.threads 0 takes the job's: kernels split work by thread count
        "checkpoint": _checkpoint_files(spec["model"]),
    }


def _digest(obj) -> str:
    return hashlib.sha256(dumps(obj).encode()).hexdigest()


def _chunk_path(parts: Path, index: int) -> Path:
    return parts / f"c{index:06d}.jsonl"


def check_records(
    records: Sequence[Judgment], chunk_items: Sequence[BenchItem], chunk_orders: Sequence[list[int]], name: str
) -> str | None:
    """Why `records` are not exactly this judge's answers to these (item, order) jobs (None: they are)."""
    if len(records) != len(chunk_items):
        return f"{len(records)} records for {len(chunk_items)} (item, order) jobs"
    for k, (rec, item, order) in enumerate(zip(records, chunk_items, chunk_orders)):
        if rec.id != item.id or list(rec.order) != list(order) or rec.judge != name:
            return f"record {k}: ({rec.judge}, {rec.id}, {rec.order}) where ({name}, {item.id}, {order}) was expected"
    return None


def _finished_chunk(path: Path, chunk: Chunk, name: str) -> list[Judgment] | None:
    """The chunk's records from an earlier run, when they are complete and exactly the expected jobs."""
    if not path.exists():
        return None
    try:
        records = list(iter_jsonl(path, Judgment.from_dict))
    except InputError as exc:
        print(f"vote judge {name}: judging chunk {chunk.index} again ({exc})", file=sys.stderr)
        return None
    why = check_records(records, chunk.flat_items, chunk.flat_orders, name)
    if why:
        print(f"vote judge {name}: judging chunk {chunk.index} again ({path}: {why})", file=sys.stderr)
        return None
    return records


def _open_parts(out: str | Path, print_name: str, fp: dict) -> Path:
    """The parts folder for this fingerprint: kept when it matches, emptied otherwise."""
    parts = parts_dir(out)
    stamp = parts / FINGERPRINT
    if parts.exists():
        old = read_json(stamp) if stamp.exists() else None
        if old is not None and old.get("digest") == _digest(fp):
            return parts
        print(f"vote judge {print_name}: {parts} is from other inputs or settings; starting over", file=sys.stderr)
        shutil.rmtree(parts)
    parts.mkdir(parents=True)
    write_json(stamp, {"digest": _digest(fp), "fingerprint": fp})
    return parts


class _LazyJudge:
    """Builds the engine on first use only (a resumed job with every chunk done loads no model)."""

    def __init__(self, cfg: dict, spec: dict):
        self.cfg, self.spec, self.judge = cfg, spec, None

    def __call__(self) -> Judge:
        if self.judge is None:
            from longrm.judges.factory import make_judge

            self.judge = make_judge(self.spec, self.cfg, lm_params(self.cfg["vote"]))
            self.judge.name = self.spec["name"]
        return self.judge

    def close(self) -> None:
        if self.judge is not None:
            self.judge.close()


def judge_to_file(
    cfg: dict, name: str, items: Iterable[BenchItem], items_path: str | Path, out: str | Path, order_seed: int = 42
) -> dict:
    """Run one LM judge of `vote.judges` over every (item, order) job; resumable (module docstring)."""
    spec = judge_spec(cfg, name)
    parts = _open_parts(out, name, fingerprint(cfg, spec, items_path))
    engine = _LazyJudge(cfg, spec)
    done = judged = 0
    seconds = 0.0
    paths = []
    try:
        for chunk in vote_chunks(items, cfg["vote"], order_seed):
            path = _chunk_path(parts, chunk.index)
            paths.append(path)
            if _finished_chunk(path, chunk, name) is not None:
                done += 1
                continue
            judge = engine()
            t0 = time.perf_counter()
            records = judge.judge(chunk.flat_items, chunk.flat_orders)
            seconds += time.perf_counter() - t0
            for rec in records:  # Judgment.to_dict leaves timings out: the judging time goes to the log
                rec.judge = name
            why = check_records(records, chunk.flat_items, chunk.flat_orders, name)
            if why:
                raise RuntimeError(f"judge {name} returned {why}")
            write_jsonl(path, records)
            judged += 1
    finally:
        engine.close()
    n = _concatenate(paths, out)
    shutil.rmtree(parts)
    return {"judge": name, "records": n, "chunks_reused": done, "chunks_judged": judged, "seconds": round(seconds, 3)}


def _concatenate(paths: Sequence[Path], out: str | Path) -> int:
    n = 0
    with atomic_write(out, "wb") as f:
        for path in paths:
            data = path.read_bytes()
            n += data.count(b"\n")
            f.write(data)
    return n
