"""Medical and non-linear tasks on gray images: 4x MRI, 30-view CT, Fourier phase retrieval.

    python benchmarks/medical.py --threads 1

Images: Set12 (gray, centre 256x256 crops) and the Shepp-Logan phantom that scikit-image ships
(resized to 256x256); phase retrieval on the same images downscaled to --phase-size (CPU time).
Gaussian measurement noise sigma_y = 0.05 on the [-1, 1] scale for every task (the DPS paper's
level; for MRI on the orthonormal k-space, so the same per-pixel std in the image; for CT on the
sinogram, whose ray sums are ~100x larger: near-noiseless), one seeded measurement per task.
Classical reconstructions are the operators' own (:meth:`restora.operators.Operator.classical`):
zero-filled inverse FFT (MRI), filtered back-projection with the ramp filter (CT), HIO with error
reduction (phase retrieval, best of --restarts random starts by measurement residual). Methods are
``SOLVER@PRIOR`` with the solver's settings for that prior and task family (benchmarks/tune.py --gray
chose those of the bundled prior); a colour prior runs gray images as three equal channels.
Phase retrieval is scored after :func:`restora.operators.phase.align` (its sign / rotation
ambiguities); the solvers there draw --restarts samples in one batched solve: the first draw is
scored, and the best of them by measurement residual (seconds: for all draws).
PSNR / SSIM on 8-bit gray images in [0, 1], no border crop. Writes results.json and grid_<task>.png
(classical | methods | reference, first image).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from restora.experiments.measurements import BENCHMARK_TASKS, centre_crops, data_root, environment, phantom
from restora.experiments.methods import MethodSpec, classical_method, misfit, solver_methods
from restora.experiments.records import write_results
from restora.experiments.scoring import Perceptual, score, write_grid
from restora.experiments.tables import quality_table
from restora.operators.phase import align
from restora.pictures import as_unit
from restora.priors import load as load_prior
from restora.priors.wrappers import for_channels

METHODS = {
    "mri4": "dpir@ffdnet-gray,dpir@ffdnet-color,diffpir@default,diffpir@default+ffdnet-gray,ddrm@default,"
            "ddnm@default,pigdm@default",
    "ct-sparse30": "dpir@ffdnet-gray,dpir@ffdnet-color,diffpir@default,diffpir@default+ffdnet-gray",
    "phase-retrieval": "diffpir@default,dps@default",
}
STEPS = {"diffpir": 25, "ddrm": 20, "ddnm": 25, "pigdm": 25}
PHASE_STEPS = {"diffpir": 100}
CLASSICAL = {"mri4": "zero-filled", "ct-sparse30": "FBP", "phase-retrieval": "HIO"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=12, help="Set12 images (the phantom is always added)")
    p.add_argument("--tasks", default=",".join(METHODS))
    p.add_argument("--sigma-y", type=float, default=0.05, help="noise std on the [-1, 1] scale")
    p.add_argument("--phase-size", type=int, default=64)
    p.add_argument("--dps-steps", type=int, default=1000)
    p.add_argument("--restarts", type=int, default=4, help="HIO starts / DPS draws ranked by residual")
    p.add_argument("--no-x8", action="store_true", help="DPIR without its x8 flips/rotations (same NFE)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="benchmarks/results/medical")
    p.add_argument("--merge", action="store_true",
                   help="replace only these tasks' rows in --out's results (same images and noise)")
    p.add_argument("--only", default="", help="only the methods containing one of these comma-separated "
                   "strings (with --merge: their rows replace the earlier ones)")
    p.add_argument("--no-perceptual", action="store_true", help="score PSNR / SSIM only (no LPIPS, DISTS)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = [*centre_crops(data_root() / "test" / "Set12", 256, args.limit, channels=1),
              ("shepp-logan", phantom(256))]
    meta = {"images": [n for n, _ in images], "size": 256, "phase_size": args.phase_size,
            "sigma_y": args.sigma_y, "sigma_y_scale": "[-1,1]", "dps_steps": args.dps_steps,
            "restarts": args.restarts, "x8": not args.no_x8, "classical": CLASSICAL,
            "environment": environment()}
    rows, priors = [], {}
    perceptual = None if args.no_perceptual else Perceptual()
    for name in args.tasks.split(","):
        task, phase = BENCHMARK_TASKS[name], name == "phase-retrieval"
        x = torch.cat([img for _, img in images])
        if phase:
            x = F.interpolate(x, size=(args.phase_size,) * 2, mode="area")
        op = task.operator([0], x.shape)
        y = op.measure(x, args.sigma_y, torch.Generator().manual_seed(7))
        if phase:  # the misfit the noise alone leaves: what a perfect fit reaches
            meta["phase_misfit_of_truth"] = [round(float(v), 4) for v in misfit(op, x, y)]
        specs = [MethodSpec.parse(m) for m in METHODS[name].split(",")
                 if not args.only or any(part in m for part in args.only.split(","))]
        for spec in specs:
            priors.setdefault(spec.prior, for_channels(load_prior(spec.prior), 1))
        steps = {**STEPS, **PHASE_STEPS, "dps": args.dps_steps} if phase else STEPS
        methods = [classical_method(CLASSICAL[name], args.sigma_y, args.restarts if phase else 1),
                   *solver_methods(specs, priors, op, task.family, sigma_y=args.sigma_y, steps=steps,
                                   draws=args.restarts if phase else 1, no_x8=args.no_x8)]
        task_rows, results = score(name, methods, [(op, list(range(len(x))), y)], x, align if phase else None,
                                   perceptual)
        rows += task_rows
        write_grid(out / f"grid_{name}.png", results, as_unit(x))
        written, _ = write_results(out, rows, meta, merge=args.merge)  # after every task: a stop keeps them
    print(quality_table(written))


if __name__ == "__main__":
    main()
