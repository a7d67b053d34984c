"""Measurement sets that every run reproduces exactly: test images and crops, benchmark tasks with their
per-image kernels and masks, and the seeds of their measurement noise."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

import restora
from restora.experiments.speed import cpu_name
from restora.io import list_images, read_image, to_model
from restora.operators import Inpaint, Operator, build_operator
from restora.priors.registry import BUNDLED_FILE
from restora.train import split_paths


def data_root() -> Path:
    """The shared data folder: ``RESTORA_DATA``, else ``../shared/data`` beside the repository."""
    beside = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return Path(os.environ.get("RESTORA_DATA") or beside)


@dataclass(frozen=True)
class BenchmarkTask:
    """A task name of :func:`~restora.operators.build_operator` measured image by image: per-image Levin
    kernels or masks, operators seeded by image index, so every run measures the same y for an image."""

    name: str
    task: str
    family: str  # sr / deblur / inpaint / ...: selects the solver settings
    kernel_per_image: bool = False  # Levin kernel (index % 8) + 1
    mask_per_image: bool = False

    def groups(self, n: int, batch: int) -> list[list[int]]:
        """Image indices that can share one (batched) operator, at most ``batch`` per group."""
        keys = [i % 8 if self.kernel_per_image else 0 for i in range(n)]
        out = []
        for key in dict.fromkeys(keys):
            idx = [i for i in range(n) if keys[i] == key]
            out += [idx[b : b + batch] for b in range(0, len(idx), batch)]
        return out

    def operator(self, indices: list[int], shape: torch.Size) -> Operator:
        """One operator for the images ``indices`` (per-image masks are stacked along the batch)."""
        gen = torch.Generator().manual_seed(1000 + indices[0])
        if self.mask_per_image:
            masks = [build_operator(self.task, shape, generator=torch.Generator().manual_seed(1000 + i)).mask
                     for i in indices]
            return Inpaint(torch.cat(masks))
        kernel = f"levin:{indices[0] % 8 + 1}" if self.kernel_per_image else None
        return build_operator(self.task, shape, kernel=kernel, generator=gen)

    def measurements(self, x: Tensor, sigma_y: float, batch: int,
                     seed: Callable[[list[int]], int]) -> list[tuple[Operator, list[int], Tensor]]:
        """(operator, image indices, y) for each group of at most ``batch`` images of ``x`` that share an
        operator; ``seed(indices)`` seeds that group's measurement noise."""
        out = []
        for idx in self.groups(len(x), batch):
            op = self.operator(idx, x[idx].shape)
            out.append((op, idx, op.measure(x[idx], sigma_y, torch.Generator().manual_seed(seed(idx)))))
        return out


BENCHMARK_TASKS = {
    "sr4": BenchmarkTask("sr4", "sr4", "sr"),
    "deblur-gauss": BenchmarkTask("deblur-gauss", "deblur-gauss", "deblur"),
    "deblur-levin": BenchmarkTask("deblur-levin", "deblur", "deblur", kernel_per_image=True),
    "inpaint-box": BenchmarkTask("inpaint-box", "inpaint-box", "inpaint"),
    "inpaint-random": BenchmarkTask("inpaint-random", "inpaint-random", "inpaint", mask_per_image=True),
    # medical and non-linear tasks (gray images); one mask / geometry for the batch
    "mri4": BenchmarkTask("mri4", "mri4", "mri"),
    "ct-sparse30": BenchmarkTask("ct-sparse30", "ct-sparse30", "ct"),
    "phase-retrieval": BenchmarkTask("phase-retrieval", "phase-retrieval", "phase"),
    # the other families a solver may be given (tuning chooses their settings too)
    "denoise": BenchmarkTask("denoise", "denoise", "denoise"),
    "colorize": BenchmarkTask("colorize", "colorize", "colorize"),
    "cs": BenchmarkTask("cs", "cs", "cs"),
    "jpeg": BenchmarkTask("jpeg", "jpeg", "jpeg"),
}


def centre_crop(img: Tensor, size: int) -> Tensor:
    """The centre ``size`` x ``size`` crop."""
    h, w = img.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return img[..., top : top + size, left : left + size]


def centre_crops(folder: Path, size: int, limit: int | None, channels: int = 3) -> list[tuple[str, Tensor]]:
    """(name, image in [-1, 1]) for the centre ``size`` crops of the first ``limit`` images (sorted by
    name) that are large enough."""
    out = []
    for path in list_images(folder)[:limit]:
        img = read_image(path, channels=channels)
        if min(img.shape[-2:]) >= size:
            out.append((path.stem, to_model(centre_crop(img, size))))
    return out


def held_out(limit: int, size: int, channels: int = 3, holdout_every: int = 10) -> Tensor:
    """Centre crops of the first ``limit`` images that ``restora train`` holds out of the training set
    (every ``holdout_every``-th): where settings are tuned, never on a test set. In [-1, 1]."""
    _, val = split_paths([str(data_root() / "train" / "natural")], holdout_every)
    return torch.cat([to_model(centre_crop(read_image(path, channels=channels), size))
                      for path in val[:limit]])


def phantom(size: int) -> Tensor:
    """The Shepp-Logan phantom (scikit-image's 400x400 copy), anti-aliased to ``size``, in [-1, 1]."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    img = resize(shepp_logan_phantom(), (size, size), anti_aliasing=True)
    return to_model(torch.from_numpy(img).float().clamp(0, 1)[None, None])


def mean_sem(scores: list[float]) -> tuple[float, float]:
    """Mean of per-seed scores and its standard error (0 for a single seed)."""
    mean = sum(scores) / len(scores)
    return mean, (sum((s - mean) ** 2 for s in scores) / max(1, len(scores) - 1) / len(scores)) ** 0.5


def environment() -> dict:
    """Hardware and versions, recorded next to every number."""
    return {"restora": restora.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "processor": cpu_name(),
            "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "date": time.strftime("%Y-%m-%d"), "bundled_prior": BUNDLED_FILE}
