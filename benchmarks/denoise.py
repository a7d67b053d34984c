"""The prior as a plain Gaussian denoiser on CBSD68, next to BM3D (PyPI ``bm3d``) when installed.

    python benchmarks/denoise.py --bm3d-limit 4 --out benchmarks/results/denoise

Full-size CBSD68 images (68, 481x321), additive white Gaussian noise of std sigma/255 on the
[0, 1] scale (sigma = 15, 25, 50), seeded per image and sigma, noisy input not clipped (the
DnCNN / FFDNet convention). One denoiser call D(y, sigma) per image: the prior's MMSE estimate.
PSNR on 8-bit quantised RGB, no border crop. BM3D (colour: ``bm3d_rgb``, the CBM3D variant, told
the true sigma) is slow on CPU, so it runs on the first --bm3d-limit images only, and the prior is
reported on that same subset next to it as well as on all 68 images.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import DATA, environment

from restora.io import list_images, read_image
from restora.metrics import psnr
from restora.priors import load

SIGMAS = (15, 25, 50)


def noisy(clean: torch.Tensor, sigma: int, seed: int) -> torch.Tensor:
    """clean ([0, 1]) plus Gaussian noise of std sigma / 255, not clipped."""
    g = torch.Generator().manual_seed(seed)
    return clean + sigma / 255 * torch.randn(clean.shape, generator=g)


def bm3d_denoise(y: torch.Tensor, sigma: int) -> torch.Tensor:
    """CBM3D on one [0, 1] image (1, 3, H, W)."""
    import bm3d

    out = bm3d.bm3d_rgb(y[0].permute(1, 2, 0).double().numpy(), sigma_psd=sigma / 255)
    return torch.from_numpy(out).permute(2, 0, 1)[None].float()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default=str(DATA / "test" / "CBSD68"))
    p.add_argument("--limit", type=int, help="first N images only (default: all)")
    p.add_argument("--bm3d-limit", type=int, default=4, help="images for BM3D (0: skip it)")
    p.add_argument("--prior", default="default")
    p.add_argument("--out", default="benchmarks/results/denoise")
    args = p.parse_args()
    try:
        import bm3d  # noqa: F401
    except ImportError:
        print("bm3d not installed (pip install bm3d): skipping the BM3D column")
        args.bm3d_limit = 0

    torch.set_grad_enabled(False)
    prior = load(args.prior)
    paths = list_images(Path(args.images))[: args.limit]
    scores: dict[str, dict[int, list[float]]] = {"prior": {s: [] for s in SIGMAS},
                                                  "bm3d": {s: [] for s in SIGMAS}}
    seconds = {"prior": 0.0, "bm3d": 0.0}
    for i, path in enumerate(paths):
        clean = read_image(path, channels=3)
        for sigma in SIGMAS:
            y = noisy(clean, sigma, seed=1000 * sigma + i)
            start = time.perf_counter()
            est = (prior(y * 2 - 1, 2 * sigma / 255) + 1) / 2
            seconds["prior"] += time.perf_counter() - start
            scores["prior"][sigma].append(float(psnr(est.clamp(0, 1), clean, quantize=True)[0]))
            if i < args.bm3d_limit:
                start = time.perf_counter()
                est = bm3d_denoise(y, sigma)
                seconds["bm3d"] += time.perf_counter() - start
                scores["bm3d"][sigma].append(float(psnr(est.clamp(0, 1), clean, quantize=True)[0]))
        print(f"{path.name}: " + ", ".join(f"s{s} {scores['prior'][s][-1]:.2f}" for s in SIGMAS), flush=True)

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    n_bm3d = min(args.bm3d_limit, len(paths))
    rows = [{"method": "restora prior (1 NFE)", "images": len(paths),
             **{f"psnr{s}": mean(scores["prior"][s]) for s in SIGMAS},
             "seconds_per_image": seconds["prior"] / (len(paths) * len(SIGMAS))}]
    if n_bm3d:
        rows.append({"method": "restora prior (1 NFE)", "images": n_bm3d,
                     **{f"psnr{s}": mean(scores["prior"][s][:n_bm3d]) for s in SIGMAS},
                     "seconds_per_image": None})
        rows.append({"method": "CBM3D (bm3d package)", "images": n_bm3d,
                     **{f"psnr{s}": mean(scores["bm3d"][s]) for s in SIGMAS},
                     "seconds_per_image": seconds["bm3d"] / (n_bm3d * len(SIGMAS))})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"images": [p.stem for p in paths], "sigmas_0_255": SIGMAS, "prior": args.prior,
            "noise": "AWGN std sigma/255 on [0,1], seeded 1000*sigma+index, not clipped",
            "metric": "PSNR, RGB, 8-bit quantised, no border crop", "environment": environment()}
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows, "per_image": scores}, indent=2))
    (out / "table.md").write_text(markdown(rows))
    print(markdown(rows))


def markdown(rows: list[dict]) -> str:
    """PSNR at sigma 15 / 25 / 50 (0-255 scale), one row per method and image subset."""
    lines = ["| method | images | sigma 15 | sigma 25 | sigma 50 | s / image |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        t = "" if r["seconds_per_image"] is None else f"{r['seconds_per_image']:.2f}"
        scores = " | ".join(f"{r[f'psnr{s}']:.2f}" for s in SIGMAS)
        lines.append(f"| {r['method']} | {r['images']} | {scores} | {t} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
