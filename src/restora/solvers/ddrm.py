"""DDRM (Kawar et al., NeurIPS 2022): denoising diffusion restoration in the operator's SVD basis.

In spectral coordinates x_bar = V^T x, y_bar = U^T y / s (noise std sigma_y / s per component),
each step from sigma_t to sigma_next updates every component i from the clean estimate x0_bar:
  s_i = 0 (unobserved):           x0_bar + sqrt(1 - eta^2) sigma_next eps_bar + eta sigma_next z
  s_i sigma_next < sigma_y:       x0_bar + sqrt(1 - eta^2) sigma_next (y_bar - x0_bar) s_i / sigma_y
                                  + eta sigma_next z
  s_i sigma_next > sigma_y:       (1 - eta_b) x0_bar + eta_b y_bar
                                  + sqrt(sigma_next^2 - eta_b^2 sigma_y^2 / s_i^2) z
(eqs. 7-8 of the paper; the same three cases as the released `efficient_generalized_steps`).
Defaults (paper, Sec. 5): 20 steps, eta = 0.85, eta_b = 1, sigma_y quoted on [-1, 1].
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor

from restora.operators.base import Operator
from restora.priors.base import Prior
from restora.solvers.common import (
    Callback,
    Progress,
    image_template,
    noise_levels,
    spectral_noise,
    spectral_setup,
    warm_start,
)
from restora.solvers.registry import non_negative, solver, spacing_option, unit_interval, warm_option

DEFAULTS = {"*": {"steps": 20, "eta": 0.85, "eta_b": 1.0}}
"""The paper's settings (Sec. 5: 20 steps, eta 0.85, eta_b 1), for every task family ("*")."""


@solver("ddrm", "denoising diffusion restoration in the operator's SVD basis (Kawar et al. 2022)",
        published=DEFAULTS, needs_svd=True,
        warm_start=True,
        options={"eta": unit_interval(), "eta_b": non_negative(), "spacing": spacing_option(),
                 "sigma_start": warm_option()})
def ddrm(prior: Prior, op: Operator, y: Tensor, *, steps: int = 20, sigma_y: float,
         eta: float = 0.85, eta_b: float = 1.0, spacing: str = "uniform", sigma_start: float | None = None,
         x_init: Tensor | None = None,
         generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """Restore ``y = A x + n`` (noise std ``sigma_y`` on [-1, 1]) with ``steps`` NFEs; needs an SVD.
    ``sigma_start`` warm-starts from ``x_init`` (default: the operator's initial estimate) noised to that
    level instead of DDRM's initialisation from y_bar."""
    template = image_template(op, y)
    s, uty, y_bar, measured = spectral_setup(op, y, template.shape)
    sigmas = noise_levels(prior, steps, spacing, sigma_start)
    safe_sy = max(sigma_y, 1e-12)
    noise_std_y = sigma_y / s.clamp_min(1e-30)  # std of y_bar per measured component

    z = spectral_noise(op, template, generator)
    top = sigmas[0]
    x_start = warm_start(op, y, sigma_start, x_init)
    if x_start is None:  # x_T: measured components the noise level dominates start from y_bar (DDRM init)
        from_y = measured & (s * top > sigma_y)
        x_bar = torch.where(from_y, y_bar + (top**2 - noise_std_y**2).clamp_min(0).sqrt() * z, top * z)
    else:  # warm start: the estimate plus noise at the start level, in spectral coordinates
        x_bar = op.Vt(x_start) + top * z
    x = op.V(x_bar)
    uty_scaled, y_bar_scaled = uty / safe_sy, eta_b * y_bar
    zero = torch.zeros((), dtype=y_bar.dtype, device=y.device)
    progress = Progress(callback, steps)
    for sigma, sigma_next in pairwise(sigmas):
        x0 = prior(x, sigma)
        x0_bar = op.Vt(x0)
        eps_bar = (x_bar - x0_bar) / sigma  # V^T x = x_bar: the iterate is kept in both forms
        z = spectral_noise(op, template, generator)
        # The three cases as x_bar = a x0_bar + b eps_bar + c z + d, with coefficients on the
        # (often broadcast, real) singular-value grid and one pass over the full spectral tensors.
        std, kept = eta * sigma_next, (1 - eta**2) ** 0.5 * sigma_next
        quiet, noisy = measured & (s * sigma_next < sigma_y), measured & (s * sigma_next > sigma_y)
        a = torch.where(quiet, 1 - kept * s / safe_sy, torch.where(noisy, 1 - eta_b, 1.0))
        b = torch.where(quiet | noisy, 0.0, kept)
        c = torch.where(noisy, (sigma_next**2 - eta_b**2 * noise_std_y**2).clamp_min(0).sqrt(), std)
        d = torch.where(quiet, kept * uty_scaled, torch.where(noisy, y_bar_scaled, zero))
        x_bar = a * x0_bar + b * eps_bar + c * z + d
        x = op.V(x_bar)
        progress(sigma, x, x0)
    return x
