"""Records and their readers/writers. Imports no stage."""

from longrm.data.io import atomic_write, iter_jsonl, read_jsonl, sha256_file, write_jsonl
from longrm.data.records import BenchItem, Judgment, PrefPair, SFTExample, ShortItem

__all__ = [
    "atomic_write",
    "iter_jsonl",
    "read_jsonl",
    "write_jsonl",
    "sha256_file",
    "BenchItem",
    "Judgment",
    "PrefPair",
    "ShortItem",
    "SFTExample",
]
