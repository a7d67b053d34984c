"""Set-level metrics on Inception pool3 features (:mod:`.inception`): FID (Heusel et al. 2017, the
Fréchet distance of Gaussians fitted to the two sets' features) and KID (Bińkowski et al. 2018, the
unbiased squared MMD with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3, averaged over random
subsets; its spread over the subsets is reported with it, as torch-fidelity and clean-fid do).

FID is biased upwards for small sets and needs more images than feature dimensions (2048) to have a
full-rank covariance; KID is unbiased and meaningful for a few dozen images. Tables must say the size.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.metrics.inception import InceptionV3


def features(images: Tensor | Iterable[Tensor], *, data_range: float = 1.0,
             model: InceptionV3 | None = None, batch_size: int = 16) -> Tensor:
    """(N, 2048) float64 Inception features of NCHW images in [0, data_range]: one batch, or an iterable of
    batches (images of different sizes go in different batches)."""
    batches = [images] if isinstance(images, Tensor) else images
    model = model if model is not None else InceptionV3.load()
    out = []
    with torch.inference_mode():
        for batch in batches:
            if batch.ndim != 4 or batch.shape[1] not in (1, 3):
                raise RestoraError(f"FID / KID take NCHW RGB (or gray) batches, got {tuple(batch.shape)}")
            model = model.to(batch.device)
            for part in batch.split(batch_size):
                out.append(model(part.float() / data_range).double().cpu())
    if not out:
        raise RestoraError("FID / KID need at least one image per set")
    return torch.cat(out)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)): the Fréchet distance of two Gaussians."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape:
        raise RestoraError("Fréchet distance needs statistics of the same dimension")
    with warnings.catch_warnings():  # a singular product is handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        # Singular product (fewer images than feature dimensions): regularise as pytorch-fid does.
        offset = np.eye(cov1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def fid_of_features(fa: Tensor, fb: Tensor) -> float:
    """FID of two (N, D) feature sets (at least 2 each)."""
    if len(fa) < 2 or len(fb) < 2:
        raise RestoraError(f"FID needs at least 2 images per set, got {len(fa)} and {len(fb)}")
    a, b = fa.double().numpy(), fb.double().numpy()
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def _mmd2_unbiased(a: Tensor, b: Tensor) -> float:
    d, m = a.shape[1], a.shape[0]
    kaa, kbb, kab = ((u @ v.T / d + 1) ** 3 for u, v in ((a, a), (b, b), (a, b)))
    off = (kaa.sum() - kaa.diagonal().sum() + kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return float(off - 2 * kab.mean())


def kid_of_features(fa: Tensor, fb: Tensor, *, subsets: int = 100, subset_size: int = 1000,
                    generator: torch.Generator | None = None) -> tuple[float, float]:
    """(mean, std over subsets) of the unbiased KID of two (N, D) feature sets; each subset draws
    min(subset_size, N_a, N_b) features of each set without replacement."""
    m = min(subset_size, len(fa), len(fb))
    if m < 2:
        raise RestoraError(f"KID needs at least 2 images per set, got {len(fa)} and {len(fb)}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    values = [_mmd2_unbiased(fa[torch.randperm(len(fa), generator=gen)[:m]].double(),
                             fb[torch.randperm(len(fb), generator=gen)[:m]].double()) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def fid(x: Tensor, y: Tensor, *, data_range: float = 1.0, model: InceptionV3 | None = None) -> float:
    """FID between two sets of NCHW images in [0, data_range] (lower is closer)."""
    model = model if model is not None else InceptionV3.load()
    return fid_of_features(features(x, data_range=data_range, model=model),
                           features(y, data_range=data_range, model=model))


def kid(x: Tensor, y: Tensor, *, data_range: float = 1.0, model: InceptionV3 | None = None,
        subsets: int = 100, subset_size: int = 1000,
        generator: torch.Generator | None = None) -> tuple[float, float]:
    """KID (mean, std over subsets) between two sets of NCHW images in [0, data_range]."""
    model = model if model is not None else InceptionV3.load()
    return kid_of_features(features(x, data_range=data_range, model=model),
                           features(y, data_range=data_range, model=model),
                           subsets=subsets, subset_size=subset_size, generator=generator)
