"""DPIR: the authors' noise ladder, consistency with the measurement, and convergence to the exact
posterior mean on a Gaussian image law (where HQS with the exact MMSE denoiser minimises the MAP
objective, and MAP = posterior mean)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from restora.errors import RestoraError
from restora.operators import AvgPoolSR, BicubicSR, Blur, Denoise, Inpaint, gaussian_kernel, random_mask
from restora.priors.gaussian import GaussianPrior, gaussian_posterior
from restora.solvers import get, settings
from restora.solvers.dpir import SIGMA_START, geometric, noise_ladder

SIZE = 8


def operators():
    return {
        "mask": Inpaint(random_mask(SIZE, SIZE, 0.5, torch.Generator().manual_seed(3))),
        "pool2": AvgPoolSR(2),
        "bicubic2": BicubicSR(2),
        "blur": Blur(gaussian_kernel(5, 1.0)),
    }


def problem(op_name: str, sigma_y: float, n: int = 4):
    op = operators()[op_name]
    prior = GaussianPrior.natural_like(1, SIZE)
    x = prior.sample(n, torch.Generator().manual_seed(1))
    return prior, op, x, op.measure(x, sigma_y, torch.Generator().manual_seed(2))


def test_the_ladder_is_log_spaced_from_49_to_the_noise_level():
    ladder = noise_ladder(8, SIGMA_START, 0.05)
    assert ladder[0] == pytest.approx(2 * 49 / 255) and ladder[-1] == pytest.approx(0.05)
    ratios = [b / a for a, b in itertools.pairwise(ladder)]
    assert max(ratios) - min(ratios) < 1e-12 and len(ladder) == 8
    assert noise_ladder(1, SIGMA_START, 0.05) == [0.05]
    with pytest.raises(RestoraError):
        noise_ladder(0, SIGMA_START, 0.05)


def test_published_defaults():
    assert settings("dpir", "deblur") == {"steps": 8, "lam": 0.23, "x8": True}
    assert settings("dpir", "sr") == {"steps": 24, "lam": 0.23, "x8": True}


@pytest.mark.parametrize("k", range(8))
def test_the_eight_transforms_invert_exactly(k):
    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(geometric(geometric(x, k), k, inverse=True), x)
    assert len({geometric(x, j)[0, 0].flatten()[:6].tolist().__repr__() for j in range(8)}) == 8


def test_one_step_on_denoising_is_the_denoiser_at_the_noise_level():
    prior, _, _, y = problem("mask", 0.2)
    out = get("dpir")(prior, Denoise(), y, steps=1, sigma_y=0.2, x8=False)
    assert torch.allclose(out, prior(y, 0.2), atol=1e-6)


@pytest.mark.parametrize("op_name", ["mask", "pool2", "bicubic2", "blur"])
def test_converges_to_the_exact_posterior_mean(op_name):
    """lam = 1 makes the data step the exact HQS step of the Gaussian MAP objective; with the ladder
    run down to a tiny sigma the iterates approach its minimiser, the posterior mean."""
    sigma_y = 0.1
    prior, op, _, y = problem(op_name, sigma_y)
    out = get("dpir")(prior, op, y.double(), steps=1000, sigma_y=sigma_y, lam=1.0, sigma_end=1e-4, x8=False)
    mean, cov = gaussian_posterior(prior, op, y, sigma_y)
    std = cov.diagonal().sqrt().view(mean.shape[1:])
    err = ((out - mean) / std).abs()
    assert float(err.max()) < 0.04, float(err.max())  # the error falls as 1 / steps (0.08 at 300)


@pytest.mark.parametrize("op_name", ["mask", "pool2", "blur"])
@pytest.mark.parametrize("sigma_y", [0.0, 0.1])
def test_output_agrees_with_the_measurement_within_the_noise(op_name, sigma_y):
    """With the authors' settings (8 steps, lam 0.23, x8): rms(A x - y) at most the noise level (a
    small floor for noiseless y), and the restoration beats the initial estimate."""
    prior, op, x, y = problem(op_name, sigma_y, n=16)
    out = get("dpir")(prior, op, y, steps=8, sigma_y=sigma_y)
    residual = float((op.A(out) - y).pow(2).mean().sqrt())
    assert residual < (1.1 * sigma_y if sigma_y > 0 else 0.02), residual
    err = float((out - x).pow(2).mean())
    from restora.baselines import initial_estimate

    assert err < float((initial_estimate(op, y) - x).pow(2).mean())
    assert math.isfinite(err)


def test_deterministic_and_checks_its_options():
    prior, op, _, y = problem("blur", 0.05)
    a = get("dpir")(prior, op, y, steps=4, sigma_y=0.05)
    b = get("dpir")(prior, op, y, steps=4, sigma_y=0.05, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    with pytest.raises(RestoraError, match="lam"):
        get("dpir")(prior, op, y, sigma_y=0.05, lam=0.0)
    with pytest.raises(RestoraError, match="x_init"):
        get("dpir")(prior, op, y, sigma_y=0.05, x_init=torch.zeros(1, 1, 4, 4))


def test_the_default_start_is_lowered_to_the_prior_range_but_an_explicit_one_is_not():
    """A colour FFDNet on gray images reaches only 75/255 / sqrt(3) < 49/255: DPIR then starts at the
    top of the range; a sigma_start the user gives above the range is refused before any call."""
    prior, op, _, y = problem("blur", 0.05)
    prior.sigma_max = 0.3
    first = []
    get("dpir")(prior, op, y, steps=3, sigma_y=0.05, callback=lambda s: first.append(s.sigma))
    assert first[0] == pytest.approx(0.3) and SIGMA_START > 0.3
    with pytest.raises(RestoraError, match="range"):
        get("dpir")(prior, op, y, steps=3, sigma_y=0.05, sigma_start=0.35)
