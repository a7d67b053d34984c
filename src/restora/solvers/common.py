"""Pieces shared by the solvers: noise draws, sigma grids, the DDIM-style re-noising step."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import Operator
from restora.priors.base import Prior
from restora.schedules import sampling_sigmas

Callback = Callable[[int, Tensor, Tensor], None]
"""callback(step, x, x0_hat): called after every step with the current noisy iterate (x = x0 +
sigma * eps convention) and the current clean estimate, for progress bars and pictures."""


def randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like ``x`` from ``generator`` (drawn on the generator's device)."""
    device = generator.device if generator is not None else x.device
    dtype = x.real.dtype
    return torch.randn(x.shape, generator=generator, device=device, dtype=dtype).to(x.device)


def spectral_noise(op: Operator, template: Tensor, generator: torch.Generator | None) -> Tensor:
    """Noise distributed as V^T n, n ~ N(0, I), in the operator's spectral layout: drawn directly
    when V is real orthogonal (``op.white_spectrum``), else transformed (e.g. Hermitian FFT layouts)."""
    noise = randn_like(template, generator)
    return noise if op.white_spectrum else op.Vt(noise)


def noise_levels(prior: Prior, steps: int, spacing: str) -> list[float]:
    """Decreasing sigmas for ``steps`` denoiser calls on the prior's time grid (Python floats, so the
    loop needs no device syncs)."""
    return [float(s) for s in sampling_sigmas(prior.schedule, steps, spacing)]


def check_measurement(op: Operator, y: Tensor, sigma_y: float) -> torch.Size:
    """Validate y and return the image shape the solver will produce."""
    if not isinstance(y, Tensor) or y.ndim != 4:
        raise RestoraError(f"measurement must be an NCHW tensor, got {getattr(y, 'shape', type(y))}")
    if not bool(torch.isfinite(y).all()):
        raise RestoraError("measurement contains NaN or infinite values")
    if not sigma_y >= 0 or not math.isfinite(sigma_y):
        raise RestoraError(f"sigma_y must be a finite number >= 0 ([-1, 1] scale), got {sigma_y}")
    return op.x_shape(y.shape)


def renoise(x0: Tensor, eps: Tensor, sigma_next: float, noise: Tensor | None, mix: float) -> Tensor:
    """x_next = x0 + sigma_next * (sqrt(1 - mix) * eps + sqrt(mix) * noise).

    ``mix`` = 0 is the deterministic DDIM step, DiffPIR's zeta is ``mix``; with sigma_next = 0 the
    result is x0."""
    if sigma_next == 0:
        return x0
    if mix == 0 or noise is None:
        return x0 + sigma_next * eps
    return x0 + sigma_next * (math.sqrt(1 - mix) * eps + math.sqrt(mix) * noise)


def ddim_coefficients(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """(c_eps, c_noise) of the DDIM update in the x = x0 + sigma * eps convention:
    x_next = x0 + c_eps * eps + c_noise * z. eta = 0 is DDIM, eta = 1 the DDPM posterior."""
    if sigma_next == 0:
        return 0.0, 0.0
    abar, abar_next = 1 / (1 + sigma**2), 1 / (1 + sigma_next**2)
    var_vp = eta**2 * (1 - abar_next) / (1 - abar) * (1 - abar / abar_next)
    c_noise = math.sqrt(max(var_vp, 0.0) / abar_next)
    c_eps = math.sqrt(max(sigma_next**2 - c_noise**2, 0.0))
    return c_eps, c_noise


def prior_device(prior: Prior) -> torch.device:
    """The device holding the prior's weights (CPU for weightless priors)."""
    for tensor in (*prior.parameters(), *prior.buffers()):
        return tensor.device
    return torch.device("cpu")


def jump_schedule(steps: int, jump_length: int = 10, jump_n_sample: int = 10) -> list[int]:
    """Level indices visited by a sampler with resampling jumps ("time travel" of RePaint / DDNM):
    0 (sigma_max) .. ``steps`` (clean). jump_n_sample = 1 is the plain sampler.

    RePaint's ``get_schedule_jump`` (github.com/andreas128/RePaint, guided_diffusion/scheduler.py,
    n_sample = 1) in timestep units t = steps - 1 - index: after reaching each t in {0, j, 2j, ...}
    below steps - j (j = ``jump_length``), jump back up by j levels, ``jump_n_sample - 1`` times. Each
    jump is one entry (the official list climbs one timestep at a time)."""
    for name, value in (("steps", steps), ("jump_length", jump_length), ("jump_n_sample", jump_n_sample)):
        if int(value) != value or value < 1:
            raise RestoraError(f"{name} must be an integer >= 1, got {value}")
    jumps = {j: jump_n_sample - 1 for j in range(0, steps - jump_length, jump_length)}
    t = steps - 1
    times = [t]
    while t >= 0:
        t -= 1
        times.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            t += jump_length
            times.append(t)
    return [steps - 1 - t for t in times]


def spectral_setup(op: Operator, y: Tensor, shape: torch.Size):
    """(s, U^T y, y_bar, measured) for SVD solvers: singular values, the measurement in spectral
    form, its pseudo-inverse coordinates y_bar = U^T y / s, and the mask of s > 0."""
    if not op.has_svd:
        raise RestoraError(f"{type(op).__name__} has no SVD view; use diffpir, dps or pigdm instead")
    template = torch.zeros(shape, device=y.device, dtype=y.dtype)
    s = op.singular_values(template)
    uty = op.Ut(y)
    measured = s > 0
    y_bar = torch.where(measured, uty / s.clamp_min(1e-30), torch.zeros_like(uty))
    return s, uty, y_bar, measured
