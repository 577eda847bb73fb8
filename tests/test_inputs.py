"""The embedded default's inputs: raw items, distractor pool, tokenizer, pre-trained base model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from longrm.config import DEFAULT_CONFIG, load_config
from longrm.data.io import read_jsonl
from longrm.data.records import TASKS, ShortItem
from longrm.errors import InputError
from longrm.inputs.families import mentions

REPO = Path(__file__).resolve().parents[1]


def tiny_config(tmp: Path, **pretrain) -> Path:
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["inputs"].update(items_per_task=6, rejected_per_item=3, distractor_docs=24, tokenizer={"vocab_size": 400})
    cfg["inputs"]["base_model"] = dict(
        architecture="qwen2",
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        num_kv_heads=1,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    cfg["inputs"]["pretrain"] = dict(
        max_steps=3,
        minutes=5.0,
        seq_len=128,
        batch_size=4,
        lr=3e-3,
        warmup_steps=1,
        log_every=1,
        eval_examples=8,
        **pretrain,
    )
    cfg["results_dir"] = str(tmp / "results")
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """raw + distractors + tokenizer, built in-process once for the module."""
    from longrm.inputs.distractors import write_distractors
    from longrm.inputs.raw import write_raw
    from longrm.inputs.tokenizer import build_tokenizer

    tmp = tmp_path_factory.mktemp("inputs")
    cfg_path = tiny_config(tmp)
    cfg = load_config(cfg_path)
    write_raw(cfg, tmp / "raw.jsonl")
    write_distractors(cfg, tmp / "distractors.jsonl")
    build_tokenizer(cfg, tmp / "raw.jsonl", tmp / "distractors.jsonl", tmp / "tokenizer")
    return tmp, cfg_path


def raw_items(built) -> list[ShortItem]:
    return read_jsonl(built[0] / "raw.jsonl", ShortItem.from_dict)


def test_all_seven_tasks_with_documented_fields(built):
    items = raw_items(built)
    assert sorted({it.task for it in items}) == sorted(TASKS)
    assert len(items) == 6 * len(TASKS)
    assert len({it.id for it in items}) == len(items)
    for it in items:
        assert len(it.candidates) == 4 and len(it.candidates_model) == 4 and len(it.candidates_score) == 4
        assert it.candidates_score == sorted(it.candidates_score, reverse=True) and it.candidates_score[0] == 1.0
        assert len(set(it.candidates_score)) == 4, "graded: no two candidates share a score"
        assert (
            it.extra["difficulty"] in ("easy", "hard")
            and it.extra["difficulty"] == it.extra["candidates_difficulty"][1]
        )
        assert set(it.candidates_model) <= {"gen-a", "gen-b"}
        same = [m == it.candidates_model[0] for m in it.candidates_model[1:]]
        assert any(same) and not all(same), "each item offers a Same and a Diff rejected response"
        assert it.source and it.answer and it.question.strip()
    assert any(len(it.evidence) >= 2 for it in items), "some multi-passage (multi-hop) evidence"


def test_chosen_holds_the_answer_and_rejected_do_not(built):
    for it in raw_items(built):
        assert mentions(it.chosen, it.answer), it.id
        for resp in it.rejected:
            assert not mentions(resp, it.answer), (it.id, resp)
        if it.task != "Math":  # Math answers are computed from the stated numbers
            assert mentions("\n".join(it.evidence), it.answer), it.id


def test_hard_and_easy_rejected_facts(built):
    """hard: the wrong value is stated in the evidence (for another entity); easy: it appears nowhere."""
    kinds = set()
    for it in raw_items(built):
        text = "\n".join(it.evidence)
        for resp, diff, fact in zip(
            it.candidates[1:], it.extra["candidates_difficulty"][1:], it.extra["candidates_fact"][1:]
        ):
            kinds.add(diff)
            if diff == "hard":
                assert mentions(text, fact) and mentions(resp, fact) and fact != it.answer, it.id
            elif diff == "easy":
                assert not mentions(text, fact) and mentions(resp, fact), it.id
    assert kinds == {"hard", "easy"}, "no 'ignore' kind: its own template was a tell"


def test_families_differ_in_form(built):
    by_task = {}
    for it in raw_items(built):
        by_task.setdefault(it.task, it)
    assert by_task["Cite"].answer.startswith("[") and by_task["Cite"].evidence[0].startswith("[1] ")
    assert by_task["Math"].answer.isdigit()
    assert "->" in by_task["ICL"].evidence[0]
    code = by_task["Code"]
    assert "def " in code.evidence[0] and mentions(code.evidence[0], code.answer)
    assert "marked" in by_task["Safety"].evidence[0]
    assert by_task["Summ"].question.startswith("Summarize")


def test_evidence_never_in_distractor_pool(built):
    docs = read_jsonl(built[0] / "distractors.jsonl")
    assert len(docs) == 24 and len({d["id"] for d in docs}) == 24
    assert all(set(d) == {"id", "source", "text"} for d in docs)
    pool = "\n\0".join(d["text"] for d in docs)
    for it in raw_items(built):
        for passage in it.evidence:
            assert passage not in pool
            for line in passage.splitlines():  # code evidence: no line of the function's source either
                if len(line.strip()) >= 30:
                    assert line.strip() not in pool, (it.id, line)


def test_tokenizer_loads_and_round_trips(built):
    from longrm.modeling import load_tokenizer

    tok = load_tokenizer(built[0] / "tokenizer")
    assert len(tok) == 400
    text = raw_items(built)[0].evidence[0]
    assert tok.decode(tok(text)["input_ids"]) == text


def test_rebuild_in_a_fresh_process_is_byte_identical(built, tmp_path):
    """Same config, another interpreter with another hash seed, through the CLI: the same bytes."""
    first, cfg = built
    copy = yaml.safe_load(cfg.read_text())
    copy["results_dir"] = str(tmp_path)  # the CLI refuses outputs outside results_dir
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(copy))
    calls = [
        ["inputs", "raw", "--config", str(cfg), "--out", str(tmp_path / "raw.jsonl")],
        ["inputs", "distractors", "--config", str(cfg), "--out", str(tmp_path / "distractors.jsonl")],
        [
            "inputs",
            "tokenizer",
            "--config",
            str(cfg),
            "--raw",
            str(tmp_path / "raw.jsonl"),
            "--distractors",
            str(tmp_path / "distractors.jsonl"),
            "--out",
            str(tmp_path / "tokenizer"),
        ],
    ]
    script = f"import sys; from longrm.cli import main; sys.exit(max(main(a) for a in {calls!r}))"
    env = {**os.environ, "PYTHONHASHSEED": "17", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    for name in ("raw.jsonl", "distractors.jsonl", "tokenizer/tokenizer.json"):
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes(), name
    assert (tmp_path / "raw.jsonl.prov.json").exists()  # the CLI records provenance


def test_pretrain_twice_gives_identical_weights_and_reloads(built, tmp_path):
    from longrm.inputs.pretrain import pretrain
    from longrm.modeling import load_causal_lm

    tmp, cfg_path = built
    cfg = load_config(cfg_path)
    for out in ("a", "b"):
        pretrain(cfg, tmp / "tokenizer", tmp / "raw.jsonl", tmp / "distractors.jsonl", tmp_path / out)
    a, b = tmp_path / "a", tmp_path / "b"
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    log = read_jsonl(a / "pretrain_log.jsonl")
    assert [r["step"] for r in log] == [0, 1, 2]
    assert all({"step", "loss", "tokens_per_s"} <= set(r) for r in log)
    summary = json.loads((a / "pretrain_summary.json").read_text())
    assert summary["steps"] == 3 and summary["stopped_by"] == "max_steps"
    model = load_causal_lm(a)
    assert type(model).__name__ == "Qwen2ForCausalLM" and model.config.hidden_size == 32
    assert (a / "tokenizer.json").exists()


def test_pretraining_lowers_heldout_recall_loss(built, tmp_path):
    """Scored here, on held-out documents, with the reloaded model against its untrained init."""
    import random

    import torch

    from longrm.inputs import corpus
    from longrm.inputs.pretrain import evaluate, losses, make_batch, pretrain, recall_row
    from longrm.inputs.tiny import init_model
    from longrm.modeling import load_causal_lm, load_tokenizer
    from longrm.seeding import derive_seed

    tmp, _ = built
    cfg = load_config(tiny_config(tmp_path, recall_share=0.5))
    cfg["inputs"]["pretrain"].update(max_steps=25, batch_size=8)
    pretrain(cfg, tmp / "tokenizer", tmp / "raw.jsonl", tmp / "distractors.jsonl", tmp_path / "m")
    tok = load_tokenizer(tmp_path / "m")
    vocab = corpus.vocab_from_raw(corpus.read_raw(tmp / "raw.jsonl"))
    _, held = corpus.split_docs(read_jsonl(tmp / "distractors.jsonl"))
    rng = random.Random(7)
    rows = [recall_row(rng, tok, held, vocab, 128, pack=False) for _ in range(16)]
    assert all(2 in mask for _, mask in rows)
    batch = make_batch(tok, rows, 128)

    def loss(model) -> float:
        with torch.no_grad():
            _, answer_loss, _, _ = losses(model.eval(), *batch, bf16=False)
        return answer_loss.item()

    untrained = init_model(tok, seed=derive_seed(cfg["seed"], "inputs.pretrain"), **cfg["inputs"]["base_model"])
    assert loss(load_causal_lm(tmp_path / "m")) < loss(untrained) - 0.3
    # the recall's control: a random value of the example's own facts (rows / answers, one example a row)
    scored = evaluate(untrained, tok, rows, 128, bf16=False)
    answers = sum(mask.count(2) for _, mask in rows)
    assert scored["answers"] == answers and scored["no_binding_guess"] == round(16 / answers, 4)


def test_repeat_rows_and_batch_composition(built, tmp_path):
    """Repeat rows: the second half repeats the first, only the repeat is a target; a batch holds
    recall_share recall rows, copy_share repeat rows and LM windows (every token a target) in that order."""
    import random

    from longrm.inputs import corpus
    from longrm.inputs.pretrain import LM_TARGET, Batches, copy_row, one_token_ids, single_token_vocab
    from longrm.modeling import load_tokenizer

    tmp, _ = built
    tok = load_tokenizer(tmp / "tokenizer")
    words = sorted(t[1:] for t in tok.get_vocab() if t.startswith("Ġ") and t[1:].isalpha() and len(t) > 3)
    one = [w for w in words if len(tok(" " + w, add_special_tokens=False)["input_ids"]) == 1]
    assert len(one) >= 4
    kept = single_token_vocab(tok, corpus.Vocab(tuple(one[:4]) + ("zqxjkvbwplm",), tuple(one[:4])))
    assert kept == corpus.Vocab(tuple(one[:4]), tuple(one[:4]))  # the multi-token word dropped
    vocab = corpus.Vocab(tuple(one[:4]), tuple(one[:4]))
    pool = one_token_ids(tok, vocab)
    assert len(pool) == 4  # entities and values: the same 4
    ids, mask = copy_row(random.Random(3), pool, 64)
    assert set(ids) <= set(pool)
    half = len(ids) // 2
    assert ids[:half] == ids[half:] and len(mask) == len(ids)
    assert mask[: half + 1] == [0] * (half + 1) and set(mask[half + 1 :]) == {1}

    cfg = load_config(tiny_config(tmp_path, recall_share=0.5, copy_share=0.25))
    cfg["inputs"]["pretrain"]["batch_size"] = 8
    batches = Batches(cfg, tok, tmp / "raw.jsonl", tmp / "distractors.jsonl")
    assert (batches.n_recall, batches.n_copy, batches.n_lm) == (4, 2, 2)
    _, att, ans = batches.rows(0)
    assert all(2 in row.tolist() for row in ans[:4])  # recall answers' first tokens
    assert all(set(row.tolist()) == {0, 1} for row in ans[4:6])  # repeats
    assert all(set(row[att[6 + i].bool()].tolist()) == {LM_TARGET} for i, row in enumerate(ans[6:]))
    again = Batches(cfg, tok, tmp / "raw.jsonl", tmp / "distractors.jsonl").rows(0)
    assert all(
        bool((x == y).all())
        for x, y in zip(Batches(cfg, tok, tmp / "raw.jsonl", tmp / "distractors.jsonl").rows(0), again)
    )


def test_raw_path_is_validated_and_copied(built, tmp_path):
    from longrm.inputs.raw import write_raw

    tmp, cfg_path = built
    cfg = load_config(cfg_path)
    cfg["inputs"]["raw_path"] = str(tmp / "raw.jsonl")
    assert write_raw(cfg, tmp_path / "copy.jsonl") == 6 * len(TASKS)
    assert (tmp_path / "copy.jsonl").read_bytes() == (tmp / "raw.jsonl").read_bytes()

    lines = (tmp / "raw.jsonl").read_text().splitlines()
    bad = json.loads(lines[2])
    del bad["evidence"]
    (tmp_path / "bad.jsonl").write_text("\n".join([lines[0], lines[1], json.dumps(bad)]) + "\n")
    cfg["inputs"]["raw_path"] = str(tmp_path / "bad.jsonl")
    with pytest.raises(InputError) as err:
        write_raw(cfg, tmp_path / "out.jsonl")
    assert err.value.line == 3 and err.value.field == "evidence"
    assert not (tmp_path / "out.jsonl").exists()


def test_mentions_matches_whole_tokens_only():
    assert mentions("defaults to 0.", "0") and not mentions("defaults to 10.", "0")
    assert not mentions("a value of 0.5", "0") and mentions("mode='r'", "'r'")
    assert mentions("cite [2].", "[2]") and not mentions("cite [12].", "[2]")
    assert not mentions("heappop() -> heapq2", "heapq") and mentions("The Tag", "tag")


def test_cli_help_lists_the_five_actions():
    from longrm.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["inputs"]
    actions = next(a for a in sub._actions if a.dest == "inputs_command").choices
    assert set(actions) == {"raw", "distractors", "tokenizer", "pretrain", "short-split"}


def test_distractors_path_is_validated(built, tmp_path):
    from longrm.inputs.distractors import write_distractors

    tmp, cfg_path = built
    cfg = load_config(cfg_path)
    lines = (tmp / "distractors.jsonl").read_text().splitlines()
    (tmp_path / "bad.jsonl").write_text(lines[0] + "\n" + json.dumps({"id": "x", "source": "s"}) + "\n")
    cfg["inputs"]["distractors_path"] = str(tmp_path / "bad.jsonl")
    with pytest.raises(InputError) as err:
        write_distractors(cfg, tmp_path / "out.jsonl")
    assert (err.value.line, err.value.field) == (2, "text")
    cfg["inputs"]["distractors_path"] = str(tmp / "distractors.jsonl")
    assert write_distractors(cfg, tmp_path / "out.jsonl") == 24
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp / "distractors.jsonl").read_bytes()
