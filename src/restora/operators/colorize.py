"""Colourisation: RGB -> one gray channel ``y = sum_c w_c x_c``, with an exact per-pixel SVD.

Default weights are the channel mean (1/3, 1/3, 1/3), the DDRM/DDNM convention; ``weights='luma'``
uses ITU-R BT.601 luma (0.299, 0.587, 0.114), or pass any non-negative 3-vector. Per pixel A is the
1x3 row w = ||w|| * u^T with u = w / ||w||: one singular value ||w|| (1/sqrt(3) for the mean). The
spectral layout has 3 channels: channel 0 is the coordinate along u, channels 1-2 an orthonormal
basis of the colour directions A cannot see (singular value 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import check_nchw
from restora.operators.base import Rho, SVDOperator, batch_view

LUMA_BT601 = (0.299, 0.587, 0.114)


class Colorize(SVDOperator):
    """Gray-scale conversion of an RGB batch (N, 3, H, W) -> (N, 1, H, W). A, At, pinv and prox are
    written out with the weight vector (cheaper than the 3x3 basis of the SVD)."""

    white_spectrum = True

    def __init__(self, weights: str | Sequence[float] = "mean") -> None:
        """``weights``: 'mean' (default, DDRM/DDNM), 'luma' (BT.601) or three numbers."""
        if isinstance(weights, str):
            if weights not in ("mean", "luma"):
                raise RestoraError(f"Colorize weights must be 'mean', 'luma' or 3 numbers, got {weights!r}")
            w = (1 / 3, 1 / 3, 1 / 3) if weights == "mean" else LUMA_BT601
        else:
            w = tuple(float(v) for v in weights)
        wt = torch.tensor(w, dtype=torch.float64)
        if wt.shape != (3,) or not torch.isfinite(wt).all() or not float(wt.norm()) > 0:
            raise RestoraError(f"Colorize weights must be 3 finite numbers, not all 0, got {weights}")
        self.weights = wt
        # orthonormal basis with first row w / ||w|| (QR of [w | I], sign fixed)
        q, _ = torch.linalg.qr(torch.cat([wt[:, None], torch.eye(3, dtype=torch.float64)], 1))
        q = q[:, :3]
        if float(q[:, 0] @ wt) < 0:
            q = -q
        self._basis = q.T.contiguous()  # rows: u, then the null-space directions
        self.norm = float(wt.norm())
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    def _get(self, x: Tensor) -> tuple[Tensor, Tensor]:
        key = (x.device, x.real.dtype)
        if key not in self._cache:
            with torch.inference_mode(False):  # normal tensors, usable by autograd later
                self._cache[key] = (self.weights.to(device=x.device, dtype=key[1]),
                                    self._basis.to(device=x.device, dtype=key[1]))
        return self._cache[key]

    def A(self, x: Tensor) -> Tensor:
        check_nchw(x, "Colorize", channels=3)
        w, _ = self._get(x)
        return torch.einsum("c,nchw->nhw", w, x)[:, None]

    def At(self, y: Tensor) -> Tensor:
        check_nchw(y, "Colorize (measurement)", channels=1)
        w, _ = self._get(y)
        return w.view(1, 3, 1, 1) * y

    def pinv(self, y: Tensor) -> Tensor:
        """A^+ y = w y / ||w||^2 (gray value spread along w; equals y on every channel for the mean)."""
        return self.At(y) / self.norm**2

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        """Sherman-Morrison: (w w^T + rho I)^-1 b = (b - w (w.b) / (rho + ||w||^2)) / rho."""
        check_nchw(z, "Colorize", channels=3)
        w, _ = self._get(z)
        r = batch_view(rho, z)
        b = self.At(y) + r * z
        wb = torch.einsum("c,nchw->nhw", w, b)[:, None]
        return (b - w.view(1, 3, 1, 1) * wb / (r + self.norm**2)) / r

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        n, _, h, w = x_shape
        return torch.Size((n, 1, h, w))

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        n, _, h, w = y_shape
        return torch.Size((n, 3, h, w))

    def Vt(self, x: Tensor) -> Tensor:
        check_nchw(x, "Colorize", channels=3)
        _, b = self._get(x)
        return torch.einsum("kc,nchw->nkhw", b, x)

    def V(self, z: Tensor) -> Tensor:
        _, b = self._get(z)
        return torch.einsum("kc,nkhw->nchw", b, z)

    def Ut(self, y: Tensor) -> Tensor:
        check_nchw(y, "Colorize (measurement)", channels=1)
        return torch.cat([y, torch.zeros_like(y).expand(-1, 2, -1, -1)], 1)

    def U(self, z: Tensor) -> Tensor:
        return z[:, :1]

    def singular_values(self, x: Tensor) -> Tensor:
        s = torch.zeros(1, 3, 1, 1, device=x.device, dtype=x.real.dtype)
        s[:, 0] = self.norm
        return s
