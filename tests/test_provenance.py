"""Provenance sidecars and `longrm audit`: a three-step chain of our own files, back to the raw data."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import pytest

from longrm import provenance
from longrm.cli import main
from longrm.config import DEFAULT_CONFIG
from longrm.errors import InputError


def _step(argv, **dests):
    """Record a step as `longrm.cli.main` would after its handler succeeded."""
    args = Namespace(config=str(DEFAULT_CONFIG), **dests)
    return provenance.record(args, argv)


@pytest.fixture
def chain(tmp_path):
    """raw.jsonl (source) -> items.jsonl -> tables/ (folder output; main.csv inside)."""
    raw = tmp_path / "raw.jsonl"
    raw.write_text('{"id": "a"}\n{"id": "b"}\n')
    items = tmp_path / "synth" / "items.jsonl"
    items.parent.mkdir()
    items.write_text('{"id": "a-512"}\n')
    _step(
        ["synth", "--raw", str(raw)],
        raw=str(raw),
        out=str(items),
        prov_inputs=("raw",),
        prov_outputs=("out",),
        prov_params=("seed", "synth"),
    )
    metrics = tmp_path / "bench" / "base" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text('{"avg": 0.5}\n')
    _step(
        ["bench"],
        bench=str(items),
        out=str(metrics),
        prov_inputs=("bench",),
        prov_outputs=("out",),
        prov_params=("bench",),
    )
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "main.csv").write_text("model,avg\nbase,0.5\n")
    _step(
        ["report", "tables"],
        metrics=[f"base={metrics}"],
        out_dir=str(tables),
        prov_inputs=("metrics",),
        prov_outputs=("out_dir",),
        prov_params=("bench.models",),
    )
    return Namespace(raw=raw, items=items, metrics=metrics, tables=tables)


def test_sidecars_hold_hashes_config_code_and_command(chain):
    side = json.loads((chain.items.parent / "items.jsonl.prov.json").read_text())
    assert side["inputs"][0]["path"] == str(chain.raw)
    assert side["inputs"][0]["sha256"] == provenance.hash_path(chain.raw)["sha256"]
    assert side["inputs"][0]["sidecar"] is None  # raw data: a source
    assert side["output"]["sha256"] == provenance.hash_path(chain.items)["sha256"]
    assert side["config"]["sections"]["synth"]["lengths"] == [256, 512, 1024, 2048]
    assert side["config"]["sections"]["seed"] == 1234
    assert side["command"][:2] == ["longrm", "synth"]
    assert "commit" in side["code"] and "dirty" in side["code"]
    assert side["packages"]["python"]
    folder = json.loads((chain.tables / "provenance.json").read_text())
    assert folder["inputs"][0]["path"] == str(chain.metrics)  # NAME=PATH resolved to the path
    assert folder["output"]["kind"] == "dir"


def test_audit_walks_from_a_table_back_to_the_raw_data(chain, capsys):
    tree = provenance.audit(chain.tables / "main.csv")
    assert tree["sidecar"].endswith("tables/provenance.json")
    (metrics,) = tree["inputs"]
    (items,) = metrics["inputs"]
    (raw,) = items["inputs"]
    assert raw == {"path": str(chain.raw), "status": "ok", "source": True}
    assert provenance.broken(tree) == []
    assert main(["audit", str(chain.tables / "main.csv")]) == 0
    out = capsys.readouterr().out
    assert out.index(str(chain.metrics)) < out.index(str(chain.items)) < out.index(str(chain.raw))
    assert "source: no sidecar" in out


def test_audit_flags_raw_data_changed_after_use(chain, capsys):
    chain.raw.write_text('{"id": "a"}\n')
    tree = provenance.audit(chain.tables / "main.csv")
    assert provenance.broken(tree) == [str(chain.raw)]
    assert main(["audit", str(chain.tables / "main.csv")]) == 1
    assert "[CHANGED]" in capsys.readouterr().out


def test_audit_flags_an_edited_result(chain):
    (chain.tables / "main.csv").write_text("model,avg\nbase,0.9\n")
    assert provenance.broken(provenance.audit(chain.tables / "main.csv")) == [str(chain.tables / "main.csv")]


def test_folder_hash_ignores_sidecars_but_not_data(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "weights.bin").write_bytes(b"\x00\x01")
    before = provenance.hash_path(d)["sha256"]
    (d / "provenance.json").write_text("{}")
    (d / ".snakemake_timestamp").write_text("")
    assert provenance.hash_path(d)["sha256"] == before
    (d / "weights.bin").write_bytes(b"\x00\x02")
    assert provenance.hash_path(d)["sha256"] != before


def test_audit_without_sidecar_names_the_file(tmp_path):
    f = tmp_path / "orphan.csv"
    f.write_text("x\n")
    with pytest.raises(InputError, match="orphan.csv.*no provenance"):
        provenance.audit(f)


def test_cli_main_records_after_a_successful_handler(tmp_path, monkeypatch):
    """The hook in longrm.cli.main: a command declaring prov_* gets sidecars; a failing one gets none."""
    from tests.helpers import config_in

    DEFAULT_CONFIG = config_in(tmp_path)  # outputs go to tmp_path: the CLI refuses them outside results_dir
    import longrm.cli as cli

    src = tmp_path / "in.txt"
    src.write_text("data\n")

    def fake_parser(rc):
        def build():
            import argparse

            p = argparse.ArgumentParser()
            p.add_argument("--config")
            p.add_argument("--src")
            p.add_argument("--out")

            def run(args):
                Path(args.out).write_text("made\n")
                return rc

            p.set_defaults(func=run, prov_inputs=("src",), prov_outputs=("out",), prov_params=("seed",))
            return p

        return build

    monkeypatch.setattr(cli, "build_parser", fake_parser(0))
    ok = tmp_path / "ok.txt"
    assert cli.main(["--config", str(DEFAULT_CONFIG), "--src", str(src), "--out", str(ok)]) == 0
    side = json.loads((tmp_path / "ok.txt.prov.json").read_text())
    assert side["inputs"][0]["path"] == str(src) and side["config"]["sections"] == {"seed": 1234}
    assert side["command"] == ["longrm", "--config", str(DEFAULT_CONFIG), "--src", str(src), "--out", str(ok)]

    monkeypatch.setattr(cli, "build_parser", fake_parser(3))
    bad = tmp_path / "bad.txt"
    assert cli.main(["--config", str(DEFAULT_CONFIG), "--src", str(src), "--out", str(bad)]) == 3
    assert not (tmp_path / "bad.txt.prov.json").exists()
