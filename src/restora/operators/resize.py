"""MATLAB-compatible bicubic ``imresize`` as dense separable 1-D matrices.

MATLAB's algorithm (documented behaviour of ``imresize``, re-implemented here): for output sample
x = 1..out (1-based) the input coordinate is ``u = x / scale + 0.5 * (1 - 1 / scale)``; the Keys cubic
kernel with a = -0.5 is used, and when downsampling with antialiasing it is stretched to
``h(t) = scale * cubic(scale * t)`` with support 4 / scale; the taps ``floor(u - width / 2) + 0 ..
ceil(width) + 1`` get weights ``h(u - index)`` normalised to sum 1 per output sample, and out-of-range
indices are mirrored symmetrically (``[1..n, n..1]`` repeated, the edge sample repeated). Each
dimension is a linear map, so ``imresize(x) = M_h @ x @ M_w^T``.

Convention for SR test data (as in the SR literature): modcrop the HR image to a multiple of the
scale s (``modcrop``), then ``imresize(hr, 1 / s)`` gives the LR image; LR pixel i is centred on HR
position ``i * s + (s - 1) / 2`` (0-based).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import check_nchw, work_dtype


def cubic(t: Tensor) -> Tensor:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    a = t.abs()
    a2, a3 = a * a, a * a * a
    near = (1.5 * a3 - 2.5 * a2 + 1) * (a <= 1)
    far = (-0.5 * a3 + 2.5 * a2 - 4 * a + 2) * ((a > 1) & (a <= 2))
    return near + far


def output_length(in_length: int, scale: float) -> int:
    """MATLAB's output length ``ceil(scale * in_length)``, robust to float round-off (1/3 * 255 = 85)."""
    raw = scale * in_length
    return round(raw) if abs(raw - round(raw)) < 1e-9 else math.ceil(raw)


def resize_matrix(in_length: int, out_length: int | None = None, scale: float | None = None,
                  antialias: bool = True, dtype: torch.dtype = torch.float64,
                  device: torch.device | str | None = None) -> Tensor:
    """The (out, in) matrix of MATLAB bicubic ``imresize`` along one dimension.

    Give ``scale`` (output = ceil(scale * in)) or ``out_length`` (scale = out / in), as MATLAB does.
    """
    if scale is None and out_length is None:
        raise RestoraError("resize_matrix needs a scale or an output length")
    if scale is None:
        scale = out_length / in_length
    if out_length is None:
        out_length = output_length(in_length, scale)
    if not (scale > 0 and out_length >= 1 and in_length >= 1):
        raise RestoraError(f"bad resize: {in_length} -> {out_length} (scale {scale})")
    width = 4.0
    stretch = scale < 1 and antialias
    if stretch:
        width = width / scale
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # 1-based indices
    t = u[:, None] - idx
    w = scale * cubic(scale * t) if stretch else cubic(t)
    w = w / w.sum(1, keepdim=True)
    j = torch.remainder(idx.long() - 1, 2 * in_length)  # mirror: [1..n, n..1] repeated
    j = torch.where(j >= in_length, 2 * in_length - 1 - j, j)
    m = torch.zeros(out_length, in_length, dtype=torch.float64)
    m.scatter_add_(1, j, w)
    return m.to(device=device, dtype=dtype)


def imresize(x: Tensor, scale: float | tuple[float, float] | None = None, *,
             size: tuple[int, int] | None = None, antialias: bool = True) -> Tensor:
    """Bicubic resize of an NCHW batch identical to MATLAB ``imresize(x, scale)`` (no clipping or
    rounding: MATLAB rounds only for integer images). ``scale`` < 1 downsamples (antialiased),
    > 1 upsamples; or give the output ``size`` (h, w)."""
    check_nchw(x, "imresize")
    h, w = x.shape[-2:]
    if (scale is None) == (size is None):
        raise RestoraError("imresize: give exactly one of scale or size")
    if size is not None:
        oh, ow = (int(v) for v in size)
        sh, sw = oh / h, ow / w
    else:
        sh, sw = (float(scale), float(scale)) if not isinstance(scale, tuple) else map(float, scale)
        if not (sh > 0 and sw > 0):
            raise RestoraError(f"imresize: scale must be > 0, got {scale}")
        oh, ow = output_length(h, sh), output_length(w, sw)
    dt = work_dtype(x.dtype)
    mh = resize_matrix(h, oh, sh, antialias, dt, x.device)
    mw = resize_matrix(w, ow, sw, antialias, dt, x.device)
    return (mh @ x.to(dt) @ mw.T).to(x.dtype)


def modcrop(x: Tensor, scale: int) -> Tensor:
    """Crop an NCHW batch (bottom/right) so height and width are multiples of ``scale``."""
    check_nchw(x, "modcrop")
    h, w = x.shape[-2:]
    return x[..., : h - h % scale, : w - w % scale]
