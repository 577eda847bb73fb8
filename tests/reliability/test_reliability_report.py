"""The generator of results/reliability.md: rows come from the ledger, losses are counted, not assumed."""

import json

from longrm.reliability import main, read_ledger, render


def test_table_counts_losses_and_groups_by_kind(tmp_path):
    """Seen failing on a broken copy: render with the `lost` count hard-coded to 0 -> '1 of them' missing."""
    log = tmp_path / "ledger.jsonl"
    rows = [
        {"kind": "fault", "case": "kill", "stage": "train", "outcome": "resumed", "lost": "none", "test": "t::a"},
        {
            "kind": "bad input",
            "case": "empty",
            "stage": "vote",
            "outcome": "error",
            "lost": "votes.jsonl",
            "test": "t::b",
        },
        {"kind": "fault", "case": "kill", "stage": "train", "outcome": "resumed", "lost": "none", "test": "t::a"},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert len(read_ledger(log)) == 2  # a rerun test counts once
    text = render(read_ledger(log))
    assert "2 cases held; data lost in 1 of them." in text
    assert text.index("## bad input") < text.index("## fault")
    assert "| empty | vote | error | votes.jsonl | `b` |" in text
    out = tmp_path / "r.md"
    assert main(["--log", str(log), "--out", str(out)]) == 0
    assert "## scale" in out.read_text()  # streaming.json absent next to it: says how to make it
