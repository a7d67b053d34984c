"""Degradation specs shared by ``restora degrade`` and ``restora restore``: ``--task`` / ``--mask`` /
``--kernel`` resolution against a measurement's sidecar (:mod:`restora.cli.sidecar`), and measurement
files (PNG or lossless ``.npy``). What a task is comes from :class:`restora.operators.Task`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from restora.cli.sidecar import Sidecar
from restora.errors import RestoraError
from restora.io import GRAY_MODES, atomic_write, to_model, to_unit
from restora.operators import Operator, Task, load_kernel, tasks
from restora.scales import SCALES

MASK_KINDS = {"box": ("inpaint-box", "size", int), "random": ("inpaint-random", "ratio", float),
              "lines": ("inpaint-lines", "n_strokes", int), "half": ("inpaint-half", "side", str)}
MEASUREMENT_LIMIT = 1e6  # |(y + 1) / 2| in a .npy beyond this is not a measurement of an image
PROBE_SIZE = 192  # divisible by 2, 3, 4, 8 (SR), 32 (CS blocks) and larger than the 61-pixel kernels


def noise_scales(sigma: float) -> dict[str, float]:
    """A [-1, 1]-scale noise std quoted on every scale restora knows."""
    return {scale: sigma / factor for scale, factor in SCALES.items()}


def describe_sigma(sigma: float) -> str:
    s = noise_scales(sigma)
    return f"{sigma:.6g} on the [-1,1] scale (= {s['[0,1]']:.6g} on [0,1], {s['255']:.6g} on 0..255)"


@dataclass
class CliSpec:
    """What the command line says about the degradation (None: not given)."""

    task: str | None = None
    mask: str | None = None
    kernel: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)
    sigma_y: float | None = None  # [-1, 1] scale
    invert_mask: bool = False


@dataclass
class Spec:
    """The degradation of one measurement, ready for :func:`build_operator`."""

    task: str
    options: dict[str, Any]
    kernel: str | None = None  # spec string or file path
    mask: str | None = None  # mask file path (generated masks are tasks inpaint-box/...)
    sigma_y: float = 0.0
    seed: int = 0
    image_shape: tuple[int, ...] | None = None  # (C, H, W) from a sidecar
    source: str = "command line"
    sigma_estimated: bool = False  # sigma_y measured from the measurement (--sigma-y auto)

    @property
    def kind(self) -> Task:
        return tasks.info(self.task)

    def family(self) -> str:
        return self.kind.family

    def draws_random(self) -> bool:
        """Whether the operator is drawn from the seed (masks, kernels, CS matrices)."""
        return self.kind.draws_random(self.options, self.kernel)

    def build(self, x_shape: tuple[int, ...], generator: torch.Generator | None = None) -> Operator:
        gen = generator if generator is not None else torch.Generator().manual_seed(self.seed)
        mask = Path(self.mask) if self.mask is not None else None
        return self.kind.operator(x_shape, kernel=self.kernel, mask=mask, generator=gen, **self.options)

    def shape_of_image(self, y_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """The (1, C, H, W) image a measurement of ``y_shape`` comes from (the sidecar's size if any)."""
        if self.image_shape is not None:
            return (1, *self.image_shape)
        return self.kind.image_shape(y_shape)


def parse_task(task: str | None, mask: str | None, options: dict[str, Any],
               invert_mask: bool = False) -> tuple[str | None, dict[str, Any], str | None]:
    """(task, options, mask file) from ``--task`` / ``--mask``: ``--task inpaint --mask random:0.8``
    is task ``inpaint-random`` with ratio 0.8; ``--mask FILE`` is task ``inpaint`` with that file."""
    options = dict(options)
    if task is not None:
        tasks.info(task)  # raises on an unknown name, listing the valid ones
    if mask is None:
        if task == "inpaint":
            raise RestoraError("--task inpaint needs --mask (box, random:RATIO, lines, half or a mask file)")
        if invert_mask:
            options["invert"] = True
        return task, options, None
    if task is not None and task != "inpaint":
        hint = " (drop --mask, or use --task inpaint)" if tasks.info(task).inpaint else ""
        raise RestoraError(f"--mask goes with --task inpaint, not {task!r}{hint}")
    kind, _, arg = mask.partition(":")
    if kind in MASK_KINDS and not Path(mask).is_file():
        name, key, cast = MASK_KINDS[kind]
        if arg:
            try:
                options[key] = cast(arg)
            except ValueError:
                raise RestoraError(f"--mask {mask}: {arg!r} is not a valid {key}") from None
        return name, options, None
    path = Path(mask).expanduser()
    if not path.is_file():
        raise RestoraError(f"--mask {mask}: no such mask file (or use box[:SIZE], random[:RATIO], "
                           "lines[:N], half[:SIDE])")
    if invert_mask:
        options["invert"] = True
    return "inpaint", options, str(path)


def check_kernel(spec: str | None) -> None:
    """Fail early (exit 2) on a kernel spec or file that cannot be used."""
    if spec is not None:
        load_kernel(spec, generator=torch.Generator().manual_seed(0))


def probe_operator(spec: Spec) -> tuple[Operator, tuple[int, int, int, int]]:
    """The task's operator on a stand-in image (and that image's shape), to validate options and
    check solver compatibility before any image or model is loaded."""
    size = PROBE_SIZE
    if spec.kernel is not None:
        k = load_kernel(spec.kernel, generator=torch.Generator().manual_seed(0))
        size = max(size, math.ceil((max(k.shape) + 1) / 96) * 96)
    shape = (1, 3, size, size)
    mask = torch.ones(size, size) if spec.kind.takes_mask else None
    opts = {k: v for k, v in spec.options.items() if not (spec.kind.takes_mask and k == "invert")}
    op = spec.kind.operator(shape, kernel=spec.kernel, mask=mask, generator=torch.Generator().manual_seed(0),
                            **opts)
    return op, shape


def check_mask_file(mask: str | None) -> None:
    """Fail early (exit 2) on a --mask file that cannot be read; its size is checked per image."""
    if mask is None or mask.partition(":")[0] in MASK_KINDS or not Path(mask).expanduser().is_file():
        return
    path = Path(mask).expanduser()
    try:
        if path.suffix.lower() == ".npy":
            np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(path) as im:
                im.load()
    except Exception as exc:
        raise RestoraError(f"cannot read mask file {path}: {exc}") from exc


# ------------------------------------------------------------------------------------- sidecars


def resolve(cli: CliSpec, sidecar: Sidecar | None, folder: Path, seed: int) -> Spec:
    """Merge the command line with a measurement's sidecar: every field given on the command line
    wins; the rest comes from the sidecar. ``seed`` is the per-image seed used when there is no
    sidecar (the sidecar's own seed otherwise, so that operators drawn at random are redrawn)."""
    task, options, mask = parse_task(cli.task, cli.mask, cli.task_options, cli.invert_mask)
    kernel = cli.kernel
    same_task = sidecar is not None and (task is None or task == sidecar.task)
    if sidecar is not None:
        if same_task:
            task = sidecar.task
            options = {**sidecar.task_options, **options}
        if kernel is None and sidecar.kernel and tasks.info(task).takes_kernel:
            kernel = str(folder / sidecar.kernel)
        if mask is None and sidecar.mask and tasks.info(task).inpaint and cli.mask is None:
            # the saved mask describes the missing pixels of this very measurement
            mask, task, options = str(folder / sidecar.mask), "inpaint", {}  # saved white = known
        seed = sidecar.seed
    if task is None:
        raise RestoraError("no --task given and no sidecar JSON (from restora degrade) next to it; "
                           "pass --task")
    if cli.sigma_y is not None:
        sigma = cli.sigma_y
    else:
        sigma = float(sidecar.sigma_y) if sidecar is not None else 0.0
    shape = tuple(int(v) for v in sidecar.image_shape) if same_task and sidecar.image_shape else None
    return Spec(task=task, options=options, kernel=kernel, mask=mask, sigma_y=sigma, seed=seed,
                image_shape=shape, source="sidecar" if sidecar is not None else "command line")


# ------------------------------------------------------------------------------------- files


def file_channels(path: Path) -> int | None:
    """Channels of an image file as stored (1 gray, 3 colour), None for arrays and unreadable files."""
    if path.suffix.lower() == ".npy":
        return None
    try:
        return _image_header(path)[2]
    except RestoraError:
        return None


def _image_header(path: Path) -> tuple[int, int, int]:
    """(height, width, channels as stored) of an image file, from its header alone."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            return h, w, 1 if im.mode in GRAY_MODES else 3
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise RestoraError(f"cannot read image {path}: {exc}") from exc


def peek_shape(path: Path, channels: int, keep_gray: bool = False) -> tuple[int, int, int, int]:
    """(1, C, H, W) of a measurement file without decoding it: C from ``channels`` for images, or 1 for a
    gray image with ``keep_gray`` (a gray photo restored with a colour prior stays gray)."""
    if not path.is_file():
        raise RestoraError(f"no such file: {path}")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise RestoraError(f"cannot read {path}: {exc}") from exc
        return _npy_shape(arr.shape, path)
    h, w, stored = _image_header(path)
    return (1, 1 if keep_gray and stored == 1 else channels, h, w)


def _npy_shape(shape: tuple[int, ...], path: Path) -> tuple[int, int, int, int]:
    if len(shape) == 2:
        return (1, 1, *shape)
    if len(shape) == 3:
        return (1, *shape)
    if len(shape) == 4 and shape[0] == 1:
        return tuple(shape)
    raise RestoraError(f"{path}: a measurement array must be (H, W), (C, H, W) or (1, C, H, W), got {shape}")


def read_measurement(path: Path, channels: int) -> Tensor:
    """A measurement as a (1, C, H, W) float32 (complex64 for k-space) tensor on the [-1, 1] scale. Images
    are read like any image (gray/RGB converted to ``channels``); ``.npy`` arrays hold (y + 1) / 2
    unclipped."""
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise RestoraError(f"cannot read {path}: {exc}") from exc
        if not any(np.issubdtype(arr.dtype, k) for k in (np.floating, np.complexfloating)):
            raise RestoraError(f"{path}: expected a float (or complex k-space) array of (y + 1) / 2, got "
                               f"dtype {arr.dtype}: save 8-bit images as PNG, or the array as float32 in "
                               "[0, 1]")
        kind = np.complex64 if np.iscomplexobj(arr) else np.float32
        y = torch.from_numpy(np.ascontiguousarray(arr, dtype=kind)).reshape(_npy_shape(arr.shape, path))
        if not torch.isfinite(y).all():
            raise RestoraError(f"{path} contains NaN or infinite values")
        if float(y.abs().max()) > MEASUREMENT_LIMIT:
            top = float(y.abs().max())
            raise RestoraError(f"{path} holds values up to {top:.3g}: no measurement of an image in [-1, 1] "
                               f"reaches +-{MEASUREMENT_LIMIT:g} (sinograms, k-space included)")
        return to_model(y)
    from restora.io import read_image

    return to_model(read_image(path, channels=channels))


IMAGE_RANGE = (-5.0, 6.0)
"""Values of (y + 1) / 2 an image-like measurement can hold: [0, 1] plus noise up to the largest sigma_y."""


def check_image_range(y: Tensor, path: Path) -> None:
    """An image-like measurement (blurred, downsampled, masked, noisy) on the [0, 1] scale lies within
    :data:`IMAGE_RANGE`; values beyond it are another scale (0..255, or scaled arrays), not a measurement."""
    low, high = (float(y.min()) + 1) / 2, (float(y.max()) + 1) / 2
    if low < IMAGE_RANGE[0] or high > IMAGE_RANGE[1]:
        raise RestoraError(f"{path}: values {low:.4g} .. {high:.4g} on the [0, 1] scale are not an "
                           "image's: a .npy measurement holds (y + 1) / 2 as restora degrade --save-tensor "
                           "writes it (rescale it to [0, 1])")


def save_array(arr: np.ndarray, path: Path) -> Path:
    """np.save through a temporary file in the same folder and a rename."""
    with atomic_write(path) as tmp, tmp.open("wb") as f:
        np.save(f, arr)
    return path


def save_measurement_array(y: Tensor, path: Path) -> Path:
    """Lossless (y + 1) / 2 of one image as a float32 (complex64 for k-space) (C, H, W) .npy, written
    atomically."""
    y = y.detach().cpu()[0]
    y = y.to(torch.complex64) if y.is_complex() else y.float()
    return save_array(to_unit(y).numpy(), path)


def is_image_like(y_shape: tuple[int, ...]) -> bool:
    """Whether a measurement can be stored as an image file (1 or 3 channels)."""
    return len(y_shape) == 4 and y_shape[1] in (1, 3)
