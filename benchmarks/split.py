"""Where to splice FFDNet under the bundled diffusion prior (the default split of ``default+ffdnet-color``),
measured on held-out *training* images (never the test sets).

    python benchmarks/split.py --limit 4 --size 128

1. Denoising PSNR of each prior across noise levels: where FFDNet stops being the better denoiser.
2. DiffPIR (25 NFE, the bundled prior's tuned settings) with the composite prior for several splits on
   sr4, deblur-gauss and inpaint-random at sigma_y = 0.05 on [-1, 1] (split 0 = the bundled prior alone).
Writes benchmarks/results/split/results.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from restora.experiments.measurements import BENCHMARK_TASKS, environment, held_out
from restora.experiments.records import write_json
from restora.metrics import psnr
from restora.pictures import as_unit
from restora.priors import load
from restora.priors.registry import composite
from restora.solvers import get, settings

SIGMAS_255 = (5, 10, 15, 25, 35, 50, 75)
SPLITS = (0.0, 0.05, 0.1, 0.2, 0.4, 2 * 75 / 255)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=4)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--out", default="benchmarks/results/split")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    x = held_out(args.limit, args.size)
    ref = as_unit(x)
    high, low = load("default"), load("ffdnet-color")
    denoise = []
    for s255 in SIGMAS_255:
        sigma = 2 * s255 / 255
        y = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(s255))
        row = {"sigma_255": s255}
        for name, prior in (("default", high), ("ffdnet-color", low)):
            row[name] = float(psnr(as_unit(prior(y, sigma)), ref, quantize=True).mean())
        denoise.append(row)
        print(json.dumps(row), flush=True)
    restore = []
    for task_name in ("sr4", "deblur-gauss", "inpaint-random"):
        task = BENCHMARK_TASKS[task_name]
        op = task.operator(list(range(len(x))), x.shape)
        y = op.measure(x, 0.05, torch.Generator().manual_seed(3))
        opts = {**settings("diffpir", task.family, high), "steps": args.steps}
        for split in SPLITS:
            prior = high if split == 0 else composite(high, low, split)
            out = get("diffpir")(prior, op, y, sigma_y=0.05, generator=torch.Generator().manual_seed(5),
                                 **opts)
            score = float(psnr(as_unit(out), ref, quantize=True).mean())
            row = {"task": task_name, "split": split, "psnr": score}
            restore.append(row)
            print(json.dumps(row), flush=True)
    record = {"images": args.limit, "size": args.size, "steps": args.steps, "sigma_y": 0.05,
              "denoise": denoise, "diffpir": restore, "environment": environment()}
    write_json(Path(args.out) / "results.json", record)


if __name__ == "__main__":
    main()
