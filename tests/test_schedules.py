"""Schedules: closed forms, round trips and DiffPIR's spacing, checked against independent formulas."""

import math

import numpy as np
import pytest
import torch

from restora.errors import RestoraError
from restora.schedules import (
    VPSchedule,
    alpha_bar_to_sigma,
    cosine_betas,
    karras_sigmas,
    linear_betas,
    sampling_sigmas,
    sigma_to_alpha_bar,
    spaced_timesteps,
    vp_scale,
)


def test_linear_schedule_matches_ddpm_closed_form():
    s = VPSchedule.linear()
    betas = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - betas)
    assert s.num_steps == 1000
    np.testing.assert_allclose(s.alphas_cumprod.numpy(), abar, rtol=1e-12)
    np.testing.assert_allclose(s.sigmas.numpy(), np.sqrt((1 - abar) / abar), rtol=1e-12)
    assert s.sigma_min == pytest.approx(math.sqrt(1e-4 / (1 - 1e-4)))
    assert 150 < s.sigma_max < 160


def test_cosine_betas_follow_nichol_dhariwal():
    betas = cosine_betas(1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert float(betas[10]) == pytest.approx(min(1 - f(11) / f(10), 0.999), rel=1e-10)
    assert float(betas.max()) <= 0.999


def test_sigma_time_round_trip_fractional():
    s = VPSchedule.linear()
    t = torch.rand(500, dtype=torch.float64) * 999
    assert torch.allclose(s.t(s.sigma(t)), t, atol=1e-9)
    sig = torch.exp(torch.empty(500, dtype=torch.float64).uniform_(math.log(0.011), math.log(150)))
    assert torch.allclose(s.sigma(s.t(sig)), sig, rtol=1e-9)
    ti = torch.arange(1000)
    assert torch.equal(s.nearest_t(s.sigma(ti)), ti)


def test_out_of_range_sigma_is_clamped():
    s = VPSchedule.linear()
    assert float(s.t(1e-6)) == 0.0
    assert float(s.t(1e6)) == 999.0


def test_vp_scaling_is_the_same_point():
    s = VPSchedule.linear()
    x0, eps = torch.randn(2, 3, 4, 4, dtype=torch.float64).unbind(0)
    t = 437
    abar = s.alphas_cumprod[t]
    sigma = s.sigmas[t]
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    assert torch.allclose(vp_scale(sigma) * (x0 + sigma * eps), x_t, atol=1e-12)
    assert torch.allclose(sigma_to_alpha_bar(alpha_bar_to_sigma(abar)), abar)


def diffpir_seq(T, n, kind):
    """DiffPIR's own construction (main_ddpir_*.py), written with numpy, mapped to timesteps."""
    skip = T // n
    if kind == "uniform":
        seq = [i * skip for i in range(n)]
        if skip > 1:
            seq.append(T - 1)
    else:
        seq = [int(v) for v in np.sqrt(np.linspace(0, T**2, n))]
        seq[-1] = seq[-1] - 1
    return [T - 1 - v for v in seq]


@pytest.mark.parametrize("n", [10, 20, 100])
def test_quad_spacing_equals_diffpir(n):
    assert spaced_timesteps(n, 1000, "quad").tolist() == diffpir_seq(1000, n, "quad")


def test_uniform_spacing_covers_both_ends():
    t = spaced_timesteps(20, 1000, "uniform")
    assert len(t) == 20 and t[0] == 999 and t[-1] == 0
    assert bool((t[1:] < t[:-1]).all())


def test_karras_and_sampling_sigmas():
    k = karras_sigmas(10, 0.01, 80.0)
    assert float(k[0]) == pytest.approx(80.0) and float(k[-1]) == pytest.approx(0.01)
    assert bool((k[1:] < k[:-1]).all())
    s = VPSchedule.linear()
    sig = sampling_sigmas(s, 25, "quad")
    assert len(sig) == 25 and float(sig[0]) == pytest.approx(s.sigma_max)
    assert len(sampling_sigmas(s, 7, "karras")) == 7


@pytest.mark.parametrize("bad", [0, 1001])
def test_bad_step_counts(bad):
    with pytest.raises(RestoraError, match="steps"):
        spaced_timesteps(bad, 1000)


def test_bad_spacing_and_betas():
    with pytest.raises(RestoraError, match="spacing"):
        spaced_timesteps(10, 1000, "cubic")
    with pytest.raises(RestoraError, match="betas"):
        VPSchedule(torch.tensor([0.5, 1.5]))
    assert len(linear_betas(10)) == 10
