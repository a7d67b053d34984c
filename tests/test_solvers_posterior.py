"""Exact-posterior tests: on a Gaussian image law the true posterior is known in closed form.

For x ~ N(0, Q diag(lam) Q^T) (DCT-diagonal, natural-image-like spectrum) and y = A x + n, each
solver restores a batch of copies of one y; the sample mean must match the exact posterior mean to
within a tolerance measured in posterior standard deviations, and the samples must agree with the
measurement to within the noise. The methods are approximate samplers, so the tolerances are set
from measured errors with a margin (see ``CASES``); they were checked to fail for sign errors,
[0,1]-vs-[-1,1] sigma mix-ups and off-by-one noise levels.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from restora.operators import (
    AvgPoolSR,
    BicubicSR,
    Blur,
    Colorize,
    Denoise,
    Inpaint,
    gaussian_kernel,
    random_mask,
)
from restora.priors.base import Prior
from restora.priors.gaussian import GaussianPrior, gaussian_posterior
from restora.solvers import get
from restora.solvers.common import noise_levels

N_SAMPLES = 200
SIZE = 8


def operators():
    mask = random_mask(SIZE, SIZE, 0.5, torch.Generator().manual_seed(3))
    return {
        "mask": (1, Inpaint(mask)),
        "pool2": (1, AvgPoolSR(2)),
        "bicubic2": (1, BicubicSR(2)),
        "blur": (1, Blur(gaussian_kernel(5, 1.0))),
        "colorize": (3, Colorize()),
    }


# (solver, operator, sigma_y, solver keywords, max mean |error| / posterior std)
CASES = [
    ("diffpir", "mask", 0.1, {"steps": 50, "lam": 4.0, "zeta": 0.5}, 0.35),
    ("diffpir", "mask", 0.0, {"steps": 50, "lam": 4.0, "zeta": 0.5}, 0.40),
    ("diffpir", "pool2", 0.1, {"steps": 50, "lam": 4.0, "zeta": 0.5}, 0.22),
    ("diffpir", "blur", 0.1, {"steps": 50, "lam": 4.0, "zeta": 0.5}, 0.40),
    ("ddrm", "mask", 0.1, {"steps": 50}, 0.27),
    ("ddrm", "pool2", 0.1, {"steps": 50}, 0.12),
    ("ddrm", "blur", 0.1, {"steps": 50}, 0.45),
    ("ddrm", "colorize", 0.1, {"steps": 50}, 0.12),
    ("ddnm", "mask", 0.0, {"steps": 50}, 0.24),
    ("ddnm", "pool2", 0.0, {"steps": 50}, 0.14),
    ("ddnm", "mask", 0.1, {"steps": 50}, 0.19),
    ("ddnm", "bicubic2", 0.1, {"steps": 50}, 0.26),
    ("ddnm", "mask", 0.0, {"steps": 30, "travel_length": 5, "travel_repeat": 3}, 0.30),
    ("pigdm", "mask", 0.1, {"steps": 50}, 0.23),
    ("pigdm", "bicubic2", 0.1, {"steps": 50}, 0.19),
    ("pigdm", "blur", 0.1, {"steps": 50}, 0.21),
]
"""Tolerances: about 1.5x the error measured with 200 samples (Monte-Carlo floor ~0.05)."""


def posterior_errors(solver: str, op_name: str, sigma_y: float, kwargs: dict, seed: int = 0):
    """(mean |error| / std, max |error| / std, sample std / posterior std, rms of A x - y)."""
    channels, op = operators()[op_name]
    prior = GaussianPrior.natural_like(channels, SIZE)
    x_true = prior.sample(1, torch.Generator().manual_seed(1))
    y = op.measure(x_true, sigma_y, torch.Generator().manual_seed(2))
    batch = y.expand(N_SAMPLES, *y.shape[1:]).contiguous()
    samples = get(solver)(prior, op, batch, sigma_y=sigma_y,
                          generator=torch.Generator().manual_seed(seed), **kwargs)
    mean, cov = gaussian_posterior(prior, op, y, max(sigma_y, 1e-4))
    std = cov.diagonal().sqrt().view(mean.shape[1:])
    informative = std > 0.02  # components the measurement does not pin down
    err = ((samples.mean(0) - mean[0]) / std)[informative].abs()
    spread = (samples.std(0) / std)[informative].mean()
    residual = float((op.A(samples) - y).pow(2).mean().sqrt())
    return float(err.mean()), float(err.max()), float(spread), residual


@pytest.mark.parametrize(("solver", "op_name", "sigma_y", "kwargs", "tol"), CASES,
                         ids=[f"{c[0]}-{c[1]}-sy{c[2]}" for c in CASES])
def test_posterior_mean_and_consistency(solver, op_name, sigma_y, kwargs, tol):
    err_mean, err_max, spread, residual = posterior_errors(solver, op_name, sigma_y, kwargs)
    print(f"{solver:8s} {op_name:9s} sigma_y={sigma_y}: mean|err|/std {err_mean:.3f} "
          f"(max {err_max:.3f}), spread {spread:.2f}, rms(Ax - y) {residual:.4f}")
    assert err_mean < tol
    assert err_max < 4 * tol
    assert 0.3 < spread < 1.3  # samples neither collapse to a point nor blow up
    # Posterior samples fit y to within the noise: rms(A x - y) <= sigma_y, and far below a
    # badly wrong fit; noiseless problems must be (nearly) exact.
    assert residual < (1.2 * sigma_y if sigma_y > 0 else 0.01)
    if sigma_y > 0:
        assert residual > 0.2 * sigma_y



@pytest.mark.parametrize("spacing", ["uniform", "quad"])
def test_diffpir_without_data_term_is_ddim(spacing):
    """With zeta = 0 and a data step that keeps the denoised image (identity operator, huge lam),
    DiffPIR is exactly deterministic DDIM: the same re-noising direction, sigma grid and last step.
    (The moment tests above cannot see a sign error in the re-noising with zeta < 1; this can.)"""
    prior = GaussianPrior.natural_like(channels=1, size=8)
    y = torch.zeros(4, 1, 8, 8, dtype=torch.float64)
    out = get("diffpir")(prior, Denoise(), y, steps=12, sigma_y=0.5, lam=1e12, zeta=0.0, spacing=spacing,
                         generator=torch.Generator().manual_seed(3))
    ref = get("ddim")(prior, y.shape, steps=12, eta=0.0, spacing=spacing, dtype=torch.float64,
                      generator=torch.Generator().manual_seed(3))
    assert torch.allclose(out, ref, atol=1e-6), (out - ref).abs().max()


class OracleDenoiser(Prior):
    """The denoiser of a point-mass prior at ``x_true``: D(x, sigma) = x_true."""

    def __init__(self, x_true: Tensor) -> None:
        super().__init__()
        self.channels = x_true.shape[1]
        self.register_buffer("x_true", x_true)

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        return self.x_true.expand_as(x)


@pytest.mark.parametrize(("op_name", "eta"), [("pool2", 0.85), ("blur", 0.85), ("pool2", 0.3)])
def test_ddrm_keeps_the_diffusion_marginals_with_an_exact_denoiser(op_name, eta):
    """DDRM's steps are built so that, given the true x0, x_t ~ N(x0, sigma_t^2 I) at every step in all
    three spectral cases (Kawar et al. 2022, Sec. 4). With independent measurements of one image and a
    denoiser that returns it, every spectral component of x_t - x0 must have std sigma_t and mean 0:
    this sees variance errors (e.g. sigma_y instead of sigma_y / s_i) that the posterior-mean tests cannot."""
    channels, op = operators()[op_name]
    n, sigma_y = 4000, 0.1
    x_true = GaussianPrior.natural_like(channels, SIZE).sample(1, torch.Generator().manual_seed(1))
    y = op.measure(x_true.expand(n, -1, -1, -1), sigma_y, torch.Generator().manual_seed(2))
    states = []
    get("ddrm")(OracleDenoiser(x_true), op, y, steps=10, sigma_y=sigma_y, eta=eta,
                generator=torch.Generator().manual_seed(3), callback=lambda step: states.append(step.x))
    next_sigmas = noise_levels(OracleDenoiser(x_true), 10, "uniform")[1:-1]  # the ladder ends in 0
    for x_t, sigma in zip(states[:-1], next_sigmas, strict=True):
        d = op.Vt(x_t - x_true)
        assert (d.std(0) / sigma - 1).abs().max() < 0.08, sigma
        assert (d.mean(0) / sigma).abs().max() < 0.08, sigma
    assert torch.allclose(states[-1], x_true.expand_as(states[-1]), atol=1e-6)
