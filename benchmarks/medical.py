"""Medical and non-linear tasks on gray images: 4x MRI, 30-view CT, Fourier phase retrieval.

    python benchmarks/medical.py --threads 1

Images: Set12 (gray, centre 256x256 crops) and the Shepp-Logan phantom that scikit-image ships
(resized to 256x256); phase retrieval on the same images downscaled to --phase-size (CPU time).
Gaussian measurement noise sigma_y = 0.05 on the [-1, 1] scale for every task (the DPS paper's
level; for MRI on the orthonormal k-space, so the same per-pixel std in the image; for CT on the
sinogram, whose ray sums are ~100x larger: near-noiseless), one seeded measurement per task.
Classical reconstructions: zero-filled inverse FFT (MRI), filtered back-projection with the ramp
filter (CT), HIO with error reduction (phase retrieval, best of --restarts random starts by
measurement residual). Methods are ``SOLVER@PRIOR`` with the solver's settings for that prior and
task family (:func:`restora.solvers.settings`; benchmarks/tune.py --gray chose those of the bundled
prior); a colour prior runs gray images as three equal channels.
Phase retrieval is scored after :func:`restora.operators.phase.align` (its sign / rotation
ambiguities); the solvers there draw --restarts samples in one batched solve: the first draw is
scored, and the best of them by measurement residual (seconds: for all draws).
PSNR / SSIM on 8-bit gray images in [0, 1], no border crop. Writes results.json, table.md and
grid_<task>.png (classical | methods | reference, first image).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from common import DATA, TASKS, centre_crops, environment
from quality import markdown, merged, solver_kwargs, split_method, write_results
from torch import Tensor

from restora.io import to_model, write_image
from restora.metrics import psnr, ssim
from restora.operators import Operator
from restora.operators.phase import align, hio
from restora.pictures import as_unit, side_by_side
from restora.priors import load as load_prior
from restora.priors.wrappers import for_channels
from restora.solvers import check_compatible, get, info, restore_samples

METHODS = {
    "mri4": "dpir@ffdnet-gray,dpir@ffdnet-color,diffpir@default,diffpir@default+ffdnet-gray,ddrm@default,"
            "ddnm@default,pigdm@default",
    "ct-sparse30": "dpir@ffdnet-gray,dpir@ffdnet-color,diffpir@default,diffpir@default+ffdnet-gray",
    "phase-retrieval": "diffpir@default,dps@default",
}
STEPS = {"diffpir": 25, "ddrm": 20, "ddnm": 25, "pigdm": 25}
PHASE_STEPS = {"diffpir": 100}
CLASSICAL = {"mri4": "zero-filled", "ct-sparse30": "FBP", "phase-retrieval": "HIO"}


def phantom(size: int) -> Tensor:
    """The Shepp-Logan phantom (scikit-image's 400x400 copy), anti-aliased to ``size``, in [-1, 1]."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    img = resize(shepp_logan_phantom(), (size, size), anti_aliasing=True)
    return to_model(torch.from_numpy(img).float().clamp(0, 1)[None, None])


def test_images(limit: int) -> list[tuple[str, Tensor]]:
    return [*centre_crops(DATA / "test" / "Set12", 256, limit, channels=1), ("shepp-logan", phantom(256))]


def residual(op: Operator, x: Tensor, y: Tensor) -> Tensor:
    """Per-image ||y - A(x)||: how draws are ranked without the ground truth."""
    return (op.A(x) - y).flatten(1).norm(dim=1)


def misfit(op: Operator, x: Tensor, y: Tensor) -> Tensor:
    """Per-image relative measurement misfit ||y - A(x)|| / ||y||."""
    return residual(op, x, y) / y.flatten(1).norm(dim=1)


def best_of(op: Operator, y: Tensor, draws: Tensor) -> Tensor:
    """The draw of each image (draws: N, S, C, H, W) whose measurement residual is smallest."""
    n, s = draws.shape[:2]
    res = residual(op.repeat_samples(s), draws.flatten(0, 1), y.repeat_interleave(s, 0)).view(n, s)
    return draws[torch.arange(n), res.argmin(1)]


def classical(task: str, op: Operator, y: Tensor, restarts: int, g: torch.Generator) -> Tensor:
    if task == "ct-sparse30":
        return op.fbp(y)
    if task == "phase-retrieval":
        tries = hio(op, y.repeat_interleave(restarts, 0), generator=g)
        return best_of(op, y, tries.unflatten(0, (len(y), restarts)))
    return op.pinv(y)


def methods_for(task: str, method_names: list[str], priors: dict, op: Operator, args) -> dict[str, tuple]:
    """label -> (run(op, y, generator) -> x, NFE per image) for every method that can handle ``op``."""
    out: dict[str, tuple[Callable, int]] = {}
    family = TASKS[task].family
    for method in method_names:
        solver, prior_name, _ = split_method(method)
        try:
            check_compatible(solver, op)
        except ValueError:
            continue
        prior = priors[prior_name]
        kwargs = solver_kwargs(method, family, prior, {**STEPS, **PHASE_STEPS, "dps": args.dps_steps}
                               if task == "phase-retrieval" else STEPS, args.no_x8)
        draws = args.restarts if task == "phase-retrieval" else 1
        run = partial(restore_samples, get(solver), prior, samples=draws, sigma_y=args.sigma_y, **kwargs)
        calls = info(solver).nfe(prior=prior, **kwargs)
        out[method] = (lambda op, y, g, run=run: run(op, y, generator=g), calls)
    return out


def row(task: str, method: str, est: Tensor, ref: Tensor, calls: int, seconds: float,
        misfit: Tensor | None = None) -> dict:
    """A table row; ``misfit``: per-image ||y - A(x)|| / ||y|| of the (unaligned) estimate."""
    per_image = psnr(est, ref, quantize=True)
    return {"task": task, "method": method, "nfe": calls, "seconds_per_image": round(seconds, 2),
            "psnr": float(per_image.mean()), "ssim": float(ssim(est, ref, quantize=True).mean()),
            "psnr_per_image": [round(float(v), 2) for v in per_image],
            **({} if misfit is None else {"misfit_per_image": [round(float(v), 4) for v in misfit]})}


def parse_args() -> argparse.Namespace:
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
    return p.parse_args()


def score(task: str, methods: dict, op: Operator, x: Tensor, y: Tensor) -> tuple[list[dict], dict]:
    """(rows, estimates in [0, 1]) of every method; a solver's (N, S, C, H, W) draws score the first draw,
    and the best of S by measurement residual; phase retrieval is aligned to the truth first."""
    rows, results = [], {}
    for label, (run, calls) in methods.items():
        start = time.perf_counter()
        est = run(op, y, torch.Generator().manual_seed(11))
        seconds = (time.perf_counter() - start) / len(x)
        variants = {label: est} if est.ndim == 4 else {label: est[:, 0]}
        if est.ndim == 5 and est.shape[1] > 1:
            variants[f"{label} best of {est.shape[1]}"] = best_of(op, y, est)
        for name, img in variants.items():
            fit = None
            if task == "phase-retrieval":
                fit = misfit(op, img, y)
                img = align(img, x)
            results[name] = img = as_unit(img)
            rows.append(row(task, name, img, as_unit(x), calls, seconds, fit))
            print(f"{task:16s} {name:32s} {rows[-1]['psnr']:.2f} dB  {seconds:.1f} s/image", flush=True)
    return rows, results


def write_grid(path: Path, results: dict, ref: Tensor) -> None:
    """classical | methods (with PSNR) | reference for the first image; small images shown enlarged."""
    labels = [f"{n} {float(psnr(r[:1], ref[:1], quantize=True)):.2f}dB" for n, r in results.items()]
    zoom = max(1, 192 // ref.shape[-1])  # small phase-retrieval images shown with visible pixels
    tiles = [F.interpolate(r[:1], scale_factor=zoom, mode="nearest") for r in [*results.values(), ref]]
    write_image(side_by_side(tiles, [*labels, "reference"]), path)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = test_images(args.limit)
    meta = {"images": [n for n, _ in images], "size": 256, "phase_size": args.phase_size,
            "sigma_y": args.sigma_y, "sigma_y_scale": "[-1,1]", "dps_steps": args.dps_steps,
            "restarts": args.restarts, "x8": not args.no_x8, "classical": CLASSICAL,
            "environment": environment()}
    rows, priors = [], {}
    for task in args.tasks.split(","):
        x = torch.cat([img for _, img in images])
        if task == "phase-retrieval":
            x = F.interpolate(x, size=(args.phase_size,) * 2, mode="area")
        op = TASKS[task].operator([0], x.shape)
        y = op.measure(x, args.sigma_y, torch.Generator().manual_seed(7))
        if task == "phase-retrieval":  # the misfit the noise alone leaves: what a perfect fit reaches
            meta["phase_misfit_of_truth"] = [round(float(v), 4) for v in misfit(op, x, y)]
        method_names = [m for m in METHODS[task].split(",")
                        if not args.only or any(part in m for part in args.only.split(","))]
        for name in {split_method(m)[1] for m in method_names} - set(priors):
            priors[name] = for_channels(load_prior(name), 1)
        methods = {CLASSICAL[task]: (lambda op, y, g, task=task: classical(task, op, y, args.restarts, g), 0),
                   **methods_for(task, method_names, priors, op, args)}
        task_rows, results = score(task, methods, op, x, y)
        rows += task_rows
        write_grid(out / f"grid_{task}.png", results, as_unit(x))
        # after every task: a stopped run keeps what it measured
        write_results(out, *(merged(out, rows, meta) if args.merge else (rows, meta)))
    print(markdown(rows))


if __name__ == "__main__":
    main()
