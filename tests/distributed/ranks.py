"""Start N ranks of one command on this machine, as DeepSpeed's launcher would (CPU accelerator, gloo)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, world: int, port: int, extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        LOCAL_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        DS_ACCELERATOR="cpu",
        OMP_NUM_THREADS="1",
        LONGRM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), str(REPO), env.get("PYTHONPATH")])),
    )
    env.update(extra or {})
    return env


def run_ranks(
    argv: list[str], world: int, log_dir: Path, extra_env: dict | None = None, timeout: float = 240
) -> list[int]:
    """Run `python ARGV...` as ranks 0..world-1; return their exit codes (logs: LOG_DIR/rank-R.log)."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    procs, logs = [], []
    for rank in range(world):
        log = open(log_dir / f"rank-{rank}.log", "w")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [sys.executable, *argv],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=rank_env(rank, world, port, extra_env),
            )
        )
    codes = []
    try:
        for p in procs:
            codes.append(p.wait(timeout=timeout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    return codes


def tail(log_dir: Path, n: int = 3000) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-n:]}" for p in sorted(log_dir.glob("rank-*.log")))
