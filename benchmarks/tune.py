"""Choose per-task solver settings for a prior on *held-out training images* (never the test sets).

    python benchmarks/tune.py --prior default --limit 4

Grid-searches DiffPIR's (lam, zeta) at 25 NFE (with --solvers diffpir,dps also DPS's zeta) on the
validation split that `restora train` holds out (every 10th image of ../shared/data/train/natural),
one task per family (sr4, deblur-gauss, inpaint-random), sigma_y = 0.05 on [-1, 1], and writes
the best by mean PSNR to benchmarks/settings.json together with every grid result, so the choice
is reproducible.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import torch
from common import DATA, SETTINGS_FILE, TASKS, environment

from restora.io import read_image
from restora.metrics import psnr
from restora.pictures import as_unit
from restora.priors import load as load_prior
from restora.solvers import get
from restora.train import split_paths

FAMILY_TASK = {"sr": "sr4", "deblur": "deblur-gauss", "inpaint": "inpaint-random"}
GRIDS = {
    "diffpir": {"steps": [25], "lam": [1.0, 4.0, 16.0], "zeta": [0.1, 0.4, 1.0]},
    "dps": {"steps": [100], "zeta": [0.3, 1.0]},
}


def held_out(limit: int, size: int) -> torch.Tensor:
    """Centre crops of the first ``limit`` held-out training images, in [-1, 1]."""
    _, val = split_paths([str(DATA / "train" / "natural")], 10)
    crops = []
    for path in val[:limit]:
        img = read_image(path, channels=3)
        h, w = img.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        crops.append(img[..., top : top + size, left : left + size] * 2 - 1)
    return torch.cat(crops)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prior", default="default")
    p.add_argument("--limit", type=int, default=4)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--sigma-y", type=float, default=0.05)
    p.add_argument("--solvers", default="diffpir")
    p.add_argument("--out", default=str(SETTINGS_FILE), help="where to write the settings (JSON)")
    args = p.parse_args()
    prior = load_prior(args.prior)
    x = held_out(args.limit, args.size)
    ref = as_unit(x)
    settings, trials = {}, []
    for solver in args.solvers.split(","):
        grid = GRIDS[solver]
        for family, task_name in FAMILY_TASK.items():
            task = TASKS[task_name]
            op = task.operator(list(range(len(x))), x.shape)
            y = op.measure(x, args.sigma_y, torch.Generator().manual_seed(3))
            best = None
            for values in itertools.product(*grid.values()):
                kwargs = dict(zip(grid, values, strict=True))
                out = get(solver)(prior, op, y, sigma_y=args.sigma_y,
                                  generator=torch.Generator().manual_seed(5), **kwargs)
                score = float(psnr(as_unit(out), ref, quantize=True).mean())
                trials.append({"solver": solver, "family": family, "task": task_name, **kwargs,
                               "psnr": score})
                print(f"{solver} {task_name} {kwargs}: {score:.2f} dB", flush=True)
                if best is None or score > best[0]:
                    best = (score, kwargs)
            settings.setdefault(solver, {})[family] = {k: v for k, v in best[1].items() if k != "steps"}
    tuning = {"prior": args.prior, "images": args.limit, "size": args.size, "sigma_y": args.sigma_y,
              "trials": trials, "environment": environment()}
    record = {**settings, "_tuning": tuning}
    Path(args.out).write_text(json.dumps(record, indent=2))
    print(json.dumps(settings, indent=2))


if __name__ == "__main__":
    main()
