"""Task names used by the CLI and benchmarks, mapped to configured operators by :func:`build_operator`.

Defaults (override with keyword options): deblur-gauss 61x61 std 3.0 (DPS/DiffPIR); deblur-aniso
25x25, stds 4.0 / 1.5, theta pi/4; deblur-motion a random 61x61 shake kernel of intensity 0.5 from
the generator (or ``kernel='levin:3'``...); inpaint-box a centred box of min(128, H/2, W/2);
inpaint-random 70% of the pixels missing (``ratio`` is the missing fraction); inpaint-half the right
half missing; cs ratio 0.25 with 32x32 blocks; jpeg quality 10. ``generator=None`` means seed 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import check_divisible
from restora.operators.base import Operator
from restora.operators.blur import Blur
from restora.operators.colorize import Colorize
from restora.operators.cs import BlockCS, WalshHadamardCS
from restora.operators.denoise import Identity
from restora.operators.inpaint import Inpaint
from restora.operators.jpeg import JPEG
from restora.operators.kernels import anisotropic_gaussian_kernel, gaussian_kernel, load_kernel, motion_kernel
from restora.operators.masks import box_mask, half_mask, lines_mask, load_mask, random_mask
from restora.operators.sr import AvgPoolSR, BicubicSR, BlurDownsampleSR

TASKS: dict[str, str] = {
    "denoise": "denoising (A = identity; the noise comes from sigma_y / the noise model)",
    "sr2": "x2 super-resolution, MATLAB bicubic imresize",
    "sr3": "x3 super-resolution, MATLAB bicubic imresize",
    "sr4": "x4 super-resolution, MATLAB bicubic imresize",
    "sr8": "x8 super-resolution, MATLAB bicubic imresize",
    "sr2-blur": "x2 SR: blur (USRNet bicubic:2 kernel, or kernel=) then keep every 2nd pixel",
    "sr3-blur": "x3 SR: blur (USRNet bicubic:3 kernel, or kernel=) then keep every 3rd pixel",
    "sr4-blur": "x4 SR: blur (USRNet bicubic:4 kernel, or kernel=) then keep every 4th pixel (DiffPIR)",
    "sr2-pool": "x2 SR by 2x2 block averaging (DDRM/DDNM)",
    "sr4-pool": "x4 SR by 4x4 block averaging (DDRM/DDNM)",
    "sr8-pool": "x8 SR by 8x8 block averaging",
    "deblur": "deblurring with a given kernel= (spec like 'levin:3', a file or a tensor)",
    "deblur-gauss": "Gaussian deblurring, 61x61 kernel with std 3.0 (size=, std=)",
    "deblur-aniso": "anisotropic Gaussian deblurring, 25x25, stds 4.0/1.5 at 45 degrees (sigma_x=, ...)",
    "deblur-motion": "motion deblurring, random 61x61 shake of intensity 0.5 (or kernel='levin:3')",
    "inpaint-box": "inpainting of a centred box, 128x128 on 256x256 (size=, center=False: random place)",
    "inpaint-random": "inpainting with 70% of the pixels missing at random (ratio= missing fraction)",
    "inpaint-lines": "inpainting of random thick scribbles (n_strokes=, width=)",
    "inpaint-half": "inpainting of the right half (side='left'|'right'|'top'|'bottom')",
    "inpaint": "inpainting with a given mask= (image/.npy file, white = known, or a 0/1 tensor)",
    "colorize": "colourisation from the channel mean (weights='luma' for BT.601 luma)",
    "cs": "block compressed sensing, 25% of 32x32 blocks (ratio=, block=, method='wht')",
    "jpeg": "JPEG artefact removal, quality 10 (quality=)",
}


def task_family(task: str) -> str:
    """The family of a task name (``sr``, ``deblur``, ``inpaint``, ``denoise``, ...): what solver
    defaults are chosen by (:func:`restora.solvers.settings`)."""
    if task.startswith("sr") and task[2:3].isdigit():
        return "sr"
    return task.split("-")[0]


def _parse_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    dims = [int(v) for v in shape]
    if len(dims) not in (2, 3, 4) or min(dims) < 1:
        raise RestoraError(f"shape must be (H, W), (C, H, W) or (N, C, H, W), got {tuple(shape)}")
    c = dims[-3] if len(dims) >= 3 else 3
    return c, dims[-2], dims[-1]


def _take(options: dict[str, Any], task: str, allowed: dict[str, Any]) -> dict[str, Any]:
    extra = set(options) - set(allowed)
    if extra:
        raise RestoraError(f"task {task!r} does not take option(s) {sorted(extra)}; "
                           f"it takes {sorted(allowed) or 'none'}")
    return {k: options.get(k, v) for k, v in allowed.items()}


def build_operator(task: str, shape: Sequence[int], *, kernel: Any = None,
                   mask: Tensor | str | Path | None = None, generator: torch.Generator | None = None,
                   **options: Any) -> Operator:
    """The operator of ``task`` (see ``TASKS``) for images of ``shape``; sizes are checked here so a
    bad combination fails before any sampling. Extra ``options`` are per task (see ``TASKS``)."""
    if task not in TASKS:
        raise RestoraError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    c, h, w = _parse_shape(shape)
    if kernel is not None and not (task.startswith("deblur") or task.endswith("-blur")):
        raise RestoraError(f"task {task!r} takes no kernel; kernels go with deblur* and sr*-blur tasks")
    if mask is not None and task != "inpaint":
        raise RestoraError(f"task {task!r} takes no mask; use task 'inpaint' to pass mask=")
    builder = _BUILDERS[task.split("-")[0] if task[:2] == "sr" and task[2:3].isdigit() else task]
    return builder(task, c, h, w, kernel, mask, generator, options)


def _sr(task, c, h, w, kernel, mask, generator, options) -> Operator:
    scale = int(task[2:].split("-")[0])
    check_divisible(h, w, scale, task)
    if task.endswith("-blur"):
        opts = _take(options, task, {"rcond": None})
        k = load_kernel(kernel if kernel is not None else f"bicubic:{scale}", generator=generator)
        return BlurDownsampleSR(k, scale, rcond=opts["rcond"])
    _take(options, task, {})
    return AvgPoolSR(scale) if task.endswith("-pool") else BicubicSR(scale)


def _denoise(task, c, h, w, kernel, mask, generator, options) -> Operator:
    _take(options, task, {})
    return Identity()


def _deblur(task, c, h, w, kernel, mask, generator, options) -> Operator:
    if task == "deblur-gauss":
        o = _take(options, task, {"size": 61, "std": 3.0, "rcond": None})
        k = load_kernel(kernel) if kernel is not None else gaussian_kernel(o["size"], o["std"])
    elif task == "deblur-aniso":
        o = _take(options, task, {"size": 25, "sigma_x": 4.0, "sigma_y": 1.5, "theta": math.pi / 4,
                                  "rcond": None})
        k = load_kernel(kernel) if kernel is not None else anisotropic_gaussian_kernel(
            o["size"], o["sigma_x"], o["sigma_y"], o["theta"])
    elif task == "deblur-motion":
        o = _take(options, task, {"size": 61, "intensity": 0.5, "rcond": None})
        k = load_kernel(kernel, generator=generator) if kernel is not None else motion_kernel(
            o["size"], o["intensity"], generator)
    else:
        o = _take(options, task, {"rcond": None})
        if kernel is None:
            raise RestoraError("task 'deblur' needs kernel= (e.g. 'levin:3', 'gauss:25:2.0' or a file)")
        k = load_kernel(kernel, generator=generator)
    if k.shape[0] > h or k.shape[1] > w:
        raise RestoraError(f"{task}: kernel {k.shape[0]}x{k.shape[1]} is larger than the {h}x{w} image; "
                           "use a smaller kernel (size=) or a larger image")
    return Blur(k, rcond=o["rcond"])


def _inpaint(task, c, h, w, kernel, mask, generator, options) -> Operator:
    if task == "inpaint-box":
        o = _take(options, task, {"size": min(128, h // 2, w // 2) or 1, "center": True})
        m = box_mask(h, w, o["size"], o["center"], generator)
    elif task == "inpaint-random":
        o = _take(options, task, {"ratio": 0.7})
        m = random_mask(h, w, o["ratio"], generator)
    elif task == "inpaint-lines":
        o = _take(options, task, {"n_strokes": 5, "max_vertices": 6, "width": None})
        m = lines_mask(h, w, o["n_strokes"], o["max_vertices"], o["width"], generator)
    elif task == "inpaint-half":
        o = _take(options, task, {"side": "right"})
        m = half_mask(h, w, o["side"])
    else:
        o = _take(options, task, {"invert": False})
        if mask is None:
            raise RestoraError("task 'inpaint' needs mask= (an image or .npy file, or a 0/1 tensor)")
        if isinstance(mask, Tensor):
            m = mask if mask.ndim == 4 else mask.reshape(1, 1, *mask.shape[-2:])
            if tuple(m.shape[-2:]) != (h, w):
                raise RestoraError(f"mask is {m.shape[-2]}x{m.shape[-1]} but the image is {h}x{w}")
            m = 1 - m if o["invert"] else m
        else:
            m = load_mask(mask, h, w, invert=o["invert"])
    return Inpaint(m)


def _colorize(task, c, h, w, kernel, mask, generator, options) -> Operator:
    o = _take(options, task, {"weights": "mean"})
    if c != 3:
        raise RestoraError(f"colorize needs RGB images (3 channels), got {c}")
    return Colorize(o["weights"])


def _cs(task, c, h, w, kernel, mask, generator, options) -> Operator:
    o = _take(options, task, {"ratio": 0.25, "block": 32, "method": "block"})
    if o["method"] == "block":
        check_divisible(h, w, o["block"], "cs")
        return BlockCS(o["ratio"], o["block"], generator)
    if o["method"] == "wht":
        return WalshHadamardCS(o["ratio"], (h, w), generator)
    raise RestoraError(f"cs method must be 'block' or 'wht', got {o['method']!r}")


def _jpeg(task, c, h, w, kernel, mask, generator, options) -> Operator:
    o = _take(options, task, {"quality": 10})
    if c not in (1, 3):
        raise RestoraError(f"jpeg needs 1 or 3 channels, got {c}")
    return JPEG(o["quality"])


_BUILDERS: dict[str, Callable[..., Operator]] = {
    "denoise": _denoise, "sr2": _sr, "sr3": _sr, "sr4": _sr, "sr8": _sr,
    "deblur": _deblur, "deblur-gauss": _deblur, "deblur-aniso": _deblur, "deblur-motion": _deblur,
    "inpaint": _inpaint, "inpaint-box": _inpaint, "inpaint-random": _inpaint, "inpaint-lines": _inpaint,
    "inpaint-half": _inpaint, "colorize": _colorize, "cs": _cs, "jpeg": _jpeg,
}
