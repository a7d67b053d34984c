"""Tikhonov-regularised least squares with a gradient penalty, argmin ||y - A x||^2 + mu ||grad x||^2, by
conjugate gradients: Wiener-like deconvolution for blur, harmonic interpolation for inpainting (mu -> 0 keeps
known pixels and fills holes by solving Laplace's equation); the classical restoration of a linear operator
(:meth:`restora.operators.Operator.classical`)."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import Operator, batch_view, conjugate_gradient

MU_GRID = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)


def grad_normal(x: Tensor) -> Tensor:
    """D^T D x for forward differences with replicate (Neumann) boundaries: the negative Laplacian."""
    dx = F.pad(x[..., :, 1:] - x[..., :, :-1], (1, 1))
    dy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 1, 1))
    return -(dx[..., :, 1:] - dx[..., :, :-1]) - (dy[..., 1:, :] - dy[..., :-1, :])


def tikhonov(op: Operator, y: Tensor, mu: float | Tensor, iters: int = 300,
             x0: Tensor | None = None) -> Tensor:
    """argmin_x ||y - A x||^2 + mu ||grad x||^2 (per-sample ``mu`` allowed) by conjugate gradients."""
    if not op.linear:
        raise RestoraError(f"Tikhonov needs a linear operator, {type(op).__name__} is not")
    b = op.At(y)
    m = batch_view(mu, b)
    start = x0 if x0 is not None else op.pinv(y)
    return conjugate_gradient(lambda v: op.At(op.A(v)) + m * grad_normal(v), b, x0=start,
                              max_iter=iters, tol=1e-6)


def discrepancy_tikhonov(op: Operator, y: Tensor, sigma_y: float) -> Tensor:
    """:func:`tikhonov` with mu from :data:`MU_GRID` by the discrepancy principle: the residual ||A x - y||
    closest to what the noise level ``sigma_y`` leaves (at least 1e-3 per value)."""
    target = math.sqrt(max(sigma_y, 1e-3) ** 2 * y[0].numel())
    best, best_gap = None, math.inf
    for m in MU_GRID:
        x = tikhonov(op, y, m)
        gap = abs(float((op.A(x) - y).flatten(1).norm(dim=1).mean()) - target)
        if gap < best_gap:
            best, best_gap = x, gap
    return best
