"""JPEG compression as a (non-linear) degradation: ``y = decode(encode(x, quality))``.

Baseline JFIF pipeline on the [0, 255] scale: RGB -> YCbCr (BT.601 full range), 4:2:0 chroma
subsampling (2x2 means), level shift by -128, 8x8 orthonormal DCT-II, quantisation with the standard
tables of ITU-T T.81 Annex K scaled by ``quality`` with the IJG formula (libjpeg's
``jpeg_set_quality``, clamped to [1, 255] as for baseline), rounding, dequantisation, inverse DCT,
libjpeg's default 'fancy' (triangular 3/4-1/4) chroma upsampling, YCbCr -> RGB, clip to [-1, 1].
Sizes that are not multiples of 16 (8 for gray) are edge-padded, like libjpeg, and cropped back. No
rounding to 8 bits at the colour conversions or at the output (the result stays continuous).

Differentiable mode: rounding is replaced by ``r + (v - r)^3`` with ``r = round(v)`` (Shin & Song,
"JPEG-resistant adversarial images", NeurIPS workshop 2017), whose derivative 3 (v - r)^2 is
non-zero; ``JPEG(differentiable=None)`` uses it automatically when the input requires a gradient.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from restora.errors import RestoraError
from restora.operators._util import check_nchw, work_dtype
from restora.operators.base import NonlinearOperator

# ITU-T T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance)
LUMA_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
CHROMA_TABLE = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    *((99,) * 8 for _ in range(4)),
)

_RGB2YCC = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
_YCC2RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))


def quality_table(base: tuple[tuple[int, ...], ...], quality: int) -> Tensor:
    """IJG quality scaling of a base table: q < 50 -> 5000 / q %, else 200 - 2 q %; clamp to [1, 255]."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    t = (torch.tensor(base, dtype=torch.int64) * scale + 50) // 100
    return t.clamp(1, 255).to(torch.float64)


def dct_matrix(n: int = 8) -> Tensor:
    """Orthonormal DCT-II matrix (n, n), float64 (the JPEG 8x8 DCT is D X D^T)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] = 1.0 / math.sqrt(n)
    return d


def _round(v: Tensor, smooth: bool) -> Tensor:
    r = torch.round(v.detach())
    return r + (v - r) ** 3 if smooth else torch.round(v)


def _fancy_up(c: Tensor, dim: int) -> Tensor:
    """libjpeg 'fancy' 2x upsampling along ``dim``: 3/4 nearest + 1/4 next-nearest, edges replicated."""
    n = c.shape[dim]
    prev = torch.cat([c.narrow(dim, 0, 1), c.narrow(dim, 0, n - 1)], dim)
    nxt = torch.cat([c.narrow(dim, 1, n - 1), c.narrow(dim, n - 1, 1)], dim)
    even, odd = 0.75 * c + 0.25 * prev, 0.75 * c + 0.25 * nxt
    out = torch.stack([even, odd], dim + 1)
    shape = list(c.shape)
    shape[dim] = 2 * n
    return out.reshape(shape)


class JPEG(NonlinearOperator):
    """JPEG round trip at ``quality`` (1..100); forward only (no adjoint, pinv or prox)."""

    has_svd = False

    def __init__(self, quality: int = 10, differentiable: bool | None = None,
                 subsample_chroma: bool = True) -> None:
        """``differentiable``: True = always the smooth rounding, False = exact rounding, None = smooth
        only when the input requires grad. ``subsample_chroma``: 4:2:0 (default) or 4:4:4."""
        if isinstance(quality, bool) or not float(quality).is_integer() or not 1 <= quality <= 100:
            raise RestoraError(f"JPEG quality must be an integer in 1..100, got {quality}")
        self.quality = int(quality)
        self.differentiable = differentiable
        self.subsample_chroma = bool(subsample_chroma)
        self._tables = {"luma": quality_table(LUMA_TABLE, self.quality),
                        "chroma": quality_table(CHROMA_TABLE, self.quality)}
        self._cache: dict[tuple, dict[str, Tensor]] = {}

    def _consts(self, x: Tensor, dt: torch.dtype) -> dict[str, Tensor]:
        key = (x.device, dt)
        if key not in self._cache:
            with torch.inference_mode(False):  # normal tensors, usable by autograd later
                to = {"device": x.device, "dtype": dt}
                self._cache[key] = {"D": dct_matrix(8).to(**to), "Ql": self._tables["luma"].to(**to),
                                    "Qc": self._tables["chroma"].to(**to),
                                    "rgb2ycc": torch.tensor(_RGB2YCC, **to),
                                    "ycc2rgb": torch.tensor(_YCC2RGB, **to)}
        return self._cache[key]

    @staticmethod
    def _codec(v: Tensor, d: Tensor, q: Tensor, smooth: bool) -> Tensor:
        """8x8 block DCT, quantise (round), dequantise, inverse DCT; v is level-shifted (N, C, H, W)."""
        n, c, h, w = v.shape
        b = v.reshape(n, c, h // 8, 8, w // 8, 8)
        coef = torch.einsum("ua,nciajb,vb->nciujv", d, b, d)
        qv = q.view(1, 1, 1, 8, 1, 8)
        coef = _round(coef / qv, smooth) * qv
        return torch.einsum("ua,nciujv,vb->nciajb", d, coef, d).reshape(n, c, h, w)

    def A(self, x: Tensor) -> Tensor:
        smooth = self.differentiable if self.differentiable is not None else (
            torch.is_grad_enabled() and x.requires_grad)
        return self._forward(x, smooth)

    def _forward(self, x: Tensor, smooth: bool) -> Tensor:
        check_nchw(x, "JPEG")
        c = x.shape[1]
        if c not in (1, 3):
            raise RestoraError(f"JPEG expects 1 (gray) or 3 (RGB) channels, got {c}")
        dt = work_dtype(x.dtype)
        k = self._consts(x, dt)
        h, w = x.shape[-2:]
        mcu = 16 if (c == 3 and self.subsample_chroma) else 8
        ph, pw = (-h) % mcu, (-w) % mcu
        v = (x.to(dt) + 1) * 127.5
        if ph or pw:
            v = F.pad(v, (0, pw, 0, ph), mode="replicate")
        if c == 1:
            out = self._codec(v - 128, k["D"], k["Ql"], smooth) + 128
        else:
            ycc = torch.einsum("kc,nchw->nkhw", k["rgb2ycc"], v)
            y = self._codec(ycc[:, :1] - 128, k["D"], k["Ql"], smooth) + 128
            chroma = ycc[:, 1:]
            if self.subsample_chroma:
                chroma = F.avg_pool2d(chroma, 2)
            chroma = self._codec(chroma, k["D"], k["Qc"], smooth)  # centred: +128 and level shift cancel
            if self.subsample_chroma:
                chroma = _fancy_up(_fancy_up(chroma, 2), 3)
            out = torch.einsum("ck,nkhw->nchw", k["ycc2rgb"], torch.cat([y, chroma], 1))
        out = out[..., :h, :w] / 127.5 - 1
        return out.clamp(-1, 1).to(x.dtype)

    def grad(self, x: Tensor, y: Tensor) -> Tensor:
        """Gradient of 0.5 ||y - A x||^2 through the differentiable approximation (autograd)."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            loss = 0.5 * (self._forward(xg, True) - y).pow(2).sum()
            return torch.autograd.grad(loss, xg)[0]

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size(x_shape)

