"""Real model families on tiny random-weight checkpoints (Qwen3-, Llama-3.1- and GLM-shaped configs,
transformers 5 classes, saved locally with safetensors): RoPE scaling, chat-template arguments,
trust_remote_code and the context limit reach each backend (transformers for real; vLLM through the pure
function that builds its arguments)."""

import math

import pytest

from longrm.config import load_config
from longrm.data.records import BenchItem
from longrm.judges.factory import bench_params, make_judge
from longrm.judges.model_args import chat_template_kwargs, model_overrides, stored_config, vllm_engine_args
from longrm.judges.official import official_prompt
from longrm.judges.parse import parse_score, parse_verdict
from longrm.judges.truncation import chat_wrappers
from tests.helpers import TEXTS

QWEN3_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
LLAMA31_TEMPLATE = (
    "{{ bos_token or '' }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
    "{{ m.content }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
GLM_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}


def build(out, family):
    import torch
    from transformers import AutoModelForCausalLM, GlmConfig, LlamaConfig, Qwen3Config

    from longrm.inputs.tiny import train_tokenizer

    tok = train_tokenizer(TEXTS, vocab_size=400)
    small = dict(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    if family == "qwen3":  # as Qwen3-8B: 40,960 positions in its config, native 32,768
        conf = Qwen3Config(**small, head_dim=16, max_position_embeddings=40960, rope_theta=1_000_000.0)
        tok.chat_template = QWEN3_TEMPLATE
    elif family == "llama31":  # as Llama-3.1-8B: llama3 RoPE to 131,072
        conf = LlamaConfig(
            **small,
            max_position_embeddings=131072,
            rope_parameters={
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192,
                "rope_theta": 500000.0,
            },
        )
        tok.chat_template = LLAMA31_TEMPLATE
    else:  # GLM-4-shaped (partial rotary)
        conf = GlmConfig(**small, head_dim=16, max_position_embeddings=131072)
        tok.chat_template = GLM_TEMPLATE
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(conf).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {f: build(root / f, f) for f in ("qwen3", "llama31", "glm")}


def cfg_with(max_model_len=131072):
    cfg = load_config()
    cfg["bench"] = {**cfg["bench"], "max_model_len": max_model_len, "threads": 1}
    return cfg


ITEM = BenchItem.from_dict(
    {
        "id": "x",
        "task": "LongQA",
        "tasktype": "PairWise",
        "subtype": "same",
        "prompt_template": [{"role": "user", "content": "The code is 4812. Question: code?"}],
        "chosen": "4812",
        "rejected": "4821",
    }
)


def test_yarn_reaches_transformers_and_vllm_the_same_way(checkpoints):
    path, cfg = checkpoints["qwen3"], cfg_with()
    spec = {"name": "qwen3", "kind": "generative", "format": "pairwise", "path": str(path), "rope_scaling": YARN}
    judge = make_judge(spec, cfg)
    conf = judge.model.config
    assert judge.max_model_len == 131072 and conf.max_position_embeddings == 131072
    assert conf.rope_parameters["rope_type"] == "yarn" and conf.rope_parameters["factor"] == 4.0
    assert conf.rope_parameters["original_max_position_embeddings"] == 32768
    assert conf.rope_parameters["rope_theta"] == 1_000_000.0  # the checkpoint's own theta kept
    assert judge.model.model.rotary_emb.attention_scaling == pytest.approx(0.1 * math.log(4.0) + 1.0)
    (rec,) = judge.judge([ITEM], [[0, 1]])  # it runs, with the scaled RoPE
    assert rec.prompt_tokens > 0 and rec.output_tokens > 0
    args = vllm_engine_args(path, spec, cfg, bench_params(cfg))
    assert args["max_model_len"] == 131072
    assert args["hf_overrides"] == model_overrides(spec, stored_config(path))
    for key, value in args["hf_overrides"]["rope_parameters"].items():  # vLLM gets what transformers set
        assert conf.rope_parameters[key] == value
    assert args["hf_overrides"]["max_position_embeddings"] == conf.max_position_embeddings
    judge.close()


def test_without_yarn_qwen3_is_capped_at_its_config(checkpoints):
    path, cfg = checkpoints["qwen3"], cfg_with()
    spec = {"name": "qwen3", "kind": "generative", "format": "pairwise", "path": str(path)}
    judge = make_judge(spec, cfg)
    assert judge.max_model_len == 40960 and judge.model.config.rope_parameters["rope_type"] == "default"
    assert "hf_overrides" not in vllm_engine_args(path, spec, cfg, bench_params(cfg))
    judge.close()


def test_llama31_keeps_its_own_rope(checkpoints):
    path, cfg = checkpoints["llama31"], cfg_with()
    judge = make_judge({"name": "llama", "kind": "generative", "format": "pairwise", "path": str(path)}, cfg)
    assert judge.max_model_len == 131072 and judge.model.config.rope_parameters["rope_type"] == "llama3"
    assert chat_template_kwargs(judge.tokenizer) == {}
    before, after = chat_wrappers(judge.tokenizer)
    assert before.startswith("<|start_header_id|>user") and after.endswith("assistant<|end_header_id|>\n\n")
    judge.close()


def test_thinking_is_switched_off_where_the_template_takes_it(checkpoints):
    from longrm.modeling import load_tokenizer

    qwen = load_tokenizer(checkpoints["qwen3"])
    assert chat_template_kwargs(qwen) == {"enable_thinking": False}
    _, after = chat_wrappers(qwen)
    assert after.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    text = qwen.decode(official_prompt(qwen, ITEM, [1, 0]).input_ids)  # the release passes it too
    assert text.endswith("<think>\n\n</think>\n\n") and "[User Question]" in text
    glm = load_tokenizer(checkpoints["glm"])
    assert chat_template_kwargs(glm) == {} and chat_wrappers(glm)[1].endswith("<|assistant|>")


@pytest.mark.parametrize("entry,expected", [({}, False), ({"trust_remote_code": True}, True)])
def test_trust_remote_code_per_entry_reaches_the_loaders(checkpoints, monkeypatch, entry, expected):
    import longrm.modeling as modeling

    seen = []
    real_lm, real_tok = modeling.load_causal_lm, modeling.load_tokenizer

    def spy_lm(path, **kw):
        seen.append(("model", kw["trust_remote_code"]))
        return real_lm(path, **kw)

    def spy_tok(path, trust_remote_code=False):
        seen.append(("tokenizer", trust_remote_code))
        return real_tok(path, trust_remote_code=trust_remote_code)

    monkeypatch.setattr(modeling, "load_causal_lm", spy_lm)
    monkeypatch.setattr(modeling, "load_tokenizer", spy_tok)
    path, cfg = checkpoints["glm"], cfg_with(4096)
    spec = {"name": "glm", "kind": "generative", "format": "pairwise", "path": str(path), **entry}
    judge = make_judge(spec, cfg)
    assert seen == [("tokenizer", expected), ("model", expected)]
    assert vllm_engine_args(path, spec, cfg, bench_params(cfg))["trust_remote_code"] is expected
    assert judge.max_model_len == 4096  # the config's limit, below the model's 131,072
    judge.close()


def test_the_schema_takes_the_family_keys(tmp_path):
    import yaml

    from longrm.config import DEFAULT_CONFIG, validate

    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["bench"]["models"].append(
        {
            "name": "qwen3-8b",
            "kind": "generative",
            "path": "models/Qwen3-8B",
            "rope_scaling": YARN,
            "trust_remote_code": False,
        }
    )
    validate(cfg)
    cfg["bench"]["models"][-1]["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0}
    with pytest.raises(Exception, match="original_max_position_embeddings"):
        validate(cfg)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("<think>[[A]] looks right</think>\n[[B]]", [1, 0]),
        ("<think>maybe [[A]]", None),  # cut while thinking: nothing to read
        ("[[A]] is my draft</think>\nFinal: [[B]]", [1, 0]),  # the block was opened in the prompt
        ("<think>\n\n</think>\n\n[[A]]", [0, 1]),  # thinking switched off: empty block
    ],
)
def test_a_verdict_inside_thinking_is_never_read(text, expected):
    assert parse_verdict(text, 2) == expected


def test_a_score_inside_thinking_is_never_read():
    assert parse_score("<think>[Score: 9]</think> [Score: 3]") == 3
    assert parse_score("<think>[Score: 9]") is None
