"""NIQE (Mittal, Soundararajan & Bovik, IEEE SPL 2013, "Making a 'Completely Blind' Image Quality
Analyzer"): the distance between a multivariate Gaussian fitted to an image's natural-scene features
(per 96 x 96 block, at two scales) and the one of pristine images. No reference; lower is more natural.

As the authors' MATLAB release (and BasicSR's port, the cross-check): the image's BT.601 luma on 0..255,
rounded; blocks without overlap (the image cropped to whole blocks); MSCN with the release's 7 x 7
window and replicated borders; 18 AGGD features per block and scale; the second scale by MATLAB's
antialiased bicubic half-size resize. The pristine mean / covariance / window are the official ones,
read from the user's ``basicsr`` sdist (``niqe_pris_params.npz``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.metrics.fidelity import rgb_to_y
from restora.metrics.files import NIQE_PARAMS
from restora.metrics.nss import aggd_mean, aggd_scales, fit_aggd, mscn, paired_products
from restora.operators.resize import imresize

BLOCK = 96


class NIQEModel:
    """The pristine model: mean (36,), covariance (36, 36) and the 7 x 7 MSCN window."""

    def __init__(self, mu: np.ndarray, cov: np.ndarray, window: np.ndarray) -> None:
        self.mu, self.cov, self.window = mu.reshape(-1), cov, window

    @classmethod
    def load(cls) -> NIQEModel:
        """The official parameters from the installed basicsr sdist."""
        with np.load(NIQE_PARAMS.locate("NIQE"), allow_pickle=False) as f:
            return cls(f["mu_pris_param"].astype(np.float64), f["cov_pris_param"].astype(np.float64),
                       f["gaussian_window"].astype(np.float64))


def block_features(block: np.ndarray) -> list[float]:
    """The 18 features of one MSCN block: AGGD (shape, mean scale), then (shape, mean, left and right
    scales) of the paired products in four directions."""
    shape, left, right = fit_aggd(block)
    bl, br = aggd_scales(shape, left, right)
    out = [shape, (bl + br) / 2]
    for product in paired_products(block):
        shape, left, right = fit_aggd(product)
        bl, br = aggd_scales(shape, left, right)
        out += [shape, aggd_mean(shape, bl, br), bl, br]
    return out


def image_features(y: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(blocks, 36) features of a 0..255 luma image cropped to whole 96 x 96 blocks."""
    rows, cols = y.shape[0] // BLOCK, y.shape[1] // BLOCK
    img = y[:rows * BLOCK, :cols * BLOCK]
    per_scale = []
    for scale in (1, 2):
        coef = mscn(img, window, "nearest")
        size = BLOCK // scale
        per_scale.append([block_features(coef[r * size:(r + 1) * size, c * size:(c + 1) * size])
                          for c in range(cols) for r in range(rows)])
        if scale == 1:
            half = imresize(torch.from_numpy(img / 255.0)[None, None], 0.5)
            img = half[0, 0].numpy() * 255.0
    return np.concatenate([np.array(f) for f in per_scale], axis=1)


def niqe_of_luma(y: np.ndarray, model: NIQEModel) -> float:
    """NIQE of one 0..255 luma image (at least 96 x 96)."""
    if (y.shape[0] // BLOCK) * (y.shape[1] // BLOCK) < 2:
        raise RestoraError(f"NIQE fits a Gaussian to {BLOCK}x{BLOCK} blocks and needs at least two of them "
                           f"(e.g. {BLOCK}x{2 * BLOCK} pixels), got {y.shape[0]}x{y.shape[1]}")
    feats = image_features(y, model.window)
    mu = np.nanmean(feats, axis=0)
    cov = np.cov(feats[~np.isnan(feats).any(axis=1)], rowvar=False)
    d = model.mu - mu
    return float(np.sqrt(d @ np.linalg.pinv((model.cov + cov) / 2) @ d))


def luma255(x: Tensor, data_range: float, crop_border: int) -> np.ndarray:
    """(N, H, W) float64 BT.601 luma on 0..255, rounded (gray images as they are)."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise RestoraError(f"no-reference metrics take NCHW RGB or gray batches, got {tuple(x.shape)}")
    unit = x.detach().double().cpu() / data_range
    y = rgb_to_y(unit) if unit.shape[1] == 3 else unit
    c = crop_border
    y = y[..., c:-c, c:-c] if c else y
    return (y[:, 0] * 255).round().numpy()


def niqe(x: Tensor, *, data_range: float = 1.0, crop_border: int = 0,
         model: NIQEModel | None = None) -> Tensor:
    """NIQE of each image of an NCHW batch in [0, data_range] (lower is more natural): (N,) float64."""
    model = model if model is not None else NIQEModel.load()
    return torch.tensor([niqe_of_luma(y, model) for y in luma255(x, data_range, crop_border)],
                        dtype=torch.float64)
