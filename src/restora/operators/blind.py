"""Blind deblurring ``y = k * x + n`` with an unknown kernel ``k`` of at most ``size`` x ``size``.

The operator holds what is known (the kernel's support) and, once a blind solver has run, what it found:
``estimate``, one kernel per image (N, size, size). Until then it cannot be applied; afterwards ``A`` /
``At`` / ``prox`` are those of the estimated kernels (so the usual consistency check, re-blurring the
restoration, applies to blind solvers too). Only blind solvers take it (the registry refuses the others);
its classical restoration is the L0 kernel estimate (:mod:`restora.operators.blind_l0`) followed by the same
Tikhonov deconvolution as every other classical row.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import check_nchw
from restora.operators.base import Operator, Rho
from restora.operators.blur import Blur, p2o

DEFAULT_SIZE = 31


def blur_by(x: Tensor, kernels: Tensor) -> Tensor:
    """Circular blur of image i of ``x`` (N, C, H, W) by kernel i of ``kernels`` (N, s, s), differentiable in
    both (the blind solvers' forward model)."""
    spectrum = p2o(kernels[:, None].to(x.dtype), tuple(x.shape[-2:]))
    return torch.fft.ifft2(torch.fft.fft2(x) * spectrum).real


class KernelStack(Operator):
    """Circular blur of image i by kernel i of a (N, s, s) stack (one kernel: all images): the known
    operator behind a blind estimate, batched as the solvers expect."""

    def __init__(self, kernels: Tensor) -> None:
        if kernels.ndim != 3:
            raise RestoraError(f"expected (N, s, s) kernels, got {tuple(kernels.shape)}")
        self._blurs = [Blur(k) for k in kernels]

    def _each(self, x: Tensor, fn) -> Tensor:
        check_nchw(x, type(self).__name__)
        n = len(self._blurs)
        if n not in (1, x.shape[0]):
            raise RestoraError(f"{n} kernels for a batch of {x.shape[0]} images")
        return torch.cat([fn(self._blurs[min(i, n - 1)], i) for i in range(x.shape[0])])

    def A(self, x: Tensor) -> Tensor:
        return self._each(x, lambda op, i: op.A(x[i:i + 1]))

    def At(self, y: Tensor) -> Tensor:
        return self._each(y, lambda op, i: op.At(y[i:i + 1]))

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        per = rho.reshape(-1) if isinstance(rho, Tensor) else None
        return self._each(z, lambda op, i: op.prox(z[i:i + 1], y[i:i + 1],
                                                   rho if per is None else per[min(i, per.numel() - 1)]))

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size(x_shape)

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        return torch.Size(y_shape)

    def classical(self, y: Tensor, sigma_y: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
        """Each image's own discrepancy-principle Tikhonov deconvolution (its weight set by its kernel)."""
        return self._each(y, lambda op, i: op.classical(y[i:i + 1], sigma_y))


class BlindBlur(Operator):
    """Circular blur by an unknown kernel (odd ``size``); ``estimate`` is set by blind solvers."""

    blind = True

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if int(size) != size or size < 3 or size % 2 == 0:
            raise RestoraError(f"the blind kernel size must be an odd integer >= 3, got {size}")
        self.size = int(size)
        self.estimate: Tensor | None = None

    def set_estimate(self, kernels: Tensor) -> None:
        """Record the (N, size, size) kernels a blind solver found (non-negative, each summing to 1)."""
        if kernels.ndim != 3 or tuple(kernels.shape[-2:]) != (self.size, self.size):
            raise RestoraError(f"expected (N, {self.size}, {self.size}) kernels, got {tuple(kernels.shape)}")
        self.estimate = kernels.detach().float().cpu()

    def known(self) -> KernelStack:
        """The operator of the estimated kernels (what non-blind solvers and the consistency check use)."""
        if self.estimate is None:
            raise RestoraError("the kernel of a deblur-blind measurement is unknown until a blind solver "
                               "(blind-pnp, or the classical L0 estimate) has estimated it")
        return KernelStack(self.estimate)

    def A(self, x: Tensor) -> Tensor:
        return self.known().A(x)

    def At(self, y: Tensor) -> Tensor:
        return self.known().At(y)

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        return self.known().prox(z, y, rho)

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size(x_shape)

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        return torch.Size(y_shape)

    def initial_estimate(self, y: Tensor) -> Tensor:
        return y.clone()

    def repeat_samples(self, samples: int) -> BlindBlur:
        """Itself for one draw per image; several draws would each find a kernel, which one operator
        cannot report."""
        if samples != 1:
            raise RestoraError("blind deblurring restores one draw per image (samples=1)")
        return self

    def classical(self, y: Tensor, sigma_y: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
        """The classical blind restoration: the L0 kernel estimate of each image (on its luma), then the
        discrepancy-principle Tikhonov deconvolution with it. Sets :attr:`estimate`."""
        from restora.operators.blind_l0 import estimate_kernel

        check_nchw(y, "BlindBlur")
        gray = ((y.float() + 1) / 2).mean(1)
        self.set_estimate(torch.stack([estimate_kernel(g.cpu(), self.size) for g in gray]))
        return self.known().classical(y, sigma_y)
