"""Composition of operators, e.g. ``Compose(Blur(k), Inpaint(mask))`` = blur, then mask."""

from __future__ import annotations

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import Operator, Rho
from restora.operators.denoise import Identity


class Compose(Operator):
    """A = A_n o ... o A_1 for ``Compose(A_1, ..., A_n)`` (applied in the order given).

    At runs the adjoints in reverse order; pinv and prox use the base class conjugate gradients.
    The SVD view is offered only when a single non-identity operator remains (it is delegated).
    """

    def __init__(self, *ops: Operator) -> None:
        """``ops``: operators applied left to right."""
        if not ops:
            raise RestoraError("Compose needs at least one operator")
        for op in ops:
            if not isinstance(op, Operator):
                raise RestoraError(f"Compose takes Operator instances, got {type(op).__name__}")
        self.ops = tuple(ops)
        self.linear = all(op.linear for op in ops)
        core = [op for op in ops if not isinstance(op, Identity)]
        self._single = core[0] if len(core) == 1 else (ops[0] if not core else None)
        self.has_svd = self._single is not None and self._single.has_svd
        self.white_spectrum = self.has_svd and self._single.white_spectrum

    def A(self, x: Tensor) -> Tensor:
        for op in self.ops:
            x = op.A(x)
        return x

    def At(self, y: Tensor) -> Tensor:
        if not self.linear:
            raise RestoraError("Compose contains a non-linear operator, so it has no adjoint")
        for op in reversed(self.ops):
            y = op.At(y)
        return y

    def pinv(self, y: Tensor) -> Tensor:
        """Delegated when one operator is left, else CG on the normal equations (base class)."""
        return self._single.pinv(y) if self._single is not None else super().pinv(y)

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        """Delegated when one operator is left, else CG on (A^T A + rho I) x = A^T y + rho z."""
        return self._single.prox(z, y, rho) if self._single is not None else super().prox(z, y, rho)

    def repeat_samples(self, samples: int) -> Operator:
        return Compose(*(op.repeat_samples(samples) for op in self.ops))

    def grad(self, x: Tensor, y: Tensor) -> Tensor:
        """A^T (A x - y) for linear chains; autograd through A otherwise."""
        if self.linear:
            return super().grad(x, y)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            loss = 0.5 * (self.A(xg) - y).pow(2).sum()
            return torch.autograd.grad(loss, xg)[0]

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        for op in self.ops:
            x_shape = op.y_shape(x_shape)
        return torch.Size(x_shape)

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        for op in reversed(self.ops):
            y_shape = op.x_shape(y_shape)
        return torch.Size(y_shape)

    def _svd(self) -> Operator:
        if not self.has_svd:
            raise NotImplementedError("Compose of several operators has no SVD view")
        return self._single

    def Vt(self, x: Tensor) -> Tensor:
        return self._svd().Vt(x)

    def V(self, z: Tensor) -> Tensor:
        return self._svd().V(z)

    def Ut(self, y: Tensor) -> Tensor:
        return self._svd().Ut(y)

    def U(self, z: Tensor) -> Tensor:
        return self._svd().U(z)

    def singular_values(self, x: Tensor) -> Tensor:
        return self._svd().singular_values(x)
