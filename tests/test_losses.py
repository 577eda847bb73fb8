"""Training losses against hand-computed values, and our SimPO form against TRL's CPO trainer."""

import math
from types import SimpleNamespace

import pytest
import torch

from longrm.train import losses


def softplus_neg(z):  # -log sigmoid(z)
    return math.log1p(math.exp(-z))


def test_masked_token_mean_ce_ignores_prompt_tokens():
    logps = torch.tensor([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]])
    mask = torch.tensor([[0, 1, 1], [1, 0, 0]])
    # (2 + 3 + 4) / 3 response tokens
    assert losses.masked_token_mean_ce(logps, mask).item() == pytest.approx(3.0)
    assert losses.masked_token_mean_ce(logps.bfloat16(), mask).dtype == torch.float32


def test_mean_token_logprob_is_the_masked_mean():
    logps = torch.tensor([[-1.0, -2.0, -3.0, -100.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    assert losses.mean_token_logprob(logps, mask).tolist() == pytest.approx([-2.0])
    assert losses.mean_token_logprob(torch.tensor([-1.0, -3.0])).item() == pytest.approx(-2.0)


def test_logo_loss_one_negative():
    # beta * (r_w - r_l) - gamma = 2.5 * 1 - 0.5 = 2
    loss, margin = losses.logo_loss(torch.tensor(-1.0), torch.tensor([-2.0]), beta=2.5, gamma=0.5)
    assert loss.item() == pytest.approx(0.1269280110, abs=1e-7)
    assert margin.item() == pytest.approx(1.0)
    with_sft, _ = losses.logo_loss(torch.tensor(-1.0), torch.tensor([-2.0]), 2.5, 0.5, sft_weight=0.1)
    assert with_sft.item() == pytest.approx(0.1269280110 + 0.1 * 1.0, abs=1e-7)  # NLL(y_w) = -r_w = 1
    # with one negative both aggregations are the same loss
    same, _ = losses.logo_loss(torch.tensor(-1.0), torch.tensor([-2.0]), 2.5, 0.5, aggregation="mean_loss")
    assert same.item() == pytest.approx(loss.item())


def test_logo_loss_three_negatives_both_aggregations():
    r_w, r_l = torch.tensor(-1.0), torch.tensor([-2.0, -1.5, -3.5])
    # mean_reward: margin 1 - (-7/3) - ... = 4/3; z = 2.5 * 4/3 - 0.5
    mean_reward, margin = losses.logo_loss(r_w, r_l, 2.5, 0.5, "mean_reward")
    assert mean_reward.item() == pytest.approx(0.0571517481, abs=1e-7)
    assert margin.item() == pytest.approx(4 / 3)
    # mean_loss: z_j = 2.0, 0.75, 5.75
    mean_loss, _ = losses.logo_loss(r_w, r_l, 2.5, 0.5, "mean_loss")
    assert mean_loss.item() == pytest.approx(0.1723255812, abs=1e-7)
    assert mean_loss.item() == pytest.approx((softplus_neg(2.0) + softplus_neg(0.75) + softplus_neg(5.75)) / 3)
    with_sft, _ = losses.logo_loss(r_w, r_l, 2.5, 0.5, "mean_reward", sft_weight=0.2, chosen_nll=torch.tensor(1.0))
    assert with_sft.item() == pytest.approx(0.0571517481 + 0.2, abs=1e-7)


def test_logo_loss_batched_is_the_mean_of_examples():
    r_w = torch.tensor([-1.0, -1.0])
    r_l = torch.tensor([[-2.0, -1.5, -3.5], [-2.0, -2.0, -2.0]])
    loss, margin = losses.logo_loss(r_w, r_l, 2.5, 0.5)
    assert loss.item() == pytest.approx((0.0571517481 + 0.1269280110) / 2, abs=1e-7)
    assert margin.shape == (2,)


def test_logo_loss_rejects_unknown_aggregation():
    with pytest.raises(ValueError, match="aggregation"):
        losses.logo_loss(torch.tensor(0.0), torch.tensor([0.0]), 1.0, 0.0, aggregation="max")


def test_logo_loss_reduces_in_fp32():
    # in bf16 these two rewards are equal; in fp32 the margin is 2^-10
    r_w = torch.tensor(-1.0 + 2**-10)
    loss, margin = losses.logo_loss(r_w, torch.tensor([-1.0]), 1.0, 0.0)
    assert margin.item() > 0 and loss.dtype == torch.float32


def test_dpo_loss_hand_values():
    # h_j = (pi_w - ref_w) - (pi_l_j - ref_l_j) = 2 - (-1) = 3 and 2 - 1 = 1
    args = (torch.tensor(-10.0), torch.tensor([-11.0, -9.0]), torch.tensor(-12.0), torch.tensor([-10.0, -10.0]))
    mean_reward, margin = losses.dpo_loss(*args, beta=0.1, aggregation="mean_reward")
    assert mean_reward.item() == pytest.approx(softplus_neg(0.2), abs=1e-7)
    assert margin.item() == pytest.approx(2.0)
    mean_loss, _ = losses.dpo_loss(*args, beta=0.1, aggregation="mean_loss")
    assert mean_loss.item() == pytest.approx((softplus_neg(0.3) + softplus_neg(0.1)) / 2, abs=1e-7)


def test_bradley_terry_against_the_mean_of_negatives():
    loss, margin = losses.bradley_terry_loss(torch.tensor(1.0), torch.tensor([0.0, 2.0, -1.0]))
    assert loss.item() == pytest.approx(softplus_neg(2 / 3), abs=1e-7)
    assert margin.item() == pytest.approx(2 / 3)
    one, _ = losses.bradley_terry_loss(torch.tensor(1.0), torch.tensor([0.0]))
    assert one.item() == pytest.approx(0.3132616875, abs=1e-7)


def test_pairwise_accuracy_needs_every_negative_beaten_and_counts_ties_half():
    chosen = torch.tensor([1.0, 1.0, 1.0])
    rejected = torch.tensor([[0.0, 0.5], [0.0, 2.0], [1.0, 0.0]])
    assert losses.pairwise_accuracy(chosen, rejected).tolist() == [1.0, 0.0, 0.5]


def test_simpo_form_equals_trl_cpo_simpo_loss():
    """Our LOGO loss with one negative and no SFT term is TRL's CPOTrainer(loss_type="simpo") loss."""
    from trl.experimental.cpo import CPOTrainer

    g = torch.Generator().manual_seed(0)
    chosen = -torch.rand(8, generator=g) * 3
    rejected = -torch.rand(8, generator=g) * 3
    beta, gamma = 2.5, 0.5
    trainer_fields = SimpleNamespace(
        alpha=0.0,
        beta=beta,
        simpo_gamma=gamma,
        label_smoothing=0.0,
        loss_type="simpo",
        accelerator=SimpleNamespace(device=torch.device("cpu")),
    )
    trl_losses, _, _ = CPOTrainer.cpo_loss(trainer_fields, chosen, rejected)
    ours, _ = losses.logo_loss(chosen, rejected.unsqueeze(-1), beta, gamma, "mean_reward")
    assert ours.item() == pytest.approx(trl_losses.mean().item(), abs=1e-6)
    for i in range(8):
        one, _ = losses.logo_loss(chosen[i], rejected[i : i + 1], beta, gamma)
        assert one.item() == pytest.approx(trl_losses[i].item(), abs=1e-6)
