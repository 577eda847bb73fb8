"""Write the shipped base (models/base) and check it.

    model.safetensors, config.json, generation_config.json   the weights and a standard HF decoder config
    tokenizer.json, tokenizer_config.json                      its tokenizer
    curves.csv, curves.md, curves.png                         held-out learning curves (by kind and length)
    base_summary.json                                         the final curves row, sizes, the recipe
    README.md                                                 the model card
    provenance.json                                           what built it: config, corpus and code hashes
    manifest.json                                             sha256 of every other file (written last)

Every file is a function of the config, the corpus, the code and the thread count (no clock, no git
state), so a rerun gives the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

from longrm.data.io import dumps, sha256_file, write_json
from longrm.errors import InputError

MANIFEST = "manifest.json"
PROVENANCE = "provenance.json"
METRICS = ("binding_first", "binding", "presence")
VERIFY_METRICS = ("balanced", "true", "hard", "easy")  # kind "verify": verdict accuracy on the first claim
CODE_FILES = ("base/config.py", "base/text.py", "base/rows.py", "base/model.py", "base/train.py", "base/ship.py")


def code_sha256() -> str:
    """One hash of the code that builds the base (stands in for a commit, which a rebuild would change)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in CODE_FILES:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes())
    return h.hexdigest()


def curve_records(curves: list[dict]) -> list[dict]:
    """The curves flat: one record per (step, kind, length, metric)."""
    out = []
    for row in curves:
        for kind, by_len in sorted(row.items()):  # sorted: a resumed run's curves come back from sorted JSON
            if not isinstance(by_len, dict):
                continue
            for length, metrics in sorted(by_len.items(), key=lambda kv: int(kv[0])):
                out += [
                    {"step": row["step"], "kind": kind, "length": int(length), "metric": m, "value": metrics[m]}
                    for m in metrics_of(kind)
                ]
    return out


def metrics_of(kind: str) -> tuple[str, ...]:
    return VERIFY_METRICS if kind == "verify" else METRICS


def write_curves_csv(path: Path, records: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["step", "kind", "length", "metric", "value"], lineterminator="\n")
    w.writeheader()
    w.writerows(records)
    path.write_text(buf.getvalue(), encoding="utf-8")


def curves_markdown(curves: list[dict], seq_len: int) -> str:
    """The last row as a table: kind x length, binding (first query) / binding (all) / presence."""
    last = curves[-1]
    lengths = sorted({int(n) for k, v in last.items() if isinstance(v, dict) for n in v})
    head = "| kind | " + " | ".join(f"{n} tokens ({n // seq_len}x)" for n in lengths) + " |"
    lines = [
        f"Held-out recall after step {last['step']}: binding on the first restated fact / on every restated "
        "fact (drawn with replacement) / presence (top-1 is some value stated in the row)."
        + (
            " Verify (after growth): verdict accuracy on a row's first claim, balanced / true / hard / easy claims "
            "(chance 0.5)."
            if "verify" in last
            else ""
        ),
        "",
        head,
        "|---|" + "---|" * len(lengths),
    ]
    for kind, by_len in sorted(last.items()):
        if isinstance(by_len, dict):
            cells = [" / ".join(f"{by_len[str(n)][m]:.3f}" for m in metrics_of(kind)) for n in lengths]
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(path: Path, records: list[dict], seq_len: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({r["kind"] for r in records})
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.4), squeeze=False, sharey=True)
    for ax, kind in zip(axes[0], kinds):
        for length in sorted({r["length"] for r in records}):
            shown = (
                (("balanced", "-"), ("hard", ":")) if kind == "verify" else (("binding_first", "-"), ("presence", ":"))
            )
            for metric, style in shown:
                pts = [
                    (r["step"], r["value"])
                    for r in records
                    if (r["kind"], r["length"], r["metric"]) == (kind, length, metric)
                ]
                ax.plot(*zip(*pts), style, label=f"{metric} {length // seq_len}x")
        ax.set_title(kind)
        ax.set_xlabel("step")
        ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("held-out top-1")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def write_manifest(folder: Path) -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    write_json(folder / MANIFEST, {p.relative_to(folder).as_posix(): sha256_file(p) for p in files})


def check_base(folder: str | Path) -> dict:
    """The manifest of a shipped base, after checking every file it names and the tokenizer's vocabulary
    against the model's: InputError naming the first missing, truncated or altered file."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise InputError(manifest_path, "missing: not a shipped base (rebuild it with `make base`)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(manifest_path, f"not JSON: {exc.msg}", line=exc.lineno) from None
    for rel, digest in manifest.items():
        f = folder / rel
        if not f.is_file():
            raise InputError(f, "missing from the shipped base (rebuild it with `make base`)")
        if sha256_file(f) != digest:
            raise InputError(f, f"sha256 differs from {MANIFEST} (truncated or altered; rebuild with `make base`)")
    check_vocabulary(folder)
    return manifest


def check_vocabulary(folder: Path) -> None:
    """The tokenizer's size must equal the model's vocab_size (a tokenizer of another base would not)."""
    tok_file, cfg_file = folder / "tokenizer.json", folder / "config.json"
    vocab = json.loads(cfg_file.read_text(encoding="utf-8")).get("vocab_size")
    tok = json.loads(tok_file.read_text(encoding="utf-8"))
    size = len(tok["model"]["vocab"]) + sum(
        1 for t in tok.get("added_tokens", []) if t["content"] not in tok["model"]["vocab"]
    )
    if size != vocab:
        raise InputError(tok_file, f"{size} tokens, but {cfg_file} has vocab_size {vocab}: not this model's tokenizer")


def ship(cfg: dict, model, tok, curves: list[dict], out: str | Path, corpus_sha256: str) -> Path:
    """Write the shipped base into `out` atomically."""
    from longrm.inputs.tokenizer import atomic_dir

    tr = cfg["train"]
    records = curve_records(curves)
    settings = {k: v for k, v in cfg.items() if not k.startswith("_")}
    with atomic_dir(out) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        write_curves_csv(tmp / "curves.csv", records)
        (tmp / "curves.md").write_text(curves_markdown(curves, tr["seq_len"]), encoding="utf-8")
        plot_curves(tmp / "curves.png", records, tr["seq_len"])
        write_json(
            tmp / "base_summary.json",
            {
                "parameters": sum(p.numel() for p in model.parameters()),
                "vocab_size": len(tok),
                "steps": curves[-1]["step"],
                "seq_len": tr["seq_len"],
                "facts": tr["facts"],
                "final": {k: v for k, v in curves[-1].items() if isinstance(v, dict)},
            },
        )
        (tmp / "README.md").write_text(
            model_card(cfg, curves, sum(p.numel() for p in model.parameters())), encoding="utf-8"
        )
        write_json(
            tmp / PROVENANCE,
            {
                "command": ["longrm", "base", "build", "--config", cfg["_path"]],
                "config": {"path": cfg["_path"], "sections": settings},
                "inputs": [{"arg": "corpus", "path": cfg["corpus"], "kind": "file", "sha256": corpus_sha256}],
                "code": {"base_code_sha256": code_sha256()},
                "threads": _threads(),
            },
        )
        write_manifest(tmp)
    print(dumps({"out": str(out), "steps": curves[-1]["step"]}))
    return Path(out)


def verdict_place(cue: str | None, gap: list[int]) -> str:
    """Where a verification row's verdict follows its claim, in words (rows.verify_row)."""
    if cue is None:
        return f"the sentence's end and {gap[0]}-{gap[1]} prose tokens"
    return (
        f"the cue {cue!r} in place of the sentence's final '.'"
        if cue
        else "nothing (the verdict right after the value)"
    )


def model_card(cfg: dict, curves: list[dict], parameters: int) -> str:
    m, tr = cfg["model"], cfg["train"]
    init = []
    if m["positional_heads"]:
        init.append(
            f"layer 0's heads 0-{len(m['positional_heads']) - 1} start attending to t - {m['positional_heads']}"
        )
    if m["match_heads"]:
        init.append(
            f"layer 1's heads 0-{len(m['match_heads']) - 1} start matching the tokens those heads see, pairs {m['match_heads']}"
        )
    g = cfg["grow"]
    layers = g["num_layers"] if g["at_step"] else m["num_layers"]
    growth = (
        f" At step {g['at_step']} it grew from {m['num_layers']} to {g['num_layers']} layers (the new layers' outputs "
        f"starting at zero; heads of the grown layers attending to t - {g['positional_heads']}); from there "
        f"{g['verify_share']:.0%} of rows are verification rows: the context, then {g['claims']} claims (true / "
        f"another entity's value / an absent value, {g['mix']}) each followed for {g['first_gap_steps']} steps by "
        + verdict_place(g["first_cue"], g["first_gap"])
        + ", then by "
        + verdict_place(g["cue"], g["gap"])
        + ', and a verdict " true" / " false" (loss on the verdict)'
        + (", the old layers frozen." if g["freeze_below"] else ".")
        if g["at_step"]
        else ""
    )
    return "\n".join(
        [
            f"# {cfg['name']}: the embedded study's base model",
            "",
            f"A {m['architecture']} decoder ({layers} layers, hidden {m['hidden_size']}, {m['num_heads']} heads, "
            f"RoPE theta {m['rope_theta']:g}, {parameters:,} parameters, vocabulary {cfg['tokenizer']['vocab_size']}), "
            "pre-trained by `make base` (config/base.yaml) on the committed corpus snapshot "
            f"({cfg['corpus']}: Python standard library sources under the PSF License and Debian's licence texts; "
            "see corpus/README.md).",
            "",
            f"Pre-training: {tr['steps']} steps of {tr['batch_size']} rows x {tr['seq_len']} tokens; "
            f"{1 - tr['lm_share']:.0%} of rows state {tr['facts']} facts of one kind in prose and restate "
            f"{tr['queries']} of them (loss on the restated values), the rest are corpus windows (LM loss x "
            f"{tr['lm_weight']}). Initialisation: standard, except "
            + ("; ".join(init) if init else "nothing")
            + "."
            + growth,
            "",
            "Intended use: the base of the embedded LongRM study (config/default.yaml, inputs.base_model_path). "
            "Not a general language model.",
            "",
            curves_markdown(curves, tr["seq_len"]),
        ]
    )


def _threads() -> int:
    import torch

    return torch.get_num_threads()
