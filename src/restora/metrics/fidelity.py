"""Fidelity metrics (PSNR, SSIM) with the conventions of the restoration benchmark tables.

PSNR and SSIM follow BasicSR / KAIR (``calculate_psnr``, ``calculate_ssim``, ``bgr2ycbcr(only_y=True)``):

* inputs are NCHW batches in [0, ``data_range``] (library images in [-1, 1] must be mapped with
  ``(x + 1) / 2`` first); they are scaled to 0..255 and computed in float64;
* ``quantize=True`` rounds the 0..255 values to integers first (the 8-bit files the tables score);
* ``crop_border`` removes that many pixels on every side before scoring;
* ``y_channel=True`` scores the BT.601 luma of RGB inputs, Y = 16 + (65.481 R + 128.553 G + 24.966 B)
  with R, G, B in [0, 1], i.e. Y in 16..235 (one-channel inputs are scored as they are). Y is not
  rounded (BasicSR); KAIR rounds Y of uint8 images, which moves PSNR by about 0.01 dB;
* PSNR = 10 log10(255^2 / MSE), the MSE over all channels and pixels of each image; identical images
  give ``inf`` (as BasicSR), or ``max_db`` where one is given;
* SSIM uses an 11x11 Gaussian window (sigma 1.5), C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, 'valid'
  filtering (no padding; the 5-pixel rim of the SSIM map is not scored) and the mean over channels.

``noise_std`` is Immerkaer's white-noise estimate, used to flag noise-amplified restorations.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from restora.errors import RestoraError

Y_WEIGHTS = (65.481, 128.553, 24.966)  # for R, G, B in [0, 1]; Y comes out on the 0..255 scale
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5

# --------------------------------------------------------------------------------------------------
# PSNR / SSIM


def _work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _prepare(
    x: Tensor, y: Tensor, data_range: float, crop_border: int, y_channel: bool, quantize: bool
) -> tuple[Tensor, Tensor]:
    """Both images on the 0..255 scale in float64, luma-converted and border-cropped as asked."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor) or t.ndim != 4:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise RestoraError(f"metrics take NCHW tensors; {name} is {shape} (use img[None] for one image)")
    if x.shape != y.shape:
        raise RestoraError(
            f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}; resize or crop first"
        )
    if not data_range > 0:
        raise RestoraError(f"data_range must be positive, got {data_range}")
    for t in (x, y):
        if not (t.is_floating_point() or t.dtype == torch.uint8):
            raise RestoraError(f"metrics take float or uint8 tensors, got {t.dtype}")
        if t.dtype == torch.uint8 and data_range != 255:
            raise RestoraError("uint8 images are on the 0..255 scale: pass data_range=255")
    if crop_border < 0:
        raise RestoraError(f"crop_border must be >= 0, got {crop_border}")
    h, w = x.shape[-2:]
    if 2 * crop_border >= min(h, w):
        raise RestoraError(f"crop_border={crop_border} leaves nothing of a {h}x{w} image; use a smaller one")
    dtype = _work_dtype(x.device)
    out = []
    for t in (x, y):
        t = t.to(dtype) * (255.0 / data_range)
        if quantize:
            t = t.clamp(0, 255).round()
        if y_channel:
            t = _luma255(t)
        if crop_border:
            t = t[..., crop_border:-crop_border, crop_border:-crop_border]
        out.append(t)
    return out[0], out[1]


def _luma255(t: Tensor) -> Tensor:
    """BT.601 'studio swing' luma of 0..255 RGB (one-channel images pass through)."""
    if t.shape[1] == 1:
        return t
    if t.shape[1] != 3:
        raise RestoraError(f"y_channel needs RGB or gray images, got {t.shape[1]} channels")
    wts = torch.tensor(Y_WEIGHTS, dtype=t.dtype, device=t.device).view(1, 3, 1, 1) / 255.0
    return (t * wts).sum(dim=1, keepdim=True) + 16.0


def rgb_to_y(img: Tensor) -> Tensor:
    """Luma Y in [16/255, 235/255] of NCHW RGB in [0, 1] (BasicSR's ``bgr2ycbcr(only_y=True)`` on RGB)."""
    return _luma255(img.to(_work_dtype(img.device)) * 255.0).div(255.0).to(img.dtype)


def psnr(x: Tensor, y: Tensor, *, data_range: float = 1.0, crop_border: int = 0, y_channel: bool = False,
         quantize: bool = False, max_db: float | None = None) -> Tensor:
    """PSNR in dB of each image pair of two NCHW batches in [0, data_range]: a (N,) float64 tensor.

    Identical images give ``inf`` unless ``max_db`` caps the result. uint8 inputs need ``data_range=255``;
    results live on the inputs' device (float32 on MPS, which has no float64).
    """
    a, b = _prepare(x, y, data_range, crop_border, y_channel, quantize)
    mse = (a - b).square().flatten(1).mean(dim=1)
    out = 10.0 * torch.log10(255.0**2 / mse)  # mse == 0 -> inf
    if max_db is not None:
        out = out.clamp(max=max_db)
    return out


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    r = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(t: Tensor, g: Tensor) -> Tensor:
    """Separable Gaussian filtering of every channel without padding (output shrinks by len(g) - 1)."""
    k = g.numel()
    flat = t.reshape(-1, 1, *t.shape[-2:])
    flat = F.conv2d(F.conv2d(flat, g.view(1, 1, k, 1)), g.view(1, 1, 1, k))
    return flat.reshape(*t.shape[:-2], *flat.shape[-2:])


def ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0, crop_border: int = 0, y_channel: bool = False,
         quantize: bool = False, per_pixel: bool = False) -> Tensor:
    """SSIM of each image pair of two NCHW batches in [0, data_range], channel-averaged: (N,) float64; with
    ``per_pixel`` the SSIM map itself, (N, C, H - 10 - 2 crop, W - 10 - 2 crop), whose mean that is."""
    a, b = _prepare(x, y, data_range, crop_border, y_channel, quantize)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise RestoraError(
            f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after the border crop, "
            f"got {a.shape[-2]}x{a.shape[-1]}"
        )
    g = _gaussian_window(SSIM_WINDOW, SSIM_SIGMA, a.dtype, a.device)
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    mu_a, mu_b, e_aa, e_bb, e_ab = _filter_valid(torch.stack([a, b, a * a, b * b, a * b]), g)
    var_a = e_aa - mu_a**2
    var_b = e_bb - mu_b**2
    cov = e_ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    ssim_map = num / den
    return ssim_map if per_pixel else ssim_map.flatten(1).mean(dim=1)


IMMERKAER_KERNEL = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))


def noise_std(x: Tensor) -> Tensor:
    """Immerkaer's estimate of the white-noise std of each image of an NCHW batch (J. Immerkaer, "Fast
    noise variance estimation", CVIU 64(2), 1996): sqrt(pi / 2) / 6 times the mean absolute response to the
    Laplacian-difference mask, which cancels smooth content. In the units of ``x``; over-estimates on
    strongly textured images (it reads texture as noise), so use it as an upper bound. (N,) float64."""
    if not isinstance(x, Tensor) or x.ndim != 4 or min(x.shape[-2:]) < 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise RestoraError(f"noise_std takes an NCHW batch of images of at least 3x3 pixels, got {shape}")
    a = (x.abs() if x.is_complex() else x).to(_work_dtype(x.device))
    k = torch.tensor(IMMERKAER_KERNEL, dtype=a.dtype, device=a.device).view(1, 1, 3, 3)
    response = F.conv2d(a.reshape(-1, 1, *a.shape[-2:]), k).reshape(a.shape[0], -1)
    return (torch.pi / 2) ** 0.5 / 6 * response.abs().mean(dim=1)
