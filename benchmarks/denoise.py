"""Priors as plain Gaussian denoisers on CBSD68 (colour) and Set12 (gray), next to BM3D (PyPI
``bm3d``) when installed.

    python benchmarks/denoise.py --priors default,ffdnet-color,ffdnet-original \\
        --gray-priors ffdnet-gray,default --bm3d-limit 4 --out benchmarks/results/denoise

Full-size images (CBSD68: 68 at 481x321; Set12: 12 at 256x256 / 512x512), additive white Gaussian
noise of std sigma/255 on the [0, 1] scale (sigma = 15, 25, 50), seeded per image and sigma, noisy
input not clipped (the DnCNN / FFDNet convention). One denoiser call D(y, sigma) per image. PSNR on
8-bit quantised images, no border crop. A colour prior denoises a gray image as three equal channels
told sqrt(3) sigma (GrayAsColor), so it cannot go beyond its range divided by sqrt(3) ("beyond
range"). BM3D (colour: ``bm3d_rgb``, the CBM3D variant, told the true sigma) is slow on CPU, so it
runs on the first --bm3d-limit CBSD68 images only, and the first prior is reported on that same subset
next to it as well as on all images.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from restora.experiments.measurements import data_root, environment
from restora.experiments.records import write_json
from restora.experiments.tables import denoise_table
from restora.io import list_images, read_image, to_model, to_unit
from restora.metrics import psnr
from restora.priors import load
from restora.priors.wrappers import for_channels

SIGMAS = (15, 25, 50)
# Published FFDNet PSNR (Zhang, Zuo & Zhang, TIP 2018): Table V (colour, CBSD68) and Table II (gray, Set12).
FFDNET_PUBLISHED = {"CBSD68": {15: 33.87, 25: 31.21, 50: 27.96}, "Set12": {15: 32.75, 25: 30.43, 50: 27.32}}


def noisy(clean: torch.Tensor, sigma: int, seed: int) -> torch.Tensor:
    """clean ([0, 1]) plus Gaussian noise of std sigma / 255, not clipped."""
    g = torch.Generator().manual_seed(seed)
    return clean + sigma / 255 * torch.randn(clean.shape, generator=g)


def bm3d_denoise(y: torch.Tensor, sigma: int) -> torch.Tensor:
    """CBM3D on one [0, 1] image (1, 3, H, W)."""
    import bm3d

    out = bm3d.bm3d_rgb(y[0].permute(1, 2, 0).double().numpy(), sigma_psd=sigma / 255)
    return torch.from_numpy(out).permute(2, 0, 1)[None].float()


def prior_denoiser(name: str, channels: int):
    """y ([0, 1], ``channels`` channels) -> D(y) through the prior (a colour prior sees gray images as
    RGB, :class:`~restora.priors.wrappers.GrayAsColor`); None above the prior's noise range."""
    prior = for_channels(load(name), channels)

    def run(y: torch.Tensor, sigma: int) -> torch.Tensor | None:
        if 2 * sigma / 255 > prior.sigma_max:
            return None
        return to_unit(prior(to_model(y), 2 * sigma / 255))

    return run


def score_set(folder: Path, channels: int, methods: dict, limits: dict[str, int | None]) -> dict:
    """Per-image PSNR and seconds of every method on every image of ``folder`` and every sigma."""
    paths = list_images(folder)
    scores = {m: {s: [] for s in SIGMAS} for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    calls = dict.fromkeys(methods, 0)
    for i, path in enumerate(paths):
        clean = read_image(path, channels=channels)
        for sigma in SIGMAS:
            y = noisy(clean, sigma, seed=1000 * sigma + i)
            for name, fn in methods.items():
                if limits.get(name) is not None and i >= limits[name]:
                    continue
                start = time.perf_counter()
                est = fn(y, sigma)
                if est is None:  # beyond the method's noise range
                    scores[name][sigma].append(float("nan"))
                    continue
                seconds[name] += time.perf_counter() - start
                calls[name] += 1
                scores[name][sigma].append(float(psnr(est.clamp(0, 1), clean, quantize=True)[0]))
        print(f"{folder.name}/{path.name}: " + "; ".join(
            f"{m} " + " ".join(f"{scores[m][s][-1]:.2f}" for s in SIGMAS) for m in methods if scores[m][15]
            and len(scores[m][15]) == i + 1), flush=True)
    return {"images": [p.stem for p in paths], "scores": scores,
            "seconds_per_image": {m: seconds[m] / max(1, calls[m]) for m in methods}}


def rows_for(dataset: str, result: dict, subset_of: str | None = None, subset: int = 0) -> list[dict]:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    rows = []
    for name, per_sigma in result["scores"].items():
        n = len(per_sigma[15])
        rows.append({"dataset": dataset, "method": name, "images": n,
                     **{f"psnr{s}": mean(per_sigma[s]) for s in SIGMAS},
                     "seconds_per_image": result["seconds_per_image"][name]})
        if name == subset_of and subset and subset < n:
            rows.append({"dataset": dataset, "method": name, "images": subset,
                         **{f"psnr{s}": mean(per_sigma[s][:subset]) for s in SIGMAS},
                         "seconds_per_image": None})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--priors", default="default,ffdnet-color,ffdnet-original",
                   help="colour priors, run on CBSD68")
    p.add_argument("--gray-priors", default="ffdnet-gray,ffdnet-color,default",
                   help="priors run on Set12 ('' to skip)")
    p.add_argument("--bm3d-limit", type=int, default=4, help="CBSD68 images for BM3D (0: skip it)")
    p.add_argument("--out", default="benchmarks/results/denoise")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import bm3d  # noqa: F401
    except ImportError:
        print("bm3d not installed (pip install bm3d): skipping the BM3D column")
        args.bm3d_limit = 0

    torch.set_grad_enabled(False)
    colour = {name: prior_denoiser(name, 3) for name in filter(None, args.priors.split(","))}
    limits: dict[str, int | None] = {}
    if args.bm3d_limit:
        colour["CBM3D (bm3d package)"] = bm3d_denoise
        limits["CBM3D (bm3d package)"] = args.bm3d_limit
    gray = {name: prior_denoiser(name, 1) for name in filter(None, args.gray_priors.split(","))}
    first = next(iter(colour))
    results = {"CBSD68": score_set(data_root() / "test" / "CBSD68", 3, colour, limits)}
    if gray:
        results["Set12"] = score_set(data_root() / "test" / "Set12", 1, gray, {})
    rows = rows_for("CBSD68", results["CBSD68"], first, args.bm3d_limit)
    if gray:
        rows += rows_for("Set12", results["Set12"])
    meta = {"sigmas_0_255": SIGMAS, "priors": list(colour), "gray_priors": list(gray),
            "noise": "AWGN std sigma/255 on [0,1], seeded 1000*sigma+index, not clipped",
            "metric": "PSNR, 8-bit quantised, no border crop (RGB for CBSD68, gray for Set12)",
            "published_ffdnet": FFDNET_PUBLISHED, "environment": environment()}
    write_json(Path(args.out) / "results.json", {"meta": meta, "rows": rows, "per_image": results})
    print(denoise_table(rows))


if __name__ == "__main__":
    main()
