"""Tasks by name: what the CLI, the benchmarks and :func:`build_operator` know about each degradation.

A :class:`Task` says what family it belongs to (solver settings are chosen by family), which options
it takes, how measurement and image shapes relate, whether it takes a kernel or a mask, and how its
operator is made for an image shape, in two parts (as deepinv's ``PhysicsGenerator`` separates them):
:meth:`Task.parameters` draws the random parts from a generator (a mask, a motion kernel, a sensing
matrix), :meth:`Task.operator` builds the operator from them.

Defaults (override with keyword options): deblur-gauss 61x61 std 3.0 (DPS/DiffPIR); deblur-aniso
25x25, stds 4.0 / 1.5, theta pi/4; deblur-motion a random 61x61 shake kernel of intensity 0.5 from
the generator (or ``kernel='levin:3'``...); inpaint-box a centred box of min(128, H/2, W/2);
inpaint-random 70% of the pixels missing (``ratio`` is the missing fraction); inpaint-half the right
half missing; cs ratio 0.25 with 32x32 blocks; jpeg quality 10. ``generator=None`` means seed 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import check_divisible, default_generator
from restora.operators.base import Operator
from restora.operators.blind import DEFAULT_SIZE as DEFAULT_BLIND_SIZE
from restora.operators.blind import BlindBlur
from restora.operators.blur import Blur
from restora.operators.colorize import Colorize
from restora.operators.cs import BlockCS, WalshHadamardCS
from restora.operators.ct import CT, sparse_view_angles
from restora.operators.denoise import Identity
from restora.operators.inpaint import Inpaint
from restora.operators.jpeg import JPEG
from restora.operators.kernels import (
    anisotropic_gaussian_kernel,
    gaussian_kernel,
    kernel_is_random,
    load_kernel,
    motion_kernel,
)
from restora.operators.masks import box_mask, half_mask, lines_mask, load_mask, random_mask
from restora.operators.mri import MRI, column_mask, variable_density_mask
from restora.operators.phase import PhaseRetrieval
from restora.operators.sr import AvgPoolSR, BicubicSR, BlurDownsampleSR


@dataclass(frozen=True)
class TaskArgs:
    """What a task's parts see of the image: channels, height, width, kernel, mask and typed options."""

    c: int
    h: int
    w: int
    kernel: Any = None
    mask: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A named degradation (see the module doc)."""

    name: str
    family: str  # sr / deblur / inpaint / denoise / colorize / cs / jpeg: what solver settings follow
    summary: str
    make: Callable[[TaskArgs, dict[str, Any]], Operator]  # (shape, drawn parameters) -> operator
    options: Mapping[str, Any] = field(default_factory=dict)  # name -> default (its type is the option's)
    draw: Callable[[TaskArgs, torch.Generator], dict[str, Any]] | None = None  # the random parameters
    random: bool | Callable[[Mapping[str, Any]], bool] = False  # whether ``draw`` is needed (by options)
    scale: int = 1  # the image is ``scale`` times the measurement in height and width (SR)
    takes_kernel: bool = False
    takes_mask: bool = False  # a mask file or tensor (task 'inpaint')
    inpaint: bool = False  # a mask operator: per-image masks stack into one batch
    gray_measurement: bool = False  # the measurement has one channel (colorize)
    needs_image_shape: bool = False  # the image size cannot be read off the measurement (cs, ct)
    image_measurement: bool = True  # the measurement is an image (else: k-space, sinogram, magnitudes)
    blind: bool = False  # part of the operator is unknown (only blind solvers restore it)

    # ---- options and random parameters
    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """All the task's options, the given ones checked against their defaults' types."""
        extra = set(options) - set(self.options)
        if extra:
            raise RestoraError(f"task {self.name!r} does not take option(s) {sorted(extra)}; "
                               f"it takes {sorted(self.options) or 'none'}")
        return {k: _typed(self.name, k, options[k], v) if k in options else v
                for k, v in self.options.items()}

    def draws_random(self, options: Mapping[str, Any] | None = None, kernel: Any = None) -> bool:
        """Whether the operator depends on the generator for these options and kernel (so that restoring
        a measurement needs the seed it was made with)."""
        if self.takes_kernel and kernel is not None:
            return kernel_is_random(kernel)
        return self.random(self.check_options(options or {})) if callable(self.random) else self.random

    def parameters(self, shape: Sequence[int], generator: torch.Generator | None = None, *,
                   kernel: Any = None, **options: Any) -> dict[str, Any]:
        """The operator's random parts for images of ``shape``, drawn from ``generator`` (None: seed 0)."""
        ctx = self._shape(shape, kernel, None, options)
        return self._draw(ctx, generator)

    def operator(self, shape: Sequence[int], *, kernel: Any = None, mask: Tensor | str | Path | None = None,
                 generator: torch.Generator | None = None, parameters: dict[str, Any] | None = None,
                 **options: Any) -> Operator:
        """The operator for images of ``shape``; random parts from ``parameters``, else drawn from
        ``generator``. Sizes are checked here, so a bad combination fails before any sampling."""
        ctx = self._shape(shape, kernel, mask, options)
        return self.make(ctx, self._draw(ctx, generator) if parameters is None else parameters)

    def _shape(self, shape: Sequence[int], kernel: Any, mask: Any, options: Mapping[str, Any]) -> TaskArgs:
        if kernel is not None and not self.takes_kernel:
            raise RestoraError(f"task {self.name!r} takes no kernel; kernels go with deblur* and sr*-blur "
                               "tasks")
        if mask is not None and not self.takes_mask:
            raise RestoraError(f"task {self.name!r} takes no mask; use task 'inpaint' to pass mask=")
        c, h, w = _parse_shape(shape)
        return TaskArgs(c, h, w, kernel, mask, MappingProxyType(self.check_options(options)))

    def _draw(self, ctx: TaskArgs, generator: torch.Generator | None) -> dict[str, Any]:
        if self.draw is None or not self.draws_random(ctx.options, ctx.kernel):
            return {}
        return self.draw(ctx, default_generator(generator))

    # ---- shapes
    def measurement_channels(self, image_channels: int) -> int:
        """Channels of a measurement of images with ``image_channels`` channels (as read from files)."""
        return 1 if self.gray_measurement else image_channels

    def image_shape(self, y_shape: Sequence[int], channels: int | None = None) -> tuple[int, int, int, int]:
        """The (1, C, H, W) image a measurement of ``y_shape`` comes from (C: ``channels`` if given)."""
        if self.needs_image_shape:
            raise RestoraError(f"a {self.name} measurement does not give the image size: restore it with its "
                               "sidecar JSON (from restora degrade)")
        _, c, h, w = (1, *y_shape[-3:])
        c = channels or (3 if self.gray_measurement else c)
        return (1, c, h * self.scale, w * self.scale)


def _parse_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    dims = [int(v) for v in shape]
    if len(dims) not in (2, 3, 4) or min(dims) < 1:
        raise RestoraError(f"shape must be (H, W), (C, H, W) or (N, C, H, W), got {tuple(shape)}")
    c = dims[-3] if len(dims) >= 3 else 3
    return c, dims[-2], dims[-1]


def _typed(task: str, key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default`` (a None default: an optional number)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if default is None:
        if value is None or (number and math.isfinite(value)):
            return value
        kind = "a finite number or none"
    elif isinstance(default, bool):
        if isinstance(value, bool):
            return value
        kind = "true or false"
    elif isinstance(default, int):
        if number and float(value).is_integer():
            return int(value)
        kind = "an integer"
    elif isinstance(default, float):
        if number and math.isfinite(value):
            return float(value)
        kind = "a finite number"
    else:
        if isinstance(value, str):
            return value
        kind = "a word"
    raise RestoraError(f"task {task!r}: option {key}={value!r} must be {kind} (default {default!r})")


# ------------------------------------------------------------------------------------- families


def _sr(scale: int, kind: str) -> Callable[[TaskArgs, dict], Operator]:
    def make(ctx: TaskArgs, params: dict) -> Operator:
        check_divisible(ctx.h, ctx.w, scale, f"sr{scale}" + ("" if kind == "bicubic" else f"-{kind}"))
        if kind == "blur":
            k = params.get("kernel")
            if k is None:
                k = load_kernel(ctx.kernel if ctx.kernel is not None else f"bicubic:{scale}")
            return BlurDownsampleSR(k, scale, rcond=ctx.options["rcond"])
        return AvgPoolSR(scale) if kind == "pool" else BicubicSR(scale)

    return make


def _blur(ctx: TaskArgs, params: dict) -> Operator:
    k = params.get("kernel")
    if k is None:
        k = load_kernel(ctx.kernel) if ctx.kernel is not None else _default_kernel(ctx)
    if k.shape[0] > ctx.h or k.shape[1] > ctx.w:
        raise RestoraError(f"kernel {k.shape[0]}x{k.shape[1]} is larger than the {ctx.h}x{ctx.w} image; "
                           "use a smaller kernel (size=) or a larger image")
    return Blur(k, rcond=ctx.options["rcond"])


def _default_kernel(ctx: TaskArgs) -> Tensor:
    o = ctx.options
    if "std" in o:
        return gaussian_kernel(o["size"], o["std"])
    if "theta" in o:
        return anisotropic_gaussian_kernel(o["size"], o["sigma_x"], o["sigma_y"], o["theta"])
    raise RestoraError("task 'deblur' needs kernel= (e.g. 'levin:3', 'gauss:25:2.0' or a file)")


def _kernel_draw(ctx: TaskArgs, g: torch.Generator) -> dict:
    """A kernel spec that draws (``motion:SIZE[:INTENSITY]``), else deblur-motion's random shake."""
    if ctx.kernel is not None:
        return {"kernel": load_kernel(ctx.kernel, generator=g)}
    return {"kernel": motion_kernel(ctx.options["size"], ctx.options["intensity"], g)}


MaskDraw = Callable[[TaskArgs, torch.Generator | None], Tensor]


def _mask_task(draw: MaskDraw) -> Callable[[TaskArgs, dict], Operator]:
    def make(ctx: TaskArgs, params: dict) -> Operator:
        return Inpaint(params["mask"] if "mask" in params else draw(ctx, None))

    return make


def _box(ctx: TaskArgs, g: torch.Generator | None) -> Tensor:
    return box_mask(ctx.h, ctx.w, ctx.options["size"] or min(128, ctx.h // 2, ctx.w // 2) or 1,
                    ctx.options["center"], g)


def _given_mask(ctx: TaskArgs, g: torch.Generator | None) -> Tensor:
    mask, invert = ctx.mask, ctx.options["invert"]
    if mask is None:
        raise RestoraError("task 'inpaint' needs mask= (an image or .npy file, or a 0/1 tensor)")
    if isinstance(mask, Tensor):
        m = mask if mask.ndim == 4 else mask.reshape(1, 1, *mask.shape[-2:])
        if tuple(m.shape[-2:]) != (ctx.h, ctx.w):
            raise RestoraError(f"mask is {m.shape[-2]}x{m.shape[-1]} but the image is {ctx.h}x{ctx.w}")
        return 1 - m if invert else m
    return load_mask(mask, ctx.h, ctx.w, invert=invert)


def _colorize(ctx: TaskArgs, params: dict) -> Operator:
    if ctx.c != 3:
        raise RestoraError(f"colorize needs RGB images (3 channels), got {ctx.c}")
    return Colorize(ctx.options["weights"])


def _cs_draw(ctx: TaskArgs, g: torch.Generator) -> dict:
    o = ctx.options
    if o["method"] == "wht":
        signs, rows = WalshHadamardCS.draw(o["ratio"], (ctx.h, ctx.w), g)
        return {"signs": signs, "rows": rows}
    return {"matrix": BlockCS.draw(o["block"], g)}


def _cs(ctx: TaskArgs, params: dict) -> Operator:
    o = ctx.options
    if o["method"] == "block":
        check_divisible(ctx.h, ctx.w, o["block"], "cs")
        return BlockCS(o["ratio"], o["block"], matrix=params.get("matrix"))
    if o["method"] == "wht":
        return WalshHadamardCS(o["ratio"], (ctx.h, ctx.w), signs=params.get("signs"), rows=params.get("rows"))
    raise RestoraError(f"cs method must be 'block' or 'wht', got {o['method']!r}")


def _jpeg(ctx: TaskArgs, params: dict) -> Operator:
    if ctx.c not in (1, 3):
        raise RestoraError(f"jpeg needs 1 or 3 channels, got {ctx.c}")
    return JPEG(ctx.options["quality"])


def _mri_draw(ctx: TaskArgs, g: torch.Generator) -> dict:
    o = ctx.options
    if o["mask"] in ("random", "equispaced"):
        return {"mask": column_mask(ctx.h, ctx.w, o["acceleration"], o["center"], o["mask"], g)}
    return {"mask": variable_density_mask(ctx.h, ctx.w, o["acceleration"], o["mask"], g)}


def _ct(ctx: TaskArgs, params: dict) -> Operator:
    o = ctx.options
    return CT(sparse_view_angles(o["views"], o["arc"]), (ctx.h, ctx.w), o["detectors"] or None)


def _medical_tasks() -> list[Task]:
    mri = []
    for accel in (4, 8):
        for kind in ("random", "equispaced"):
            name = f"mri{accel}" + ("" if kind == "random" else "-equispaced")
            mri.append(Task(name, "mri", f"single-coil MRI, {accel}x {kind} k-space columns with a fully "
                            "sampled centre (acceleration=, center=)", lambda ctx, p: MRI(p["mask"]),
                            {"acceleration": float(accel), "center": 0.32 / accel, "mask": kind},
                            draw=_mri_draw, random=True, image_measurement=False))
    for kind in ("gaussian", "poisson"):
        mri.append(Task(f"mri-{kind}", "mri", f"single-coil MRI, 2-D {kind} variable-density mask, 4x "
                        "(acceleration=)", lambda ctx, p: MRI(p["mask"]),
                        {"acceleration": 4.0, "center": 0.04, "mask": kind}, draw=_mri_draw, random=True,
                        image_measurement=False))
    ct = [Task(f"ct-sparse{v}", "ct", f"parallel-beam CT from {v} views over 180 degrees (views=, arc=)", _ct,
               {"views": v, "arc": 180.0, "detectors": 0}, needs_image_shape=True, image_measurement=False)
          for v in (18, 30, 60)]
    ct.append(Task("ct-limited", "ct", "limited-angle CT: 60 views over 90 degrees (views=, arc=)", _ct,
                   {"views": 60, "arc": 90.0, "detectors": 0}, needs_image_shape=True,
                   image_measurement=False))
    phase = Task("phase-retrieval", "phase", "Fourier phase retrieval |F pad(x)|, oversampling 2 (DPS; "
                 "oversample=)", lambda ctx, p: PhaseRetrieval(ctx.options["oversample"]),
                 {"oversample": 2.0}, image_measurement=False)
    return [*mri, *ct, phase]


def _deblur_tasks() -> list[Task]:
    rcond = {"rcond": None}
    return [
        Task("deblur", "deblur", "deblurring with a given kernel= (spec like 'levin:3', a file or a tensor)",
             _blur,
             rcond, draw=_kernel_draw, takes_kernel=True),
        Task("deblur-gauss", "deblur", "Gaussian deblurring, 61x61 kernel with std 3.0 (size=, std=)", _blur,
             {"size": 61, "std": 3.0, **rcond}, draw=_kernel_draw, takes_kernel=True),
        Task("deblur-aniso", "deblur", "anisotropic Gaussian deblurring, 25x25, stds 4.0/1.5 at 45 degrees "
             "(sigma_x=, ...)", _blur,
             {"size": 25, "sigma_x": 4.0, "sigma_y": 1.5, "theta": math.pi / 4, **rcond},
             draw=_kernel_draw, takes_kernel=True),
        Task("deblur-motion", "deblur", "motion deblurring, random 61x61 shake of intensity 0.5 (or "
             "kernel='levin:3')", _blur, {"size": 61, "intensity": 0.5, **rcond}, draw=_kernel_draw,
             random=True,
             takes_kernel=True),
        Task("deblur-blind", "deblur", "blind deblurring: the kernel, at most size x size (odd), is "
             "estimated with the image (blind solvers only)",
             lambda ctx, params: BlindBlur(ctx.options["size"]), {"size": DEFAULT_BLIND_SIZE}, blind=True),
    ]


def _tasks() -> dict[str, Task]:
    tasks = [Task("denoise", "denoise",
                  "denoising (A = identity; the noise comes from sigma_y / the noise model)",
                  lambda ctx, p: Identity())]
    for s in (2, 3, 4, 8):
        tasks.append(Task(f"sr{s}", "sr", f"x{s} super-resolution, MATLAB bicubic imresize",
                          _sr(s, "bicubic"),
                          scale=s))
    for s in (2, 3, 4):
        extra = " (DiffPIR)" if s == 4 else ""
        tasks.append(Task(f"sr{s}-blur", "sr",
                          f"x{s} SR: blur (USRNet bicubic:{s} kernel, or kernel=) then keep "
                          f"every {s}{'nd' if s == 2 else 'rd' if s == 3 else 'th'} pixel{extra}",
                          _sr(s, "blur"),
                          {"rcond": None}, draw=_kernel_draw, scale=s, takes_kernel=True))
    for s in (2, 4, 8):
        tasks.append(Task(f"sr{s}-pool", "sr", f"x{s} SR by {s}x{s} block averaging"
                          + (" (DDRM/DDNM)" if s < 8 else ""), _sr(s, "pool"), scale=s))
    tasks += [
        *_deblur_tasks(),
        Task("inpaint-box", "inpaint", "inpainting of a centred box, min(128, H/2, W/2) on a side (size=, "
             "center=False: random place)", _mask_task(_box), {"size": 0, "center": True},
             draw=lambda ctx, g: {"mask": _box(ctx, g)}, random=lambda o: not o["center"], inpaint=True),
        Task("inpaint-random", "inpaint",
             "inpainting with 70% of the pixels missing at random (ratio= missing "
             "fraction)", _mask_task(lambda ctx, g: random_mask(ctx.h, ctx.w, ctx.options["ratio"], g)),
             {"ratio": 0.7}, draw=lambda ctx, g: {"mask": random_mask(ctx.h, ctx.w, ctx.options["ratio"], g)},
             random=True, inpaint=True),
        Task("inpaint-lines", "inpaint", "inpainting of random thick scribbles (n_strokes=, width=)",
             _mask_task(lambda ctx, g: _lines(ctx, g)), {"n_strokes": 5, "max_vertices": 6, "width": None},
             draw=lambda ctx, g: {"mask": _lines(ctx, g)}, random=True, inpaint=True),
        Task("inpaint-half", "inpaint", "inpainting of the right half (side='left'|'right'|'top'|'bottom')",
             _mask_task(lambda ctx, g: half_mask(ctx.h, ctx.w, ctx.options["side"])), {"side": "right"},
             inpaint=True),
        Task("inpaint", "inpaint",
             "inpainting with a given mask= (image/.npy file, white = known, or a 0/1 tensor)",
             _mask_task(_given_mask), {"invert": False}, takes_mask=True, inpaint=True),
        Task("colorize", "colorize", "colourisation from the channel mean (weights='luma' for BT.601 luma)",
             _colorize, {"weights": "mean"}, gray_measurement=True),
        Task("cs", "cs", "block compressed sensing, 25% of 32x32 blocks (ratio=, block=, method='wht')", _cs,
             {"ratio": 0.25, "block": 32, "method": "block"}, draw=_cs_draw, random=True,
             needs_image_shape=True),
        Task("jpeg", "jpeg", "JPEG artefact removal, quality 10 (quality=)", _jpeg, {"quality": 10}),
        *_medical_tasks(),
    ]
    return {t.name: t for t in tasks}


def _lines(ctx: TaskArgs, g: torch.Generator | None) -> Tensor:
    o = ctx.options
    return lines_mask(ctx.h, ctx.w, o["n_strokes"], o["max_vertices"], o["width"], g)


_TASKS: Mapping[str, Task] = MappingProxyType(_tasks())


def names() -> list[str]:
    """Every task name, in the order ``restora restore --help`` lists them."""
    return list(_TASKS)


def info(name: str) -> Task:
    """The :class:`Task` called ``name`` (its family, summary, options and operator builder)."""
    if name not in _TASKS:
        raise RestoraError(f"unknown task {name!r}; valid tasks: {', '.join(_TASKS)}")
    return _TASKS[name]


def task_family(task: str) -> str:
    """The family of a task name (``sr``, ``deblur``, ``inpaint``, ``denoise``, ...): what solver
    defaults are chosen by (:func:`restora.solvers.settings`)."""
    return info(task).family


def build_operator(task: str, shape: Sequence[int], *, kernel: Any = None,
                   mask: Tensor | str | Path | None = None, generator: torch.Generator | None = None,
                   **options: Any) -> Operator:
    """The operator of ``task`` (see :func:`names`) for images of ``shape``, its random parts drawn from
    ``generator`` (None: seed 0); extra ``options`` are per task."""
    return info(task).operator(shape, kernel=kernel, mask=mask, generator=generator, **options)
