"""Denoising: the identity operator ``y = x`` (+ noise), with its trivial closed forms and SVD."""

from __future__ import annotations

import torch
from torch import Tensor

from restora.operators._util import check_nchw
from restora.operators.base import Operator, Rho, batch_view


class Identity(Operator):
    """A = I: the denoising task. SVD: U = V = I, all singular values 1."""

    linear = True
    has_svd = True
    white_spectrum = True

    def A(self, x: Tensor) -> Tensor:
        check_nchw(x, "Identity")
        return x

    def At(self, y: Tensor) -> Tensor:
        check_nchw(y, "Identity")
        return y

    def pinv(self, y: Tensor) -> Tensor:
        """A^+ y = y."""
        return self.At(y)

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        """(y + rho z) / (1 + rho)."""
        r = batch_view(rho, z)
        return (y + r * z) / (1 + r)

    def grad(self, x: Tensor, y: Tensor) -> Tensor:
        """x - y."""
        return x - y

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size(x_shape)

    def Vt(self, x: Tensor) -> Tensor:
        return x

    def V(self, z: Tensor) -> Tensor:
        return z

    def Ut(self, y: Tensor) -> Tensor:
        return y

    def U(self, z: Tensor) -> Tensor:
        return z

    def singular_values(self, x: Tensor) -> Tensor:
        return torch.ones((1, 1, 1, 1), device=x.device, dtype=x.real.dtype).expand(1, *x.shape[1:])


Denoise = Identity
"""Alias of :class:`Identity` under the task's name."""
