"""Inpainting ``y = mask * x`` (measurement kept in image shape, zeros where pixels are missing).

The mask is 0/1 (1 = known) of shape (1 or N, 1 or C, H, W). A = diag(mask) is its own SVD:
V = U = identity, singular values = mask, so A, pinv and prox (derived from it) are exact and elementwise.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import check_nchw
from restora.operators.base import Operator, SVDOperator
from restora.operators.masks import (  # re-exported for convenience
    box_mask,
    half_mask,
    lines_mask,
    load_mask,
    random_mask,
)

__all__ = ["Inpaint", "box_mask", "half_mask", "lines_mask", "load_mask", "random_mask"]


class Inpaint(SVDOperator):
    """Pixel masking: known pixels pass through, missing ones are zeroed (mask 1 = known)."""

    pixel_mask = True
    white_spectrum = True

    def __init__(self, mask: Tensor) -> None:
        """``mask``: 0/1 tensor (H, W), (1|N, 1|C, H, W); see :mod:`restora.operators.masks`."""
        if not isinstance(mask, Tensor):
            raise RestoraError(f"Inpaint needs a mask tensor, got {type(mask).__name__}; build one with "
                               "box_mask/random_mask/lines_mask/half_mask/load_mask")
        if mask.ndim == 2:
            mask = mask[None, None]
        if mask.ndim != 4:
            raise RestoraError(f"mask must be (H, W) or (1|N, 1|C, H, W), got shape {tuple(mask.shape)}")
        m = mask.detach().to(torch.float32)
        if not torch.isfinite(m).all() or not ((m == 0) | (m == 1)).all():
            raise RestoraError("mask values must be 0 (missing) or 1 (known); threshold it, e.g. "
                               "(mask > 0.5).float()")
        self.mask = m
        self._cache: dict[tuple, Tensor] = {}

    def _m(self, x: Tensor) -> Tensor:
        check_nchw(x, "Inpaint")
        mn, mc, mh, mw = self.mask.shape
        n, c, h, w = x.shape
        if (mh, mw) != (h, w):
            raise RestoraError(f"mask is {mh}x{mw} but the image is {h}x{w}; build the mask for the "
                               "image size (or crop/resize the image)")
        if mc not in (1, c) or mn not in (1, n):
            raise RestoraError(f"mask shape {tuple(self.mask.shape)} does not broadcast over images "
                               f"{tuple(x.shape)}; use 1 or N samples and 1 or C channels")
        key = (x.device, x.real.dtype)
        if key not in self._cache:
            with torch.inference_mode(False):  # normal tensors, usable by autograd later
                self._cache[key] = self.mask.to(device=x.device, dtype=x.real.dtype)
        return self._cache[key]

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size(x_shape)

    def repeat_samples(self, samples: int) -> Operator:
        """Per-image masks repeated ``samples`` times each (a shared mask is kept as it is)."""
        return self if self.mask.shape[0] == 1 else Inpaint(self.mask.repeat_interleave(samples, 0))

    def Vt(self, x: Tensor) -> Tensor:
        return x

    def V(self, z: Tensor) -> Tensor:
        return z

    def Ut(self, y: Tensor) -> Tensor:
        return self._m(y) * y

    def U(self, z: Tensor) -> Tensor:
        return z

    def singular_values(self, x: Tensor) -> Tensor:
        return self._m(x)
