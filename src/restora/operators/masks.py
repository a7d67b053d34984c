"""Inpainting mask generators. Every mask is a float32 (1, 1, H, W) tensor, 1 = known pixel, 0 = missing.

Random masks are drawn only from the ``generator`` argument (None: a fresh generator seeded with 0),
so the same seed always gives the same mask.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import default_generator, rand


def _check_hw(h: int, w: int) -> tuple[int, int]:
    h, w = int(h), int(w)
    if h < 1 or w < 1:
        raise RestoraError(f"mask size must be positive, got {h}x{w}")
    return h, w


def _randint(low: int, high: int, g: torch.Generator) -> int:
    """Uniform integer in [low, high] (inclusive) from ``g``."""
    return low + min(int(rand((1,), g).item() * (high - low + 1)), high - low)


def box_mask(h: int, w: int, size: int | tuple[int, int] = 128, center: bool = True,
             generator: torch.Generator | None = None) -> Tensor:
    """A missing ``size`` x ``size`` box (or (bh, bw)): centred, or at a random position."""
    h, w = _check_hw(h, w)
    bh, bw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if not (0 < bh <= h and 0 < bw <= w):
        raise RestoraError(f"box {bh}x{bw} does not fit in a {h}x{w} image; choose a smaller size")
    if center:
        top, left = (h - bh) // 2, (w - bw) // 2
    else:
        g = default_generator(generator)
        top, left = _randint(0, h - bh, g), _randint(0, w - bw, g)
    m = torch.ones(1, 1, h, w)
    m[..., top: top + bh, left: left + bw] = 0
    return m


def random_mask(h: int, w: int, ratio: float = 0.7, generator: torch.Generator | None = None) -> Tensor:
    """Exactly round(``ratio`` * H * W) pixels *missing* (``ratio`` = fraction removed), chosen
    uniformly at random, the same for all channels."""
    h, w = _check_hw(h, w)
    if not 0.0 <= ratio <= 1.0:
        raise RestoraError(f"random mask ratio (fraction of missing pixels) must be in [0, 1], got {ratio}")
    g = default_generator(generator)
    n = h * w
    order = torch.argsort(rand((n,), g))
    m = torch.ones(n)
    m[order[: round(ratio * n)]] = 0
    return m.view(1, 1, h, w)


def half_mask(h: int, w: int, side: str = "right") -> Tensor:
    """The ``side`` half ('left', 'right', 'top' or 'bottom') is missing; the other half is known."""
    h, w = _check_hw(h, w)
    m = torch.ones(1, 1, h, w)
    if side == "left":
        m[..., : w // 2] = 0
    elif side == "right":
        m[..., w // 2:] = 0
    elif side == "top":
        m[..., : h // 2, :] = 0
    elif side == "bottom":
        m[..., h // 2:, :] = 0
    else:
        raise RestoraError(f"half_mask side must be 'left', 'right', 'top' or 'bottom', got {side!r}")
    return m


def lines_mask(h: int, w: int, n_strokes: int = 5, max_vertices: int = 6,
               width: tuple[float, float] | None = None,
               generator: torch.Generator | None = None) -> Tensor:
    """Random thick scribbles (free-form strokes): ``n_strokes`` polylines of 2..``max_vertices``
    vertices with random turns, each of a random ``width`` in (lo, hi) pixels (default: max(H, W)/32
    to max(H, W)/12); the pixels they cover are missing."""
    h, w = _check_hw(h, w)
    if n_strokes < 0 or max_vertices < 2:
        raise RestoraError("lines_mask needs n_strokes >= 0 and max_vertices >= 2")
    big = max(h, w)
    lo, hi = width if width is not None else (max(big / 32, 1.0), max(big / 12, 2.0))
    if not 0 < lo <= hi:
        raise RestoraError(f"lines_mask width must be (lo, hi) with 0 < lo <= hi, got {width}")
    g = default_generator(generator)
    yy = torch.arange(h, dtype=torch.float64)[:, None].expand(h, w)
    xx = torch.arange(w, dtype=torch.float64)[None, :].expand(h, w)
    hole = torch.zeros(h, w, dtype=torch.bool)
    for _ in range(int(n_strokes)):
        u = rand((4,), g).tolist()
        n_vert = 2 + min(int(u[0] * (max_vertices - 1)), max_vertices - 2)
        radius = 0.5 * (lo + (hi - lo) * u[1])
        py, px = u[2] * (h - 1), u[3] * (w - 1)
        angle = 2 * math.pi * rand((1,), g).item()
        for _ in range(n_vert - 1):
            v = rand((2,), g).tolist()
            angle += (v[0] - 0.5) * math.pi  # turn by up to +-90 degrees
            length = big * (0.1 + 0.25 * v[1])
            qy = min(max(py + length * math.sin(angle), 0.0), h - 1.0)
            qx = min(max(px + length * math.cos(angle), 0.0), w - 1.0)
            dy, dx = qy - py, qx - px
            t = ((yy - py) * dy + (xx - px) * dx) / max(dy * dy + dx * dx, 1e-12)
            t = t.clamp(0, 1)
            dist2 = (yy - py - t * dy) ** 2 + (xx - px - t * dx) ** 2
            hole |= dist2 <= radius * radius
            py, px = qy, qx
    return (~hole).to(torch.float32).view(1, 1, h, w)


def load_mask(path: str | Path, h: int, w: int, invert: bool = False) -> Tensor:
    """Mask from an image file (white = known, thresholded at 0.5) or .npy array; must be H x W.
    ``invert=True`` for files where white marks the missing region (e.g. LaMa-style masks)."""
    h, w = _check_hw(h, w)
    path = Path(path)
    if not path.is_file():
        raise RestoraError(f"mask file not found: {path}")
    if path.suffix.lower() == ".npy":
        arr = np.asarray(np.load(path), dtype=np.float64)
        arr = arr.squeeze()
    else:
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
        except (UnidentifiedImageError, OSError) as exc:
            raise RestoraError(f"cannot read mask image {path}: {exc}") from exc
    if arr.ndim != 2:
        raise RestoraError(f"mask {path} must be a single 2-D array/gray image, got shape {arr.shape}")
    if arr.shape != (h, w):
        raise RestoraError(f"mask {path} is {arr.shape[0]}x{arr.shape[1]} but the image is {h}x{w}; "
                           "resize the mask (nearest neighbour) or crop the image to match")
    known = arr > 0.5
    if invert:
        known = ~known
    return torch.from_numpy(known.astype(np.float32)).view(1, 1, h, w)
