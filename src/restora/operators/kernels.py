"""Blur kernels: analytic Gaussians, bundled real kernels, a random camera-shake generator, loading.

Every function returns a float32 2-D CPU tensor that sums to 1. Kernels are used with the origin
at index ``(size // 2, size // 2)`` (see :mod:`restora.operators.blur`); analytic kernels are centred
at ``(size - 1) / 2``, which is the same pixel for odd sizes (use odd sizes to avoid a half-pixel shift).

Bundled data (``restora/data/kernels``, see its README for credits): Levin et al. CVPR 2009 motion
kernels, the 12 IRCNN kernels (Zhang et al. CVPR 2017) and the USRNet bicubic kernels (Zhang et al.
CVPR 2020).
"""

from __future__ import annotations

import cmath
import math
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import default_generator, rand

KernelLike = Tensor | np.ndarray | str | Path

_BUNDLED = {"levin": ("levin09_motion.npz", "k{}", range(1, 9)),
            "k12": ("kernels_12.npz", "k{:02d}", range(1, 13)),
            "bicubic": ("bicubic_x234.npz", "x{}", range(2, 5))}


def validate_kernel(kernel: Tensor | np.ndarray, name: str = "kernel") -> Tensor:
    """Check a kernel (2-D, finite, sums to 1 within 1e-3) and return it renormalised, float64 CPU."""
    k = torch.as_tensor(np.asarray(kernel.detach().cpu() if isinstance(kernel, Tensor) else kernel))
    if not (k.is_floating_point() or k.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise RestoraError(f"{name} must be a real array, got dtype {k.dtype}")
    k = k.to(torch.float64)
    if k.ndim != 2 or k.numel() == 0:
        raise RestoraError(f"{name} must be a non-empty 2-D array, got shape {tuple(k.shape)}; "
                           "squeeze singleton dimensions or pass one kernel at a time")
    if not torch.isfinite(k).all():
        raise RestoraError(f"{name} contains NaN or infinite values; fix or regenerate the kernel")
    total = float(k.sum())
    if not total > 0:
        raise RestoraError(f"{name} sums to {total:.4g}; a blur kernel must have a positive sum "
                           "(normalise it with k / k.sum())")
    if abs(total - 1.0) > 1e-3:
        raise RestoraError(f"{name} sums to {total:.6g}, not 1 (tolerance 1e-3); normalise it with "
                           "k / k.sum() before use")
    return k / total


def gaussian_kernel(size: int = 61, std: float = 3.0) -> Tensor:
    """Isotropic Gaussian of ``std`` pixels on a ``size`` x ``size`` grid (DPS/DiffPIR: 61, 3.0)."""
    return anisotropic_gaussian_kernel(size, std, std, 0.0)


def anisotropic_gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float = 0.0) -> Tensor:
    """Gaussian with std ``sigma_x`` along an axis at angle ``theta`` (radians, counter-clockwise from
    the image x axis) and ``sigma_y`` across it, on a ``size`` x ``size`` grid."""
    size = int(size)
    if size < 1:
        raise RestoraError(f"kernel size must be >= 1, got {size}")
    if not (sigma_x > 0 and sigma_y > 0 and math.isfinite(sigma_x) and math.isfinite(sigma_y)):
        raise RestoraError(f"Gaussian stds must be finite and > 0, got {sigma_x}, {sigma_y}")
    c = (size - 1) / 2
    t = torch.arange(size, dtype=torch.float64) - c
    yy, xx = torch.meshgrid(-t, t, indexing="ij")  # y axis points up so theta is counter-clockwise
    ct, st = math.cos(theta), math.sin(theta)
    u = ct * xx + st * yy
    v = -st * xx + ct * yy
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (k / k.sum()).to(torch.float32)


def _bundled(family: str, index: int) -> Tensor:
    fname, pattern, valid = _BUNDLED[family]
    if index not in valid:
        raise RestoraError(f"{family} kernel index must be in {valid.start}..{valid.stop - 1}, got {index}")
    with resources.as_file(resources.files("restora") / "data" / "kernels" / fname) as path, \
            np.load(path) as data:
        arr = data[pattern.format(index)]
    return validate_kernel(arr, f"{family}:{index}").to(torch.float32)


def levin_kernel(i: int) -> Tensor:
    """Real camera-shake kernel ``i`` (1..8) of Levin et al. CVPR 2009."""
    return _bundled("levin", int(i))


def kernel12(i: int) -> Tensor:
    """Kernel ``i`` (1..12) of the IRCNN set (Zhang et al. CVPR 2017): 1-8 motion, 9-12 Gaussian."""
    return _bundled("k12", int(i))


def bicubic_kernel(scale: int) -> Tensor:
    """USRNet 25x25 kernel (scale 2, 3 or 4) emulating MATLAB bicubic downsampling by blur+decimate."""
    return _bundled("bicubic", int(scale))


def motion_kernel(size: int = 61, intensity: float = 0.5, generator: torch.Generator | None = None,
                  steps: int = 512) -> Tensor:
    """Random camera-shake kernel: a 2-D trajectory in the spirit of Boracchi & Foi (TIP 2012).

    The velocity has a fixed speed and a direction perturbed by Gaussian jitter, pulled back towards
    the start (centripetal term) and flipped by rare abrupt shakes, and the speed drifts (slow phases
    give brighter parts); ``intensity`` in [0, 1] sets the typical path length (20% to 80% of ``size``)
    and the amount of jitter and shakes. The trajectory is
    rasterised with bilinear splatting, its centre of mass put at the kernel origin (no image shift),
    and normalised to sum 1. Deterministic given ``generator`` (None: a generator seeded with 0).
    """
    size, steps = int(size), int(steps)
    if size < 3:
        raise RestoraError(f"motion kernel size must be >= 3, got {size}")
    if not 0.0 <= intensity <= 1.0:
        raise RestoraError(f"motion kernel intensity must be in [0, 1], got {intensity}")
    g = default_generator(generator)
    params = rand((4,), g).tolist()
    uniforms = rand((steps,), g).tolist()
    shakes = rand((steps,), g).tolist()
    noise = rand((steps, 2), g, normal=True).tolist()
    length = (0.2 + 0.6 * intensity) * (size - 1)
    dt = length / steps
    diffusion = (0.01 + 0.1 * intensity) * (0.5 + params[0])  # direction variance per pixel (rad^2)
    centripetal = 0.7 * params[1]
    shake_prob = 2.0 * intensity * params[2] / steps  # about 2 * intensity abrupt shakes at most
    v = cmath.exp(2j * math.pi * params[3])
    p = 0j
    log_speed = 0.0  # slow phases dwell longer and make brighter parts of the kernel
    points = [p]
    for t in range(steps - 1):
        turn = math.sqrt(diffusion * dt) * noise[t][0]
        log_speed = min(max(log_speed + math.sqrt(0.1 * dt) * noise[t][1], -1.5), 1.5)
        if shakes[t] < shake_prob:  # abrupt shake: a near reversal of the direction
            turn += math.pi + (uniforms[t] - 0.5)
        v = v * cmath.exp(1j * turn) - 2.0 * centripetal * p * dt / length**2
        v = v / max(abs(v), 1e-12)
        p = p + dt * math.exp(log_speed) * v
        points.append(p)
    pts = torch.tensor([[z.imag, z.real] for z in points], dtype=torch.float64)  # (row, col)
    arc = (pts[1:] - pts[:-1]).norm(dim=1).sum().item()
    pts = (pts - pts.mean(0)) * (length / max(arc, 1e-12))  # the drifting speed must not change the length
    reach, room = pts.abs().max().item(), size // 2 - 1  # keep the centre of mass at the origin
    if reach > room:
        pts = pts * (room / reach)
    pts = pts + size // 2
    base = pts.floor()
    frac = pts - base
    base = base.long()
    k = torch.zeros(size, size, dtype=torch.float64)
    for dr in (0, 1):
        for dc in (0, 1):
            w = (frac[:, 0] if dr else 1 - frac[:, 0]) * (frac[:, 1] if dc else 1 - frac[:, 1])
            k.index_put_((base[:, 0] + dr, base[:, 1] + dc), w, accumulate=True)
    return (k / k.sum()).to(torch.float32)


MOTION_SHARE = 0.8  # random_kernel: camera shakes; the rest anisotropic Gaussians (defocus, lens blur)


def random_kernel(size: int, generator: torch.Generator | None = None) -> Tensor:
    """A random blur kernel on a ``size`` x ``size`` grid (odd), the training distribution of restora's
    kernel prior: with probability 0.8 a camera shake (:func:`motion_kernel`, intensity uniform in [0, 1]:
    at size 31, extents of 6 to 24 pixels), else an anisotropic Gaussian (stds uniform in [0.5, size / 8]
    pixels, orientation uniform). Never the Levin09 kernels (a test set)."""
    size = int(size)
    if size < 3 or size % 2 == 0:
        raise RestoraError(f"random kernel size must be odd and >= 3, got {size}")
    g = default_generator(generator)
    pick, intensity, sx, sy, theta = rand((5,), g).tolist()
    if pick < MOTION_SHARE:
        return motion_kernel(size, intensity, g)
    top = max(0.5, size / 8)
    return anisotropic_gaussian_kernel(size, 0.5 + sx * (top - 0.5), 0.5 + sy * (top - 0.5), math.pi * theta)


def random_shake(size: int, generator: torch.Generator | None = None, min_intensity: float = 0.3) -> Tensor:
    """A camera shake (:func:`motion_kernel`) of intensity uniform in [``min_intensity``, 1]: the test
    shakes of the blind benchmarks, without :func:`random_kernel`'s nearly-point blurs."""
    g = default_generator(generator)
    u = float(torch.rand(1, generator=g, device=g.device))  # float32, as the committed records drew it
    return motion_kernel(size, min_intensity + (1 - min_intensity) * u, g)


def kernel_to_image(k: Tensor) -> Tensor:
    """Kernels (..., s, s) as images in [-1, 1] for a diffusion prior: peak-normalised, 2 k / max k - 1
    (background -1), the scale BlindDPS trains its kernel prior on."""
    peak = k.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return 2 * k.clamp_min(0) / peak - 1


def image_to_kernel(z: Tensor) -> Tensor:
    """The kernels (..., s, s) an image of :func:`kernel_to_image` stands for: (z + 1) / 2 made
    non-negative, each summing to 1 (an all-background image: the identity)."""
    k = ((z + 1) / 2).clamp_min(0)
    total = k.sum(dim=(-2, -1), keepdim=True)
    delta = torch.zeros_like(k)
    delta[..., k.shape[-2] // 2, k.shape[-1] // 2] = 1
    return torch.where(total > 1e-12, k / total.clamp_min(1e-12), delta)


def _read_file_kernel(path: Path, key: str | None) -> Tensor:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise RestoraError(f"kernel file not found: {path}")
    try:
        if suffix == ".npy":
            return validate_kernel(np.load(path), str(path))
        if suffix == ".npz":
            with np.load(path) as data:
                if key is None:
                    if len(data.files) != 1:
                        raise RestoraError(f"{path} holds {len(data.files)} arrays {data.files}; "
                                           f"choose one with '{path}:key=NAME'")
                    key = data.files[0]
                if key not in data.files:
                    raise RestoraError(f"{path} has no array {key!r}; it holds {data.files}")
                return validate_kernel(data[key], f"{path}:{key}")
        if suffix in (".txt", ".csv"):
            return validate_kernel(np.loadtxt(path, delimiter="," if suffix == ".csv" else None,
                                              ndmin=2), str(path))
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("F"), dtype=np.float64)
        except (UnidentifiedImageError, OSError) as exc:
            raise RestoraError(f"cannot read kernel {path}: use .npy, .npz, .txt or an image file") from exc
        if not arr.sum() > 0:
            raise RestoraError(f"kernel image {path} is all black; it needs positive pixels")
        return validate_kernel(arr / arr.sum(), str(path))
    except (OSError, ValueError) as exc:
        if isinstance(exc, RestoraError):
            raise
        raise RestoraError(f"cannot read kernel file {path}: {exc}") from exc


def kernel_is_random(spec: KernelLike | None) -> bool:
    """Whether ``load_kernel(spec, generator=g)`` draws from ``g``: a ``motion:`` spec without a SEED."""
    return isinstance(spec, str) and spec.lower().startswith("motion:") and spec.count(":") < 3


def load_kernel(spec: KernelLike, *, key: str | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """A validated float32 kernel from a tensor/array, a spec string or a file.

    Specs: ``levin:I`` (1..8), ``k12:I`` (1..12), ``bicubic:S`` (2, 3, 4), ``gauss:SIZE:STD``,
    ``aniso:SIZE:SIGMA_X:SIGMA_Y:THETA`` (radians), ``motion:SIZE:INTENSITY[:SEED]`` (no seed:
    ``generator``, else seed 0). Files: ``.npy``, ``.npz`` (a single array, or ``path.npz:key=NAME`` /
    ``key=``), ``.txt``/``.csv`` (whitespace/comma separated), or an image (normalised to sum 1).
    """
    if isinstance(spec, (Tensor, np.ndarray)):
        return validate_kernel(spec).to(torch.float32)
    if not isinstance(spec, (str, Path)):
        raise RestoraError(f"kernel must be a tensor, an array, a spec string or a path, got {type(spec)}")
    text = str(spec)
    if isinstance(spec, str) and ":key=" in text:
        text, key = text.rsplit(":key=", 1)
    head, _, rest = text.partition(":")
    fields = rest.split(":") if rest else []
    family = head.lower()
    families = ("levin", "k12", "bicubic", "gauss", "aniso", "motion")
    if family in families and not Path(text).exists():
        try:
            if family in _BUNDLED:
                if len(fields) != 1:
                    raise ValueError
                return _bundled(family, int(fields[0]))
            nums = [float(f) for f in fields]
            if family == "gauss" and len(nums) == 2:
                return gaussian_kernel(int(nums[0]), nums[1])
            if family == "aniso" and len(nums) in (3, 4):
                return anisotropic_gaussian_kernel(int(nums[0]), *nums[1:])
            if family == "motion" and len(nums) in (1, 2, 3):
                gen = torch.Generator().manual_seed(int(nums[2])) if len(nums) == 3 else generator
                return motion_kernel(int(nums[0]), nums[1] if len(nums) > 1 else 0.5, gen)
        except ValueError as exc:
            if isinstance(exc, RestoraError):
                raise
        raise RestoraError(
            f"bad kernel spec {text!r}; use levin:1..8, k12:1..12, bicubic:2..4, gauss:SIZE:STD, "
            "aniso:SIZE:SX:SY[:THETA], motion:SIZE[:INTENSITY[:SEED]] or a file path"
        )
    return _read_file_kernel(Path(text), key).to(torch.float32)
