"""Pictures for people: labelled side-by-side grids and strips of intermediate estimates."""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from restora.errors import RestoraError
from restora.io import to_uint8, to_unit

LABEL_HEIGHT = 18


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default()


def kernel_view(kernel: Tensor, side: int, canvas: int = 0) -> Tensor:
    """A blur kernel (s, s) to look at: scaled to its peak, centred on a black ``canvas`` x ``canvas``
    square when that is larger, nearest-enlarged to ``side`` x ``side``; (1, 1, side, side) in [0, 1]."""
    view = (kernel / kernel.max().clamp_min(1e-12)).float()
    view = F.pad(view, [max(canvas - kernel.shape[-1], 0) // 2] * 4)[None, None]
    return F.interpolate(view, size=(side, side), mode="nearest")


def to_display(img: Tensor, size: tuple[int, int]) -> Tensor:
    """(1 or 3, h, w) or (1, C, h, w) in [0, 1] -> (3, H, W), nearest-upscaled to ``size`` (so small
    measurements stay visibly pixelated) and gray expanded to RGB."""
    if img.ndim == 4:
        img = img[0]
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    if tuple(img.shape[-2:]) != tuple(size):
        img = F.interpolate(img[None].float(), size=size, mode="nearest")[0]
    return img.clamp(0, 1)


def side_by_side(images: list[Tensor], labels: list[str], gap: int = 4) -> np.ndarray:
    """One RGB uint8 array with the images in a row (all shown at the largest size) and a label
    under each."""
    if len(images) != len(labels) or not images:
        raise RestoraError("side_by_side needs one label per image and at least one image")
    h = max(int(i.shape[-2]) for i in images)
    w = max(int(i.shape[-1]) for i in images)
    tiles = [to_display(i, (h, w)) for i in images]
    canvas = Image.new("RGB", (len(tiles) * (w + gap) - gap, h + LABEL_HEIGHT), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        canvas.paste(Image.fromarray(to_uint8(tile)), (k * (w + gap), 0))
        draw.text((k * (w + gap) + 3, h + 3), label, fill="black", font=_font())
    return np.asarray(canvas)


def strip(images: list[Tensor], labels: list[str] | None = None, width: int = 128) -> np.ndarray:
    """A row of small thumbnails (e.g. x0 estimates over the sampling steps)."""
    thumbs = []
    for img in images:
        img = img[0] if img.ndim == 4 else img
        h = max(1, round(img.shape[-2] * width / img.shape[-1]))
        thumbs.append(F.interpolate(img[None].float(), size=(h, width), mode="area")[0])
    return side_by_side(thumbs, labels or [str(i) for i in range(len(thumbs))], gap=2)


def as_unit(x: Tensor) -> Tensor:
    """Library images in [-1, 1] -> [0, 1] for display and files."""
    return to_unit(x, clip=True)


__all__ = ["as_unit", "side_by_side", "strip", "to_display"]
