"""One optimizer step's worth of forward/backward for each stage, on a batch of `Example`s.

Each sequence (prompt + one response) runs on its own: no padding, no cross-item attention.
A preference loss depends on its sequences only through one scalar each (r(y) or s(y)); with
`grad_cache` the step first computes those scalars without a graph, takes dLoss/dscalar, then
re-runs each sequence with a graph and back-propagates scalar * dLoss/dscalar. The gradient is the
same as back-propagating the joint loss, while peak memory holds ONE sequence's activations instead
of 1 + M (the price: one extra forward per sequence).
With `share_prompt` (the default where the model's KV cache is available) a preference example runs
its prompt once and every response on top of it (forward.prompt_kv): one prompt forward and backward
instead of 1 + M (or 2 (1 + M) forwards with grad_cache), at the memory of one prompt plus the responses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from longrm.train import losses
from longrm.train.data import Example
from longrm.train.forward import (
    last_token_score,
    response_logprobs,
    sequence,
    shared_last_token_scores,
    shared_response_logprobs,
)


@dataclass
class Parts:
    """What a step needs from the model: the body, a head, how to run backward."""

    body: object
    head: object  # lm_head (sft/logo) or score head (disrm)
    amp: object  # autocast context factory result (re-entered per call)
    device: torch.device
    backward: Callable[[torch.Tensor], None]
    chunk: int = 1024
    grad_cache: bool = True
    share_prompt: bool = False
    ref: Parts | None = None  # frozen reference (dpo)

    def shares(self, ex: Example) -> bool:
        return self.share_prompt and len(ex.prompt_ids) >= 2


def _amp(parts: Parts):
    if parts.amp is None:
        return contextlib.nullcontext()
    return parts.amp() if callable(parts.amp) else parts.amp


def _backward_through_scalars(parts: Parts, n: int, scalar_fn, loss_fn, scale: float):
    """Backward of scale * loss_fn(stack(scalar_fn(j) for j < n)); returns (loss, margin, scalars)."""
    if parts.grad_cache:
        with torch.no_grad():
            values = torch.stack([scalar_fn(j) for j in range(n)])
        leaf = values.detach().requires_grad_()
        loss, margin = loss_fn(leaf)
        (grad,) = torch.autograd.grad(loss, leaf)
        for j in range(n):  # one backward per sequence, always (DeepSpeed counts them)
            parts.backward(scalar_fn(j) * (grad[j] * scale))
        return loss.detach(), margin, values.detach()
    return _backward_joint(parts, lambda: torch.stack([scalar_fn(j) for j in range(n)]), loss_fn, scale)


def _backward_joint(parts: Parts, values_fn, loss_fn, scale: float):
    """Backward of scale * loss_fn(values_fn()) in one call; returns (loss, margin, values)."""
    values = values_fn()
    loss, margin = loss_fn(values)
    parts.backward(loss * scale)
    return loss.detach(), margin, values.detach()


def backward_calls(stage: str, batch: list[Example], parts: Parts) -> int:
    """How many times a step calls parts.backward on `batch` (DeepSpeed needs it to mark the last)."""
    if stage == "sft" or not parts.grad_cache:
        return len(batch)
    return sum(1 if parts.shares(ex) else len(ex.responses) for ex in batch)


def _response_tensors(parts: Parts, ex: Example) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(prompt ids (P,), [response ids (T_j,)]) as tensors on the step's device."""

    def ids(x):
        return torch.tensor(x, dtype=torch.long, device=parts.device)

    return ids(ex.prompt_ids), [ids(r) for r in ex.responses]


def shared_logp_sums(parts: Parts, ex: Example) -> torch.Tensor:
    """Summed response log-probs of every response of `ex`, the prompt run once. Shape: (1 + M,)"""
    prompt, responses = _response_tensors(parts, ex)
    per = shared_response_logprobs(parts.body, parts.head, prompt, responses, _amp(parts), parts.chunk)
    return torch.stack([logps.sum() for logps, _ in per])


def sft_step(parts: Parts, batch: list[Example]) -> dict:
    """Token-mean CE over all response tokens of the batch (prompt masked)."""
    total = sum(len(ex.responses[0]) for ex in batch)
    nll, correct, tokens = 0.0, 0, 0
    for ex in batch:
        ids = sequence(ex.prompt_ids, ex.responses[0], parts.device)
        logps, ok = response_logprobs(parts.body, parts.head, ids, len(ex.prompt_ids), _amp(parts), parts.chunk)
        loss = -logps.sum() / total
        parts.backward(loss)
        nll += float(loss.detach())
        correct += int(ok.sum())
        tokens += ids.shape[0]
    return {"loss": nll, "nll": nll, "accuracy": correct / total, "tokens": tokens, "examples": len(batch)}


def _summed_logp(parts: Parts, seqs, prompt_len: int):
    def fn(j):
        logps, _ = response_logprobs(parts.body, parts.head, seqs[j], prompt_len, _amp(parts), parts.chunk)
        return logps.sum()

    return fn


def response_rewards(parts: Parts, ex: Example) -> torch.Tensor:
    """r(y) (mean token log-prob, fp32, no graph) of each response of `ex`. Shape: (1 + M,)"""
    lengths = torch.tensor([float(len(r)) for r in ex.responses], device=parts.device)
    with torch.no_grad():
        if parts.shares(ex):
            return shared_logp_sums(parts, ex) / lengths
        seqs = [sequence(ex.prompt_ids, r, parts.device) for r in ex.responses]
        fn = _summed_logp(parts, seqs, len(ex.prompt_ids))
        return torch.stack([fn(j) for j in range(len(seqs))]) / lengths


def logo_step(
    parts: Parts,
    batch: list[Example],
    beta: float,
    gamma: float,
    aggregation: str,
    sft_weight: float,
    loss_type: str = "logo",
) -> dict:
    """LOGO (reference-free, mean token log-prob rewards) or DPO (frozen reference) on M negatives."""
    out = {"loss": 0.0, "accuracy": 0.0, "nll": 0.0, "margin": 0.0, "tokens": 0, "examples": len(batch)}
    for ex in batch:
        seqs = [sequence(ex.prompt_ids, r, parts.device) for r in ex.responses]
        n, plen = len(seqs), len(ex.prompt_ids)
        lengths = torch.tensor([float(len(r)) for r in ex.responses], device=parts.device)
        if loss_type == "dpo":
            with torch.no_grad():
                if parts.ref.shares(ex):
                    ref = shared_logp_sums(parts.ref, ex)
                else:
                    ref_fn = _summed_logp(parts.ref, seqs, plen)
                    ref = torch.stack([ref_fn(j) for j in range(n)])

            def loss_fn(sums, ref=ref, lengths=lengths):
                return losses.dpo_loss(
                    sums[0], sums[1:], ref[0], ref[1:], beta, aggregation, sft_weight, chosen_nll=-sums[0] / lengths[0]
                )
        else:

            def loss_fn(sums, lengths=lengths):
                r = sums / lengths
                return losses.logo_loss(r[0], r[1:], beta, gamma, aggregation, sft_weight)

        if parts.shares(ex):
            loss, margin, sums = _backward_joint(
                parts, lambda ex=ex: shared_logp_sums(parts, ex), loss_fn, 1.0 / len(batch)
            )
        else:
            loss, margin, sums = _backward_through_scalars(
                parts, n, _summed_logp(parts, seqs, plen), loss_fn, 1.0 / len(batch)
            )
        if loss_type == "dpo":
            implicit = sums - ref
            acc = losses.pairwise_accuracy(implicit[0], implicit[1:])
        else:
            r = sums / lengths
            acc = losses.pairwise_accuracy(r[0], r[1:])
        out["loss"] += float(loss) / len(batch)
        out["accuracy"] += float(acc) / len(batch)
        out["nll"] += float(-sums[0] / lengths[0]) / len(batch)
        out["margin"] += float(margin) / len(batch)
        out["tokens"] += sum(s.shape[0] for s in seqs)
    return out


def disrm_step(parts: Parts, batch: list[Example]) -> dict:
    """Bradley-Terry on last-token scalar scores against the mean of the negatives."""
    out = {"loss": 0.0, "accuracy": 0.0, "margin": 0.0, "tokens": 0, "examples": len(batch)}
    for ex in batch:
        seqs = [sequence(ex.prompt_ids, r, parts.device) for r in ex.responses]

        def score(j, seqs=seqs):
            return last_token_score(parts.body, parts.head, seqs[j], _amp(parts))

        def loss_fn(s):
            return losses.bradley_terry_loss(s[0], s[1:])

        if parts.shares(ex):
            prompt, responses = _response_tensors(parts, ex)
            loss, margin, scores = _backward_joint(
                parts,
                lambda prompt=prompt, responses=responses: shared_last_token_scores(
                    parts.body, parts.head, prompt, responses, _amp(parts)
                ),
                loss_fn,
                1.0 / len(batch),
            )
        else:
            loss, margin, scores = _backward_through_scalars(parts, len(seqs), score, loss_fn, 1.0 / len(batch))
        out["loss"] += float(loss) / len(batch)
        out["accuracy"] += float(losses.pairwise_accuracy(scores[0], scores[1:])) / len(batch)
        out["margin"] += float(margin) / len(batch)
        out["tokens"] += sum(s.shape[0] for s in seqs)
    return out
