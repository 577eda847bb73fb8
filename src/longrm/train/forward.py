"""Memory-lean forward passes: the transformer body over the whole sequence, the LM head only at
response positions, in chunks, in fp32.

Full-vocabulary logits over a long prompt are never built: for a 30k-token prompt with a 150k vocab
they would cost ~18 GB in fp32, while the hidden states cost 30k x hidden.

Shared prompt: the 1 + M responses of a preference example share one prompt. `prompt_kv` runs the
prompt once (keeping its graph when gradients are on) and `continue_hidden` runs each response on top of
its keys/values, so the prompt costs one forward and one backward per example instead of 1 + M each;
the gradient is that of the separate full sequences (causal attention: prompt positions never see a
response). Needs the model's KV cache, so not with HF gradient checkpointing or sequence parallelism.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from longrm.modeling import cache_from_kv, cache_kwarg, cache_of, kv_of


def unwrap(model):
    """The plain HF model under DeepSpeed / PEFT wrappers."""
    model = getattr(model, "module", model)  # DeepSpeed engine
    if hasattr(model, "get_base_model"):  # PEFT
        model = model.get_base_model()
    return model


def body_of(model):
    """The transformer body (embeddings + layers + final norm) of a CausalLM / SequenceClassification model."""
    m = unwrap(model)
    return getattr(m, m.base_model_prefix)


def autocast(device_type: str, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)


def hidden_states(body, ids: torch.Tensor, amp) -> torch.Tensor:
    """Last hidden states of one unpadded sequence.

    Args:
        ids: token ids. Shape: (L,)
    Returns:
        Shape: (L, hidden)
    """
    with amp:
        out = body(input_ids=ids.unsqueeze(0), use_cache=False)
    return out.last_hidden_state[0]


def prompt_kv(body, prompt_ids: torch.Tensor, amp) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-layer (keys, values) of all prompt tokens but the last (which each continuation starts with,
    so its hidden state, the one predicting the first response token, is computed there).

    Args:
        prompt_ids: Shape: (P,), P >= 2
    Returns:
        num_layers x (keys, values), each Shape: (1, kv_heads, P - 1, head_dim)
    """
    with amp:
        out = body(input_ids=prompt_ids[:-1].unsqueeze(0), use_cache=True)
    kv = kv_of(cache_of(out))
    if kv is None:
        raise RuntimeError("the model returned no KV cache (gradient checkpointing on?): share_prompt needs it")
    return kv


def continue_hidden(body, kv, ids: torch.Tensor, amp) -> torch.Tensor:
    """Last hidden states of `ids` placed after the cached prompt; the cached tensors are not modified.

    Args:
        ids: the last prompt token, then response tokens. Shape: (T,)
    Returns:
        Shape: (T, hidden)
    """
    cache = cache_from_kv(kv, body.config)  # a fresh cache per continuation
    with amp:
        out = body(input_ids=ids.unsqueeze(0), use_cache=True, **{cache_kwarg(body): cache})
    return out.last_hidden_state[0]


def _logprobs_of(lm_head, h: torch.Tensor, targets: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked fp32 log p(targets) and greedy hits from hidden states h (T, hidden) predicting them (T,)."""
    logps, correct = [], []
    for start in range(0, targets.shape[0], chunk):
        hc, tc = h[start : start + chunk], targets[start : start + chunk]
        if torch.is_grad_enabled() and targets.shape[0] > chunk:
            lp, ok = checkpoint(_chunk_logprobs, lm_head, hc, tc, use_reentrant=False)
        else:
            lp, ok = _chunk_logprobs(lm_head, hc, tc)
        logps.append(lp)
        correct.append(ok)
    return torch.cat(logps), torch.cat(correct)


def shared_response_logprobs(
    body, lm_head, prompt_ids: torch.Tensor, responses: list[torch.Tensor], amp, chunk: int = 1024
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`response_logprobs` of every response after one shared prompt pass. prompt_ids: (P,), P >= 2."""
    kv = prompt_kv(body, prompt_ids, amp)
    out = []
    for r in responses:  # r: (T,)
        ids = torch.cat([prompt_ids[-1:], r[:-1]])  # position t predicts r[t]
        out.append(_logprobs_of(lm_head, continue_hidden(body, kv, ids, amp), r, chunk))
    return out


def shared_last_token_scores(
    body, score_head, prompt_ids: torch.Tensor, responses: list[torch.Tensor], amp
) -> torch.Tensor:
    """`last_token_score` of every response after one shared prompt pass. Shape: (1 + M,)"""
    kv = prompt_kv(body, prompt_ids, amp)
    scores = []
    for r in responses:
        h = continue_hidden(body, kv, torch.cat([prompt_ids[-1:], r]), amp)[-1]
        scores.append(score_head(h.to(score_head.weight.dtype)).float().squeeze(-1))
    return torch.stack(scores)


def _chunk_logprobs(lm_head, h: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(target) and whether the argmax equals the target, for one chunk of positions, in fp32.

    Args:
        h: hidden states predicting each target. Shape: (C, hidden)
        targets: Shape: (C,)
    Returns:
        (logps (C,) fp32, correct (C,) bool)
    """
    logits = lm_head(h.to(lm_head.weight.dtype)).float()  # (C, V)
    logps = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return logps, logits.argmax(-1) == targets


def response_logprobs(
    body,
    lm_head,
    ids: torch.Tensor,
    prompt_len: int,
    amp,
    chunk: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs of the response part of one sequence.

    Args:
        ids: prompt ids followed by response ids. Shape: (L,)
        prompt_len: P, the number of prompt ids (>= 1); the response is ids[P:], T = L - P tokens
        chunk: positions per LM-head call; each chunk is recomputed in backward (activation
            checkpoint), so peak memory holds one chunk's (chunk, vocab) logits at a time.
    Returns:
        (logps fp32 Shape: (T,), correct bool Shape: (T,)): log p(y_t | x, y_<t) and greedy hits.
    """
    h = hidden_states(body, ids, amp)[prompt_len - 1 : ids.shape[0] - 1]  # (T, hidden): position t predicts t+1
    return _logprobs_of(lm_head, h, ids[prompt_len:], chunk)


def last_token_score(body, score_head, ids: torch.Tensor, amp) -> torch.Tensor:
    """Scalar reward at the last token of one sequence (fp32).

    Args:
        ids: prompt ids + response ids. Shape: (L,)
    Returns:
        Shape: ()
    """
    h = hidden_states(body, ids, amp)[-1]
    return score_head(h.to(score_head.weight.dtype)).float().squeeze(-1)


def sequence(prompt_ids: list[int], response_ids: list[int], device) -> torch.Tensor:
    return torch.tensor(prompt_ids + response_ids, dtype=torch.long, device=device)


def full_logits_reference(model, ids: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """The naive way (full-vocab logits over every position): for tests only. Shape: (T,)"""
    logits = unwrap(model)(input_ids=ids.unsqueeze(0)).logits[0].float()
    return F.log_softmax(logits[prompt_len - 1 : -1], -1).gather(-1, ids[prompt_len:].unsqueeze(-1)).squeeze(-1)
