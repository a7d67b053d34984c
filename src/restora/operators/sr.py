"""Super-resolution operators: MATLAB bicubic, blur + decimation (USRNet/DiffPIR), block averaging.

* :class:`BicubicSR` -- ``y = M_h x M_w^T`` with the exact MATLAB ``imresize(x, 1/s)`` matrices
  (see :mod:`restora.operators.resize`; LR data: modcrop to s, then imresize to 1/s). Its SVD is the
  Kronecker product of the two 1-D SVDs, laid out in image shape: singular values
  ``s_h[i] * s_w[j]`` in the top-left (H/s, W/s) block, zeros elsewhere.
* :class:`BlurDownsampleSR` -- ``y = (k * x)[0::s, 0::s]`` (circular convolution, kernel origin at
  index size // 2 as in :mod:`restora.operators.blur`), with the FFT closed-form prox of Zhao et al.
  (TIP 2016) used by USRNet/DiffPIR and an exact FFT pseudo-inverse.
* :class:`AvgPoolSR` -- mean over s x s blocks (DDRM/DDNM), with an exact block-DCT SVD.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from restora.errors import RestoraError
from restora.operators._util import (
    check_divisible,
    check_nchw,
    pinv_tol,
    spatial_key,
    work_dtype,
)
from restora.operators.base import Rho, SVDOperator, batch_view
from restora.operators.blur import _KernelOperator
from restora.operators.kernels import KernelLike
from restora.operators.resize import imresize, resize_matrix


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not float(scale).is_integer() or int(scale) < 1:
        raise RestoraError(f"SR scale must be a positive integer (2, 3, 4, 8...), got {scale}")
    return int(scale)


class BicubicUpsampling:
    """What the SR operators share: shapes that shrink by the integer ``scale``, and the estimates without a
    prior (MATLAB bicubic upsampling of the measurement, both as the first guess and as the classical
    restoration)."""

    scale: int

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        n, c, h, w = x_shape
        check_divisible(h, w, self.scale, type(self).__name__)
        return torch.Size((n, c, h // self.scale, w // self.scale))

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        n, c, h, w = y_shape
        return torch.Size((n, c, h * self.scale, w * self.scale))

    def initial_estimate(self, y: Tensor) -> Tensor:
        return imresize(y, self.scale)

    def classical(self, y: Tensor, sigma_y: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
        return imresize(y, self.scale)


class BicubicSR(BicubicUpsampling, SVDOperator):
    """x s bicubic downsampling identical to MATLAB ``imresize(x, 1/s)`` (antialiased), with exact SVD.

    A, At and pinv are the separable matrix products (cheaper than a round trip through the SVD); prox
    is the SVD's."""

    white_spectrum = True

    def __init__(self, scale: int) -> None:
        """``scale``: integer factor; image height and width must be multiples of it."""
        self.scale = _check_scale(scale)
        self._cache: dict[tuple, dict[str, Tensor]] = {}

    def _mats(self, x: Tensor, hr: bool = True) -> dict[str, Tensor]:
        s = self.scale
        h, w = x.shape[-2:]
        if not hr:
            h, w = h * s, w * s
        check_divisible(h, w, s, type(self).__name__)
        key = (h, w, x.device, work_dtype(x.dtype))
        if key not in self._cache:
            with torch.inference_mode(False):  # normal tensors, usable by autograd later
                out: dict[str, Tensor] = {}
                for name, n in (("h", h), ("w", w)):
                    m = resize_matrix(n, n // s, 1.0 / s)  # float64 on CPU
                    u, sv, vt = torch.linalg.svd(m, full_matrices=True)
                    keep = sv > pinv_tol(n, key[3]) * sv.max()
                    inv = torch.where(keep, 1 / sv, torch.zeros_like(sv))
                    pinv = vt[: n // s].T @ torch.diag(inv) @ u.T
                    for label, t in (("M", m), ("U", u), ("s", torch.where(keep, sv, 0.0)), ("Vt", vt),
                                     ("P", pinv)):
                        out[label + name] = t.to(device=x.device, dtype=key[3])
                sv = torch.zeros(h, w, dtype=key[3], device=x.device)
                sv[: h // s, : w // s] = out["sh"][:, None] * out["sw"][None, :]
                out["S"] = sv[None, None]
                self._cache[key] = out
        return self._cache[key]

    def A(self, x: Tensor) -> Tensor:
        check_nchw(x, "BicubicSR")
        m = self._mats(x)
        return (m["Mh"] @ x.to(m["Mh"].dtype) @ m["Mw"].T).to(x.dtype)

    def At(self, y: Tensor) -> Tensor:
        check_nchw(y, "BicubicSR")
        m = self._mats(y, hr=False)
        return (m["Mh"].T @ y.to(m["Mh"].dtype) @ m["Mw"]).to(y.dtype)

    def pinv(self, y: Tensor) -> Tensor:
        """A^+ y = pinv(M_h) y pinv(M_w)^T (the pseudo-inverse of a Kronecker product)."""
        check_nchw(y, "BicubicSR")
        m = self._mats(y, hr=False)
        return (m["Ph"] @ y.to(m["Ph"].dtype) @ m["Pw"].T).to(y.dtype)

    def Vt(self, x: Tensor) -> Tensor:
        check_nchw(x, "BicubicSR")
        m = self._mats(x)
        return m["Vth"] @ x.to(m["Vth"].dtype) @ m["Vtw"].T

    def V(self, z: Tensor) -> Tensor:
        m = self._mats(z)
        return m["Vth"].T @ z.to(m["Vth"].dtype) @ m["Vtw"]

    def Ut(self, y: Tensor) -> Tensor:
        check_nchw(y, "BicubicSR")
        m = self._mats(y, hr=False)
        h, w = y.shape[-2:]
        core = m["Uh"].T @ y.to(m["Uh"].dtype) @ m["Uw"]
        return F.pad(core, (0, w * (self.scale - 1), 0, h * (self.scale - 1)))

    def U(self, z: Tensor) -> Tensor:
        m = self._mats(z)
        h, w = z.shape[-2] // self.scale, z.shape[-1] // self.scale
        return m["Uh"] @ z[..., :h, :w].to(m["Uh"].dtype) @ m["Uw"].T

    def singular_values(self, x: Tensor) -> Tensor:
        return self._mats(x)["S"]


def _tiles_mean(t: Tensor, s: int) -> Tensor:
    """Mean of the s x s tiles of a spectrum (H, W) -> (H/s, W/s): the aliased copies under decimation."""
    *lead, h, w = t.shape
    return t.reshape(*lead, s, h // s, s, w // s).mean(dim=(-4, -2))


class BlurDownsampleSR(BicubicUpsampling, _KernelOperator):
    """y = (k * x) decimated by s (keep pixels [0::s, 0::s]), the USRNet/DiffPIR SR model.

    ``prox`` is the closed form of Zhao et al. 2016 (USRNet's ``data_solution``), ``pinv`` the exact
    A^T (A A^T)^-1 where A A^T is circulant on the LR grid with spectrum = the mean of |K|^2 over the
    s^2 aliased copies (near-zero values, below ``rcond`` times the max, count as zero).
    With the bundled USRNet kernels (``'bicubic:s'``) and no extra shift this reproduces MATLAB
    ``imresize(x, 1/s)`` to 54-75 dB PSNR on interior Set5 pixels (tests/test_operators_resize.py).
    """

    def __init__(self, kernel: KernelLike, scale: int, rcond: float | None = None) -> None:
        """``kernel``: tensor/array/spec (e.g. 'bicubic:4', 'gauss:25:1.6'); ``scale``: integer factor."""
        super().__init__(kernel, rcond)
        self.scale = _check_scale(scale)

    def _spec(self, h: int, w: int, x: Tensor) -> dict[str, Tensor]:
        """FB, FBC, F2B (HR grid) and the inverse LR spectrum of A A^T, cached per size/device/dtype."""
        s = self.scale
        check_divisible(h, w, s, type(self).__name__)
        dt = work_dtype(x.dtype)
        key = (h, w, x.device, dt)
        if key not in self._cache:
            with torch.inference_mode(False):  # normal tensors, usable by autograd later
                fb = self._otf(h, w, x.device, dt)
                f2b = fb.abs() ** 2
                lr = _tiles_mean(f2b, s)
                tol = (self.rcond if self.rcond is not None else pinv_tol((h // s) * (w // s), dt)) * lr.max()
                inv_lr = torch.where(lr > tol, 1 / lr.clamp_min(torch.finfo(dt).tiny), torch.zeros_like(lr))
                self._cache[key] = {"FB": fb[None, None], "FBC": fb.conj()[None, None],
                                    "F2B": f2b[None, None], "W": lr[None, None], "invW": inv_lr[None, None]}
        return self._cache[key]

    def _upsample(self, y: Tensor) -> Tensor:
        s = self.scale
        n, c, h, w = y.shape
        up = torch.zeros(n, c, h * s, w * s, dtype=y.dtype, device=y.device)
        up[..., ::s, ::s] = y
        return up

    def A(self, x: Tensor) -> Tensor:
        check_nchw(x, "BlurDownsampleSR")
        h, w = x.shape[-2:]
        sp = self._spec(h, w, x)
        fx = torch.fft.fft2(x.to(work_dtype(x.dtype)))
        return torch.fft.ifft2(fx * sp["FB"]).real[..., :: self.scale, :: self.scale].to(x.dtype)

    def At(self, y: Tensor) -> Tensor:
        check_nchw(y, "BlurDownsampleSR")
        s = self.scale
        sp = self._spec(y.shape[-2] * s, y.shape[-1] * s, y)
        fy = torch.fft.fft2(self._upsample(y.to(work_dtype(y.dtype))))
        return torch.fft.ifft2(fy * sp["FBC"]).real.to(y.dtype)

    def pinv(self, y: Tensor) -> Tensor:
        """A^T (A A^T)^+ y, with A A^T diagonal in the LR Fourier basis."""
        check_nchw(y, "BlurDownsampleSR")
        s = self.scale
        sp = self._spec(y.shape[-2] * s, y.shape[-1] * s, y)
        fy = torch.fft.fft2(y.to(work_dtype(y.dtype))) * sp["invW"]
        # zero-insertion upsampling tiles the LR spectrum s x s times
        return torch.fft.ifft2(sp["FBC"] * fy.repeat(1, 1, s, s)).real.to(y.dtype)

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        """argmin ||y - A x||^2 + rho ||x - z||^2 via the Woodbury identity in the Fourier domain."""
        check_nchw(z, "BlurDownsampleSR")
        s = self.scale
        h, w = z.shape[-2:]
        sp = self._spec(h, w, z)
        dt = work_dtype(z.dtype)
        fbfy = self._cached_y(y, spatial_key(z),
                              lambda v: sp["FBC"] * torch.fft.fft2(self._upsample(v.to(dt))))
        fz = torch.fft.fft2(z.to(dt))
        r = batch_view(rho, fz.real)
        fr = fbfy + r * fz
        fbr = _tiles_mean(sp["FB"] * fr, s)
        fx = (fr - sp["FBC"] * (fbr / (sp["W"] + r)).repeat(1, 1, s, s)) / r
        return torch.fft.ifft2(fx).real.to(z.dtype)


def _dct_matrix(n: int) -> Tensor:
    """Orthonormal DCT-II matrix (n, n), float64; row 0 is the constant vector 1/sqrt(n)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] = 1.0 / math.sqrt(n)
    return d


class AvgPoolSR(BicubicUpsampling, SVDOperator):
    """Mean over s x s blocks (the SR operator of DDRM/DDNM), with an exact SVD.

    SVD per block: singular value 1/s on the constant direction, V = the 2-D orthonormal DCT of the
    block (first vector constant). Spectral layout in image shape, 'subband' order: coefficient (p, q)
    of block (i, j) sits at (p * H/s + i, q * W/s + j), so the block means live in the top-left
    (H/s, W/s) corner, like :class:`BicubicSR`. A, At, pinv and prox are written out: block means and
    repeats, no DCT.
    """

    white_spectrum = True

    def __init__(self, scale: int) -> None:
        """``scale``: block size s; image height and width must be multiples of it."""
        self.scale = _check_scale(scale)
        self._dct: dict[tuple, Tensor] = {}

    def _d(self, x: Tensor) -> Tensor:
        key = (x.device, x.real.dtype)
        if key not in self._dct:
            with torch.inference_mode(False):  # normal tensors, usable by autograd later
                self._dct[key] = _dct_matrix(self.scale).to(device=x.device, dtype=x.real.dtype)
        return self._dct[key]

    def _check(self, x: Tensor, hr: bool = True) -> None:
        check_nchw(x, "AvgPoolSR")
        if hr:
            check_divisible(x.shape[-2], x.shape[-1], self.scale, "AvgPoolSR")

    def A(self, x: Tensor) -> Tensor:
        self._check(x)
        n, c, h, w = x.shape
        s = self.scale
        return x.reshape(n, c, h // s, s, w // s, s).mean(dim=(3, 5))

    def At(self, y: Tensor) -> Tensor:
        self._check(y, hr=False)
        s = self.scale
        return y.repeat_interleave(s, -2).repeat_interleave(s, -1) / (s * s)

    def pinv(self, y: Tensor) -> Tensor:
        """A^+ y: nearest-neighbour upsampling (every pixel of a block gets the block's value)."""
        self._check(y, hr=False)
        s = self.scale
        return y.repeat_interleave(s, -2).repeat_interleave(s, -1)

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        """(A^T A + rho I)^-1 b with A^T A = P / s^2 (P: block-mean projector), b = A^T y + rho z."""
        self._check(z)
        s2 = self.scale**2
        r = batch_view(rho, z)
        b = self.At(y) + r * z
        pb = self.pinv(self.A(b))
        return (b - pb) / r + pb / (1.0 / s2 + r)

    def Vt(self, x: Tensor) -> Tensor:
        self._check(x)
        n, c, h, w = x.shape
        s, d = self.scale, self._d(x)
        blocks = x.reshape(n, c, h // s, s, w // s, s)
        z = torch.einsum("pa,nciajb,qb->ncpiqj", d, blocks, d)
        return z.reshape(n, c, h, w)

    def V(self, z: Tensor) -> Tensor:
        n, c, h, w = z.shape
        s, d = self.scale, self._d(z)
        coef = z.reshape(n, c, s, h // s, s, w // s)
        return torch.einsum("pa,ncpiqj,qb->nciajb", d, coef, d).reshape(n, c, h, w)

    def Ut(self, y: Tensor) -> Tensor:
        self._check(y, hr=False)
        h, w = y.shape[-2:]
        s = self.scale
        return F.pad(y, (0, w * (s - 1), 0, h * (s - 1)))

    def U(self, z: Tensor) -> Tensor:
        s = self.scale
        return z[..., : z.shape[-2] // s, : z.shape[-1] // s]

    def singular_values(self, x: Tensor) -> Tensor:
        self._check(x)
        h, w = x.shape[-2:]
        s = self.scale
        sv = torch.zeros(1, 1, h, w, dtype=x.real.dtype, device=x.device)
        sv[..., : h // s, : w // s] = 1.0 / s
        return sv
