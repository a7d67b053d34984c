"""Accuracy of the noise-level estimate behind ``sigma_y="auto"`` / ``--sigma-y auto`` on CBSD68.

    python benchmarks/noise_level.py --threads 1 --out benchmarks/results/noise-level

All 68 full-size images (cropped to a multiple of 4), each degraded by a task's operator (denoise:
none; deblur-gauss: 61x61 std 3.0; sr4: MATLAB bicubic x4), then Gaussian noise of std sigma/255 on
[0, 1] (sigma 1, 5, 15, 25, 50), seeded per image and sigma; stored two ways: the float array (what
``restora degrade --save-tensor`` keeps) and the 8-bit file (clipped to [0, 255] and rounded, what a
PNG or a real photo holds: rounding adds 0.29/255 of noise, clipping truncates it). Per setting: the mean
relative error of the estimate (signed: its bias), the mean and largest absolute relative error, the
share of images within 10 %, and seconds per estimate.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from restora.experiments.measurements import data_root, environment
from restora.experiments.records import write_json
from restora.experiments.tables import noise_level_table
from restora.io import list_images, read_image
from restora.operators import modcrop, tasks
from restora.operators.noise_level import estimate_sigma_y

SIGMAS = (1, 5, 15, 25, 50)
TASKS = ("denoise", "deblur-gauss", "sr4")


def eight_bit(y: torch.Tensor) -> torch.Tensor:
    """A [-1, 1] measurement as an 8-bit file holds it."""
    return (((y + 1) / 2).clamp(0, 1) * 255).round() / 255 * 2 - 1


def measure(paths: list[Path]) -> list[dict]:
    rows = []
    for task in TASKS:
        errors: dict[tuple[str, int], list[float]] = {}
        seconds: dict[tuple[str, int], float] = {}
        for i, path in enumerate(paths):
            x = modcrop(read_image(path) * 2 - 1, 4)
            op = tasks.info(task).operator(tuple(x.shape), generator=torch.Generator().manual_seed(i))
            clean = op.A(x)
            for sigma in SIGMAS:
                g = torch.Generator().manual_seed(1000 * sigma + i)
                y = clean + 2 * sigma / 255 * torch.randn(clean.shape, generator=g)
                for storage, measured in (("float", y), ("8-bit", eight_bit(y))):
                    start = time.perf_counter()
                    estimate = float(estimate_sigma_y(op, measured)[0]) * 255 / 2
                    seconds[storage, sigma] = seconds.get((storage, sigma), 0.0) + time.perf_counter() - start
                    errors.setdefault((storage, sigma), []).append(estimate / sigma - 1)
            print(f"{task} {path.name}: " + " ".join(
                f"{s}:{errors['8-bit', s][-1]:+.3f}" for s in SIGMAS), flush=True)
        for (storage, sigma), errs in errors.items():
            e = torch.tensor(errs)
            rows.append({"task": task, "storage": storage, "sigma_255": sigma, "images": len(errs),
                         "bias": float(e.mean()), "mean_abs": float(e.abs().mean()),
                         "max_abs": float(e.abs().max()),
                         "within_10pct": float((e.abs() <= 0.1).float().mean()),
                         "seconds": seconds[storage, sigma] / len(errs)})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="benchmarks/results/noise-level")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    paths = list_images(data_root() / "test" / "CBSD68")[: args.limit]
    rows = measure(paths)
    meta = {"images": [p.stem for p in paths], "sigmas_255": list(SIGMAS), "tasks": list(TASKS),
            "estimator": "Chen, Zhu & Heng, ICCV 2015 (restora.operators.noise_level)",
            "environment": environment()}
    out = Path(args.out)
    write_json(out / "results.json", {"meta": meta, "rows": rows})
    print(noise_level_table(rows))


if __name__ == "__main__":
    main()
