"""Helpers of the command-line tests: an in-process run that splits out the error lines, a digest of a
folder (to prove nothing in it changed), and a random tiny prior file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

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
