"""Deblurring: circular convolution ``y = k * x`` computed with FFTs, with closed-form prox/pinv/SVD.

Kernel convention: a kernel of size (kh, kw) has its origin at index ``(kh // 2, kw // 2)`` (the centre
pixel for odd sizes, the pixel below/right of the middle for even sizes), i.e. ``y[i, j] = sum_{a,b}
k[a, b] x[i - a + kh//2, j - b + kw//2]`` with periodic boundaries. The transfer function is
``K = fft2(pad(k) rolled by -(kh//2, kw//2))`` (USRNet's ``p2o``). This is true convolution (the
kernel is flipped relative to correlation), as in the DPS/DiffPIR/USRNet experiments.

SVD view in the orthonormal-FFT layout (complex, shape of x): ``Vt(x) = fft2(x, 'ortho')``,
singular values ``|K|`` (tiny ones, below ``rcond * max|K|``, counted as zero), ``Ut(y) =
fft2(y, 'ortho') * conj(K / |K|)``; ``U`` and ``V`` invert these and return real tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import (
    check_nchw,
    complex_of,
    pinv_tol,
    same_tensor,
    spatial_key,
    work_dtype,
)
from restora.operators.base import Operator, Rho, SVDOperator, batch_view
from restora.operators.kernels import KernelLike, load_kernel


def p2o(kernel: Tensor, shape: tuple[int, int]) -> Tensor:
    """Transfer function (optical transfer function) of ``kernel`` for circular convolution on an
    image of ``shape``, with the kernel origin at (kh // 2, kw // 2). Returns a complex (H, W) tensor."""
    kh, kw = kernel.shape[-2:]
    h, w = shape
    if kh > h or kw > w:
        raise RestoraError(f"kernel {kh}x{kw} is larger than the image {h}x{w}; use a smaller kernel "
                           "or a larger image")
    padded = torch.zeros(*kernel.shape[:-2], h, w, dtype=kernel.dtype, device=kernel.device)
    padded[..., :kh, :kw] = kernel
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(-2, -1))
    return torch.fft.fft2(padded)


class _KernelOperator(Operator):
    """Shared kernel handling: validated float64 copy and per-(size, device, dtype) caches."""

    def __init__(self, kernel: KernelLike, rcond: float | None = None) -> None:
        self.kernel = load_kernel(kernel)  # float32, sums to 1
        self._k64 = self.kernel.to(torch.float64)
        self._k64 = self._k64 / self._k64.sum()
        if rcond is not None and not rcond >= 0:
            raise RestoraError(f"rcond must be >= 0, got {rcond}")
        self.rcond = rcond
        self._cache: dict[tuple, dict[str, Tensor]] = {}
        self._y_cache: tuple | None = None  # (y, version, key, transformed y) for repeated prox calls

    def _otf(self, h: int, w: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        k = self._k64.to(device)
        return p2o(k, (h, w)).to(complex_of(dtype))

    def _cached_y(self, y: Tensor, key: tuple, make) -> Tensor:
        c = self._y_cache
        if c is not None and same_tensor(c[0], y, c[1]) and c[2] == key:
            return c[3]
        value = make(y)
        # inference tensors have no version counter, so they cannot be cached safely
        if not (y.requires_grad or value.requires_grad or y.is_inference()):
            self._y_cache = (y, y._version, key, value)
        return value


class Blur(_KernelOperator, SVDOperator):
    """Deblurring operator: circular 2-D convolution with one kernel, applied to every channel.

    A and At are the exact convolutions (the SVD view drops |K| below rcond); prox is the closed form
    with the transformed y cached across calls (one FFT per call instead of two)."""

    def __init__(self, kernel: KernelLike, rcond: float | None = None) -> None:
        """``kernel``: tensor/array or spec (see :func:`load_kernel`); ``rcond``: relative cut-off
        below which |K| counts as zero in pinv and the SVD view (default (H*W) * eps(dtype))."""
        super().__init__(kernel, rcond)

    def _spec(self, x: Tensor) -> dict[str, Tensor]:
        key = spatial_key(x)
        if key not in self._cache:
            with torch.inference_mode(False):  # normal tensors, usable by autograd later
                h, w = key[:2]
                dt = work_dtype(x.dtype)
                k = self._otf(h, w, x.device, dt)
                mag = k.abs()
                tol = (self.rcond if self.rcond is not None else pinv_tol(h * w, dt)) * mag.max()
                keep = mag > tol
                self._cache[key] = {
                    "K": k[None, None],
                    "Kc": k.conj()[None, None],
                    "K2": (mag**2)[None, None],
                    "s": torch.where(keep, mag, torch.zeros_like(mag))[None, None],
                    "phase": torch.where(keep, k / mag.clamp_min(torch.finfo(dt).tiny), torch.ones_like(k))[
                        None, None],
                    "keep": keep[None, None],
                }
        return self._cache[key]

    def _check(self, x: Tensor) -> None:
        check_nchw(x, type(self).__name__)

    def _fft(self, x: Tensor, norm: str = "backward") -> Tensor:
        return torch.fft.fft2(x.to(work_dtype(x.dtype)), norm=norm)

    def A(self, x: Tensor) -> Tensor:
        self._check(x)
        return torch.fft.ifft2(self._fft(x) * self._spec(x)["K"]).real.to(x.dtype)

    def At(self, y: Tensor) -> Tensor:
        self._check(y)
        return torch.fft.ifft2(self._fft(y) * self._spec(y)["Kc"]).real.to(y.dtype)

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        """(A^T A + rho I)^-1 (A^T y + rho z) in closed form in the Fourier domain (rho > 0)."""
        self._check(z)
        sp = self._spec(z)
        fy = self._cached_y(y, spatial_key(z), lambda v: sp["Kc"] * self._fft(v))
        fz = self._fft(z)
        r = batch_view(rho, fz.real)
        return torch.fft.ifft2((fy + r * fz) / (sp["K2"] + r)).real.to(z.dtype)

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size(x_shape)

    # -- SVD view: complex orthonormal FFT layout ---------------------------------------------
    def Vt(self, x: Tensor) -> Tensor:
        self._check(x)
        return self._fft(x, "ortho")

    def V(self, z: Tensor) -> Tensor:
        return torch.fft.ifft2(z, norm="ortho").real

    def Ut(self, y: Tensor) -> Tensor:
        self._check(y)
        sp = self._spec(y)
        return self._fft(y, "ortho") * sp["phase"].conj() * sp["keep"]

    def U(self, z: Tensor) -> Tensor:
        return torch.fft.ifft2(z * self._spec(z.real)["phase"], norm="ortho").real

    def singular_values(self, x: Tensor) -> Tensor:
        return self._spec(x)["s"]
