"""What a training run measures of itself: wall time, throughput, memory, the checkpoint it resumed from.

These are facts of the run, not of the model: they go to the job's log (`longrm train` prints them as one
`RUN_LINE` JSON line on stderr, which the workflow sends to results/logs/train_STAGE.log), and the model
folder's train_log.jsonl and train_summary.json keep only what the same inputs reproduce byte for byte.
The checkpoints' own train_log.jsonl (outside the model folder) keeps every step's throughput.
"""

from __future__ import annotations

import json

from longrm.data.io import dumps

RUN_FACTS = ("wall_s", "tokens_per_s", "peak_rss_mb", "resumed_from")
STEP_TIMINGS = ("tokens_per_s", "peak_rss_mb")
RUN_LINE = "longrm train: this run "


def result_log(log: list[dict]) -> list[dict]:
    """The training log without each step's timings."""
    return [{k: v for k, v in row.items() if k not in STEP_TIMINGS} for row in log]


def result_summary(summary: dict) -> dict:
    """The summary without the run's facts."""
    return {k: v for k, v in summary.items() if k not in RUN_FACTS}


def run_line(summary: dict) -> str:
    """The run's facts as the one log line `read_run_facts` reads back."""
    return RUN_LINE + dumps({k: summary.get(k) for k in RUN_FACTS})


def read_run_facts(log_text: str) -> dict | None:
    """The facts of the last run a log holds (None when it holds none)."""
    lines = [ln for ln in log_text.splitlines() if ln.startswith(RUN_LINE)]
    return json.loads(lines[-1][len(RUN_LINE) :]) if lines else None
