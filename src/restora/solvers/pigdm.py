"""PiGDM (Song, Vahdat, Mardani & Kautz, ICLR 2023): pseudoinverse-guided diffusion models.

A DDIM step from the clean estimate x0 = D(x_t), plus the pseudoinverse guidance, a vector-Jacobian
product through the network:
  x_next += (d x0 / d x_t)^T r_t^2 A^T (r_t^2 A A^T + sigma_y^2 I)^{-1} (y - A x0),
  r_t^2 = sigma_t^2 / (1 + sigma_t^2)  (the paper's Var[x0 | x_t] for unit-variance data).
It is r_t^2 times the Gaussian approximation of grad log p(y | x_t), normalised as in the reference
implementations: for sigma_y = 0 the step is (d x0 / d x_t)^T A^+ (y - A x0), a Gauss-Newton step
that moves the estimate onto the measurement where the denoiser's Jacobian is near identity.
The inverse is applied in the operator's SVD basis when it has one, else by conjugate gradients.
Defaults: 100 steps, eta = 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restora.operators.base import Operator, conjugate_gradient
from restora.priors.base import Prior
from restora.solvers.common import Callback, check_measurement, ddim_coefficients, noise_levels, randn_like


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


def pigdm(prior: Prior, op: Operator, y: Tensor, *, steps: int = 100, sigma_y: float = 0.05,
          eta: float = 1.0, spacing: str = "uniform", generator: torch.Generator | None = None,
          callback: Callback | None = None) -> Tensor:
    """Restore ``y = A x + n`` (``sigma_y`` on [-1, 1]) with ``steps`` NFEs, each with one backward pass."""
    shape = check_measurement(op, y, sigma_y)
    sigmas = noise_levels(prior, steps, spacing)
    template = torch.zeros(shape, device=y.device, dtype=y.dtype)
    x = sigmas[0] * randn_like(template, generator)
    for i, sigma in enumerate(sigmas):
        sigma_next = sigmas[i + 1] if i + 1 < len(sigmas) else 0.0
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = prior(xg, sigma)
            with torch.no_grad():
                w = weighted_residual(op, y - op.A(x0), sigma**2 / (1 + sigma**2), sigma_y)
            (g,) = torch.autograd.grad(x0, xg, grad_outputs=w)
        x0 = x0.detach()
        with torch.no_grad():
            c_eps, c_noise = ddim_coefficients(sigma, sigma_next, eta)
            x = x0 + c_eps * (x - x0) / sigma + g
            if c_noise:
                x = x + c_noise * randn_like(x, generator)
        if callback is not None:
            callback(i, x, x0)
    return x.detach()
