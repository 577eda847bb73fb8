"""Security: nothing a data, checkpoint or config file smuggles in is executed, and outputs stay inside
results_dir unless the config allows otherwise."""

from __future__ import annotations

import ast
import json
import pickle
import re
from pathlib import Path

import pytest

from longrm.config import REPO_ROOT
from longrm.data.io import write_jsonl
from longrm.errors import InputError
from tests.reliability.conftest import cli, write_config
from tests.test_bench_score import official_line

SRC = REPO_ROOT / "src" / "longrm"
MARKER_NAME = "pwned.txt"


class Smuggled:
    """Unpickling this writes a marker file: proof that a loader executed the checkpoint's code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "executed"))


def pickle_checkpoint(folder: Path, marker: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2", "vocab_size": 10}))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Smuggled(str(marker))))
    return folder


def test_pickle_checkpoint_is_refused_without_the_flag(tmp_path, ledger):
    """Seen failing on a broken copy: check_checkpoint's pickle refusal disabled -> no InputError (the
    loader went on to transformers)."""
    from longrm.modeling import check_checkpoint, load_causal_lm

    marker = tmp_path / MARKER_NAME
    ckpt = pickle_checkpoint(tmp_path / "ckpt", marker)
    with pytest.raises(InputError, match="refusing to unpickle"):
        load_causal_lm(ckpt)
    assert not marker.exists()
    assert check_checkpoint(ckpt, allow_pickle=True) == ckpt  # only an explicit flag lets it through
    ledger(
        "security", "pickle .bin checkpoint (code in __reduce__)", "modeling.load_causal_lm", "refused; code not run"
    )


def test_safetensors_win_over_a_smuggled_pickle_beside_them(tmp_path, ledger):
    """Seen failing on a broken copy: load_causal_lm with use_safetensors=False -> transformers opened the
    .bin (torch.load, whose weights_only=True default then refused it: UnpicklingError)."""
    from longrm.modeling import load_causal_lm
    from tests.helpers import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    marker = tmp_path / MARKER_NAME
    (ckpt / "pytorch_model.bin").write_bytes(pickle.dumps(Smuggled(str(marker))))
    load_causal_lm(ckpt)
    assert not marker.exists()
    ledger(
        "security",
        "pickle .bin beside safetensors weights",
        "modeling.load_causal_lm",
        "safetensors loaded; the pickle not executed",
    )


def _calls(tree, attr):
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == attr
    ]


def test_every_from_pretrained_passes_trust_remote_code_not_true():
    """Every `X.from_pretrained(...)` in src/ passes trust_remote_code explicitly (a variable that defaults
    to False, the literal False, or **kwargs built with it), never the literal True.
    Seen failing on a broken copy: `trust_remote_code=trust_remote_code` removed from load_tokenizer."""
    checked = 0
    for path in SRC.rglob("*.py"):
        source = path.read_text()
        tree = ast.parse(source)
        for call in _calls(tree, "from_pretrained"):
            kws = {k.arg: k.value for k in call.keywords}
            where = f"{path.relative_to(REPO_ROOT)}:{call.lineno}"
            if "trust_remote_code" in kws:
                value = kws["trust_remote_code"]
                assert not (isinstance(value, ast.Constant) and value.value is True), where
            else:
                # **kwargs: the dict it unpacks must carry trust_remote_code
                assert None in kws, f"{where}: from_pretrained without trust_remote_code"
                assert re.search(r"dict\(\s*trust_remote_code=trust_remote_code", source), where
            checked += 1
    assert checked >= 4


def test_trust_remote_code_is_false_unless_the_config_enables_it(tmp_path, monkeypatch):
    """Seen failing on a broken copy: load_causal_lm passing trust_remote_code as True -> the
    kwargs assertion failed."""
    import transformers

    from longrm.config import load_config
    from longrm.modeling import load_causal_lm
    from tests.helpers import tiny_checkpoint

    assert load_config()["trust_remote_code"] is False
    seen = []
    monkeypatch.setattr(
        transformers.AutoModelForCausalLM, "from_pretrained", classmethod(lambda cls, *a, **kw: seen.append(kw))
    )
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    load_causal_lm(ckpt)
    assert seen[-1]["trust_remote_code"] is False and seen[-1]["local_files_only"] is True
    # judges: the per-model flag, else the config's, which is false when the config leaves it out (schema)
    from longrm.config import with_defaults
    from longrm.judges.model_args import trust_remote_code

    bare = {k: v for k, v in load_config().items() if k != "trust_remote_code"}
    assert with_defaults(bare)["trust_remote_code"] is False
    assert trust_remote_code({"name": "m"}, with_defaults(bare)) is False
    assert trust_remote_code({"name": "m", "trust_remote_code": True}, with_defaults(bare)) is True


FORBIDDEN = {
    r"\byaml\.load\(": "yaml.load (use yaml.safe_load)",
    r"\byaml\.unsafe_load\b": "yaml.unsafe_load",
    r"\bLoader\s*=\s*yaml\.(Unsafe|Full)?Loader": "an unsafe YAML Loader",
    r"weights_only\s*=\s*" + "False": "torch.load with weights_only off",
    r"shell\s*=\s*True": "subprocess with shell=True",
    r"\bos\.system\(": "os.system",
    r"\bos\.popen\(": "os.popen",
    r"\bpickle\.loads?\(": "pickle.load",
    r"(?<![.\w])eval\(": "eval",
}


def forbidden_uses(root: Path) -> list[str]:
    hits = []
    for path in sorted(root.rglob("*.py")):
        for no, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            for pattern, what in FORBIDDEN.items():
                if re.search(pattern, code):
                    hits.append(f"{path}:{no}: {what}")
    return hits


def test_no_unsafe_loaders_or_shell_strings_in_src(tmp_path, ledger):
    """Seen failing on a broken copy: config.py calling yaml's full loader instead of safe_load was reported
    (and the check runs on such a copy below, every time)."""
    assert forbidden_uses(SRC) == []
    bad = tmp_path / "copy"
    bad.mkdir()
    (bad / "config.py").write_text((SRC / "config.py").read_text().replace("yaml.safe_load(f)", "yaml." + "load(f)"))
    assert forbidden_uses(bad) != []
    ledger("security", "unsafe YAML / pickle / shell=True / os.system in src/", "all stages (grep)", "none found")


# Placeholders a rule may leave unquoted: values fixed by the workflow code itself, never data.
UNQUOTED_OK = {
    "params.launcher": "'longrm' or a fixed deepspeed launcher line (train.smk train_launcher)",
    "params.stage": "the rule's own stage name from TRAINED (sft|logo|disrm)",
}


def unquoted_placeholders(text: str) -> set[str]:
    found = set()
    for shell in re.findall(r"shell:\s*\n((?:\s+(?:f?\"[^\n]*\"|'[^\n]*')\s*\n)+)", text):
        for name in re.findall(r"(?<!\{)\{([A-Za-z_][\w.]*)(?::(\w+))?\}(?!\})", shell):
            if name[1] != "q":
                found.add(name[0])
    return found


def test_workflow_rules_quote_every_value_from_data_or_config(ledger):
    """Seen failing on a broken copy: `{input.raw:q}` -> `{input.raw}` in inputs.smk was reported."""
    files = [REPO_ROOT / "Snakefile", *sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk"))]
    unquoted = set()
    shells = 0
    for f in files:
        text = f.read_text()
        shells += text.count("shell:")
        unquoted |= unquoted_placeholders(text)
    assert shells >= 10
    assert unquoted <= set(UNQUOTED_OK), unquoted - set(UNQUOTED_OK)
    assert unquoted_placeholders('    shell:\n        "longrm x --raw {input.raw} --out {output:q}"\n') == {"input.raw"}
    train = (REPO_ROOT / "workflow" / "rules" / "common.smk").read_text()  # train_launcher
    assert 'return "longrm"' in train and 'DEEPSPEED_LAUNCHER = "bash workflow/scripts/deepspeed_launch.sh"' in train
    launcher = (REPO_ROOT / "workflow" / "scripts" / "deepspeed_launch.sh").read_text()
    assert '--include "localhost:${CUDA_VISIBLE_DEVICES}"' in launcher and '"$@"' in launcher
    ledger(
        "security",
        "unquoted data/config values in workflow shell commands",
        "Snakefile + rules",
        "all quoted ({...:q}) or fixed",
    )


# ------------------------------------------------------------ outputs stay inside results_dir


@pytest.fixture
def bench_setup(tmp_path):
    res = tmp_path / "results"
    write_jsonl(res / "bench.jsonl", [official_line("a1", "LongQA", "same", "4k")])
    return res, write_config(tmp_path / "c.yaml", res)


@pytest.mark.parametrize("where", ["outside", "dotdot", "symlink"])
def test_outputs_outside_results_dir_are_refused(bench_setup, tmp_path, capsys, ledger, where):
    """Seen failing on a broken copy: main() without check_outputs_inside_results -> rc 0, file written."""
    res, cfg = bench_setup
    (tmp_path / "elsewhere").mkdir()
    if where == "outside":
        out = tmp_path / "elsewhere" / "records.jsonl"
    elif where == "dotdot":
        out = res / ".." / "elsewhere" / "records.jsonl"
    else:
        (res / "link").symlink_to(tmp_path / "elsewhere")
        out = res / "link" / "records.jsonl"
    rc, err = cli(
        ["bench", "run", "--config", cfg, "--model", "first", "--bench", res / "bench.jsonl", "--out", out], capsys
    )
    assert rc == 2 and "--out" in err and str(out) in err and "allow_outside_results" in err, err
    assert not (tmp_path / "elsewhere" / "records.jsonl").exists()
    ledger(
        "security",
        f"output path outside results_dir ({where})",
        "cli (every stage)",
        "refused before the stage runs, exit 2",
    )


def test_outputs_outside_results_dir_are_allowed_when_the_config_says_so(bench_setup, tmp_path, capsys):
    res, _ = bench_setup
    cfg = write_config(tmp_path / "open.yaml", res, allow_outside_results=True)
    out = tmp_path / "elsewhere" / "records.jsonl"
    rc, err = cli(
        ["bench", "run", "--config", cfg, "--model", "first", "--bench", res / "bench.jsonl", "--out", out], capsys
    )
    assert rc == 0, err
    assert out.exists()
    rc, err = cli(
        [
            "bench",
            "run",
            "--config",
            write_config(tmp_path / "c2.yaml", res),
            "--model",
            "first",
            "--bench",
            res / "bench.jsonl",
            "--out",
            res / "bench" / "first" / "r.jsonl",
        ],
        capsys,
    )
    assert rc == 0, err
