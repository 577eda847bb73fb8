"""One model's metrics as a table (Markdown or CSV): a row per benchmark column, the three protocols
side by side. Cross-model tables are the report stage's job."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from longrm.data.io import atomic_write


def rows(metrics: dict) -> list[dict]:
    ours = metrics["protocols"]["ours"]
    cells = [(f"task {t}", ("tasks", t)) for t in ours["tasks"]]
    cells += [(k, (k,)) for k in ("Same", "Diff", "PairWise", "Rank2", "Rank3", "Rank4", "BestOfN")]
    cells += [(f"length {b}", ("length", b)) for b in ours["length"]]
    cells += [("AVG", ("AVG",)), ("macro", ("macro",))]
    out = []
    for label, path in cells:
        row = {"column": label}
        for proto in ("ours", "official", "official_first_match"):
            c = metrics["protocols"][proto]
            for p in path:
                c = c[p]
            row[proto] = _fmt(c["value"])
            if proto == "ours":
                row["n"] = c["n"]
                row["ours_ci95"] = "" if c["ci_low"] is None else f"[{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]"
        out.append(row)
    oc = metrics["order_consistency"]["all"]
    pf = metrics["parse_failure"]["all_orders"]
    tr = metrics["truncation"]["all"]
    extra = [
        ("order consistency", oc["value"], oc["n"]),
        ("parse failure rate", pf["value"], pf["n"]),
        ("truncation rate", tr["value"], tr["n"]),
    ]
    if metrics.get("auc"):
        extra.append(("AUC chosen vs rejected", metrics["auc"]["value"], metrics["auc"]["n_items"]))
    for label, value, n in extra:
        out.append(
            {"column": label, "n": n, "ours": _fmt(value), "ours_ci95": "", "official": "", "official_first_match": ""}
        )
    return out


FIELDS = ["column", "n", "ours", "ours_ci95", "official", "official_first_match"]


def _fmt(x) -> str:
    return "" if x is None else f"{x:.4f}"


def to_markdown(metrics: dict) -> str:
    title = ", ".join(metrics.get("models", [])) or "model"
    lines = [f"# Long-RewardBench: {title}", "", "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    for r in rows(metrics):
        lines.append("| " + " | ".join(str(r[f]) for f in FIELDS) + " |")
    return "\n".join(lines) + "\n"


def to_csv(metrics: dict) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows(metrics))
    return buf.getvalue()


def official_text(metrics: dict, as_csv: bool) -> str:
    """An official-protocol run's table: the released evaluator's columns and values (5 decimals)."""
    cols = {k: metrics["official_columns"][k] for k in metrics["official_column_order"]}
    if as_csv:
        return "Task,Value\n" + "".join(f"{k},{v}\n" for k, v in cols.items())
    title = ", ".join(metrics.get("models", [])) or "model"
    lines = [f"# Long-RewardBench, official protocol: {title}", "", "| Task | Value |", "|---|---|"]
    return "\n".join(lines + [f"| {k} | {v:.5f} |" for k, v in cols.items()]) + "\n"


def write_table(path: str | Path, metrics: dict) -> None:
    path = Path(path)
    as_csv = path.suffix.lower() == ".csv"
    if metrics.get("protocol") == "official":
        text = official_text(metrics, as_csv)
    else:
        text = to_csv(metrics) if as_csv else to_markdown(metrics)
    with atomic_write(path) as f:
        f.write(text)
