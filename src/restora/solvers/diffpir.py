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

Defaults per task follow the authors' released configs (github.com/yuanzhi-zhu/DiffPIR,
configs/{sisr,deblur,inpaint}.yaml): 100 NFEs with quadratic spacing, lam = 1, zeta = 0.1 for
noisy SR and deblurring (sigma_n = 12.75/255 on [0,1], i.e. sigma_y = 0.1 here); 20 NFEs, lam = 1,
zeta = 1.0 for noiseless inpainting. See :data:`DEFAULTS`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import Operator
from restora.priors.base import Prior
from restora.solvers.common import Callback, check_measurement, noise_levels, randn_like, renoise

DEFAULTS = {
    "sr": {"steps": 100, "lam": 1.0, "zeta": 0.1},
    "deblur": {"steps": 100, "lam": 1.0, "zeta": 0.1},
    "inpaint": {"steps": 20, "lam": 1.0, "zeta": 1.0},
}
"""Published defaults (authors' configs) by task family."""

MIN_SIGMA_N = 0.001  # the official code's floor on sigma_n ([0, 1] scale) for noiseless problems


def data_step(op: Operator, x0: Tensor, y: Tensor, rho: float, grad_steps: int) -> Tensor:
    """argmin_x ||y - A x||^2 + rho ||x - x0||^2: the operator's prox for linear operators; for
    non-linear ones, ``grad_steps`` gradient steps x <- x - A'(x)^T (A(x) - y) / rho (the official
    code's first-order fallback)."""
    if op.linear:
        return op.prox(x0, y, rho)
    x = x0
    for _ in range(grad_steps):
        with torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)
            loss = 0.5 * (op.A(xg) - y).pow(2).sum()
            (g,) = torch.autograd.grad(loss, xg)
        x = x - g / rho
    return x


def diffpir(prior: Prior, op: Operator, y: Tensor, *, steps: int = 100, sigma_y: float = 0.1,
            lam: float = 1.0, zeta: float = 0.1, spacing: str = "quad", sigma_start: float | None = None,
            x_init: Tensor | None = None, grad_steps: int = 1, generator: torch.Generator | None = None,
            callback: Callback | None = None) -> Tensor:
    """Restore ``y = A(x) + n`` (``sigma_y``: noise std on the [-1, 1] scale) with ``steps`` NFEs.

    ``sigma_start`` < the prior's top noise level starts from ``x_init`` (default: A^+ y for linear
    operators) noised to that level instead of pure noise: fewer steps for mild degradations.
    Returns images in [-1, 1] (not clipped).
    """
    shape = check_measurement(op, y, sigma_y)
    if not 0 <= zeta <= 1:
        raise RestoraError(f"zeta must be in [0, 1], got {zeta}")
    if not lam > 0:
        raise RestoraError(f"lam must be > 0, got {lam}")
    sigmas = noise_levels(prior, steps, spacing)
    sigma_n = max(sigma_y / 2, MIN_SIGMA_N)
    # Non-linear operators differentiate through A in the data step; nothing else needs autograd.
    with torch.inference_mode() if op.linear else torch.no_grad():
        template = torch.empty(shape, device=y.device, dtype=y.dtype)
        if sigma_start is not None:
            sigmas = [s for s in sigmas if s <= sigma_start] or sigmas[-1:]
            if x_init is None:
                x_init = op.pinv(y) if op.linear else torch.zeros_like(template)
            x = x_init + sigmas[0] * randn_like(template, generator)
        else:
            x = sigmas[0] * randn_like(template, generator)
        for i, s in enumerate(sigmas):
            x0 = prior(x, s)
            x0 = data_step(op, x0, y, lam * sigma_n**2 / s**2, grad_steps)
            s_next = sigmas[i + 1] if i + 1 < len(sigmas) else 0.0
            noise = randn_like(x, generator) if s_next > 0 and zeta > 0 else None
            x = renoise(x0, (x - x0) / s, s_next, noise, zeta)
            if callback is not None:
                callback(i, x, x0)
    return x

