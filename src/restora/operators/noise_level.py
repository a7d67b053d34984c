"""The noise level of a measurement, estimated from the measurement alone (``sigma_y="auto"``).

Chen, Zhu & Heng, "An efficient statistical method for image noise level estimation" (ICCV 2015): the
covariance of all r x r x C patches has eigenvalues that are the noise variance plus the signal's, and a
natural image's signal lives in few directions. The eigenvalues that are noise alone are the largest set
of smallest ones whose mean equals their median (a Gaussian-like cluster); sigma is the square root of
that mean. It works in the measurement's own domain, so it applies to any image-like measurement with
white noise: noisy, blurred, downsampled images, the known pixels of an inpainting mask, sinograms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import Operator

PATCHES = (8, 5, 3)  # the paper's patch side (d = 8 x 8 x C), then smaller ones where 8 x 8 are too few
CLIP_TOL = 1e-6  # on [-1, 1]: a value this close to -1 or 1 counts as clipped (a float array may exceed both)
CLIP_MARGIN = 2.0  # in first estimates: patches whose mean is this close to -1 or 1 have truncated noise
MAX_PATCHES = 2**16
# patches per patch dimension needed before a patch size is used: with fewer, the sample covariance's
# noise eigenvalues spread (Marchenko-Pastur) and the estimate drifts; smaller patches are used instead
MIN_PATCHES_PER_DIM = 50  # per image: the stride grows with the image so that the covariance stays cheap


def _patches(img: Tensor, known: Tensor, size: int, margin: float = 0.0) -> Tensor:
    """(L, C * size^2) patches of one (C, H, W) image: the ones wholly inside ``known`` (1, H, W) whose
    mean in every channel is more than ``margin`` away from -1 and 1."""
    h, w = img.shape[-2:]
    stride = max(1, math.ceil(math.sqrt((h - size + 1) * (w - size + 1) / MAX_PATCHES)))
    cols = F.unfold(img[None].double(), size, stride=stride)[0].T
    inside = F.unfold(known[None].double(), size, stride=stride)[0].amin(0) > 0.5
    if margin > 0:
        means = cols.unflatten(1, (img.shape[0], -1)).mean(2)
        inside &= (means.abs() < 1 - margin).all(1)
    return cols[inside]


def noise_std(y: Tensor, known: Tensor | None = None) -> Tensor:
    """Per image of the (N, C, H, W) ``y`` on [-1, 1], the std of its additive white Gaussian noise,
    estimated from its patches: those wholly inside ``known`` ((N|1, 1|C, H, W) 0/1) if given, with care
    for clipped pixels (an 8-bit file's 0 and 255), whose noise is truncated."""
    if y.ndim != 4 or y.is_complex():
        raise RestoraError(f"noise estimation needs real (N, C, H, W) images, got {tuple(y.shape)} {y.dtype}")
    at_bound = ((y - 1).abs() < CLIP_TOL) | ((y + 1).abs() < CLIP_TOL)  # beyond it: noise, not clipping
    unclipped = (~at_bound).all(1, keepdim=True).to(y.dtype)
    out = []
    for i, img in enumerate(y):
        region = torch.ones_like(unclipped[i]) if known is None else \
            known[min(i, known.shape[0] - 1)].amin(0, keepdim=True).to(y.dtype)
        out.append(_image_noise_std(img, unclipped[i] * region, region, bool((unclipped[i] == 0).any())))
    return torch.stack(out).to(y.dtype)


def _image_noise_std(img: Tensor, unclipped: Tensor, region: Tensor, clipped: bool) -> Tensor:
    """Chen et al.'s estimate on one image from its ``unclipped`` patches; where the image has clipped pixels,
    again from the patches of ``region`` whose mean lies CLIP_MARGIN first estimates inside (-1, 1). Leaving
    out only the patches that hold a clipped pixel keeps those whose noise happened to stay inside the
    range, which biases the estimate low (by ~10 % at sigma 50/255 on 8-bit files, ~5 % after this)."""
    if not clipped:
        return _pca_estimate(img, region, 0.0)
    try:
        sigma = _pca_estimate(img, unclipped, 0.0)
    except RestoraError:  # strong noise on a small image: hardly a patch without a clipped pixel
        sigma = _pca_estimate(img, region, 0.0)
    try:
        return _pca_estimate(img, region, CLIP_MARGIN * float(sigma))
    except RestoraError:  # an image mostly near black or white: the first estimate is all there is
        return sigma


def _pca_estimate(img: Tensor, known: Tensor, margin: float) -> Tensor:
    for size in (s for s in PATCHES if s <= min(img.shape[-2:])):
        cols = _patches(img, known, size, margin)
        if cols.shape[0] >= MIN_PATCHES_PER_DIM * cols.shape[1]:
            centred = cols - cols.mean(0)
            eig = torch.linalg.eigvalsh(centred.T @ centred / cols.shape[0]).clamp_min(0)  # ascending
            return _noise_variance(eig).sqrt()
    raise RestoraError(f"too few unclipped {PATCHES[-1]}x{PATCHES[-1]} patches in a {tuple(img.shape)} image "
                       "to estimate its noise level: give sigma_y")


def _noise_variance(eig: Tensor) -> Tensor:
    """The mean of the largest prefix of the ascending eigenvalues whose mean is also its median."""
    for n in range(eig.numel(), 0, -1):
        head = eig[:n]
        tau = head.mean()
        if int((head > tau).sum()) == int((head < tau).sum()):
            return tau
    return eig[0]


def estimate_sigma_y(op: Operator, y: Tensor) -> Tensor:
    """The noise std of each measurement in ``y`` (on the [-1, 1] scale, like ``y``), measured where the
    operator leaves the noise white and image-like: the whole measurement, or an inpainting mask's known
    pixels. Complex (k-space) or non-image measurements are refused: give their sigma_y."""
    if y.is_complex() or y.ndim != 4 or y.shape[1] not in (1, 3):
        raise RestoraError(f"sigma_y='auto' estimates the noise of image-like measurements (1 or 3 "
                           f"channels), not a {tuple(y.shape)} {y.dtype} one ({type(op).__name__}): give "
                           "sigma_y")
    known = op.mask.to(y.device) if getattr(op, "pixel_mask", False) else None
    return noise_std(y, known)
