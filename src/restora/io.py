"""Image reading and writing at the library's edges ([0, 1] floats or uint8 <-> files)."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from restora.errors import RestoraError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` (sorted by name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RestoraError(f"not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
"""PIL image modes :func:`read_image` reads as one channel."""


def read_image(path: str | Path, channels: int | None = None, as_uint8: bool = False) -> Tensor:
    """Read an image as a (1, C, H, W) tensor: float32 in [0, 1], or uint8 with ``as_uint8``.

    8- and 16-bit files, grayscale or RGB; an alpha channel is dropped with a warning.
    ``channels`` (1 or 3) converts gray <-> RGB; None keeps the file's own.
    """
    path = Path(path)
    if not path.is_file():
        raise RestoraError(f"no such image file: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                warnings.warn(f"{path.name}: alpha channel dropped", stacklevel=2)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float32) / 65535.0
            elif im.mode == "F":
                arr = np.asarray(im, dtype=np.float32)
            else:
                target = "L" if im.mode in GRAY_MODES else "RGB"
                arr = np.asarray(im.convert(target), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise RestoraError(f"cannot read image {path}: {exc}") from exc
    if arr.ndim == 2:
        arr = arr[..., None]
    img = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]
    if not torch.isfinite(img).all():
        raise RestoraError(f"image {path} contains NaN or infinite values")
    img = img.clamp(0, 1)
    if channels == 3 and img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1).contiguous()
    elif channels == 1 and img.shape[1] == 3:
        img = rgb_to_gray(img)
    elif channels not in (None, 1, 3):
        raise RestoraError(f"channels must be 1, 3 or None, got {channels}")
    if as_uint8:
        return (img * 255).round().to(torch.uint8)
    return img


def to_model(img: Tensor) -> Tensor:
    """Images in [0, 1] (files, the edges) -> the [-1, 1] scale the library works on."""
    return img * 2 - 1


def to_unit(x: Tensor, clip: bool = False) -> Tensor:
    """Library images in [-1, 1] -> [0, 1] (``clip``: clamped, as files and displays want them)."""
    out = (x + 1) / 2
    return out.clamp(0, 1) if clip else out


def rgb_to_gray(img: Tensor) -> Tensor:
    """ITU-R BT.601 luma (the weights of PIL's 'L' conversion and MATLAB's rgb2gray)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (img * w).sum(dim=1, keepdim=True)


def to_uint8(img: Tensor) -> np.ndarray:
    """(C, H, W) or (1, C, H, W) float in [0, 1] -> HxW or HxWxC uint8 array (rounded)."""
    if img.ndim == 4:
        if img.shape[0] != 1:
            raise RestoraError("to_uint8 takes a single image")
        img = img[0]
    arr = (img.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    arr = arr.transpose(1, 2, 0)
    return arr[..., 0] if arr.shape[2] == 1 else arr


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path`` (so readers
    and resumed runs never see a half-written file), on error it is removed. The file gets the
    usual permissions (0666 minus the umask), not mkstemp's private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_image(img: Tensor | np.ndarray, path: str | Path, suffix: str | None = None) -> Path:
    """Encode an image ([0, 1] tensor or uint8 array) into ``path`` in the format of ``suffix`` (default:
    the path's own), in place; :func:`write_image` is the atomic version."""
    path = Path(path)
    arr = img if isinstance(img, np.ndarray) else to_uint8(img)
    fmt = Image.registered_extensions().get((suffix or path.suffix).lower())
    Image.fromarray(arr).save(path, format=fmt)
    return path


def write_image(img: Tensor | np.ndarray, path: str | Path) -> Path:
    """Write an image atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    with atomic_write(path) as tmp:
        save_image(img, tmp, path.suffix)
    return path
