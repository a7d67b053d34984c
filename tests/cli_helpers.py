"""Helpers of the command-line tests: an in-process run that splits out the error lines, a digest of a
folder (to prove nothing in it changed), and a random tiny prior file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restora.cli import main
from restora.priors.loaders import save_restora_prior
from restora.priors.unet import MODEL_SIZES, build_restora_prior


def run(capsys, *args) -> tuple[int, list[str], str]:
    """main(args) in process: (exit code, error lines, all of stdout and stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, [line for line in captured.err.splitlines() if line.startswith("restora: error:")], \
        captured.out + captured.err


def digest(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (relative name) -> its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def tiny_prior(path: Path) -> Path:
    """A restora prior file of the tiny UNet with random weights (seed 0): meaningless restorations, fast."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        save_restora_prior(build_restora_prior(MODEL_SIZES["tiny"]), path)
    return path


def photos_and_sr4(root: Path, size: int, grid: int, resample: int, seed: int) -> None:
    """root/clean/c0..c2.png (random ``grid`` x ``grid`` colours upsampled to ``size`` px with ``resample``)
    and root/m/, their sr4 measurements at sigma_y 0.05 with sidecars, PNG and .npy."""
    rng = np.random.default_rng(seed)
    (root / "clean").mkdir()
    for i in range(3):
        coarse = Image.fromarray((rng.random((grid, grid, 3)) * 255).astype(np.uint8))
        coarse.resize((size, size), resample).save(root / "clean" / f"c{i}.png")
    assert main(["degrade", str(root / "clean"), "--task", "sr4", "--sigma-y", "0.05", "-o", str(root / "m"),
                 "--save-tensor", "-q"]) == 0
