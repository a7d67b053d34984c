"""restora next to deepinv on the same prior, the same operators and the same measurements.

    .venv-peers/bin/python benchmarks/peers.py --limit 4 --seeds 3 --threads 1

Needs ``pip install restora[peers]`` (deepinv 0.5.0) in the interpreter that runs it; deepinv pulls a
large torch, so restora keeps it in a separate environment (``.venv-peers``). Only the algorithms
differ: the bundled prior is handed to deepinv as its [0, 1] denoiser interface,
D01(x, s) = (D(2x - 1, 2s) + 1) / 2, and restora's operator as a deepinv ``LinearPhysics`` (its A, its
adjoint and its closed-form prox) or ``DecomposablePhysics`` (its SVD), so every run sees identical
measurements y (restora's, mapped to [0, 1] as y01 = (y + A 1) / 2, which is A applied to (x + 1) / 2).

Conventions that differ and how they are matched (see docs/peers.md):
- DiffPIR: deepinv's data step is prox_{gamma f} with f = ||Ax - y||^2 / 2 and gamma = 1 / (2 rho), i.e.
  weight 2 rho on ||x - z||^2 where the official code (and restora) use rho: deepinv's lambda is half
  the official one. deepinv (like the official code) clips x0 to [-1, 1] every step and returns the
  re-noised iterate before the last denoiser call; noise sigma on [0, 1], floored at 0.001 for
  noiseless inpainting as the official code does.
- DDRM: deepinv takes the list of noise levels on [0, 1] (here restora's ladder, halved) and draws its
  noise with std sigma / sqrt(2) (deepinv's code); restora follows the authors' code.
Every method runs --seeds times (sampling noise: one seed's mean over 4 crops moves by ~0.5 dB on box
inpainting); the table gives the mean over seeds and its standard error. Writes
benchmarks/results/peers/results.json and table.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from restora.experiments.measurements import BENCHMARK_TASKS, centre_crops, data_root, environment, mean_sem
from restora.experiments.records import write_results
from restora.experiments.tables import seeds_table
from restora.metrics import psnr, ssim
from restora.operators import Inpaint
from restora.pictures import as_unit
from restora.priors import load
from restora.schedules import sampling_sigmas
from restora.solvers import get, settings

try:
    import deepinv as dinv
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("benchmarks/peers.py needs deepinv: pip install 'restora[peers]' (in a separate venv, "
             "e.g. .venv-peers; deepinv brings a large torch)")

# task -> (sigma_y on [-1, 1], solver settings family); DiffPIR's paper noise 12.75/255 on [0, 1] = 0.1
PEER_TASKS = {"sr4": 0.1, "deblur-gauss": 0.1, "inpaint-box": 0.0}
MIN_SIGMA01 = 0.001  # the official DiffPIR code's floor on the [0, 1] noise level


class Denoiser01(torch.nn.Module):
    """A restora prior as deepinv's denoiser: images and sigma on [0, 1]; ``told`` scales the sigma the
    prior is given (deepinv's DDRM draws std sigma / sqrt(2) and calls the denoiser with sigma)."""

    def __init__(self, prior, told: float = 1.0) -> None:
        super().__init__()
        self.prior, self.told = prior, told

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1) * self.told
        return (self.prior(2 * x - 1, (2 * sigma).expand(x.shape[0])) + 1) / 2


def linear_physics(op, sigma01: float):
    """restora's operator as deepinv LinearPhysics on [0, 1] images, with restora's exact prox."""

    class Physics(dinv.physics.LinearPhysics):
        def prox_l2(self, z, y, gamma, **kwargs):
            # deepinv: argmin gamma/2 ||Ax - y||^2 + 1/2 ||x - z||^2 = restora's prox with rho = 1 / gamma
            return op.prox(z, y, 1.0 / gamma)

    return Physics(A=op.A, A_adjoint=op.At, noise_model=dinv.physics.GaussianNoise(sigma=sigma01))


def svd_physics(op, y01: torch.Tensor, sigma01: float):
    """restora's SVD view as deepinv DecomposablePhysics: A = U diag(s) V^T."""
    spectrum = op.Ut(y01[:1])
    mask = op.singular_values_like_y(y01[:1]).expand_as(spectrum).contiguous()
    return dinv.physics.DecomposablePhysics(
        U=op.U, U_adjoint=op.Ut, V=op.V, V_adjoint=op.Vt, mask=mask,
        noise_model=dinv.physics.GaussianNoise(sigma=sigma01))


def real_svd(op) -> bool:
    """deepinv's DDRM indexes real singular-vector coefficients; restora's FFT-based SVDs (blur, SR) are
    complex, so the DDRM comparison runs where restora's SVD is real (masks)."""
    return isinstance(op, Inpaint)


def methods(prior, task: str, op, sigma_y: float, steps: int, dps_steps: int) -> dict:
    """label -> run(y, y01, seed) returning images in [-1, 1]; DPS only where ``dps_steps`` > 0."""
    family = BENCHMARK_TASKS[task].family
    official = {**settings("diffpir", family), "steps": steps}  # the released code's settings
    sigma01 = max(sigma_y / 2, MIN_SIGMA01)
    den = Denoiser01(prior)

    def restora(solver, **extra):
        opts = {**(official if solver == "diffpir" else settings(solver, family)), "steps": steps, **extra}
        return lambda y, y01, seed: get(solver)(prior, op, y, sigma_y=sigma_y,
                                                generator=torch.Generator().manual_seed(seed), **opts)

    def deepinv_diffpir(y, y01, seed):
        model = dinv.sampling.DiffPIR(den, dinv.optim.data_fidelity.L2(), sigma=sigma01, max_iter=steps,
                                      zeta=official["zeta"], lambda_=official["lam"] / 2)
        return model(y01, linear_physics(op, sigma01), seed=seed) * 2 - 1

    ladder = [float(s) / 2 for s in sampling_sigmas(prior.schedule, steps, "uniform")]

    def deepinv_ddrm(told: float):
        def run(y, y01, seed):
            model = dinv.sampling.DDRM(Denoiser01(prior, told), sigmas=ladder,
                                       eta=settings("ddrm", family).get("eta", 0.85))
            return model(y01, svd_physics(op, y01, sigma_y / 2), seed=seed) * 2 - 1
        return run

    dps_zeta = settings("dps", family).get("zeta", 1.0)

    def deepinv_dps(y, y01, seed):
        model = dinv.sampling.DPS(den, num_steps=dps_steps, weight=dps_zeta, dtype=torch.float32)
        with torch.enable_grad():
            return model(y01, linear_physics(op, sigma01), seed=seed) * 2 - 1

    def restora_dps(y, y01, seed):
        with torch.enable_grad():
            return restora("dps", steps=dps_steps)(y, y01, seed)

    out = {"restora diffpir": restora("diffpir"),
           "restora diffpir clip_x0": restora("diffpir", clip_x0=True),
           "restora diffpir clip_x0, official ending": restora("diffpir", clip_x0=True, denoise_last=False),
           "deepinv DiffPIR": deepinv_diffpir}
    if op.has_svd and real_svd(op):
        out |= {"restora ddrm": restora("ddrm"), "deepinv DDRM": deepinv_ddrm(1.0),
                "deepinv DDRM, denoiser told sigma / sqrt(2)": deepinv_ddrm(2 ** -0.5)}
    if dps_steps:
        out |= {f"restora dps ({dps_steps} steps)": restora_dps,
                f"deepinv DPS ({dps_steps} steps)": deepinv_dps}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=4)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--tasks", default=",".join(PEER_TASKS))
    p.add_argument("--dps-tasks", default="sr4", help="tasks that also run DPS (slow: autograd)")
    p.add_argument("--dps-steps", type=int, default=100)
    p.add_argument("--dps-seeds", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/peers")
    p.add_argument("--only", default="", help="run only the methods whose label contains one of these "
                   "comma-separated strings, and merge their rows into --out's results")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    images = centre_crops(data_root() / "test" / "CBSD68", args.size, args.limit)
    x = torch.cat([img for _, img in images])
    ref = as_unit(x)
    prior = load("default")
    rows = []
    for task in args.tasks.split(","):
        sigma_y = PEER_TASKS[task]
        op = BENCHMARK_TASKS[task].operator([0], x.shape)
        y = op.measure(x, sigma_y, torch.Generator().manual_seed(7))
        y01 = (y + op.A(torch.ones_like(x))) / 2
        dps_steps = args.dps_steps if task in args.dps_tasks.split(",") else 0
        for label, run in methods(prior, task, op, sigma_y, args.steps, dps_steps).items():
            if args.only and not any(part in label for part in args.only.split(",")):
                continue
            scores, ssims, seconds = [], [], 0.0
            seeds = args.dps_seeds if "DPS" in label.upper() else args.seeds
            for seed in range(seeds):
                start = time.perf_counter()
                est = as_unit(run(y, y01, 100 + seed).clamp(-1, 1))
                seconds += time.perf_counter() - start
                scores.append(float(psnr(est, ref, quantize=True).mean()))
                ssims.append(float(ssim(est, ref, quantize=True).mean()))
            mean, sem = mean_sem(scores)
            rows.append({"task": task, "method": label, "psnr": mean, "psnr_sem": sem,
                         "psnr_seeds": scores, "ssim": sum(ssims) / len(ssims),
                         "seconds_per_image": seconds / seeds / len(x)})
            print(f"{task:13s} {label:26s} {mean:.2f} +- {sem:.2f} dB", flush=True)
    meta = {"images": [n for n, _ in images], "size": args.size, "steps": args.steps, "seeds": args.seeds,
            "dps_steps": args.dps_steps, "dps_tasks": args.dps_tasks,
            "sigma_y": PEER_TASKS, "sigma_y_scale": "[-1,1]", "deepinv": dinv.__version__,
            "diffpir_settings": {t: settings("diffpir", BENCHMARK_TASKS[t].family) for t in PEER_TASKS},
            "environment": environment()}
    rows, _ = write_results(Path(args.out), rows, meta, merge=bool(args.only))
    print(seeds_table(rows))


if __name__ == "__main__":
    main()
