"""Atomic, streaming IO for JSONL (and Parquet) files.

Writers go to a temporary file in the destination folder and `os.replace` it into place, so a reader
never sees half a file and a crash loses nothing already written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from longrm.errors import InputError


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it over `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def dumps(record: Any) -> str:
    """One canonical JSON line: sorted keys, no NaN, UTF-8 kept; same record, same bytes."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def write_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Write records (dicts or objects with .to_dict()) atomically; return the count."""
    n = 0
    with atomic_write(path) as f:
        for rec in records:
            if hasattr(rec, "to_dict"):
                rec = rec.to_dict()
            f.write(dumps(rec))
            f.write("\n")
            n += 1
    return n


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
        f.write("\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON: {exc}") from None


def iter_jsonl(
    path: str | Path,
    parse: Callable[[dict, str, int], Any] | None = None,
    skip_blank: bool = True,
    unique: str | None = None,
) -> Iterator[Any]:
    """Stream a JSONL file one record at a time (memory stays bounded by the longest line).

    Each line must be a JSON object; `parse(obj, path, line_no)` may turn it into a record and raise
    InputError naming the field. Errors name the file and the 1-based line. With `unique="id"`, a
    value of that field seen on an earlier line is an error naming both lines.
    """
    seen: dict[Any, int] = {}
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if skip_blank and not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(path, f"not valid UTF-8 (byte {exc.start})", line=line_no) from None
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"not valid JSON ({exc.msg} at column {exc.colno})", line=line_no) from None
            if not isinstance(obj, dict):
                raise InputError(path, f"expected a JSON object, got {type(obj).__name__}", line=line_no)
            if unique is not None and unique in obj:
                key = obj[unique] if isinstance(obj[unique], (str, int)) else repr(obj[unique])
                if key in seen:
                    raise InputError(path, f"duplicate {unique} {key!r} (first on line {seen[key]})", line_no, unique)
                seen[key] = line_no
            yield parse(obj, str(path), line_no) if parse else obj


def read_jsonl(path: str | Path, parse: Callable[[dict, str, int], Any] | None = None) -> list:
    return list(iter_jsonl(path, parse))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_parquet(path: str | Path, records: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(records)
    with atomic_write(path, "wb") as f:
        pq.write_table(table, f)


def read_parquet(path: str | Path) -> list[dict]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(path, f"not a readable Parquet file: {exc}") from None
