"""PiGDM (Song, Vahdat, Mardani & Kautz, ICLR 2023): pseudoinverse-guided diffusion models.

A DDIM step from the clean estimate x0 = D(x_t), plus the pseudoinverse guidance, a vector-Jacobian
product through the network:
  x_next += (d x0 / d x_t)^T r_t^2 A^T (r_t^2 A A^T + sigma_y^2 I)^{-1} (y - A x0),
  r_t^2 = sigma_t^2 / (1 + sigma_t^2)  (the paper's Var[x0 | x_t] for unit-variance data).
It is r_t^2 times the Gaussian approximation of grad log p(y | x_t), normalised as in the reference
implementations: for sigma_y = 0 the step is (d x0 / d x_t)^T A^+ (y - A x0), a Gauss-Newton step
that moves the estimate onto the measurement where the denoiser's Jacobian is near identity.
The inverse is applied in the operator's SVD basis when it has one, else by conjugate gradients.
Defaults: 100 steps, eta = 1 (restora's choice; the paper reports 100 steps).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor

from restora.operators.base import Operator, conjugate_gradient
from restora.priors.base import Prior
from restora.solvers.common import (
    Callback,
    begin,
    ddpm_step,
    denoise_with_graph,
    image_template,
    warm_start,
)
from restora.solvers.registry import solver, spacing_option, unit_interval, warm_option

DEFAULTS = {"*": {"steps": 100, "eta": 1.0}}


def weighted_residual(op: Operator, residual: Tensor, r2: float, sigma_y: float) -> Tensor:
    """r2 A^T (r2 A A^T + sigma_y^2 I)^{-1} residual, in image space."""
    if op.has_svd:
        like = torch.zeros(op.x_shape(residual.shape), device=residual.device, dtype=residual.dtype)
        s = op.singular_values(like)
        denom = r2 * s**2 + sigma_y**2
        w = torch.where(s > 0, r2 * s / denom.clamp_min(1e-30), torch.zeros_like(s))
        return op.V(w * op.Ut(residual))
    solve = conjugate_gradient(lambda v: r2 * op.A(op.At(v)) + sigma_y**2 * v, residual, max_iter=50)
    return r2 * op.At(solve)


@solver("pigdm", "pseudoinverse guidance through the prior's Jacobian (Song et al. 2023)", published=DEFAULTS,
        differentiates_prior=True,
        warm_start=True,
        options={"eta": unit_interval(), "spacing": spacing_option(), "sigma_start": warm_option()})
def pigdm(prior: Prior, op: Operator, y: Tensor, *, steps: int = 100, sigma_y: float,
          eta: float = 1.0, spacing: str = "uniform", sigma_start: float | None = None,
          x_init: Tensor | None = None, generator: torch.Generator | None = None,
          callback: Callback | None = None) -> Tensor:
    """Restore ``y = A x + n`` (``sigma_y`` on [-1, 1]) with ``steps`` NFEs, each with one backward pass."""
    sigmas, x, progress = begin(prior, image_template(op, y), steps, spacing, generator, callback,
                                sigma_start=sigma_start, x_init=warm_start(op, y, sigma_start, x_init))
    for sigma, sigma_next in pairwise(sigmas):
        with torch.enable_grad():
            xg, x0 = denoise_with_graph(prior, x, sigma)
            with torch.no_grad():
                w = weighted_residual(op, y - op.A(x0), sigma**2 / (1 + sigma**2), sigma_y)
            (g,) = torch.autograd.grad(x0, xg, grad_outputs=w)
        x0 = x0.detach()
        x = ddpm_step(x, x0, sigma, sigma_next, eta, generator) + g
        progress(sigma, x, x0)
    return x
