"""Scoring methods on a benchmark task's measurements: PSNR / SSIM (and LPIPS-alex / DISTS, with a
:class:`Perceptual`) on 8-bit images, seconds per image, rows for the records, and the picture of the
first image."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from restora.experiments.methods import Method, best_of, misfit
from restora.io import write_image
from restora.metrics import DISTS, LPIPS, InceptionV3, dists, features, kid_of_features, lpips, psnr, ssim
from restora.operators import Operator
from restora.pictures import as_unit, side_by_side

Chunk = tuple[Operator, list[int], Tensor]
"""An operator, the indices of the images it measured, and their measurement y."""


class Perceptual:
    """LPIPS-alex and DISTS, loaded once, scored on the 8-bit images as PSNR is; with ``kid_patch`` also
    the set-level KID (mean, std over subsets) of the estimates' non-overlapping patches of that size
    against the references' (a dozen crops are too few images for a set metric; their patches are not)."""

    def __init__(self, kid_patch: int | None = None) -> None:
        self.lpips, self.dists = LPIPS.load("alex"), DISTS.load()
        self.kid_patch = kid_patch
        self.inception = InceptionV3.load() if kid_patch else None
        self._ref_features: tuple[Tensor, Tensor] | None = None  # (reference images, their features)

    def _patch_features(self, images: Tensor) -> Tensor:
        p = self.kid_patch
        eight_bit = (images.clamp(0, 1) * 255).round() / 255
        patches = eight_bit.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5)
        return features(patches.reshape(-1, images.shape[1], p, p), model=self.inception)

    def __call__(self, est: Tensor, ref: Tensor) -> dict:
        per_image = lpips(est, ref, quantize=True, model=self.lpips)
        out = {"lpips": float(per_image.mean()),
               "dists": float(dists(est, ref, quantize=True, model=self.dists).mean()),
               "lpips_per_image": [round(float(v), 4) for v in per_image]}
        if self.kid_patch:
            if self._ref_features is None or not torch.equal(self._ref_features[0], ref):
                self._ref_features = (ref.clone(), self._patch_features(ref))
            found = self._patch_features(est)
            mean, std = kid_of_features(found, self._ref_features[1], subset_size=100)
            out |= {"kid": mean, "kid_std": std, "kid_patches": len(found)}
        return out


def row(task: str, label: str, est: Tensor, ref: Tensor, nfe: int, seconds: float,
        fit: Tensor | None = None, perceptual: Perceptual | None = None) -> dict:
    """A record row: mean and per-image PSNR, SSIM (8-bit images in [0, 1]), LPIPS-alex and DISTS with
    ``perceptual``; ``fit``: the per-image measurement misfit of the estimate."""
    per_image = psnr(est, ref, quantize=True)
    return {"task": task, "method": label, "nfe": nfe, "seconds_per_image": round(seconds, 2),
            "psnr": float(per_image.mean()), "ssim": float(ssim(est, ref, quantize=True).mean()),
            "psnr_per_image": [round(float(v), 2) for v in per_image],
            **({} if perceptual is None else perceptual(est, ref)),
            **({} if fit is None else {"misfit_per_image": [round(float(v), 4) for v in fit]})}


def variants(method: Method, op: Operator, y: Tensor, est: Tensor) -> dict[str, Tensor]:
    """A method's estimates to score: its images, or of (N, S, ...) draws the first and the best by
    measurement residual (no ground truth), labelled '... best of S'."""
    if est.ndim == 4:
        return {method.label: est}
    out = {method.label: est[:, 0]}
    if est.shape[1] > 1:
        out[f"{method.label} best of {est.shape[1]}"] = best_of(op, y, est)
    return out


def score(task: str, methods: list[Method], chunks: list[Chunk], x: Tensor,
          align: Callable[[Tensor, Tensor], Tensor] | None = None,
          perceptual: Perceptual | None = None) -> tuple[list[dict], dict[str, Tensor]]:
    """(rows, estimates in [0, 1]) of every method on the measurements of the images ``x`` ([-1, 1]), each
    chunk seeded by its first image; seconds per image over all chunks. ``align(estimate, truth)``
    resolves an ambiguity of the task (phase retrieval) before scoring, and rows then keep the misfit;
    ``perceptual`` adds LPIPS-alex and DISTS."""
    rows, results = [], {}
    refs = as_unit(x)
    for method in methods:
        found: dict[str, Tensor] = {}
        fits: dict[str, Tensor] = {}
        start = time.perf_counter()
        for op, idx, y in chunks:
            est = method.run(op, y, torch.Generator().manual_seed(11 + idx[0]))
            for name, img in variants(method, op, y, est).items():
                if align is not None:
                    fits.setdefault(name, torch.empty(len(x)))[idx] = misfit(op, img, y)
                    img = align(img, x[idx])
                found.setdefault(name, torch.empty_like(refs))[idx] = as_unit(img)
        seconds = (time.perf_counter() - start) / len(x)
        for name, est in found.items():
            results[name] = est
            rows.append(row(task, name, est, refs, method.nfe, seconds, fits.get(name), perceptual))
            print(f"{task:16s} {name:32s} {rows[-1]['psnr']:.2f} dB  {seconds:.1f} s/image", flush=True)
    return rows, results


def write_grid(path: Path, results: dict[str, Tensor], ref: Tensor,
               measurement: Tensor | None = None) -> None:
    """(measurement |) every method with its PSNR | reference, for the first image (all in [0, 1]); small
    images shown enlarged, with visible pixels."""
    zoom = max(1, 192 // ref.shape[-1])
    labels = [f"{n} {float(psnr(r[:1], ref[:1], quantize=True)):.2f}dB" for n, r in results.items()]
    tiles = [F.interpolate(r[:1], scale_factor=zoom, mode="nearest") for r in [*results.values(), ref]]
    if measurement is not None:
        tiles, labels = [measurement[:1], *tiles], ["measurement", *labels]
    write_image(side_by_side(tiles, [*labels, "reference"]), path)


def aligned_scores(est: Tensor, ref: Tensor, max_shift: int, border: int,
                   lpips_model: LPIPS | None = None) -> dict:
    """PSNR (8-bit, [-1, 1] inputs, one image) at the best integer shift of ``est`` within +-``max_shift``,
    ``border`` pixels left out on every side, and the SSIM (and LPIPS-alex with ``lpips_model``) at that
    shift: a blind restoration is defined up to the shift of its kernel (Levin et al. CVPR 2009 score blind
    methods the same way). Returns {psnr, ssim[, lpips], shift}."""
    if border < max_shift:
        raise ValueError(f"border ({border}) must be at least max_shift ({max_shift})")
    inner = (..., slice(border, -border), slice(border, -border))
    ref_unit = ((ref + 1) / 2).clamp(0, 1)[inner]

    def moved(shift: tuple[int, int]) -> Tensor:  # est shifted, on [0, 1], borders out
        return ((torch.roll(est, shift, (-2, -1)) + 1) / 2).clamp(0, 1)[inner]

    shifts = [(dy, dx) for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)]
    score, shift = max((float(psnr(moved(s), ref_unit, quantize=True)[0]), s) for s in shifts)
    best = moved(shift)
    out = {"psnr": score, "ssim": float(ssim(best, ref_unit, quantize=True)[0]), "shift": shift}
    if lpips_model is not None:
        out["lpips"] = float(lpips(best, ref_unit, quantize=True, model=lpips_model)[0])
    return out
