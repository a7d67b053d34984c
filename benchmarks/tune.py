"""Choose per-task solver settings for a prior on *held-out training images* (never the test sets).

    python benchmarks/tune.py --prior default --limit 4
    python benchmarks/tune.py --families mri,ct --gray --sigma-y 0.01 --merge   # medical, gray images

Grid-searches DiffPIR's (lam, zeta) at 25 NFE (with --solvers diffpir,dps also DPS's zeta; dpir: its
iterations and lam) on the validation split that `restora train` holds out (every 10th image of
../shared/data/train/natural; --gray: as gray images), the tasks of each family (sr4; deblur-gauss and
deblur-levin, whose best settings differ, scored by their mean; inpaint-random and inpaint-box, likewise;
mri4; ct-sparse30; phase-retrieval; and denoise, colorize, cs, jpeg, so that a solver has settings for every
family it accepts), sigma_y on [-1, 1], and writes the best by mean PSNR to
benchmarks/settings.json together with every grid result, so the choice is reproducible (--merge:
into the settings already there).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import torch
from common import DATA, SETTINGS_FILE, TASKS, centre_crop, environment

from restora.io import read_image, to_model
from restora.metrics import psnr
from restora.pictures import as_unit
from restora.priors import load as load_prior
from restora.priors.wrappers import for_channels
from restora.solvers import get
from restora.train import split_paths

FAMILY_TASKS = {"sr": ("sr4",), "deblur": ("deblur-gauss", "deblur-levin"),
                "inpaint": ("inpaint-random", "inpaint-box"), "mri": ("mri4",), "ct": ("ct-sparse30",),
                "phase": ("phase-retrieval",), "denoise": ("denoise",), "colorize": ("colorize",),
                "cs": ("cs",), "jpeg": ("jpeg",)}
"""The tasks a family's settings are chosen on (one setting serves every blur kernel and every mask, so
both kinds)."""
GRIDS = {
    "diffpir": {"steps": [25], "lam": [1.0, 4.0, 16.0], "zeta": [0.1, 0.4, 1.0]},
    "dps": {"steps": [100], "zeta": [0.3, 1.0]},
    "dpir": {"steps": [8, 24, 40], "lam": [0.1, 0.23, 0.5]},
}


def held_out(limit: int, size: int, channels: int = 3) -> torch.Tensor:
    """Centre crops of the first ``limit`` held-out training images, in [-1, 1]."""
    _, val = split_paths([str(DATA / "train" / "natural")], 10)
    return torch.cat([to_model(centre_crop(read_image(path, channels=channels), size))
                      for path in val[:limit]])


def merged(record: dict, settings: dict, tuning: dict) -> dict:
    """``record`` with the families just tuned replaced, choice and trials; the others keep theirs.
    The run's own details (images, size, environment) go to ``_tuning["merges"]``."""
    record = {**record, **{solver: {**record.get(solver, {}), **families}
                           for solver, families in settings.items()}}
    redone = {(t["solver"], t["family"]) for t in tuning["trials"]}
    old = record["_tuning"]
    trials = [t for t in old["trials"] if (t["solver"], t["family"]) not in redone] + tuning["trials"]
    run = {k: v for k, v in tuning.items() if k != "trials"}
    record["_tuning"] = {**old, "trials": trials, "merges": [*old.get("merges", []), run]}
    return record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prior", default="default")
    p.add_argument("--limit", type=int, default=4)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--sigma-y", type=float, default=0.05)
    p.add_argument("--solvers", default="diffpir")
    p.add_argument("--families", default="sr,deblur,inpaint", help=f"of {', '.join(FAMILY_TASKS)}")
    p.add_argument("--gray", action="store_true", help="tune on gray images (a colour prior: replicated)")
    p.add_argument("--merge", action="store_true", help="update the settings already in --out")
    p.add_argument("--out", default=str(SETTINGS_FILE), help="where to write the settings (JSON)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    channels = 1 if args.gray else 3
    prior = for_channels(load_prior(args.prior), channels)
    x = held_out(args.limit, args.size, channels)
    ref = as_unit(x)
    settings, trials = {}, []
    for solver in args.solvers.split(","):
        grid = GRIDS[solver]
        for family in args.families.split(","):
            problems = [TASKS[name].measurements(x, args.sigma_y, len(x), lambda idx: 3)
                        for name in FAMILY_TASKS[family]]
            best = None
            for values in itertools.product(*grid.values()):
                kwargs = dict(zip(grid, values, strict=True))
                scores = {}
                for name, chunks in zip(FAMILY_TASKS[family], problems, strict=True):
                    out = torch.empty_like(x)
                    for op, idx, y in chunks:
                        out[idx] = get(solver)(prior, op, y, sigma_y=args.sigma_y,
                                               generator=torch.Generator().manual_seed(5), **kwargs)
                    scores[name] = float(psnr(as_unit(out), ref, quantize=True).mean())
                score = sum(scores.values()) / len(scores)
                trials += [{"solver": solver, "family": family, "task": name, **kwargs, "psnr": value}
                           for name, value in scores.items()]
                print(f"{solver} {family} {kwargs}: {score:.2f} dB {scores}", flush=True)
                if best is None or score > best[0]:
                    best = (score, kwargs)
            # steps are a setting only where the grid searches them (dpir); else the run's budget
            settings.setdefault(solver, {})[family] = {k: v for k, v in best[1].items()
                                                       if k != "steps" or len(grid["steps"]) > 1}
    tuning = {"prior": args.prior, "images": args.limit, "size": args.size, "sigma_y": args.sigma_y,
              "channels": channels, "families": args.families.split(","), "trials": trials,
              "environment": environment()}
    out = Path(args.out)
    record = (merged(json.loads(out.read_text()), settings, tuning) if args.merge and out.exists()
              else {**settings, "_tuning": tuning})
    out.write_text(json.dumps(record, indent=2))
    print(json.dumps(settings, indent=2))


if __name__ == "__main__":
    main()
