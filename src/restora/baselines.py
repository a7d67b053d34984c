"""Classical (prior-free) restorations to compare the diffusion solvers against.

* SR (any of the SR operators): MATLAB-style bicubic upsampling of y.
* MRI: the zero-filled inverse FFT; CT: filtered back-projection; phase retrieval: HIO.
* Everything linear: Tikhonov with a gradient penalty, argmin ||y - A x||^2 + mu ||grad x||^2,
  solved by conjugate gradients: Wiener-like deconvolution for blur, harmonic interpolation for
  inpainting (mu -> 0 keeps known pixels and fills holes by solving Laplace's equation).
* ``mu=None`` picks mu from a small grid by the discrepancy principle (||A x - y|| closest to
  the noise level); benchmarks may instead report the oracle-tuned best (say so in the table).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import Operator, batch_view, conjugate_gradient
from restora.operators.ct import CT
from restora.operators.mri import MRI
from restora.operators.phase import PhaseRetrieval, hio
from restora.operators.resize import imresize
from restora.operators.sr import AvgPoolSR, BicubicSR, BlurDownsampleSR

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


def bicubic_upsample(op: Operator, y: Tensor) -> Tensor:
    """MATLAB bicubic upsampling of a low-resolution measurement to the operator's image size."""
    return imresize(y, op.scale)


def initial_estimate(op: Operator, y: Tensor) -> Tensor:
    """A cheap first guess of the image (a starting point for iterative solvers, not a baseline):
    bicubic upsampling for SR, y itself where it has the image's shape (blur, masks, denoising),
    else the pseudo-inverse."""
    if isinstance(op, BicubicSR | BlurDownsampleSR | AvgPoolSR):
        return bicubic_upsample(op, y)
    if isinstance(op, CT):
        return op.fbp(y)
    if not op.linear:
        return torch.zeros(op.x_shape(y.shape), device=y.device, dtype=y.real.dtype)
    if tuple(op.x_shape(y.shape)) == tuple(y.shape) and not y.is_complex():
        return y.clone()
    return op.pinv(y)


def classical(op: Operator, y: Tensor, sigma_y: float = 0.0, mu: float | None = None) -> Tensor:
    """The classical baseline for ``op`` (see the module docstring); images in [-1, 1]."""
    if isinstance(op, BicubicSR | BlurDownsampleSR | AvgPoolSR):
        return bicubic_upsample(op, y)
    if isinstance(op, MRI):
        return op.pinv(y)  # zero-filled
    if isinstance(op, CT):
        return op.fbp(y)
    if isinstance(op, PhaseRetrieval):
        return hio(op, y)
    if not op.linear:
        return y.clone()  # e.g. JPEG: the decoded image itself
    if mu is not None:
        return tikhonov(op, y, mu)
    target = math.sqrt(max(sigma_y, 1e-3) ** 2 * y[0].numel())
    best, best_gap = None, math.inf
    for m in MU_GRID:
        x = tikhonov(op, y, m)
        gap = abs(float((op.A(x) - y).flatten(1).norm(dim=1).mean()) - target)
        if gap < best_gap:
            best, best_gap = x, gap
    return best


__all__ = ["MU_GRID", "bicubic_upsample", "classical", "grad_normal", "initial_estimate", "tikhonov"]
