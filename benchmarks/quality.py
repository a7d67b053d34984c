"""Restoration quality: every solver x task on test images, against classical baselines.

    python benchmarks/quality.py --limit 8 --out benchmarks/results/quality
    python benchmarks/quality.py --methods diffpir@default,dpir@ffdnet-color,diffpir@default+ffdnet-color

A method is ``SOLVER`` (with --prior) or ``SOLVER@PRIOR``; its options are the solver's published
defaults with the settings tuned for that prior (:func:`restora.solvers.settings`), and the
number of steps from --steps (``SOLVER=N`` or ``SOLVER@PRIOR=N``). ``SOLVER@PRIOR:KEY=VALUE:...``
overrides options for that method alone (e.g. ``diffpir@default+ffdnet-color:sigma_start=0.6``).
Centre 256x256 crops of CBSD68 (first --limit images, sorted by name), Gaussian measurement noise
sigma_y (default 0.05 on the [-1, 1] scale = 6.375/255 on [0, 1]), one seeded measurement per image
and task. PSNR / SSIM on 8-bit quantised RGB images in [0, 1] (BasicSR convention, no border crop),
seconds per image (batched over images that share an operator), NFE = denoiser calls per image.
``--references NAME,...`` adds supervised SR models (:mod:`restora.references`: dat-light, srmd,
real-esrgan) on the tasks they were trained for, labelled '(supervised)'; ``--kid-patch P`` scores
the KID of each method's P x P patches. ``--samples S`` adds, for every sampling solver, the mean of S
draws per image (one batched solve; S x
the compute): the posterior-mean estimate, which PSNR rewards over a single posterior sample.
Writes results.json and one picture per task (grid_<task>.png).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from restora.experiments.measurements import BENCHMARK_TASKS, centre_crops, data_root, environment
from restora.experiments.methods import (
    MethodSpec,
    classical_method,
    method_options,
    parse_steps,
    reference_methods,
    solver_methods,
)
from restora.experiments.records import write_results
from restora.experiments.scoring import Perceptual, score, write_grid
from restora.experiments.tables import quality_table
from restora.pictures import as_unit
from restora.priors import load as load_prior

IMAGE_TASKS = ("sr4", "deblur-gauss", "deblur-levin", "inpaint-box", "inpaint-random")
DEFAULT_SOLVERS = ("diffpir", "ddrm", "ddnm", "pigdm", "dps")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default=str(data_root() / "test" / "CBSD68"))
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--prior", default="default")
    p.add_argument("--tasks", default=",".join(IMAGE_TASKS),
                   help="default: the colour tasks (medical.py runs the gray ones)")
    p.add_argument("--solvers", default=",".join(DEFAULT_SOLVERS), help="solvers run with --prior")
    p.add_argument("--methods", default="", help="SOLVER@PRIOR,... (instead of --solvers / --prior)")
    p.add_argument("--references", default="",
                   help="supervised reference models for the SR tasks, e.g. dat-light,srmd,real-esrgan")
    p.add_argument("--sigma-y", type=float, default=0.05, help="noise std on the [-1, 1] scale")
    p.add_argument("--batch", type=int, default=4, help="images per solver call")
    p.add_argument("--steps", default="", help="NFE overrides, e.g. diffpir=50,dps=100")
    p.add_argument("--samples", type=int, default=1, help="also score the mean of this many draws")
    p.add_argument("--no-x8", action="store_true", help="DPIR without its x8 flips/rotations (same NFE)")
    p.add_argument("--merge", action="store_true",
                   help="replace only these methods' rows in --out's results (same images and noise)")
    p.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16"),
                   help="prior runtime (default auto: restora's default, bf16 + channels_last where fast)")
    p.add_argument("--out", default="benchmarks/results/quality")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--no-perceptual", action="store_true", help="score PSNR / SSIM only (no LPIPS, DISTS)")
    p.add_argument("--kid-patch", type=int, default=0,
                   help="also score the KID of the estimates' PATCH x PATCH patches against the references'")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = parse_steps(args.steps)
    specs = [MethodSpec.parse(m, args.prior) for m in (args.methods or args.solvers).split(",") if m]
    references = [r for r in args.references.split(",") if r]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = centre_crops(Path(args.images), args.size, args.limit)
    x = torch.cat([img for _, img in images])
    priors = {s.prior: load_prior(s.prior).configure(dtype=args.dtype, channels_last=None) for s in specs}
    # the solver's name alone is a label only where it tells the methods apart
    short = len(priors) == 1 and not args.merge

    def label(spec: MethodSpec) -> str:
        return spec.solver if short and not spec.overrides else spec.text

    tasks = [BENCHMARK_TASKS[t] for t in args.tasks.split(",")]
    meta = {"images": [n for n, _ in images], "size": args.size, "sigma_y": args.sigma_y,
            "sigma_y_scale": "[-1,1]", "priors": list(priors), "methods": [s.text for s in specs],
            "references": references,
            "settings": {s.text: {t.family: method_options(s, t.family, priors[s.prior], steps, args.no_x8)
                                  for t in tasks} for s in specs},
            "samples": args.samples, "kid_patch": args.kid_patch or None, "environment": environment(),
            "runtime": {n: {"dtype": p.dtype_name, "channels_last": p.channels_last}
                        for n, p in priors.items()}}
    rows: list[dict] = []
    perceptual = None if args.no_perceptual else Perceptual(args.kid_patch or None)
    for task in tasks:
        # (operator, image indices, measurement) shared by every method
        chunks = task.measurements(x, args.sigma_y, args.batch, lambda idx: 7 + idx[0])
        methods = [classical_method("classical", args.sigma_y),
                   *solver_methods(specs, priors, chunks[0][0], task.family, sigma_y=args.sigma_y,
                                   steps=steps, mean_of=args.samples, no_x8=args.no_x8, label=label),
                   *reference_methods(references, chunks[0][0], args.sigma_y)]
        task_rows, results = score(task.name, methods, chunks, x, perceptual=perceptual)
        rows += task_rows
        write_grid(out / f"grid_{task.name}.png", results, as_unit(x), measurement=as_unit(chunks[0][2]))
        written, _ = write_results(out, rows, meta, merge=args.merge)  # after every task: a stop keeps them
    print(quality_table(written))


if __name__ == "__main__":
    main()
