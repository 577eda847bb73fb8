"""Generative judge on `transformers`: batched, KV-cached greedy decoding (CPU default, GPU if present).

Prompts are fitted to `max_model_len - max_new_tokens` tokens (judges/truncation.py) and sorted by
length so each batch holds prompts of similar length. A batch is prefilled (on a CPU each prompt alone,
unpadded, reusing the keys/values of a prefix it shares with the previous prompt
(modeling.forward_sharing_prefix), such as an item's
other presentation order; on a GPU as one left-padded batch), then decoded one token per step for the
whole batch with a preallocated KV cache, until every sequence has produced an end-of-sequence token or
the budget is spent. The arg-max is taken over fp32 logits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from longrm.data.records import BenchItem, Judgment
from longrm.errors import InputError
from longrm.judges.base import Judge
from longrm.judges.model_args import stored_dtype
from longrm.judges.parse import parse_verdict
from longrm.judges.pointwise import PointwiseScoring, check_format
from longrm.judges.prompts import prompt_parts
from longrm.judges.truncation import FittedPrompt, chat_wrappers, fit_prompt
from longrm.modeling import cache_kwarg, cache_of, forward_sharing_prefix, kv_of

log = logging.getLogger(__name__)


def resolve_dtype(path: str | Path, dtype: str = "auto", device: str = "cpu"):
    """The torch dtype to load with: judges/model_args.stored_dtype, the rule the vLLM backend follows too
    ('auto' = as stored, fp16 weights as fp32 on a CPU)."""
    import torch

    name = stored_dtype(path, dtype, device)
    if dtype == "auto" and device == "cpu" and stored_dtype(path, "auto", "cuda") == "float16":
        log.warning("%s: stored in fp16; loading as fp32 on the CPU (set bench.dtype to force fp16)", path)
    return getattr(torch, name)


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _in_place_layer_class():
    """A DynamicLayer that writes new keys/values into a preallocated buffer instead of concatenating:
    the default layer copies the whole cache at every decoding step, which dominates CPU decoding."""
    from transformers.cache_utils import DynamicLayer

    class InPlaceLayer(DynamicLayer):
        def __init__(self, keys, values, capacity: int):
            super().__init__()
            B, H, n, D = keys.shape
            self._k = keys.new_zeros(B, H, capacity, D)
            self._v = values.new_zeros(B, H, capacity, values.shape[-1])
            self._k[..., :n, :], self._v[..., :n, :] = keys, values
            self._n, self.device, self.is_initialized = n, keys.device, True
            self.keys, self.values = self._k[..., :n, :], self._v[..., :n, :]

        def update(self, key_states, value_states, *args, **kwargs):
            m = key_states.shape[-2]
            if self._n + m > self._k.shape[-2]:  # over capacity: grow the usual way
                return super().update(key_states, value_states, *args, **kwargs)
            self._k[..., self._n : self._n + m, :] = key_states
            self._v[..., self._n : self._n + m, :] = value_states
            self._n += m
            self.keys, self.values = self._k[..., : self._n, :], self._v[..., : self._n, :]
            return self.keys, self.values

    return InPlaceLayer


def _merge_left_padded(caches, lengths: Sequence[int], config, extra: int = 0):
    """B single-sequence KV caches -> one cache of B sequences left-padded to the longest (zeros in the
    padding, which the attention mask hides), with room for `extra` more tokens. None when the cache
    layout is not the known one (the caller then prefills the padded batch instead)."""
    import torch
    from transformers import DynamicCache

    kvs = [kv_of(c) for c in caches]
    if any(kv is None for kv in kvs):
        return None
    L = max(lengths)
    data = []
    for li in range(len(kvs[0])):
        # each: (1, kv_heads, n, head_dim) -> (1, kv_heads, L, head_dim), padded on the left of the seq dim
        ks = [torch.nn.functional.pad(kv[li][0], (0, 0, L - n, 0)) for kv, n in zip(kvs, lengths)]
        vs = [torch.nn.functional.pad(kv[li][1], (0, 0, L - n, 0)) for kv, n in zip(kvs, lengths)]
        data.append((torch.cat(ks), torch.cat(vs)))
    return _grow_in_place(DynamicCache(data, config=config), extra)


def _grow_in_place(cache, extra: int):
    """Swap a DynamicCache's layers for in-place ones with room for `extra` tokens (if the layout is the
    known one; otherwise the cache is returned unchanged and grows by concatenation)."""
    layers = getattr(cache, "layers", None)
    if not layers or type(layers[0]).__name__ != "DynamicLayer" or getattr(layers[0], "keys", None) is None:
        return cache
    try:
        layer_cls = _in_place_layer_class()
        cache.layers = [layer_cls(lay.keys, lay.values, lay.keys.shape[-2] + extra) for lay in layers]
    except (ImportError, AttributeError, TypeError):
        pass
    return cache


def greedy_generate(
    model, prompts: Sequence[Sequence[int]], max_new_tokens: int, eos_ids: set[int], pad_id: int, prefill: str = "auto"
) -> list[list[int]]:
    """Batched greedy decoding with a KV cache. Returns each prompt's new tokens, up to and excluding
    the first end-of-sequence token (see greedy_generate_watching)."""
    return greedy_generate_watching(model, prompts, max_new_tokens, eos_ids, pad_id, prefill)[0]


def greedy_generate_watching(
    model,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    eos_ids: set[int],
    pad_id: int,
    prefill: str = "auto",
    watch_ids: Sequence[int] = (),
):
    """(new tokens per prompt, per prompt and step the probabilities of `watch_ids`) of batched greedy
    decoding with a KV cache; new tokens stop before the first end-of-sequence token.

    prompts: B lists of token ids (any lengths >= 1), left-padded to L for decoding.
    prefill: "batched" runs the B padded prompts in one forward (best on a GPU); "separate" runs each
        prompt alone, unpadded, and merges the caches (on a CPU the padding mask forces the slow
        attention path, so this is faster there); "auto" = separate on CPU.
    """
    import torch

    device = next(model.parameters()).device
    B = len(prompts)
    lengths = [len(p) for p in prompts]
    attention_mask = _left_padding_mask(lengths, device)
    cache_name = cache_kwarg(model)
    if prefill == "auto":
        prefill = "separate" if device.type == "cpu" and B > 1 else "batched"
    with torch.inference_mode():
        cache, logits = _prefill(model, prompts, attention_mask, pad_id, prefill, max_new_tokens)
        out_tokens, n_new, watched = _greedy_decode(
            model, cache, logits, attention_mask, lengths, max_new_tokens, eos_ids, pad_id, cache_name, watch_ids
        )
    tokens = [out_tokens[b, : int(n_new[b])].tolist() for b in range(B)]
    probs = [[step[b] for step in watched[: len(tokens[b])]] for b in range(B)]
    return tokens, probs


def _left_padding_mask(lengths: Sequence[int], device):
    """(B, L) attention mask of prompts left-padded to the longest, L: 1 on real tokens."""
    import torch

    B, L = len(lengths), max(lengths)
    attention_mask = torch.zeros((B, L), dtype=torch.long, device=device)
    for b, n in enumerate(lengths):
        attention_mask[b, L - n :] = 1
    return attention_mask


def _prefill(
    model,
    prompts: Sequence[Sequence[int]],
    attention_mask,
    pad_id: int,
    prefill: str,
    max_new_tokens: int,
):
    """(KV cache with room for max_new_tokens, last logits (B, V)) of the prompts: run one at a time and
    merged ("separate", when the cache layout allows), else in one left-padded batch."""
    import torch

    if prefill == "separate":
        outs = list(forward_sharing_prefix(model, prompts, logits_to_keep=1))
        lengths = [len(p) for p in prompts]
        cache = _merge_left_padded([cache_of(o) for o in outs], lengths, model.config, max_new_tokens)
        if cache is not None:
            return cache, torch.cat([o.logits[:, -1, :] for o in outs])  # (B, V)
    return _prefill_batched(model, prompts, attention_mask, pad_id, max_new_tokens)


def _prefill_batched(model, prompts: Sequence[Sequence[int]], attention_mask, pad_id: int, max_new_tokens: int):
    """One forward of the left-padded prompts (positions counted over real tokens only)."""
    import torch

    B, L = attention_mask.shape
    device = attention_mask.device
    input_ids = torch.full((B, L), pad_id, dtype=torch.long, device=device)
    for b, p in enumerate(prompts):
        input_ids[b, L - len(p) :] = torch.tensor(p, dtype=torch.long, device=device)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # (B, L): 0.. per real token
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True, logits_to_keep=1
    )
    return _grow_in_place(cache_of(out), max_new_tokens), out.logits[:, -1, :]


def _greedy_decode(
    model,
    cache,
    logits,
    attention_mask,
    lengths: Sequence[int],
    max_new_tokens: int,
    eos_ids: set[int],
    pad_id: int,
    cache_name: str,
    watch_ids: Sequence[int],
):
    """Greedy steps from the prefill: (tokens (B, max_new_tokens), pad from the first EOS on; new tokens
    per prompt before its EOS (B,); per step the probabilities of `watch_ids`, (B, W) lists)."""
    import torch

    B, device = len(lengths), attention_mask.device
    watch = torch.tensor(list(watch_ids), dtype=torch.long, device=device)
    watched = []  # per step: (B, W)
    eos = torch.tensor(sorted(eos_ids) or [-1], device=device)
    out_tokens = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    n_new = torch.full((B,), max_new_tokens, dtype=torch.long, device=device)
    next_pos = torch.tensor(lengths, dtype=torch.long, device=device)  # (B,)
    for step in range(max_new_tokens):
        token = logits.float().argmax(dim=-1)  # (B,)
        if len(watch):
            watched.append(torch.softmax(logits.float(), dim=-1)[:, watch].tolist())
        is_eos = torch.isin(token, eos) & ~done
        n_new = torch.where(is_eos, torch.full_like(n_new, step), n_new)
        done |= is_eos
        token = torch.where(done, torch.full_like(token, pad_id), token)
        out_tokens[:, step] = token
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        attention_mask = torch.cat([attention_mask, (~done).long()[:, None]], dim=1)
        out = model(
            input_ids=token[:, None],
            attention_mask=attention_mask,
            position_ids=next_pos[:, None],
            use_cache=True,
            logits_to_keep=1,
            **{cache_name: cache},
        )
        cache, logits = cache_of(out), out.logits[:, -1, :]
        next_pos = next_pos + 1
    return out_tokens, n_new, watched


def plan_batches(
    lengths: Sequence[int], batch_size: int, max_batch_tokens: int, sort_keys: Sequence | None = None
) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (or in `sort_keys` order): at most
    `batch_size` sequences and at most `max_batch_tokens` padded prompt tokens each (a long prompt runs
    alone)."""
    order = sorted(range(len(lengths)), key=lambda i: sort_keys[i] if sort_keys is not None else (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches:
            cur = batches[-1]
            width = max(lengths[j] for j in cur)  # longest in the batch
            if len(cur) < batch_size and width * (len(cur) + 1) <= max_batch_tokens:
                cur.append(i)
                continue
        batches.append([i])
    return batches


class TransformersJudge(PointwiseScoring, Judge):
    """A causal LM judging items as a generative RM, in the pairwise/ranking or the pointwise format."""

    def __init__(
        self,
        path: str | Path,
        name: str = "transformers",
        max_model_len: int = 4096,
        max_new_tokens: int = 48,
        batch_size: int = 8,
        max_batch_tokens: int = 32768,
        dtype: str = "auto",
        device: str = "auto",
        trust_remote_code: bool = False,
        use_chat_template: bool = True,
        threads: int | None = None,
        format: str = "pairwise",
        overrides: dict | None = None,
        analysis: bool = False,
    ):
        self.analysis = analysis  # the prompt asks for an analysis before the verdict (as training's prompts)
        from longrm.modeling import load_causal_lm, load_tokenizer, set_threads

        set_threads(threads)
        self.name = name
        self.format = check_format(format)
        self.path = Path(path)
        self.device = pick_device(device)
        self.dtype = resolve_dtype(path, dtype, self.device)
        self.tokenizer = load_tokenizer(path, trust_remote_code=trust_remote_code)
        self.model = load_causal_lm(
            path, dtype=self.dtype, trust_remote_code=trust_remote_code, overrides=overrides
        ).to(self.device)
        self.model.eval()
        limit = getattr(self.model.config, "max_position_embeddings", None) or max_model_len
        self.max_model_len = min(max_model_len, limit)
        self.max_new_tokens = max_new_tokens
        self.budget = self.max_model_len - max_new_tokens
        if self.budget <= 0:
            raise InputError(
                path,
                f"max_model_len {self.max_model_len} leaves no room for the prompt after "
                f"max_new_tokens {max_new_tokens}",
                field="bench.max_new_tokens",
            )
        self.batch_size = batch_size
        self.max_batch_tokens = max(max_batch_tokens, self.max_model_len)
        self.wrappers = chat_wrappers(self.tokenizer, use_chat_template)
        eos = self.tokenizer.eos_token_id
        cfg_eos = (
            getattr(self.model.generation_config, "eos_token_id", None)
            if getattr(self.model, "generation_config", None) is not None
            else None
        )
        self.eos_ids = {e for e in ([eos] + (cfg_eos if isinstance(cfg_eos, list) else [cfg_eos])) if e is not None}
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else (eos or 0)

    def fit(self, item: BenchItem, order: list[int]) -> FittedPrompt:
        return fit_prompt(self.tokenizer, prompt_parts(item, order, self.analysis), self.budget, self.wrappers)

    def generate(self, prompts: Sequence[Sequence[int]], watch_ids: Sequence[int] = (), sort_keys=None):
        """[(new ids, per-step watch-id probabilities, seconds)] per prompt, in input order. `sort_keys`
        orders the batches (default: longest first)."""
        results: list = [None] * len(prompts)
        for batch in plan_batches([len(p) for p in prompts], self.batch_size, self.max_batch_tokens, sort_keys):
            start = time.perf_counter()
            tokens, probs = greedy_generate_watching(
                self.model,
                [prompts[i] for i in batch],
                self.max_new_tokens,
                self.eos_ids,
                self.pad_id,
                watch_ids=watch_ids,
            )
            latency = (time.perf_counter() - start) / len(batch)
            for i, new, p in zip(batch, tokens, probs):
                results[i] = (new, p, latency)
        return results

    def judge(self, items: Sequence[BenchItem], orders: Sequence[list[int]]) -> list[Judgment]:
        if self.format == "pointwise":
            return self.judge_pointwise(items, orders)
        fitted = [self.fit(item, list(order)) for item, order in zip(items, orders)]
        results = []
        for (new, _, latency), item, order, f in zip(
            self.generate([f.input_ids for f in fitted]), items, orders, fitted
        ):
            order = list(order)
            raw = self.tokenizer.decode(new, skip_special_tokens=True)
            pos = parse_verdict(raw, len(order))
            results.append(
                Judgment(
                    id=item.id,
                    judge=self.name,
                    order=order,
                    raw=raw,
                    ranking=None if pos is None else [order[p] for p in pos],
                    truncated=f.truncated,
                    prompt_tokens=len(f.input_ids),
                    output_tokens=len(new),
                    latency_s=round(latency, 6),
                    extra={"context_tokens": f.context_tokens, "context_kept": f.context_kept},
                )
            )
        return results

    def close(self) -> None:
        self.model = None
