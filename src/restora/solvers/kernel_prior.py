"""The kernel prior both blind solvers share: loading one (a one-channel prior over kernel images, 2 k / max
k - 1: restora-kernel, or one trained with `restora train --kernels`) and running it on kernels smaller
than its training size, centred on a canvas of that size with zero (-1) background."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.blind import DEFAULT_SIZE
from restora.operators.kernels import image_to_kernel, kernel_to_image
from restora.priors import load
from restora.priors.base import Prior

KERNEL_PRIOR = "restora-kernel"
KERNEL_CANVAS = DEFAULT_SIZE  # restora-kernel's training size: a smaller kernel is diffused centred on it


def canvas_margin(size: int) -> int:
    """How far a size x size kernel sits from the edges of the canvas the kernel prior runs on."""
    return max(KERNEL_CANVAS - size, 0) // 2


def crop_kernel_image(z: Tensor, size: int) -> Tensor:
    """The centre size x size of kernel images (N, 1, c, c) on a canvas."""
    m = (z.shape[-1] - size) // 2
    return z[..., m:m + size, m:m + size]


def load_kernel_prior(name: str, device: torch.device | str) -> Prior:
    """The kernel prior called ``name`` (a preset or weights file), on ``device``, refusing one that is not a
    one-channel prior."""
    prior = load(name).to(device)
    if prior.channels != 1:
        raise RestoraError(f"kernel_prior {name!r} has {prior.channels} channels; a kernel prior "
                           "has one (restora-kernel, or a prior trained with `restora train --kernels`)")
    return prior


def denoise_kernels(kprior: Prior, kernels: Tensor, sigma: float) -> Tensor:
    """Kernels (N, s, s) denoised by the kernel prior at level ``sigma`` (on its [-1, 1] kernel images,
    centred on the prior's canvas)."""
    size = kernels.shape[-1]
    z = F.pad(kernel_to_image(kernels)[:, None], [canvas_margin(size)] * 4, value=-1.0)
    return image_to_kernel(crop_kernel_image(kprior(z, sigma), size)[:, 0])
