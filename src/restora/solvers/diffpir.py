"""DiffPIR (Zhu et al., CVPR-W NTIRE 2023): half-quadratic splitting with a diffusion denoiser.

Algorithm 1 of the paper, in the x = x0 + sigma * eps convention, for t = T .. 1:
  1. x0      = D(x_t, sigma_t)                                  prior step (one NFE)
  2. x0_hat  = argmin_x ||y - A x||^2 + rho_t ||x - x0||^2       data step, rho_t = lam sigma_n^2 / sigma_t^2
  3. eps_hat = (x_t - x0_hat) / sigma_t
     x_{t-1} = x0_hat + sigma_{t-1} (sqrt(1 - zeta) eps_hat + sqrt(zeta) eps),  eps ~ N(0, I)

The data step uses the operator's closed-form prox (FFT for blur and blur+decimate SR, exact for
masks and SVD operators, CG otherwise) and, for non-linear operators (JPEG), gradient steps.

Units: the official code measures the measurement noise sigma_n on the [0, 1] scale while sigma_t
is on [-1, 1]; restora takes ``sigma_y`` on [-1, 1] and uses sigma_n = sigma_y / 2, so ``lam`` has
the paper's meaning and its published values carry over unchanged.

Published settings (:data:`DEFAULTS`), as the released code (github.com/yuanzhi-zhu/DiffPIR, commit
111d26e) runs them, 100 NFEs with quadratic spacing, noise 12.75/255 on [0, 1] (sigma_y = 0.1 here):
  sr       lam 1, zeta 0.25   configs/sisr.yaml lines 16-17; main_ddpir_sisr.py lines 482-486 sweeps
                              lam over 2, 3, .., 12 at zeta 0.25 and reports every value
  deblur   lam 7, zeta 0.3    main_ddpir_deblur.py lines 440-443 (lambda_ * 7, zeta * 3 over the base
                              1.0 / 0.1 of lines 50 and 59); configs/deblur.yaml has lam 1, zeta 0.1
  inpaint  lam 1, zeta 1, 20 NFEs, noiseless   main_ddpir_inpainting.py lines 34, 52, 55, 385-389
The paper's own text was not available offline to compare; these are the code's values.
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
    data_step,
    image_template,
    randn_like,
    renoise,
    warm_start,
)
from restora.solvers.registry import (
    Option,
    at_least,
    positive,
    solver,
    spacing_option,
    unit_interval,
    warm_option,
)

DEFAULTS = {
    "sr": {"steps": 100, "lam": 1.0, "zeta": 0.25},
    "deblur": {"steps": 100, "lam": 7.0, "zeta": 0.3},
    "inpaint": {"steps": 20, "lam": 1.0, "zeta": 1.0},
}
"""The released code's settings by task family (see the module doc for file and line)."""

MIN_SIGMA_N = 0.001  # the official code's floor on sigma_n ([0, 1] scale) for noiseless problems
STABLE_STEPS = 6
"""Measured with the bundled prior on deblur-gauss at sigma_y 0.05 (a 128 px CBSD68 crop): with 2 and 3 steps
the data step is a near pseudo-inverse at the top noise level and the output spans -28..32 and -4..5 on
[0, 1]; 4 steps amplify the noise (11.4 dB against the blurred input's 16.8); 6 steps give 18.3 dB."""


def count_nfe(steps: int, denoise_last: bool = True, **_: object) -> int:
    """Denoiser calls of :func:`diffpir`: one per pair of its ``steps`` levels ending in 0, one fewer with the
    official ending (which stops at the lowest level)."""
    return steps - (0 if denoise_last else 1)


def second_order(x0: Tensor, previous: Tensor | None, h: float, h_previous: float) -> Tensor:
    """DPM-Solver++(2M)'s extrapolated clean estimate x0 + (x0 - x0_prev) h / (2 h_prev), h = log(sigma /
    sigma_next) (Lu et al. 2022, Alg. 2); the first step, without a previous estimate, stays first order."""
    if previous is None:
        return x0
    return x0 + (x0 - previous) * (h / (2 * h_previous))


@solver("diffpir", "HQS splitting with the operator's prox (Zhu et al. 2023)", published=DEFAULTS,
        count_nfe=count_nfe, needs_linear=False, stable_steps=STABLE_STEPS,
        warm_start=True,
        options={"lam": positive(), "zeta": unit_interval(), "spacing": spacing_option(),
                 "sigma_start": warm_option(), "grad_steps": at_least(1), "clip_x0": Option(bool),
                 "denoise_last": Option(bool), "order": Option(int, lambda v: v in (1, 2), "1 or 2")})
def diffpir(prior: Prior, op: Operator, y: Tensor, *, steps: int = 100, sigma_y: float,
            lam: float = 1.0, zeta: float = 0.25, spacing: str = "quad", sigma_start: float | None = None,
            x_init: Tensor | None = None, grad_steps: int = 1, clip_x0: bool = False,
            denoise_last: bool = True, order: int = 1, generator: torch.Generator | None = None,
            callback: Callback | None = None) -> Tensor:
    """Restore ``y = A(x) + n`` (``sigma_y``: noise std on the [-1, 1] scale) with ``steps`` NFEs.

    Left out, ``lam`` and ``zeta`` are those of the released SR config (1, 0.25); the settings for a task
    family (published, or tuned for the prior) are ``restora.solvers.settings("diffpir", family, prior)``.

    ``sigma_start`` (a warm start, CCDF) spreads the ``steps`` calls from that level down and starts from
    ``x_init`` (default: the operator's initial estimate) noised to it instead of from pure noise.
    ``order=2`` replaces the re-noising step's clean estimate by DPM-Solver++(2M)'s extrapolation from the
    last two data-consistent estimates (:func:`second_order`; with ``zeta = 0`` the step is exactly 2M).
    ``clip_x0`` clips the prior's estimate to [-1, 1] before the data step, as the official code
    (guided-diffusion's ``clip_denoised``) and deepinv do. ``denoise_last=False`` stops at the lowest
    noise level and returns that re-noised iterate, as the official code does (it discards its last
    prior call): one NFE fewer.
    Returns images in [-1, 1] (not clipped).
    """
    sigmas, x, progress = begin(prior, image_template(op, y), steps, spacing, generator, callback,
                                count_nfe(steps, denoise_last), sigma_start=sigma_start,
                                x_init=warm_start(op, y, sigma_start, x_init))
    sigmas = sigmas if denoise_last else sigmas[:-1]  # the official ending stops at the lowest level
    sigma_n = max(sigma_y / 2, MIN_SIGMA_N)
    previous, h_previous = None, 0.0
    for s, s_next in pairwise(sigmas):
        x0 = prior(x, s)
        x0 = data_step(op, x0.clamp(-1, 1) if clip_x0 else x0, y, lam * sigma_n**2 / s**2, grad_steps)
        noise = randn_like(x, generator) if s_next > 0 and zeta > 0 else None
        x0_step = x0
        if order == 2 and 0 < s_next < s:
            h = math.log(s / s_next)
            x0_step, previous, h_previous = second_order(x0, previous, h, h_previous), x0, h
        x = renoise(x0_step, (x - x0_step) / s, s_next, noise, zeta)
        progress(s, x, x0)
    return x
