"""Build a byte-level BPE tokenizer and a small Qwen2/Llama causal LM from config (no download).

Used by `longrm inputs tokenizer|pretrain` and by tests that need a real checkpoint in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"]


# Qwen2's pre-tokenization (words with their leading space, digits one by one): a base whose config says
# qwen2 is loaded by loaders that rebuild a Qwen2 tokenizer from its vocabulary and merges (transformers'
# AutoTokenizer, vLLM); with this split they tokenize exactly as training did.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 4096, out_dir: str | Path | None = None, qwen2_split: bool = False
):
    """A byte-level BPE tokenizer (deterministic for the same texts) wrapped as a fast HF tokenizer;
    `qwen2_split`: Qwen2's normalisation and pre-tokenization instead of GPT-2's."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if qwen2_split:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        bos_token=None,
        model_max_length=1 << 20,
        clean_up_tokenization_spaces=False,
    )
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


def model_config(
    tokenizer,
    architecture: str = "qwen2",
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 512,
    max_position_embeddings: int = 8192,
):
    from transformers import LlamaConfig, Qwen2Config

    cls = {"qwen2": Qwen2Config, "llama": LlamaConfig}[architecture]
    return cls(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )


def init_model(tokenizer, seed: int = 0, **arch):
    """A randomly initialised causal LM for `tokenizer`, seeded."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(model_config(tokenizer, **arch))


def build_tiny_checkpoint(
    out_dir: str | Path, texts: Iterable[str], vocab_size: int = 512, seed: int = 0, **arch
) -> Path:
    """Tokenizer + randomly initialised model saved as one save_pretrained folder (safetensors)."""
    out_dir = Path(out_dir)
    tok = train_tokenizer(texts, vocab_size=vocab_size, out_dir=out_dir)
    model = init_model(tok, seed=seed, **arch)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    return out_dir
