"""A stand-in for ``torchvision.models`` so that the reference packages (``lpips``, ``DISTS_pytorch``),
which build their trunks from torchvision, can be imported for the cross-checks without torchvision.

The two networks are written here flat, in torchvision's own index order (the references slice
``features`` by index), independently of restora's :mod:`restora.metrics.backbones`; the cross-check
copies the same weights into both.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Iterator

from torch import nn


def _alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))


def _vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
            cin = v
    return nn.Sequential(*layers)


class _Net(nn.Module):
    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.features = features


def _factory(build):
    def make(pretrained: bool = False, weights=None, **_):  # random weights whatever is asked: the
        return _Net(build())                                   # cross-checks copy the real ones in
    return make


@contextlib.contextmanager
def stubbed_torchvision(*modules: str) -> Iterator[list[types.ModuleType]]:
    """Import ``modules`` with the stub standing in for torchvision; sys.modules is restored after."""
    saved = {k: v for k, v in sys.modules.items() if k == "torchvision" or k.startswith("torchvision.")}
    tv = types.ModuleType("torchvision")
    tv.models = types.ModuleType("torchvision.models")
    tv.models.alexnet = _factory(_alexnet_features)
    tv.models.vgg16 = _factory(_vgg16_features)
    tv.transforms = types.ModuleType("torchvision.transforms")
    sys.modules.update({"torchvision": tv, "torchvision.models": tv.models,
                        "torchvision.transforms": tv.transforms})
    try:
        yield [importlib.import_module(m) for m in modules]
    finally:
        for k in ("torchvision", "torchvision.models", "torchvision.transforms"):
            sys.modules.pop(k, None)
        sys.modules.update(saved)
