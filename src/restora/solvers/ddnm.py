"""DDNM and DDNM+ (Wang et al., ICLR 2023): range-null space decomposition.

Each step replaces the range-space part of the clean estimate by the measurement:
  x0_hat = x0 + Lambda_t A^+ (y - A x0)          (noiseless DDNM: Lambda_t = I)
then takes a DDIM step (eta) from x0_hat with the network's noise estimate. DDNM+ (noisy y):
per SVD component, Lambda_t = 1 where the next noise level sigma_next already hides the measurement
noise sigma_y / s_i, else sigma_next s_i / sigma_y; the noise added at that component is scaled to
gamma_i = sqrt(sigma_next^2 - (lambda_i sigma_y / s_i)^2) so the iterate keeps the right level
(eqs. 17-19). Operators without an SVD use the scalar form with unit singular values (the
"simplified" DDNM+ of the release). Time travel (``travel_length`` L, ``travel_repeat`` r) follows
the RePaint jump schedule (:func:`restora.solvers.common.jump_schedule`): every L steps, jump back L
levels by re-noising and redo them, r - 1 extra times.
Defaults (release README): 100 steps, eta = 0.85, no time travel.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import Tensor

from restora.operators.base import Operator
from restora.priors.base import Prior
from restora.solvers.common import (
    Callback,
    begin,
    ddim_coefficients,
    image_template,
    jump_nfe,
    jump_schedule,
    randn_like,
    spectral_noise,
    spectral_setup,
    warm_start,
)
from restora.solvers.registry import at_least, solver, spacing_option, unit_interval, warm_option

DEFAULTS = {"*": {"steps": 100, "eta": 0.85}}
"""The release README's settings (100 steps, eta 0.85, no time travel) for every task family."""


def _pixel_step(op: Operator, x0: Tensor, step_noise: Tensor, y: Tensor, sigma_y: float,
                sigma_next: float) -> Tensor:
    """DDNM (noiseless y) or the simplified DDNM+ (no SVD: unit singular values assumed)."""
    if sigma_y == 0:  # DDNM: hard range-space replacement, full noise everywhere
        return x0 + op.pinv(y - op.A(x0)) + step_noise
    lam = min(1.0, sigma_next / sigma_y)
    gamma = math.sqrt(max(sigma_next**2 - (lam * sigma_y) ** 2, 0.0))
    scale = gamma / sigma_next if sigma_next > 0 else 0.0
    return x0 + lam * op.pinv(y - op.A(x0)) + scale * step_noise


def _spectral_weights(s: Tensor, measured: Tensor, std_y: Tensor, sigma_next: float) -> tuple[Tensor, Tensor]:
    """DDNM+ per component: Lambda_t (range-space weight) and gamma_t / sigma_next (noise scale)."""
    lam = torch.where(measured, (sigma_next / std_y).clamp(max=1.0), 0.0)
    if sigma_next == 0:
        return lam, torch.zeros_like(lam)
    gamma = torch.where(measured, (sigma_next**2 - (lam * std_y) ** 2).clamp_min(0).sqrt(), sigma_next)
    return lam, gamma / sigma_next


def _count_nfe(steps: int, travel_length: int = 1, travel_repeat: int = 1, **_: object) -> int:
    return jump_nfe(steps, travel_length, travel_repeat)


@solver("ddnm", "range-null space decomposition; DDNM+ for noisy y, time travel (Wang et al. 2023)",
        published=DEFAULTS, count_nfe=_count_nfe,
        warm_start=True,
        options={"eta": unit_interval(), "spacing": spacing_option(), "travel_length": at_least(1),
                 "travel_repeat": at_least(1), "sigma_start": warm_option()})
def ddnm(prior: Prior, op: Operator, y: Tensor, *, steps: int = 100, sigma_y: float,
         eta: float = 0.85, spacing: str = "uniform", travel_length: int = 1, travel_repeat: int = 1,
         sigma_start: float | None = None, x_init: Tensor | None = None,
         generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """DDNM for sigma_y = 0, DDNM+ for sigma_y > 0 ([-1, 1] scale); NFEs = steps plus re-done steps."""
    template = image_template(op, y)
    spectral = op.has_svd and sigma_y > 0
    if spectral:
        s, _uty, y_bar, measured = spectral_setup(op, y, template.shape)
        std_y = sigma_y / s.clamp_min(1e-30)
    sigmas, x, progress = begin(prior, template, steps, spacing, generator, callback,
                                _count_nfe(steps, travel_length, travel_repeat), sigma_start=sigma_start,
                                x_init=warm_start(op, y, sigma_start, x_init))
    x_bar = None  # V^T x when a spectral step made x (saves a transform per step)
    for i, j in pairwise(jump_schedule(steps, travel_length, travel_repeat)):
        if j < i:  # time travel: back to the noisier level sigma_j
            x = x + math.sqrt(sigmas[j] ** 2 - sigmas[i] ** 2) * randn_like(x, generator)
            x_bar = None
            continue
        sigma, sigma_next = sigmas[i], sigmas[j]
        x0 = prior(x, sigma)
        c_eps, c_noise = ddim_coefficients(sigma, sigma_next, eta)
        if spectral:
            x0_bar = op.Vt(x0)
            step_noise = c_eps * ((op.Vt(x) if x_bar is None else x_bar) - x0_bar) / sigma
            if c_noise > 0:
                step_noise = step_noise + c_noise * spectral_noise(op, template, generator)
            lam, scale = _spectral_weights(s, measured, std_y, sigma_next)
            x_bar = x0_bar + lam * (y_bar - x0_bar) + scale * step_noise
            x = op.V(x_bar)
        else:
            step_noise = c_eps * (x - x0) / sigma
            if c_noise > 0:
                step_noise = step_noise + c_noise * randn_like(x, generator)
            x = _pixel_step(op, x0, step_noise, y, sigma_y, sigma_next)
        progress(sigma, x, x0)
    return x
