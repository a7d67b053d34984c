"""Denoising: the identity operator ``y = x`` (+ noise), given by its trivial SVD."""

from __future__ import annotations

import torch
from torch import Tensor

from restora.operators._util import check_nchw
from restora.operators.base import SVDOperator


class Identity(SVDOperator):
    """A = I: the denoising task. SVD: U = V = I, all singular values 1 (A, pinv and prox follow)."""

    white_spectrum = True

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size(x_shape)

    def Vt(self, x: Tensor) -> Tensor:
        check_nchw(x, "Identity")
        return x

    def V(self, z: Tensor) -> Tensor:
        return z

    def Ut(self, y: Tensor) -> Tensor:
        check_nchw(y, "Identity")
        return y

    def U(self, z: Tensor) -> Tensor:
        return z

    def singular_values(self, x: Tensor) -> Tensor:
        return torch.ones((1, 1, 1, 1), device=x.device, dtype=x.real.dtype).expand(1, *x.shape[1:])


Denoise = Identity
"""Alias of :class:`Identity` under the task's name."""
