"""Natural-scene statistics shared by the no-reference metrics NIQE and BRISQUE (Mittal et al.): MSCN
coefficients (the image minus its local Gaussian mean, over its local std + 1), and moment-matching fits
of a generalized Gaussian (GGD) and an asymmetric one (AGGD) by a search over the shape on the grid
0.2, 0.201, ..., 10 used by the authors' code. Plain float64 numpy: these are per-image statistics.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import ndimage
from scipy.special import gamma

SHAPES = np.arange(0.2, 10.001, 0.001)

PAIR_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))
"""The four neighbour directions of the paired products (horizontal, vertical, two diagonals), as
``np.roll`` shifts along (rows, columns)."""


@cache
def _ratios() -> tuple[np.ndarray, np.ndarray]:
    """The moment ratios of the shape grid: Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)) and its reciprocal."""
    r = gamma(2 / SHAPES) ** 2 / (gamma(1 / SHAPES) * gamma(3 / SHAPES))
    return r, 1 / r


def mscn(img: np.ndarray, window: np.ndarray, mode: str) -> np.ndarray:
    """(img - mu) / (sigma + 1) with mu, sigma the ``window``-weighted local mean and std (0..255 images);
    ``mode``: the border ('nearest' for NIQE, 'constant' zeros for BRISQUE)."""
    mu = ndimage.correlate(img, window, mode=mode)
    var = ndimage.correlate(img * img, window, mode=mode) - mu * mu
    return (img - mu) / (np.sqrt(np.abs(var)) + 1)


def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """A normalised size x size Gaussian (MATLAB's ``fspecial('gaussian', size, sigma)``)."""
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def fit_ggd(x: np.ndarray) -> tuple[float, float]:
    """(shape, std) of a zero-mean generalized Gaussian matching E[x^2] / E[|x|]^2."""
    var = float(np.mean(x * x))
    rho = var / float(np.mean(np.abs(x))) ** 2
    shape = SHAPES[np.argmin(np.abs(rho - _ratios()[1]))]
    return float(shape), float(np.sqrt(var))


def fit_aggd(x: np.ndarray) -> tuple[float, float, float]:
    """(shape, left std, right std) of an asymmetric generalized Gaussian (Lasmar et al. 2009)."""
    left = float(np.sqrt(np.mean(x[x < 0] ** 2)))
    right = float(np.sqrt(np.mean(x[x > 0] ** 2)))
    g = left / right
    r = float(np.mean(np.abs(x))) ** 2 / float(np.mean(x * x))
    r_norm = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    shape = SHAPES[np.argmin((_ratios()[0] - r_norm) ** 2)]
    return float(shape), left, right


def aggd_mean(shape: float, left: float, right: float) -> float:
    """The mean of an AGGD with these *scale* parameters: (beta_r - beta_l) Gamma(2/a) / Gamma(1/a)."""
    return (right - left) * gamma(2 / shape) / gamma(1 / shape)


def aggd_scales(shape: float, left: float, right: float) -> tuple[float, float]:
    """The AGGD scale parameters beta = std sqrt(Gamma(1/a) / Gamma(3/a)) of the two sides."""
    k = np.sqrt(gamma(1 / shape) / gamma(3 / shape))
    return float(left * k), float(right * k)


def paired_products(coef: np.ndarray) -> list[np.ndarray]:
    """The products of each coefficient with its neighbour in the four :data:`PAIR_SHIFTS` directions."""
    return [coef * np.roll(coef, shift, axis=(0, 1)) for shift in PAIR_SHIFTS]
