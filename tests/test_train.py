"""Trainers on a tiny real checkpoint: memory-lean log-probs, item isolation, exact grad-cache gradients,
kill-and-resume equality, the saved layouts (docs/formats/train.md), the CLI."""

import json
import math

import pytest
import torch

from longrm.config import load_config
from longrm.data.io import read_json, read_jsonl, write_jsonl
from longrm.errors import ConfigError, InputError
from tests.helpers import tiny_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def pref_records(n=8, m=3):
    recs = []
    for i in range(n):
        recs.append(
            {
                "id": f"p{i}",
                "prompt": f"Context: the secret code of door {i} is {4800 + i}. " * 3 + "Question: what is the code?",
                "chosen": f"[Analysis] The context says {4800 + i}. [[A]]",
                "rejected": [f"[Analysis] The lazy dog {j}. [[B]]" for j in range(m)],
            }
        )
    return recs


def sft_records(n=8):
    return [
        {
            "id": f"s{i}",
            "prompt": f"Context: the code is {4800 + i}. Question: what is the code?",
            "response": f"[Analysis] The code is {4800 + i}. [[A]]",
        }
        for i in range(n)
    ]


def small_cfg(**common):
    cfg = load_config()
    cfg["train"]["common"].update({"checkpoint_every": 2, "log_every": 1, "max_length": 256, "bf16": False, **common})
    for stage in ("sft", "logo", "disrm"):
        cfg["train"][stage].update(batch_size=2, epochs=1)
    return cfg


def make_parts(model, grad_cache=True, chunk=1024, share_prompt=False, head=None):
    from longrm.train.forward import body_of
    from longrm.train.steps import Parts

    return Parts(
        body=body_of(model),
        head=head if head is not None else model.get_output_embeddings(),
        amp=None,
        device=torch.device("cpu"),
        backward=lambda loss: loss.backward(),
        chunk=chunk,
        grad_cache=grad_cache,
        share_prompt=share_prompt,
    )


def test_response_logprobs_match_full_logits_and_never_touch_prompt_positions(ckpt):
    from longrm.modeling import load_causal_lm
    from longrm.train.forward import body_of, full_logits_reference, response_logprobs

    model = load_causal_lm(ckpt)
    ids = torch.randint(0, model.config.vocab_size, (40,), generator=torch.Generator().manual_seed(1))
    want = full_logits_reference(model, ids, prompt_len=30)
    calls = []
    head = model.get_output_embeddings()
    hook = head.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    got, _ = response_logprobs(body_of(model), head, ids, 30, amp=torch.autocast("cpu", enabled=False), chunk=3)
    hook.remove()
    assert torch.allclose(got, want, atol=1e-5)
    assert got.shape == (10,) and got.dtype == torch.float32
    assert sum(calls) == 10 and max(calls) == 3  # LM head only on the 10 response positions, in chunks


def test_packed_items_never_attend_to_each_other(ckpt):
    """Changing one rejected response leaves every other item's log-probs bit-identical."""
    from longrm.modeling import load_causal_lm
    from longrm.train.data import Example
    from longrm.train.steps import response_rewards

    model = load_causal_lm(ckpt)
    ex = Example("x", list(range(5, 45)), [[7, 8, 9, 10], [11, 12, 13], [14, 15, 16, 17, 18], [19, 20]])
    changed = Example("x", ex.prompt_ids, [ex.responses[0], ex.responses[1], [99, 98, 97, 96, 95], ex.responses[3]])
    for share in (False, True):  # separate sequences, and continuations of one shared prompt cache
        parts = make_parts(model, share_prompt=share)
        a, b = response_rewards(parts, ex), response_rewards(parts, changed)
        assert torch.equal(a[[0, 1, 3]], b[[0, 1, 3]])
        assert a[2] != b[2]


@pytest.mark.parametrize("loss_type", ["logo", "dpo", "disrm"])
def test_shared_prompt_gives_the_separate_sequences_loss_and_gradient(ckpt, loss_type):
    """The prompt run once, every response on its KV cache: same loss, metrics and gradients as running
    each (prompt + response) alone. Seen failing with the continuation starting AFTER the last prompt
    token (an off-by-one in what predicts the first response token) and with a cache reused across
    responses (update() appends: the second response then attends to the first)."""
    from longrm.modeling import load_causal_lm
    from longrm.train.data import Example
    from longrm.train.steps import disrm_step, logo_step

    batch = [
        Example("a", list(range(5, 35)), [[7, 8, 9], [11, 12], [14, 15, 16, 17]]),
        Example("b", list(range(40, 60)), [[21, 22], [23, 24, 25], [26]]),
    ]
    results = {}
    for share in (False, True):
        torch.manual_seed(0)
        model = load_causal_lm(ckpt)
        head = torch.nn.Linear(model.config.hidden_size, 1) if loss_type == "disrm" else None
        parts = make_parts(model, share_prompt=share, head=head)
        if loss_type == "disrm":
            out = disrm_step(parts, batch)
        else:
            if loss_type == "dpo":
                parts.ref = make_parts(load_causal_lm(ckpt), share_prompt=share)
            out = logo_step(parts, batch, 2.5, 0.5, "mean_reward", 0.1, loss_type)
        params = list(model.parameters()) + (list(head.parameters()) if head is not None else [])
        results[share] = (out, [p.grad.clone() for p in params if p.grad is not None])
    (o1, g1), (o2, g2) = results[False], results[True]
    assert o1["loss"] == pytest.approx(o2["loss"], rel=1e-5) and o1["accuracy"] == o2["accuracy"]
    assert len(g1) == len(g2) > 0
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)


def test_epoch_order_keeps_each_group_together_and_shuffles_the_groups():
    """An item's presentation orders share a step (position-balanced batches). Seen failing with the
    examples shuffled one by one (the orders of an item scattered over the epoch)."""
    from longrm.seeding import rng_for
    from longrm.train.loop import epoch_order

    groups = [f"item{i // 3}" for i in range(30)]  # 10 items x 3 examples, in file order
    order = epoch_order(groups, 7, "sft", 0)
    assert sorted(order) == list(range(30))
    runs = [order[k : k + 3] for k in range(0, 30, 3)]
    assert all(r == sorted(r) and len({groups[i] for i in r}) == 1 for r in runs)
    assert [groups[r[0]] for r in runs] != sorted({*groups}, key=groups.index)  # the groups are shuffled
    assert order == epoch_order(groups, 7, "sft", 0) and order != epoch_order(groups, 7, "sft", 1)
    singles = [f"x{i}" for i in range(12)]  # ungrouped data: a plain seeded shuffle
    plain = list(range(12))
    rng_for(7, "train", "sft", "epoch", 0).shuffle(plain)
    assert epoch_order(singles, 7, "sft", 0) == plain


def test_grad_cache_gives_the_joint_loss_gradient(ckpt):
    from longrm.modeling import load_causal_lm
    from longrm.train.data import Example
    from longrm.train.steps import logo_step

    batch = [
        Example("a", list(range(5, 35)), [[7, 8, 9], [11, 12], [14, 15, 16, 17]]),
        Example("b", list(range(40, 60)), [[21, 22], [23, 24, 25], [26]]),
    ]
    grads = {}
    for gc in (True, False):
        model = load_causal_lm(ckpt)
        out = logo_step(make_parts(model, grad_cache=gc), batch, 2.5, 0.5, "mean_loss", 0.1)
        grads[gc] = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        assert out["tokens"] == sum(len(e.prompt_ids) * 3 + sum(map(len, e.responses)) for e in batch)
    assert len(grads[True]) == len(grads[False]) > 0
    for g1, g2 in zip(grads[True], grads[False]):
        assert torch.allclose(g1, g2, atol=1e-6, rtol=1e-5)


def folder_bytes(folder):
    """Every file's bytes; the summary's `checkpoints`, which names the run's own folder (OUT.checkpoints), left out."""
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    summary = json.loads(files.pop("train_summary.json"))
    return {**files, "train_summary.json": {k: v for k, v in summary.items() if k != "checkpoints"}}


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_killed_and_resumed_run_ends_with_the_same_weights(ckpt, tmp_path):
    from longrm.train.loop import Interrupted, train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, pref_records(10))
    cfg = small_cfg()
    full = train("logo", cfg, data, ckpt, tmp_path / "full")
    assert full["steps"] == 5
    with pytest.raises(Interrupted):
        train("logo", cfg, data, ckpt, tmp_path / "cut", interrupt_after=3)  # step-2 saved, step 3 lost
    assert sorted(p.name for p in (tmp_path / "cut.checkpoints").iterdir()) == ["latest", "step-2", "train_log.jsonl"]
    assert not (tmp_path / "cut").exists()  # the model folder appears complete at the end, or not at all
    resumed = train("logo", cfg, data, ckpt, tmp_path / "cut", resume=True)
    assert resumed["resumed_from"] == 2 and resumed["steps"] == 5
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k
    # the same bytes, interrupted or not, and run twice: no timing, no `resumed_from` in the model folder
    train("logo", cfg, data, ckpt, tmp_path / "again")
    for run in ("cut", "again"):
        assert folder_bytes(tmp_path / run) == folder_bytes(tmp_path / "full"), run
    log = read_jsonl(tmp_path / "cut" / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    full_log = read_jsonl(tmp_path / "full" / "train_log.jsonl")
    assert [r["loss"] for r in log] == pytest.approx([r["loss"] for r in full_log], abs=1e-6)
    for r in log:  # no timings in the model folder (the run's facts); the checkpoints' log keeps them
        assert {"step", "loss", "accuracy", "lr"} <= r.keys() and not {"tokens_per_s", "peak_rss_mb"} & r.keys()
    for r in read_jsonl(tmp_path / "cut.checkpoints" / "train_log.jsonl"):
        assert {"step", "tokens_per_s", "peak_rss_mb"} <= r.keys()
    assert "resumed_from" not in read_json(tmp_path / "cut" / "train_summary.json")
    # cosine decay: lr falls to min_lr_ratio * lr at the last step
    lrs = [r["lr"] for r in full_log]
    assert lrs == sorted(lrs, reverse=True)
    assert lrs[-1] == pytest.approx(cfg["train"]["logo"]["lr"] * cfg["train"]["common"]["min_lr_ratio"])


def test_resume_refuses_a_checkpoint_from_other_data(ckpt, tmp_path):
    from longrm.train.loop import Interrupted, train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, pref_records(6))
    cfg = small_cfg()
    with pytest.raises(Interrupted):
        train("logo", cfg, data, ckpt, tmp_path / "o", interrupt_after=2)
    write_jsonl(data, pref_records(7))
    with pytest.raises(ConfigError, match="different data"):
        train("logo", cfg, data, ckpt, tmp_path / "o", resume=True)


def test_sft_then_logo_via_cli_writes_a_loadable_causal_lm(ckpt, tmp_path):
    from longrm.cli import main
    from longrm.modeling import load_causal_lm

    write_jsonl(tmp_path / "sft.jsonl", sft_records(6))
    cfg_path = tmp_path / "c.yaml"
    import yaml

    cfg = small_cfg()
    cfg.pop("_path")
    cfg["results_dir"] = str(tmp_path)  # the CLI refuses outputs outside results_dir
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert (
        main(
            [
                "train",
                "sft",
                "--config",
                str(cfg_path),
                "--data",
                str(tmp_path / "sft.jsonl"),
                "--init",
                str(ckpt),
                "--out",
                str(tmp_path / "sft"),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "sft" / "train_summary.json").read_text())
    assert summary["stage"] == "sft" and summary["steps"] == 3 and summary["tokens_seen"] > 0
    model = load_causal_lm(tmp_path / "sft")
    before = _weights(ckpt)
    after = _weights(tmp_path / "sft")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (tmp_path / "sft" / "tokenizer.json").exists()
    assert model.config.vocab_size == load_causal_lm(ckpt).config.vocab_size


def test_sft_loss_falls_on_a_learnable_target(ckpt, tmp_path):
    from longrm.train.loop import train

    write_jsonl(tmp_path / "sft.jsonl", sft_records(4))
    cfg = small_cfg()
    cfg["train"]["sft"].update(epochs=30, lr=1e-2, batch_size=4)
    s = train("sft", cfg, tmp_path / "sft.jsonl", ckpt, tmp_path / "o")
    log = read_jsonl(tmp_path / "o" / "train_log.jsonl")
    assert log[-1]["loss"] < 0.6 * log[0]["loss"]
    assert s["final_accuracy"] > log[0]["accuracy"]


def test_disrm_with_lora_saves_a_merged_sequence_classifier_whose_score_matches(ckpt, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from longrm.modeling import load_tokenizer
    from longrm.train.data import prompt_token_ids
    from longrm.train.loop import train

    recs = pref_records(6, m=2)
    write_jsonl(tmp_path / "d.jsonl", recs)
    cfg = small_cfg()
    cfg["train"]["disrm"].update(lora_r=8, lr=1e-2)
    s = train("disrm", cfg, tmp_path / "d.jsonl", ckpt, tmp_path / "rm")
    assert 0 < s["trainable_params"] < s["params"]
    files = {p.name for p in (tmp_path / "rm").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "train_log.jsonl", "train_summary.json"} <= files
    assert not any("lora" in k for k in _weights(tmp_path / "rm"))
    model = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "rm"), local_files_only=True)
    assert model.config.num_labels == 1 and model.config.pad_token_id is not None
    tok = load_tokenizer(tmp_path / "rm")
    r = recs[0]
    ids = [
        prompt_token_ids(tok, r["prompt"]) + tok(x, add_special_tokens=False)["input_ids"]
        for x in (r["chosen"], r["rejected"][0])
    ]
    width = max(map(len, ids))
    padded = torch.tensor([x + [tok.pad_token_id] * (width - len(x)) for x in ids])
    mask = (padded != tok.pad_token_id).long()
    with torch.no_grad():
        batch_scores = model(input_ids=padded, attention_mask=mask).logits[:, 0]
        alone = [model(input_ids=torch.tensor([x])).logits[0, 0] for x in ids]
    assert torch.allclose(batch_scores, torch.stack(alone), atol=1e-4)
    # the head trained: the saved score head differs from a fresh one
    # 3 steps, a checkpoint every 2 and at the end: only the newest two are kept
    assert sorted(p.name for p in (tmp_path / "rm.checkpoints").glob("step-*")) == ["step-2", "step-3"]


def test_bad_records_name_the_file_line_and_field(ckpt, tmp_path):
    from longrm.train.loop import train

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "prompt": "p", "chosen": "c", "rejected": []}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:1: field 'rejected'"):
        train("logo", small_cfg(), bad, ckpt, tmp_path / "o")


def test_long_prompts_lose_their_middle_not_the_response(ckpt):
    from longrm.data.records import PrefPair
    from longrm.modeling import load_tokenizer
    from longrm.train.data import cut_middle, tokenize

    tok = load_tokenizer(ckpt)
    rec = PrefPair(id="x", prompt="the quick brown fox " * 200, chosen="[[A]]", rejected=["[[B]] lazy dog"])
    (ex,), skipped = tokenize([rec], tok, "logo", max_length=64)
    assert len(ex.prompt_ids) + max(map(len, ex.responses)) == 64
    full = tok(rec.prompt, add_special_tokens=False)["input_ids"]
    assert ex.prompt_ids[:5] == full[:5] and ex.prompt_ids[-5:] == full[-5:]
    assert ex.responses[0][-1] == tok.eos_token_id and not skipped
    assert cut_middle(list(range(10)), 5) == [0, 1, 2, 8, 9]


def test_requesting_missing_gpu_features_is_a_clear_error():
    from longrm.train.gpu import pick_attn_implementation

    try:
        import flash_attn  # noqa: F401

        has_flash = torch.cuda.is_available()
    except ImportError:
        has_flash = False
    if not has_flash:
        with pytest.raises(ConfigError, match="flash-attn"):
            pick_attn_implementation("flash_attention_2")
        assert pick_attn_implementation(None) == "sdpa"


def test_deepspeed_configs_are_valid_zero_2_and_3():
    from longrm.config import REPO_ROOT
    from longrm.train.gpu import load_deepspeed_config

    stages = {
        p.name: load_deepspeed_config(p)["zero_optimization"]["stage"]
        for p in (REPO_ROOT / "workflow" / "deepspeed").glob("*.json")
    }
    assert stages == {"zero2.json": 2, "zero3.json": 3}


@pytest.mark.slow
def test_deepspeed_zero2_and_zero3_on_cpu_match_plain_torch(ckpt, tmp_path):
    """The DeepSpeed code path (engine.backward per sequence, one engine.step per step) on the CPU
    accelerator ends with the same weights as plain torch, for ZeRO-2 and ZeRO-3."""
    import deepspeed  # noqa: F401  (pinned in the dev extra: a broken install fails here)

    from longrm.train.loop import train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, pref_records(4, m=2))
    plain = train("logo", small_cfg(), data, ckpt, tmp_path / "plain")
    a = _weights(tmp_path / "plain")
    for stage in (2, 3):
        ds = tmp_path / f"ds{stage}.json"
        ds.write_text(json.dumps({"zero_optimization": {"stage": stage}, "bf16": {"enabled": False}}))
        out = tmp_path / f"z{stage}"
        with_ds = train("logo", small_cfg(deepspeed=str(ds)), data, ckpt, out)
        assert with_ds["deepspeed"] and with_ds["steps"] == plain["steps"] == 2
        assert (tmp_path / f"z{stage}.checkpoints" / "step-2" / "engine" / "state").is_dir()
        b = _weights(out)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.allclose(a[k], b[k], atol=1e-6), (stage, k)


@pytest.mark.slow
def test_deepspeed_run_killed_and_resumed_ends_with_the_same_weights(ckpt, tmp_path):
    """--resume under DeepSpeed restores the engine's own checkpoint (ZeRO-2 optimizer partitions) and
    the data order: the same weights as an uninterrupted DeepSpeed run. Seen failing with the engine
    checkpoint not loaded (weights restored, optimizer partitions fresh)."""
    import deepspeed  # noqa: F401  (pinned in the dev extra: a broken install fails here)

    from longrm.train.loop import Interrupted, train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, pref_records(10))
    ds = tmp_path / "ds2.json"
    ds.write_text(json.dumps({"zero_optimization": {"stage": 2}, "bf16": {"enabled": False}}))
    cfg = small_cfg(deepspeed=str(ds))
    full = train("logo", cfg, data, ckpt, tmp_path / "full")
    with pytest.raises(Interrupted):
        train("logo", cfg, data, ckpt, tmp_path / "cut", interrupt_after=3)
    assert (tmp_path / "cut.checkpoints" / "step-2" / "engine" / "state").is_dir()
    resumed = train("logo", cfg, data, ckpt, tmp_path / "cut", resume=True)
    assert resumed["resumed_from"] == 2 and resumed["steps"] == full["steps"] == 5
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k


def test_activation_checkpointing_and_bf16_autocast_run_and_checkpointing_keeps_the_result(ckpt, tmp_path):
    from longrm.train.loop import train

    data = tmp_path / "pref.jsonl"
    write_jsonl(data, pref_records(4, m=2))
    plain = train("logo", small_cfg(), data, ckpt, tmp_path / "plain")
    recomputed = train("logo", small_cfg(gradient_checkpointing=True), data, ckpt, tmp_path / "gc")
    assert recomputed["steps"] == plain["steps"]
    a, b = _weights(tmp_path / "plain"), _weights(tmp_path / "gc")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    low = train("logo", small_cfg(bf16=True), data, ckpt, tmp_path / "bf16")
    assert low["bf16"] is True and math.isfinite(low["final_loss"])
    assert _weights(tmp_path / "bf16")["model.norm.weight"].dtype == torch.float32  # master weights stay fp32


def test_generative_lora_keeps_the_base_and_saves_a_merged_causal_lm(ckpt, tmp_path):
    from longrm.train.loop import train

    write_jsonl(tmp_path / "sft.jsonl", sft_records(6))
    cfg = small_cfg()
    cfg["train"]["sft"].update(lora_r=4, lr=1e-2)
    s = train("sft", cfg, tmp_path / "sft.jsonl", ckpt, tmp_path / "out")
    assert 0 < s["trainable_params"] < s["params"]
    saved, base = _weights(tmp_path / "out"), _weights(ckpt)
    assert not any("lora" in k for k in saved) and set(saved) == set(base)
    emb = "model.embed_tokens.weight"
    assert torch.equal(saved[emb], base[emb])  # the (tied) embeddings are not LoRA targets
    assert any(not torch.equal(saved[k], base[k]) for k in saved if "proj" in k)  # the merged adapters moved them


def test_body_lr_scale_slows_all_but_the_embeddings(ckpt, tmp_path):
    from longrm.train.loop import train

    write_jsonl(tmp_path / "sft.jsonl", sft_records(6))
    moved = {}
    for scale in (1.0, 0.0):
        cfg = small_cfg()
        cfg["train"]["sft"].update(lr=1e-2, body_lr_scale=scale)
        train("sft", cfg, tmp_path / "sft.jsonl", ckpt, tmp_path / f"out-{scale}")
        saved, base = _weights(tmp_path / f"out-{scale}"), _weights(ckpt)
        moved[scale] = {k for k in saved if not torch.equal(saved[k], base[k])}
    assert "model.embed_tokens.weight" in moved[0.0]
    assert moved[0.0] == {"model.embed_tokens.weight"}  # with the body at lr 0, only the vocabulary learns
    assert len(moved[1.0]) > 1
