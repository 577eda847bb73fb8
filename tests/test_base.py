"""`longrm base build|check` (make base): deterministic, resumable, shipped with a manifest the study checks."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from longrm.base import rows as base_rows
from longrm.base.config import load_base_config
from longrm.base.ship import check_base
from longrm.cli import main
from longrm.errors import ConfigError, InputError
from longrm.inputs.families import ACTION_OBJECTS, ATTRIBUTES, COUNT_NOUNS


def write_corpus(path: Path, n_docs: int = 12) -> Path:
    """A small snapshot: sentences over 400 made-up words (frequent enough to be one BPE token each)."""
    rng = random.Random(0)
    letters = "abcdefghijklmnoprstuvw"
    words = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(4, 7))) for _ in range(400)})
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        for d in range(n_docs):
            text = " ".join(
                f"The {rng.choice(ATTRIBUTES)} of {rng.choice(words)} is {rng.choice(words)}. The "
                f"{rng.choice(ACTION_OBJECTS)} {rng.choice(words)} is marked {rng.choice(words)}. "
                f"{rng.choice(words)} holds {rng.randint(2, 99)} {rng.choice(COUNT_NOUNS)}."
                for _ in range(300)
            )
            f.write((json.dumps({"name": f"doc{d:02d}", "kind": "code", "text": text}) + "\n").encode())
    return path


def tiny_config(tmp: Path, **train) -> Path:
    cfg = {
        "seed": 7,
        "corpus": str(write_corpus(tmp / "corpus.jsonl.gz")),
        "out": str(tmp / "out"),
        "work_dir": str(tmp / "work"),
        "tokenizer": {"vocab_size": 768},
        "model": {
            "hidden_size": 32,
            "num_heads": 2,
            "num_kv_heads": 2,
            "intermediate_size": 64,
            "positional_heads": [1, 2],
        },
        "grow": {  # the stage II knobs config/base.yaml sets, so a resume across growth exercises them
            "at_step": 3,
            "num_layers": 3,
            "positional_heads": [[1, 0]],
            "claims": 3,
            "first_gap_steps": 2,
            "carry": 1.0,
            "embeddings": "verdicts",
            "keep_reading": 1.0,
            "schedule": "constant",
        },
        "train": {
            "steps": 6,
            "batch_size": 4,
            "seq_len": 128,
            "eval_every": 3,
            "checkpoint_every": 3,
            "eval_rows": 4,
            "eval_lengths": [1, 8],  # 128 and 1024 tokens: their names sort apart from their values
            "threads": 1,
            **train,
        },
    }
    path = tmp / "base.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base")
    cfg = tiny_config(tmp)
    assert main(["base", "build", "--config", str(cfg)]) == 0
    return tmp, cfg


def test_build_ships_a_checked_base(built):
    tmp, _ = built
    out = tmp / "out"
    manifest = check_base(out)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "curves.csv", "curves.png", "provenance.json"):
        assert name in manifest
    conf = json.loads((out / "config.json").read_text())
    assert conf["model_type"] == "qwen2" and conf["num_hidden_layers"] == 3  # grown at step 3
    steps = {int(line.split(",")[0]) for line in (out / "curves.csv").read_text().splitlines()[1:]}
    assert steps == {0, 3, 6}


def test_rerun_gives_the_same_bytes(built):
    tmp, cfg = built
    first = folder_bytes(tmp / "out")
    shutil.rmtree(tmp / "out")
    shutil.rmtree(tmp / "work")
    assert main(["base", "build", "--config", str(cfg)]) == 0
    second = folder_bytes(tmp / "out")
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []


def test_killed_run_resumes_to_the_same_bytes(built, tmp_path, monkeypatch):
    tmp, cfg = built
    again = yaml.safe_load(cfg.read_text())
    again.update(out=str(tmp_path / "out"), work_dir=str(tmp_path / "work"), corpus=str(tmp / "corpus.jsonl.gz"))
    cfg2 = tmp_path / "base.yaml"
    cfg2.write_text(yaml.safe_dump(again))
    real_batch = base_rows.Rows.batch

    def dies_at_step_4(self, step):
        if step == 4:
            raise KeyboardInterrupt
        return real_batch(self, step)

    monkeypatch.setattr(base_rows.Rows, "batch", dies_at_step_4)
    assert main(["base", "build", "--config", str(cfg2)]) == 130  # interrupted
    assert (tmp_path / "work" / "checkpoints" / "step-3").is_dir() and not (tmp_path / "out").exists()
    monkeypatch.setattr(base_rows.Rows, "batch", real_batch)
    assert main(["base", "build", "--config", str(cfg2)]) == 0
    resumed, whole = folder_bytes(tmp_path / "out"), folder_bytes(tmp / "out")
    # only the provenance (it names its config file) and the manifest that hashes it may differ
    assert [k for k in whole if whole[k] != resumed[k]] == ["manifest.json", "provenance.json"]


def test_altered_or_missing_files_are_named(built, tmp_path):
    tmp, _ = built
    copy = tmp_path / "base"
    shutil.copytree(tmp / "out", copy)
    with (copy / "model.safetensors").open("r+b") as f:
        f.truncate(100)
    with pytest.raises(InputError, match="model.safetensors.*sha256 differs"):
        check_base(copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(InputError, match="model.safetensors.*missing"):
        check_base(copy)
    assert main(["base", "check", str(copy)]) == 2


def test_a_tokenizer_of_another_vocabulary_is_refused(built, tmp_path):
    tmp, _ = built
    copy = tmp_path / "base"
    shutil.copytree(tmp / "out", copy)
    conf = json.loads((copy / "config.json").read_text())
    conf["vocab_size"] += 1
    (copy / "config.json").write_text(json.dumps(conf))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest.pop("config.json")  # hash no longer checked: the vocabulary check must catch it
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="tokenizer.json.*not this model's tokenizer"):
        check_base(copy)


def test_bad_config_names_the_key(tmp_path):
    cfg = tiny_config(tmp_path, facts_start=9)
    with pytest.raises(ConfigError, match="train.facts_start"):
        load_base_config(cfg)
    assert main(["base", "build", "--config", str(cfg)]) == 2


def rows_of(tmp: Path, cfg: Path):
    """(config, tokenizer, Rows) of the built tiny base."""
    from longrm.base import text
    from longrm.modeling import load_tokenizer

    c = load_base_config(cfg)
    tok = load_tokenizer(tmp / "out")
    train_texts, held = text.split_documents(text.read_documents(c["corpus"]))
    return c, tok, base_rows.Rows(c, tok, train_texts, held)


def test_recall_rows_are_exact_and_hard(built):
    tmp, cfg = built
    c, tok, rows = rows_of(tmp, cfg)
    ids, targets, first, values = rows.heldout(256, "attr", 3)
    assert ids.shape == (3, 256)
    for b in range(3):
        answers = targets[b][targets[b] != base_rows.IGNORE]
        assert len(answers) == c["train"]["queries"]
        assert all(int(a) in values[b].tolist() for a in answers)  # every restated value is a stated one
        stated = ids[b].tolist()
        assert all(stated.count(int(v)) >= 1 for v in values[b])  # the other facts' values are in the row
        assert int(first[b].sum()) == 1


def test_every_loader_tokenizes_as_training_did(built):
    """The shipped config says qwen2, so AutoTokenizer (and vLLM) rebuild a Qwen2 tokenizer from the
    vocabulary: its pre-tokenization must be the one the base was trained with."""
    from transformers import AutoTokenizer

    from longrm.modeling import load_tokenizer

    tmp, _ = built
    text = " The codeword of heapq is stream. It holds 42 records, marked café-7 at 10:30.\n\tdef f(x=1):"
    trained = load_tokenizer(tmp / "work" / "tokenizer")(text, add_special_tokens=False)["input_ids"]
    auto = AutoTokenizer.from_pretrained(str(tmp / "out"), local_files_only=True)
    assert auto(text, add_special_tokens=False)["input_ids"] == trained
    assert load_tokenizer(tmp / "out")(text, add_special_tokens=False)["input_ids"] == trained


def test_raw_entities_and_values_are_one_token_words_of_the_base(built):
    from longrm.config import schema_default
    from longrm.inputs import raw
    from longrm.modeling import load_tokenizer

    tmp, _ = built
    words = raw.one_token_words(tmp / "out")
    tok = load_tokenizer(tmp / "out")
    assert words and all(len(tok(" " + w, add_special_tokens=False)["input_ids"]) == 1 for w in words)
    corpus = schema_default("inputs.corpus")
    full = raw.build_pools(1234, corpus)
    keep = frozenset(full.entities[::2] + full.words[::3])
    pools = raw.build_pools(1234, corpus, keep)
    assert set(pools.entities) == set(full.entities) & keep and set(pools.words) == set(full.words) & keep
    with pytest.raises(InputError, match="one token of the base"):
        raw.build_pools(1234, corpus, frozenset(full.entities[:3]))


def study_config(tmp: Path, base: Path) -> Path:
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "default.yaml").read_text())
    cfg["results_dir"] = str(tmp / "results")
    cfg["inputs"]["base_model_path"] = str(base)
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def plan(config: Path) -> subprocess.CompletedProcess:
    repo = Path(__file__).resolve().parents[1]
    snakemake = Path(sys.executable).parent / "snakemake"
    return subprocess.run(
        [
            str(snakemake),
            "-n",
            "--cores",
            "1",
            "--configfile",
            str(config),
            "--workflow-profile",
            "workflow/profiles/default",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_study_plans_from_a_shipped_base_and_refuses_an_altered_one(built, tmp_path):
    tmp, _ = built
    good = plan(study_config(tmp_path, tmp / "out"))
    assert good.returncode == 0, good.stderr[-2000:]
    assert "rule inputs_raw" in good.stdout and "rule train_short" in good.stdout
    assert "rule inputs_pretrain" not in good.stdout  # the shipped base is an input, not a stage
    copy = tmp_path / "base"
    shutil.copytree(tmp / "out", copy)
    (copy / "tokenizer.json").write_text("{}")
    bad = plan(study_config(tmp_path, copy))
    assert bad.returncode != 0
    assert f"{copy / 'tokenizer.json'}: sha256 differs" in bad.stdout + bad.stderr


def test_audit_walks_from_a_study_output_to_the_base_and_its_corpus(built, tmp_path):
    """A study output made from the base: `longrm audit` reaches the base's provenance, then the snapshot."""
    import argparse

    from longrm.provenance import audit, format_chain, record

    tmp, _ = built
    out = tmp_path / "made.txt"
    out.write_text("made from the base\n")
    args = argparse.Namespace(init=str(tmp / "out"), out=str(out), prov_inputs=("init",), prov_outputs=("out",))
    record(args, argv=["train", "short"])
    tree = audit(out)
    (base,) = tree["inputs"]
    assert base["path"] == str(tmp / "out") and base["status"] == "ok"
    (corpus,) = base["inputs"]
    assert corpus["path"].endswith("corpus.jsonl.gz") and corpus["status"] == "ok" and corpus["source"]
    assert "longrm.base sha256 " in format_chain(tree)


def test_verification_rows_state_true_hard_and_easy_claims(built):
    tmp, cfg = built
    c, tok, rows = rows_of(tmp, cfg)
    ids, targets, types = rows.verify_heldout(128, 24)
    false_id, true_id = (tok(w, add_special_tokens=False)["input_ids"][0] for w in base_rows.VERDICT_WORDS)
    seen = set()
    for b in range(24):
        verdicts = targets[b][targets[b] != base_rows.IGNORE].tolist()
        assert len(verdicts) == len(types[b]) == c["grow"]["claims"]
        assert verdicts == [true_id if t == "true" else false_id for t in types[b]]
        seen |= set(types[b])
    assert seen == {"true", "hard", "easy"}
    assert ids.shape == (24, 128)


def test_growth_keeps_what_the_model_computes(built):
    import torch
    from transformers import AutoModelForCausalLM

    from longrm.base.model import grow_model, trainable_after_growth

    tmp, cfg = built
    c = load_base_config(cfg)

    model = AutoModelForCausalLM.from_pretrained(tmp / "out")  # 3 layers
    grow = dict(c["grow"], num_layers=5, carry=0.0)
    bigger = grow_model(model, grow, 9.0, seed=1)
    assert bigger.config.num_hidden_layers == 5
    ids = torch.randint(0, model.config.vocab_size, (2, 40))
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, bigger(input_ids=ids).logits, atol=1e-5)
    (group,) = trainable_after_growth(bigger, 3, freeze_below=True)
    names = {n for n, p in bigger.named_parameters() if p.requires_grad}
    assert len(group["params"]) == len(names) and any("layers.4." in n for n in names)
    assert not any(n.startswith(("model.layers.0.", "model.layers.2.")) for n in names)


def test_verdict_carry_adds_only_the_verdict_direction_and_freezing_leaves_the_grown_layers(built):
    import torch
    from transformers import AutoModelForCausalLM

    from longrm.base.model import grow_model, trainable_after_growth

    tmp, cfg = built
    c = load_base_config(cfg)
    model = AutoModelForCausalLM.from_pretrained(tmp / "out")  # 3 layers
    verdicts = (5, 9)
    grow = dict(c["grow"], num_layers=5, positional_heads=[[1, 0], [6, 6]], carry=1.0)
    bigger = grow_model(model, grow, 9.0, seed=1, verdicts=verdicts)
    ids = torch.randint(0, model.config.vocab_size, (2, 40))

    def residual(m):  # (B, T, H): the last layer's output, before the final norm
        seen = []
        hook = m.model.norm.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
        with torch.no_grad():
            m(input_ids=ids)
        hook.remove()
        return seen[0]

    old, new = residual(model), residual(bigger)
    emb = bigger.get_output_embeddings().weight.detach()
    u = (emb[verdicts[1]] - emb[verdicts[0]]) * bigger.model.norm.weight.detach()
    u = u / u.norm()
    added = new - old  # (B, T, H): what the carry heads wrote
    assert added.abs().max() > 1e-3
    along = (added @ u)[..., None] * u
    assert torch.allclose(added, along, atol=1e-5)
    (group,) = trainable_after_growth(bigger, 3, freeze_below=True, embeddings="none")
    names = {n for n, p in bigger.named_parameters() if p.requires_grad}
    assert len(group["params"]) == len(names) and names
    assert all(n.startswith(("model.layers.3.", "model.layers.4.")) for n in names)


def test_stage_two_can_train_the_verdict_words_embeddings_alone(built):
    import torch
    from transformers import AutoModelForCausalLM

    from longrm.base.model import grow_model, trainable_after_growth

    tmp, cfg = built
    c = load_base_config(cfg)
    model = AutoModelForCausalLM.from_pretrained(tmp / "out")
    bigger = grow_model(model, dict(c["grow"], num_layers=4, carry=0.0), 9.0, seed=1)
    layers, shared = trainable_after_growth(bigger, 3, freeze_below=True, embeddings="verdicts", verdicts=(5, 9))
    emb = bigger.get_input_embeddings().weight
    assert shared["params"] == [emb] and shared["weight_decay"] == 0.0
    assert not any(p is emb for p in layers["params"]) and not bigger.model.norm.weight.requires_grad
    before = emb.detach().clone()
    opt = torch.optim.AdamW([layers, shared], lr=1e-2, weight_decay=0.1)
    ids = torch.randint(0, model.config.vocab_size, (2, 24))
    bigger(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    moved = (emb.detach() - before).abs().sum(-1).nonzero().flatten().tolist()
    assert moved == [5, 9]


def test_constant_schedule_after_growth():
    from longrm.base.train import lr_at

    tr = {"lr": 1e-3, "warmup_steps": 10, "steps": 200, "min_lr_ratio": 0.1}
    grow = {"at_step": 100, "lr": 3e-3, "warmup_steps": 5, "schedule": "constant"}
    assert lr_at(100, tr, grow) == pytest.approx(3e-3 / 5)
    assert lr_at(150, tr, grow) == lr_at(199, tr, grow) == 3e-3
    assert lr_at(99, tr, grow) == pytest.approx(1e-4, rel=0.01)  # stage I still decays to min_lr_ratio
    cosine = dict(grow, schedule="cosine")
    assert lr_at(199, tr, cosine) < lr_at(150, tr, cosine) < 3e-3


def test_keep_reading_penalises_grown_layers_that_overwrite_the_old_reading(built):
    import torch
    from transformers import AutoModelForCausalLM

    from longrm.base.model import grow_model
    from longrm.base.rows import ANSWER, IGNORE
    from longrm.base.train import KEEP_STRIDE, step_loss

    tmp, cfg = built
    c = load_base_config(cfg)
    model = AutoModelForCausalLM.from_pretrained(tmp / "out")  # 3 layers
    bigger = grow_model(model, dict(c["grow"], num_layers=4, carry=0.0), 9.0, seed=1)  # grown layers silent
    ids = torch.randint(0, model.config.vocab_size, (2, 32))
    targets = torch.full_like(ids, IGNORE)
    targets[:, 10] = ids[:, 11]
    kinds = torch.where(targets != IGNORE, ANSWER, 0)
    with torch.no_grad():
        plain, answer, lm = step_loss(bigger, ids, targets, kinds, 0.5)
        kept, *_ = step_loss(bigger, ids, targets, kinds, 0.5, keep=(3, 1.0))
        torch.nn.init.normal_(bigger.model.layers[3].mlp.down_proj.weight, std=20.0)  # the grown layer writes
        overwritten, *_ = step_loss(bigger, ids, targets, kinds, 0.5, keep=(3, 1.0))
        plain_after, *_ = step_loss(bigger, ids, targets, kinds, 0.5)
        pos = (torch.arange(32) % KEEP_STRIDE == 0) & (targets[0] == IGNORE)  # the term's positions
        logits = model(input_ids=ids).logits[:, pos]  # (2, P, V): the old model alone
        own = torch.nn.functional.cross_entropy(logits.flatten(0, 1), logits.argmax(-1).flatten())
    assert plain == answer + 0.5 * lm
    assert torch.isclose(kept - plain, own, atol=1e-4)  # the grown layers start silent: the old reading
    assert overwritten - plain_after > kept - plain + 0.1


def test_verification_rows_follow_the_curriculum_then_the_cue(built):
    """First the verdict right after the claim's sentence (first_gap 0), then `gap` prose tokens or, with
    grow.cue, the judge prompt's own text between the sentence's last word and the verdict."""
    tmp, cfg = built
    c, tok, rows = rows_of(tmp, cfg)
    g = c["grow"]
    verdict_ids = {tok(w, add_special_tokens=False)["input_ids"][0] for w in base_rows.VERDICT_WORDS}

    def tails(step: int, n: int) -> list[list[int]]:
        ids, targets, _ = rows.batch(step)
        out = []
        for b in range(round(len(ids) * g["verify_share"])):
            for p in (targets[b] != base_rows.IGNORE).nonzero().flatten().tolist():
                assert int(targets[b, p]) in verdict_ids
                out.append(ids[b, p + 1 - n : p + 1].tolist())  # the n tokens before the verdict
        return out

    period = tok(".", add_special_tokens=False)["input_ids"]
    assert tails(g["at_step"], 1) and all(t == period for t in tails(g["at_step"], 1))  # first_gap [0, 0]
    after = g["at_step"] + g["first_gap_steps"]
    g["gap"] = [2, 2]
    assert {tuple(t[:1]) for t in tails(after, 3)} == {tuple(period)}  # the sentence's end, then 2 prose tokens
    g["cue"] = ".\n\n[Score:"
    cue = tok(".\n\n[Score:", add_special_tokens=False)["input_ids"]
    assert all(t == cue for t in tails(after, len(cue)))
    ids, _, _ = rows.batch(after)  # the context's facts keep their own end: the cue comes only before a verdict
    verdicts_shown = sum(int(i) in verdict_ids for i in ids[0])
    assert sum(ids[0, p : p + len(cue)].tolist() == cue for p in range(ids.shape[1])) == verdicts_shown
    g["first_cue"] = ""  # the curriculum's verdict right after the claim's value
    values = {v for kind in rows.kinds if kind != "count" for v in rows.facts.values(kind)}
    ids, targets, _ = rows.batch(g["at_step"])
    for b in range(round(len(ids) * g["verify_share"])):
        if rows.kinds[b % len(rows.kinds)] != "count":  # a count's noun stays between its value and the verdict
            assert all(int(ids[b, p]) in values for p in (targets[b] != base_rows.IGNORE).nonzero().flatten().tolist())


def test_verification_rows_state_only_the_kinds_asked(built):
    """grow.verify_kinds picks the fact kinds of the verification rows; a kind the vocabulary cannot state
    is named as a config error. (The tiny vocabulary holds the attr kind alone.)"""
    from longrm.base.text import read_documents, split_documents

    tmp, cfg = built
    c, tok, rows = rows_of(tmp, cfg)
    assert rows.kinds == ("attr",)
    train_texts, held = split_documents(read_documents(c["corpus"]))
    of = tok(" of", add_special_tokens=False)["input_ids"][0]
    c["grow"].update(verify_kinds=["attr", "flag"], cue="")  # the verdict right after the value
    ids, targets, _ = base_rows.Rows(c, tok, train_texts, held).verify_heldout(128, 6)
    for b in range(6):
        first = int((targets[b] != base_rows.IGNORE).nonzero()[0])
        assert of in ids[b, first - 6 : first].tolist()  # "The ATTR of E is V." before the verdict
    c["grow"]["verify_kinds"] = ["flag"]
    with pytest.raises(ConfigError, match="grow.verify_kinds"):
        base_rows.Rows(c, tok, train_texts, held)
