"""What a prior trains on: random crops of photos (:class:`ImageBank`) or blur kernels drawn on the fly from
restora's generators (:class:`KernelBank`), and the fixed validation sets the runs report on."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.io import list_images, read_image, to_model
from restora.operators.kernels import kernel_to_image, random_kernel


class ImageBank:
    """Training images held in memory as uint8 CHW tensors; draws augmented random crops."""

    def __init__(self, paths: list[Path], crop: int) -> None:
        self.images = []
        for p in paths:
            img = read_image(p, channels=3, as_uint8=True)[0]
            if min(img.shape[-2:]) >= crop:
                self.images.append(img)
        if not self.images:
            raise RestoraError(f"no training image is at least {crop}x{crop} pixels")
        self.crop = crop

    def sample(self, n: int, gen: torch.Generator) -> Tensor:
        """A batch of ``n`` crops in [-1, 1] with random flips and 90-degree rotations."""
        idx = torch.randint(len(self.images), (n,), generator=gen).tolist()
        out = []
        for i in idx:
            img = self.images[i]
            h, w = img.shape[-2:]
            top = int(torch.randint(h - self.crop + 1, (1,), generator=gen))
            left = int(torch.randint(w - self.crop + 1, (1,), generator=gen))
            patch = img[:, top : top + self.crop, left : left + self.crop]
            k, flip = torch.randint(4, (2,), generator=gen).tolist()
            patch = torch.rot90(patch, k, dims=(1, 2))
            if flip % 2:
                patch = patch.flip(-1)
            out.append(patch)
        return torch.stack(out).float() / 127.5 - 1


def split_paths(folders: list[str], holdout_every: int) -> tuple[list[Path], list[Path]]:
    """Deterministic train / validation split: every ``holdout_every``-th image (sorted) is held out."""
    paths = [p for folder in folders for p in list_images(folder)]
    if not paths:
        raise RestoraError(f"no images found in {folders}")
    if holdout_every <= 1 or len(paths) < 2:
        return paths, []
    val = paths[holdout_every - 1 :: holdout_every]
    held = set(val)
    return [p for p in paths if p not in held], val


def validation_set(paths: list[Path], crop: int) -> Tensor | None:
    """Centre crops of the held-out images (only those large enough), in [-1, 1]."""
    crops = []
    for p in paths:
        img = read_image(p, channels=3)
        h, w = img.shape[-2:]
        if min(h, w) >= crop:
            top, left = (h - crop) // 2, (w - crop) // 2
            crops.append(to_model(img[0, :, top : top + crop, left : left + crop]))
    return torch.stack(crops) if crops else None


class KernelBank:
    """Blur kernels for a kernel prior, as one-channel images in [-1, 1] (:func:`kernel_to_image`): a pool
    of :func:`random_kernel` draws of which ``refresh`` are replaced by fresh ones at every batch (a camera
    shake costs ~5 ms to draw, too slow for whole batches on a CPU), each handed out rotated / flipped."""

    def __init__(self, size: int, gen: torch.Generator, pool: int = 2048, refresh: int = 16) -> None:
        self.size, self.refresh = size, refresh
        self.pool = torch.stack([kernel_to_image(random_kernel(size, gen)) for _ in range(pool)])[:, None]

    def sample(self, n: int, gen: torch.Generator) -> Tensor:
        """A batch of ``n`` kernel images (n, 1, size, size)."""
        for i in torch.randint(len(self.pool), (self.refresh,), generator=gen).tolist():
            self.pool[i, 0] = kernel_to_image(random_kernel(self.size, gen))
        idx = torch.randint(len(self.pool), (n,), generator=gen)
        k, flip = torch.randint(4, (2,), generator=gen).tolist()
        batch = torch.rot90(self.pool[idx], k, dims=(2, 3))
        return batch.flip(-1) if flip % 2 else batch


def kernel_validation_set(size: int, count: int = 64, seed: int = 1234) -> Tensor:
    """``count`` kernels of :func:`random_kernel` from a fixed seed (the training draws use others), as
    images (count, 1, size, size)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([kernel_to_image(random_kernel(size, gen)) for _ in range(count)])[:, None]
