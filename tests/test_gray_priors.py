"""Colour priors on gray images (GrayAsColor): the noise level they are asked for, their range and grid."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from restora.priors.base import Prior
from restora.priors.wrappers import GrayAsColor, for_channels
from restora.schedules import VPSchedule

TAU = 0.7  # std of the gray law below


class GrayLawDenoiser(Prior):
    """The exact MMSE denoiser of a colour law whose images are gray: x = g (1, 1, 1), g ~ N(0, TAU^2)
    per pixel. It keeps the luminance component of y and shrinks it by 3 TAU^2 / (3 TAU^2 + sigma^2)."""

    channels = 3

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        luma = x.mean(1, keepdim=True).expand_as(x)  # projection on (1, 1, 1) / sqrt(3)
        s2 = sigma.view(-1, 1, 1, 1) ** 2
        return luma * 3 * TAU**2 / (3 * TAU**2 + s2)


def test_a_colour_prior_on_gray_images_is_the_gray_mmse_denoiser():
    """For gray g + n (n of std sigma) the MMSE estimate is g_noisy TAU^2 / (TAU^2 + sigma^2): the colour
    denoiser gives it only when asked for sqrt(3) sigma, the std of replicated noise along luminance."""
    gray = GrayAsColor(GrayLawDenoiser())
    y = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for sigma in (0.1, 0.5, 2.0):
        exact = y * TAU**2 / (TAU**2 + sigma**2)
        assert torch.allclose(gray(y, sigma), exact, atol=1e-6)


def test_the_gray_view_has_the_inner_range_and_grid_divided_by_sqrt3():
    inner = GrayLawDenoiser()
    gray = for_channels(inner, 1)
    assert isinstance(gray, GrayAsColor) and gray.channels == 1
    assert gray.sigma_max == pytest.approx(inner.sigma_max / math.sqrt(3))
    assert gray.sigma_min == pytest.approx(inner.sigma_min / math.sqrt(3))
    assert torch.allclose(gray.schedule.sigmas * math.sqrt(3), inner.schedule.sigmas, rtol=1e-9)
    assert for_channels(inner, 3) is inner


def test_a_scaled_schedule_keeps_its_time_grid():
    base = VPSchedule.linear()
    half = base.scaled(0.5)
    assert half.num_steps == base.num_steps
    assert torch.allclose(half.sigmas, base.sigmas * 0.5, rtol=1e-9)
    t = torch.tensor([0.0, 10.5, 999.0])
    assert torch.allclose(half.sigma(t), base.sigma(t) * 0.5, rtol=1e-9)


class Recorder(Prior):
    channels = 3

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[tuple[Tensor, Tensor]] = []

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        self.inputs.append((x.clone(), sigma.clone()))
        return x


def test_the_colour_prior_sees_white_noise_of_the_level_it_is_told():
    """The replicated image gets chroma noise of std sqrt(3) sigma (its luminance noise's std), so the
    input is isotropic like the prior's training noise; the luminance is the gray image; the pattern is
    fixed, so D is deterministic."""
    inner = Recorder()
    gray = GrayAsColor(inner)
    x = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    a, b = gray(x, 0.2), gray(x, 0.2)
    assert torch.equal(a, b) and torch.allclose(a, x, atol=1e-6)
    rgb, told = inner.inputs[0]
    assert float(told) == pytest.approx(0.2 * math.sqrt(3))
    chroma = rgb - rgb.mean(1, keepdim=True)
    per_direction = float(chroma.pow(2).sum(1).mean() / 2) ** 0.5  # two orthonormal chroma directions
    assert per_direction == pytest.approx(0.2 * math.sqrt(3), rel=0.03)
