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
import json
from pathlib import Path

import torch

from restora.experiments.measurements import environment, held_out
from restora.experiments.records import merge_settings, write_json
from restora.experiments.tuning import FAMILY_TASKS, grid_search
from restora.priors import load as load_prior
from restora.priors.wrappers import for_channels

SETTINGS_FILE = Path(__file__).with_name("settings.json")

GRIDS = {
    "diffpir": {"steps": [25], "lam": [1.0, 4.0, 16.0], "zeta": [0.1, 0.4, 1.0]},
    "dps": {"steps": [100], "zeta": [0.3, 1.0]},
    "dpir": {"steps": [8, 24, 40], "lam": [0.1, 0.23, 0.5]},
}


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
    settings, trials = {}, []
    for solver in args.solvers.split(","):
        for family in args.families.split(","):
            chosen, tried = grid_search(solver, prior, x, family, GRIDS[solver], args.sigma_y)
            settings.setdefault(solver, {})[family] = chosen
            trials += tried
    tuning = {"prior": args.prior, "images": args.limit, "size": args.size, "sigma_y": args.sigma_y,
              "channels": channels, "families": args.families.split(","), "trials": trials,
              "environment": environment()}
    out = Path(args.out)
    record = (merge_settings(json.loads(out.read_text()), settings, tuning) if args.merge and out.exists()
              else {**settings, "_tuning": tuning})
    write_json(out, record)
    print(json.dumps(settings, indent=2))


if __name__ == "__main__":
    main()
