"""Fourier phase retrieval: ``y = |F P x|``, the magnitude of the orthonormal 2-D FFT of the zero-padded
image; non-linear (only A and its gradient exist), for DPS and DiffPIR's gradient data step.

The DPS paper's convention (github.com/DPS2022/diffusion-posterior-sampling,
guided_diffusion/measurements.py ``PhaseRetrievalOperator``, configs/phase_retrieval_config.yaml): the
image, in [-1, 1], is padded on every side by ``oversample / 8`` of its size (64 pixels of a 256 image
at oversampling 2: 384 x 384), the FFT is orthonormal, and Gaussian noise of std 0.05 is added to the
magnitudes. The magnitude cannot tell x from its 180-degree rotation, a global sign flip, or their
combination (:func:`align`); scores of phase retrieval are taken after the best of these.

:func:`hio` is the classical reconstruction: Fienup's hybrid input-output, with error-reduction steps
at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import check_nchw, default_generator, work_dtype
from restora.operators.base import NonlinearOperator


class PhaseRetrieval(NonlinearOperator):
    """``y = |F pad(x)|`` with padding ``round(oversample / 8 * size)`` on each side."""

    def __init__(self, oversample: float = 2.0) -> None:
        if not oversample > 0:
            raise RestoraError(f"phase retrieval oversampling must be > 0, got {oversample}")
        self.oversample = float(oversample)

    def classical(self, y: Tensor, sigma_y: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
        """Fienup's hybrid input-output with error reduction (:func:`hio`), from a random start drawn
        from ``generator`` (a fixed one without)."""
        return hio(self, y, generator=generator)

    def pads(self, h: int, w: int) -> tuple[int, int]:
        """Padding (rows, columns) on each side of an H x W image."""
        return round(self.oversample / 8 * h), round(self.oversample / 8 * w)

    def spectrum(self, x: Tensor) -> Tensor:
        """F pad(x): the complex spectrum whose magnitude is measured."""
        check_nchw(x, "PhaseRetrieval")
        ph, pw = self.pads(*x.shape[-2:])
        return torch.fft.fft2(F.pad(x.to(work_dtype(x.dtype)), (pw, pw, ph, ph)), norm="ortho")

    def A(self, x: Tensor) -> Tensor:
        return self.spectrum(x).abs().to(x.dtype)

    def grad(self, x: Tensor, y: Tensor) -> Tensor:
        """Gradient of 0.5 || |F P x| - y ||^2 (autograd, 0 where the magnitude is 0)."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            loss = 0.5 * (self.A(xg) - y).pow(2).sum()
            return torch.autograd.grad(loss, xg)[0]

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        n, c, h, w = x_shape
        ph, pw = self.pads(h, w)
        return torch.Size((n, c, h + 2 * ph, w + 2 * pw))

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        n, c, hp, wp = y_shape
        h = next((h for h in range(1, hp + 1) if h + 2 * round(self.oversample / 8 * h) == hp), None)
        w = next((w for w in range(1, wp + 1) if w + 2 * round(self.oversample / 8 * w) == wp), None)
        if h is None or w is None:
            raise RestoraError(f"no image size gives a {hp}x{wp} phase-retrieval measurement at oversampling "
                               f"{self.oversample:g}")
        return torch.Size((n, c, h, w))


def hio(op: PhaseRetrieval, y: Tensor, iters: int = 1000, beta: float = 0.9, er_iters: int = 100,
        generator: torch.Generator | None = None) -> Tensor:
    """Fienup's hybrid input-output (Fienup 1982) from a random start: alternate the measured magnitudes
    in Fourier space with the object constraints (zero outside the image, values in [-1, 1]);
    ``er_iters`` error-reduction steps at the end. Returns (N, C, H, W) images."""
    hp, wp = y.shape[-2:]
    h, w = op.x_shape(y.shape)[-2:]
    ph, pw = op.pads(h, w)
    support = torch.zeros(1, 1, hp, wp, dtype=torch.bool, device=y.device)
    support[..., ph:ph + h, pw:pw + w] = True
    g = default_generator(generator)
    x = torch.rand(y.shape, generator=g, device=g.device, dtype=work_dtype(y.dtype)).to(y.device) * 2 - 1
    x = torch.where(support, x, 0.0)
    mag = y.to(x.dtype).clamp_min(0)
    for k in range(iters + er_iters):
        spec = torch.fft.fft2(x, norm="ortho")
        x_new = torch.fft.ifft2(mag * torch.exp(1j * torch.angle(spec)), norm="ortho").real
        ok = support & (x_new >= -1) & (x_new <= 1)
        x = torch.where(ok, x_new, x - beta * x_new if k < iters else x_new.clamp(-1, 1) * support)
    return x[..., ph:ph + h, pw:pw + w]


def align(x: Tensor, ref: Tensor) -> Tensor:
    """The one of x, its 180-degree rotation, -x and -rotation closest to ``ref`` (per image): the
    ambiguities a Fourier magnitude cannot resolve (the rotation is the conjugate twin x(-r), which on the
    padded canvas sits one pixel off the support)."""
    cands = torch.stack([x, x.flip(-2, -1), -x, -x.flip(-2, -1)])
    err = (cands - ref).pow(2).flatten(2).mean(2)
    best = err.argmin(0)
    return cands[best, torch.arange(x.shape[0])]
