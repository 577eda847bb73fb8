"""Training losses as pure functions of per-token log-probs or per-sequence rewards.

Every reduction runs in fp32 (bf16 ties chosen and rejected rewards too often). Shapes: `M` is the
number of rejected completions of one prompt, `T` a response length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

AGGREGATIONS = ("mean_reward", "mean_loss")


def masked_token_mean_ce(logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Token-mean cross-entropy over response tokens (prompt tokens carry mask 0).

    Args:
        logps: log p(y_t | x, y_<t) of each target token. Shape: (batch, T) or (T,)
        mask: 1 on response tokens, 0 on prompt/padding. Shape: same as `logps`

    Returns:
        Scalar: -sum(logps * mask) / sum(mask), in fp32 (0 when the mask is empty).
    """
    logps, mask = logps.float(), mask.float()
    return -(logps * mask).sum() / mask.sum().clamp(min=1.0)


def mean_token_logprob(logps: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The reference-free reward r(y) = mean over response tokens of log p(y_t | x, y_<t).

    Args:
        logps: per-token log-probs. Shape: (T,) or (batch, T)
        mask: 1 on response tokens. Shape: same as `logps`; None = all tokens count

    Returns:
        r(y). Shape: () for (T,) input, (batch,) for (batch, T) input. fp32.
    """
    logps = logps.float()
    if mask is None:
        return logps.mean(dim=-1)
    mask = mask.float()
    return (logps * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1.0)


def logo_loss(
    chosen_reward: torch.Tensor,
    rejected_rewards: torch.Tensor,
    beta: float,
    gamma: float,
    aggregation: str = "mean_reward",
    sft_weight: float = 0.0,
    chosen_nll: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LOGO / multi-negative SimPO: reference-free preference loss with an optional SFT term.

        mean_reward (release): -log sigmoid(beta * (r_w - mean_j r_l^j) - gamma)
        mean_loss:             mean_j -log sigmoid(beta * (r_w - r_l^j) - gamma)
        plus sft_weight * NLL(y_w)

    `gamma` is absolute (TRL's CPO `simpo_gamma` is the same number: TRL subtracts gamma/beta inside
    the beta product).

    Args:
        chosen_reward: r(y_w), mean token log-prob of the chosen completion. Shape: (batch,) or ()
        rejected_rewards: r(y_l^j). Shape: (batch, M) or (M,)
        beta: reward scale; gamma: target margin (absolute)
        aggregation: "mean_reward" or "mean_loss"
        sft_weight: lambda; chosen_nll: token-mean NLL of y_w. Shape: like `chosen_reward`
            (defaults to -chosen_reward, which is the same quantity)

    Returns:
        (loss, margin): loss is the batch mean (scalar, fp32); margin = r_w - mean_j r_l^j per example,
        detached. Shape of margin: like `chosen_reward`.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    r_w = chosen_reward.float()
    r_l = rejected_rewards.float()
    margin = r_w - r_l.mean(dim=-1)
    if aggregation == "mean_reward":
        per_example = -F.logsigmoid(beta * margin - gamma)
    else:
        per_example = -F.logsigmoid(beta * (r_w.unsqueeze(-1) - r_l) - gamma).mean(dim=-1)
    if sft_weight:
        nll = -r_w if chosen_nll is None else chosen_nll.float()
        per_example = per_example + sft_weight * nll
    return per_example.mean(), margin.detach()


def dpo_loss(
    chosen_logp: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logp: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
    aggregation: str = "mean_reward",
    sft_weight: float = 0.0,
    chosen_nll: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DPO with a frozen reference (the ablation), extended to M negatives like `logo_loss`.

        h_j = (log pi(y_w) - log ref(y_w)) - (log pi(y_l^j) - log ref(y_l^j))   (summed token log-probs)
        mean_reward: -log sigmoid(beta * mean_j h_j);  mean_loss: mean_j -log sigmoid(beta * h_j)

    Args:
        chosen_logp, ref_chosen_logp: summed log-probs of y_w. Shape: (batch,) or ()
        rejected_logps, ref_rejected_logps: summed log-probs of y_l^j. Shape: (batch, M) or (M,)

    Returns:
        (loss scalar fp32, implicit-reward margin mean_j h_j detached, shape like `chosen_logp`)
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    chosen_ratio = chosen_logp.float() - ref_chosen_logp.float()
    rejected_ratio = rejected_logps.float() - ref_rejected_logps.float()
    h = chosen_ratio.unsqueeze(-1) - rejected_ratio
    if aggregation == "mean_reward":
        per_example = -F.logsigmoid(beta * h.mean(dim=-1))
    else:
        per_example = -F.logsigmoid(beta * h).mean(dim=-1)
    if sft_weight and chosen_nll is not None:
        per_example = per_example + sft_weight * chosen_nll.float()
    return per_example.mean(), h.mean(dim=-1).detach()


def bradley_terry_loss(chosen_score: torch.Tensor, rejected_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bradley-Terry loss of a scalar RM against the mean of the negatives: -log sigmoid(s_w - mean_j s_l^j).

    Args:
        chosen_score: s_w. Shape: (batch,) or ()
        rejected_scores: s_l^j. Shape: (batch, M) or (M,)

    Returns:
        (loss scalar fp32, margin s_w - mean_j s_l^j detached, shape like `chosen_score`)
    """
    margin = chosen_score.float() - rejected_scores.float().mean(dim=-1)
    return -F.logsigmoid(margin).mean(), margin.detach()


def pairwise_accuracy(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """1 where the chosen reward beats every rejected one, 1/2 on a tie with the best rejected, else 0.

    Args:
        chosen: Shape: (batch,) or (); rejected: Shape: (batch, M) or (M,)

    Returns:
        Shape like `chosen`, fp32.
    """
    best = rejected.float().max(dim=-1).values
    c = chosen.float()
    return (c > best).float() + 0.5 * (c == best).float()
