"""What `restora restore` writes: restored images (only finite, non-degenerate ones), their spread,
grids and intermediate strips, one summary row per input, the summary CSV and run.json."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from restora.cli.files import is_complete_image, write_text_atomic
from restora.cli.log import LOG, one_line
from restora.cli.specs import save_array, save_measurement_array
from restora.errors import RestoraError
from restora.io import atomic_write, save_image, to_unit, write_image
from restora.metrics import noise_std
from restora.pictures import as_unit, kernel_view, side_by_side, strip

ROW_FIELDS = ("index", "file", "output", "status", "task", "solver", "prior", "steps", "nfe", "seconds",
              "samples", "sigma_y", "sigma_y_estimated", "seed", "batch_size", "tile", "psnr", "ssim",
              "psnr_y", "ssim_y", "error")
METRICS = ("psnr", "ssim", "psnr_y", "ssim_y")
INTERMEDIATE_FRAMES = 8
THUMB_WIDTH = 128
STD_GAIN = 4  # OUT/std/NAME.png shows 4 x the per-pixel std on the [0, 1] scale (white: std >= 0.25)
GRID_MIN_WIDTH = 160
FLAT = 1e-6  # a range of values below this on [-1, 1] is a constant image
RANGE_LIMIT = 2.0  # |x| beyond this on [-1, 1] ([-0.5, 1.5] on [0, 1]) is far outside the image range
OUTSIDE_FRACTION = 1e-3  # more of the values than this beyond RANGE_LIMIT: the solver blew up
NOISE_FLOOR, NOISE_GAIN = 0.2, 3.0  # noisier than both (std on [-1, 1]; clean photos reach 0.1): amplified


def output_paths(out: Path, stem: str, *, tensor: bool, grid: bool, samples: int,
                 intermediate: bool, kernel: bool = False) -> list[Path]:
    """Every file a restored input may write (to check them against the files the run reads)."""
    paths = [out / f"{stem}.png"]
    if kernel:
        paths += [out / "kernel" / f"{stem}.png", out / "kernel" / f"{stem}.npy"]
    if tensor:
        paths.append(out / f"{stem}.npy")
    if grid:
        paths.append(out / "grid" / f"{stem}.png")
    if samples > 1:
        paths += [out / "std" / f"{stem}.png", out / "std" / f"{stem}.npy"]
    if intermediate:
        paths.append(out / "intermediate" / f"{stem}.png")
    return paths


def restoration_problem(x: Tensor, y: Tensor, initial: Tensor | None = None,
                        sigma_y: float = 0.0) -> str | None:
    """Why a restoration must not be written or counted as done, else None: values that are not finite
    (the solver diverged); an image that is constant once clipped to [-1, 1] (as it is written) from a
    measurement that is not constant; values far outside the image range (beyond [-0.5, 1.5] on [0, 1],
    on more than a few pixels: a solver that blew up, e.g. too few steps); or an image much noisier
    than the cheap ``initial`` estimate of the measurement and than its noise level ``sigma_y`` (noise
    amplified instead of removed)."""
    if not bool(torch.isfinite(x).all()):
        return "the restoration is not finite (NaN or infinite values: the solver diverged); nothing written"
    shown, y = x.clamp(-1, 1), y.abs() if y.is_complex() else y
    if float(shown.amax() - shown.amin()) < FLAT <= float(y.amax() - y.amin()):
        return "the restoration is a constant image although the measurement is not; nothing written"
    outside = float((x.abs() > RANGE_LIMIT).float().mean())
    if outside > OUTSIDE_FRACTION:
        return (f"the restoration left the image range: {100 * outside:.1f}% of its values lie beyond "
                f"[{(1 - RANGE_LIMIT) / 2:g}, {(1 + RANGE_LIMIT) / 2:g}] on the [0, 1] scale (values "
                f"{(float(x.min()) + 1) / 2:.3g} .. {(float(x.max()) + 1) / 2:.3g}): the solver blew up; "
                "use more --steps or the solver's default settings; nothing written")
    if initial is not None and min(x.shape[-2:]) >= 3:
        noise = float(noise_std(shown[None] if shown.ndim == 3 else shown)[0])
        given = max(sigma_y, float(noise_std(initial[None] if initial.ndim == 3 else initial)[0]))
        if noise > max(NOISE_FLOOR, NOISE_GAIN * given):
            return (f"the restoration is noisier than its measurement (estimated noise std {noise / 2:.3g} "
                    f"on [0, 1] against {given / 2:.3g} in the measurement): the solver amplified the "
                    "noise; use more --steps or the solver's default settings; nothing written")
    return None


def thumb(x0: Tensor) -> Tensor:
    """Small [0, 1] copies of a batch of x0 estimates (for the intermediate strip)."""
    x = to_unit(x0.detach().float(), clip=True).cpu()
    h, w = x.shape[-2:]
    if w > THUMB_WIDTH:
        x = torch.nn.functional.interpolate(x, size=(max(1, round(h * THUMB_WIDTH / w)), THUMB_WIDTH),
                                            mode="area")
    return x


def write_restoration(x: Tensor, spread: Tensor | None, output: Path, *, tensor: bool) -> Tensor:
    """The files that go with OUT/NAME.png for one image: OUT/NAME.npy and OUT/std/NAME.png (and .npy);
    returns the [0, 1] image for OUT/NAME.png itself, which the caller writes last (:func:`final_image`),
    so that an input counts as done only once everything it writes is there."""
    if tensor:
        save_measurement_array(x, output.with_suffix(".npy"))
    if spread is not None:
        std_png = output.parent / "std" / output.name
        write_image((STD_GAIN * spread.mean(1, keepdim=True)).clamp(0, 1), std_png)
        if tensor:
            save_array(spread[0].numpy(), std_png.with_suffix(".npy"))
    return as_unit(x)


KERNEL_VIEW = 256  # pixels on a side of the kernel picture (nearest-neighbour enlargement)


def write_kernel(kernel: Tensor, output: Path) -> None:
    """OUT/kernel/NAME.npy (the estimated kernel, float32, sums to 1) and OUT/kernel/NAME.png (it scaled to
    its peak and enlarged, to look at)."""
    folder = output.parent / "kernel"
    save_array(kernel.float().numpy(), folder / f"{output.stem}.npy")
    side = kernel.shape[-1] * max(1, KERNEL_VIEW // kernel.shape[-1])
    write_image(kernel_view(kernel, side), folder / f"{output.stem}.png")


@contextmanager
def final_image(image: Tensor, output: Path) -> Iterator[Path]:
    """Write ``image`` (the restoration) to a temporary file beside ``output`` and yield its path (to score
    it and draw the grid from it); it becomes ``output`` only when the block succeeds."""
    with atomic_write(output) as tmp:
        save_image(image, tmp, output.suffix)
        yield tmp


def is_complete_output(path: Path) -> bool:
    """Whether an output file of a run is finished: an image that decodes, or a .npy array that loads."""
    if path.suffix.lower() != ".npy":
        return is_complete_image(path)
    try:
        np.load(path, mmap_mode="r", allow_pickle=False)
        return True
    except (OSError, ValueError):
        return False


def score(output: Path, reference: Path | None, crop_border: int, name: str) -> dict[str, Any]:
    """PSNR / SSIM (RGB and Y) of a written output against its reference, as `restora eval` scores them;
    {} (and a warning) when they cannot be compared."""
    from restora.metrics import evaluate_pair

    if reference is None:
        return {}
    try:
        scores = evaluate_pair(output, reference, crop_border=crop_border)
    except RestoraError as exc:
        LOG.warning(f"{name}: no metrics: {one_line(exc)}")
        return {}
    return {k: scores[k] for k in METRICS}


def write_grid(shown: Tensor, label: str, restored: Tensor, ref: Path | None, psnr: float | None,
               solver: str, path: Path) -> None:
    """OUT/grid/NAME.png: measurement | restored (with PSNR) | reference, labelled."""
    from restora.io import read_image

    images, labels = [shown, restored], [label, f"{solver}{f' {psnr:.2f} dB' if psnr is not None else ''}"]
    if ref is not None:
        images.append(read_image(ref))
        labels.append("reference")
    width = max(int(i.shape[-1]) for i in images)
    if width < GRID_MIN_WIDTH:  # small images: enlarge (nearest) so that the labels fit under them
        factor = -(-GRID_MIN_WIDTH // width)
        images = [torch.nn.functional.interpolate(i.float(), scale_factor=factor, mode="nearest")
                  for i in images]
    write_image(side_by_side(images, labels), path)


def write_strip(frames: list[tuple[int, Tensor]], i: int, path: Path) -> None:
    """OUT/intermediate/NAME.png: the x0 estimates of image ``i`` at ~8 evenly spaced NFEs."""
    last, n = len(frames) - 1, INTERMEDIATE_FRAMES
    pick = sorted({round(k * last / (n - 1)) for k in range(n)})
    write_image(strip([frames[k][1][i:i + 1] for k in pick], [f"NFE {frames[k][0]}" for k in pick]), path)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ROW_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in sorted(rows, key=lambda r: r["index"]):
        w.writerow({k: _fmt(r.get(k)) for k in ROW_FIELDS})
    write_text_atomic(path, buf.getvalue())


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def read_rows(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["index"] = int(r["index"])
    return rows


def with_earlier_rows(path: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` and the rows of the summary already at ``path`` for inputs this run did not touch: a second
    run into one folder adds to its summary instead of replacing it."""
    try:
        earlier = read_rows(path)
    except (OSError, ValueError, KeyError, csv.Error):
        return rows
    files = {str(r["file"]) for r in rows}
    return [*(r for r in earlier if r.get("file") not in files), *rows]


def append_record(path: Path, record: dict[str, Any]) -> None:
    """One line of JSON per run, appended (the history of a folder; run.json is the latest run)."""
    with open(path, "a") as f:
        f.write(json.dumps(record, default=str) + "\n")


def previous_rows(out: Path) -> dict[str, dict[str, Any]]:
    """The finished rows of the run being resumed, by input file ({} without a readable summary)."""
    try:
        return {r["file"]: r for r in read_rows(out / "summary.csv") if r.get("status") == "ok"}
    except (OSError, ValueError, KeyError, csv.Error):
        return {}
