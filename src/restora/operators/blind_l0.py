"""The classical blind deblurring baseline: coarse-to-fine alternation of an L0-gradient image step and
the least-squares kernel step (Xu, Zheng & Jia, "Unnatural L0 sparse representation for natural image
deblurring", CVPR 2013; the same scheme as Pan et al.'s L0 text deblurring, CVPR 2014, without its
intensity term). The L0 image keeps only strong edges, which is what makes the kernel step well-posed;
it is not the restored image: the final restoration is a non-blind deconvolution with the kernel found.

Written from the papers (half-quadratic splitting of Xu et al. SIGGRAPH Asia 2011 for the L0 step, beta
doubled from 2 lambda to 1e5); images are gray, on [0, 1] (the scale the papers' weights are quoted on),
circular boundaries.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.blur import p2o
from restora.operators.kernel_fit import centre_kernel, differences, fit_kernel, project_kernel, resize_kernel

LAMBDA = 4e-3  # the L0 weight at the coarsest level, on [0, 1] (Pan et al.'s setting for natural images)
LAMBDA_MIN = 1e-3  # floor: below it the L0 image keeps noise edges and the kernel fit degrades
ITERS = 5  # alternations per level
GAMMA = 0.1  # the kernel step's ridge (relative to the gradient energy): noise-robust on CBSD68-like images
BETA_MAX = 1e5


def _difference_spectra(shape: tuple[int, int], dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Transfer functions of the circular forward differences along x and y."""
    h, w = shape
    fx = torch.exp(2j * math.pi * torch.arange(w, dtype=dtype) / w) - 1
    fy = torch.exp(2j * math.pi * torch.arange(h, dtype=dtype) / h) - 1
    return fx[None, :].expand(h, w), fy[:, None].expand(h, w)


def l0_image(y: Tensor, k: Tensor, lam: float) -> Tensor:
    """argmin_x ||k * x - y||^2 + lam ||grad x||_0 (approximately, by half-quadratic splitting) of a (H, W)
    image: piecewise-constant, with the measurement's strong edges sharpened."""
    y = y.double()
    big_k = p2o(k.double(), tuple(y.shape))
    dx, dy = _difference_spectra(tuple(y.shape), torch.float64)
    num_y = big_k.conj() * torch.fft.fft2(y)
    den_k, den_d = big_k.abs() ** 2, dx.abs() ** 2 + dy.abs() ** 2
    x, beta = y, 2 * lam
    while beta < BETA_MAX:
        gx, gy = differences(x)
        small = gx**2 + gy**2 < lam / beta
        gx, gy = gx.masked_fill(small, 0), gy.masked_fill(small, 0)
        num = num_y + beta * (dx.conj() * torch.fft.fft2(gx) + dy.conj() * torch.fft.fft2(gy))
        x = torch.fft.ifft2(num / (den_k + beta * den_d)).real
        beta *= 2
    return x


def pyramid_sizes(size: int) -> list[int]:
    """Odd kernel sizes from 3 (or so) up to ``size``, each about sqrt(2) times the last."""
    sizes = [size]
    while sizes[-1] > 5:
        sizes.append(max(3, round(sizes[-1] / math.sqrt(2)) | 1))
    return sizes[::-1]


def estimate_kernel(y: Tensor, size: int, lam: float = LAMBDA, iters: int = ITERS) -> Tensor:
    """The (size, size) blur kernel of the gray (H, W) measurement ``y`` (on [0, 1]), coarse to fine."""
    if y.ndim != 2:
        raise RestoraError(f"estimate_kernel takes a gray (H, W) image, got {tuple(y.shape)}")
    if size % 2 == 0 or size < 3:
        raise RestoraError(f"the kernel size must be odd and >= 3, got {size}")
    k = torch.zeros(3, 3)
    k[1, 1] = 1
    weight = lam  # lowered through the levels: strong edges first, finer ones as the kernel sharpens
    for level in pyramid_sizes(size):
        ratio = level / size
        h, w = (max(level * 2 + 1, round(s * ratio)) for s in y.shape)
        y_level = F.interpolate(y[None, None].double(), size=(h, w), mode="bilinear", antialias=True,
                                align_corners=False)[0, 0] if ratio < 1 else y.double()
        k = resize_kernel(k, level)
        for _ in range(iters):
            x = l0_image(y_level, k, weight)
            k = project_kernel(fit_kernel(x, y_level, level, gamma=GAMMA))
            weight = max(weight / 1.1, LAMBDA_MIN)
        k = centre_kernel(k)
    return k
