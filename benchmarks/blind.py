"""Blind deblurring on CBSD68 crops blurred by each of the 8 Levin09 kernels, or by fresh random camera
shakes (the kernel never given to the blind methods), against the same image solvers given the true kernel.

    python benchmarks/blind.py --limit 4 --threads 1 --out benchmarks/results/blind
    python benchmarks/blind.py --kernels shakes --shakes 8 --limit 2 --threads 1 \
        --out benchmarks/results/blind-shakes

Per crop and kernel: y = k * x + n (circular), sigma_y 0.02 on [-1, 1] (2.55/255 on [0, 1]), seeded per
crop and kernel. Methods: the classical blind row (``BlindBlur.classical``: the L0 kernel estimate of Xu
et al. / Pan et al., then the discrepancy-principle Tikhonov deconvolution), ``blind-pnp`` (with
``--prior``) without and with the kernel prior restora-kernel in its kernel step (Fast Diffusion EM's
M-step), ``blind-dps`` (``--dps-steps``, on the first ``--dps-limit`` crops: it costs a backward pass per
step), and the oracles: the classical deconvolution and DPIR with the true kernel. PSNR / SSIM / LPIPS-alex
on 8-bit RGB at the best integer shift within +-8 px, 16 px borders left out (a blind result is defined up
to the kernel's shift); the kernel's normalised cross-correlation with the truth at the best shift; seconds.
The camera shakes come from restora's generator with seeds the kernel prior never trained on (the same
distribution: in-distribution for the kernel prior, unlike the Levin09 kernels).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from restora.experiments.measurements import centre_crops, data_root, environment
from restora.experiments.records import write_json
from restora.experiments.scoring import aligned_scores
from restora.io import write_image
from restora.metrics import LPIPS
from restora.operators import BlindBlur, Blur
from restora.operators.kernel_fit import kernel_similarity
from restora.operators.kernels import levin_kernel, random_shake
from restora.pictures import kernel_view, side_by_side
from restora.priors import load
from restora.solvers import get

SIGMA_Y = 0.02  # [-1, 1]
SHIFT, BORDER = 8, 16
SHAKE_SEED = 900_000  # far from the kernel prior's training draws (seed 0 generator) and validation (1234)
CLASSICAL, PNP, PNP_PRIOR = "classical blind (L0 + Tikhonov)", "blind-pnp, no kernel prior", \
    "blind-pnp + restora-kernel"


def kernels(kind: str, count: int) -> list[tuple[str, torch.Tensor]]:
    """(label, kernel): the 8 Levin09 kernels, or ``count`` random camera shakes (31 x 31, intensity
    0.3 to 1)."""
    if kind == "levin":
        return [(f"levin:{i}", levin_kernel(i)) for i in range(1, 9)]
    gen = torch.Generator().manual_seed(SHAKE_SEED)
    return [(f"shake:{i + 1}", random_shake(31, gen)) for i in range(count)]


def methods(prior_name: str, size: int, dps_steps: int, dps_zeta: float) -> dict:
    """label -> fn(y, true kernel) -> (restoration, estimated kernel or None, NFE)."""
    prior = load(prior_name)
    diffusion = load("default") if dps_steps else None

    def blind(solver: str, **options):
        def run(y, k):
            op, calls = BlindBlur(size), []
            x = get(solver)(prior if solver == "blind-pnp" else diffusion, op, y, sigma_y=SIGMA_Y,
                            callback=calls.append, generator=torch.Generator().manual_seed(0), **options)
            return x, op.estimate[0], len(calls)
        return run

    def classical_blind(y, k):
        op = BlindBlur(size)
        return op.classical(y, SIGMA_Y), op.estimate[0], 0

    def oracle_dpir(y, k):
        calls = []
        x = get("dpir")(prior, Blur(k), y, sigma_y=SIGMA_Y, steps=8, x8=True, callback=calls.append)
        return x, None, len(calls)

    runs = {CLASSICAL: classical_blind, f"{PNP} (@{prior_name})": blind("blind-pnp", kernel_prior=None),
            f"{PNP_PRIOR} (@{prior_name})": blind("blind-pnp")}
    if dps_steps:
        runs[f"blind-dps@default + restora-kernel, {dps_steps} steps"] = blind("blind-dps", steps=dps_steps,
                                                                                zeta=dps_zeta)
    return runs | {"oracle: classical, true kernel": lambda y, k: (Blur(k).classical(y, SIGMA_Y), None, 0),
                   f"oracle: dpir@{prior_name}, true kernel": oracle_dpir}


def picture_row(y: torch.Tensor, found: dict, k: torch.Tensor, x: torch.Tensor, side: int) -> np.ndarray:
    """blurry | (estimated kernel | restored) per blind method | true kernel | reference: the centre
    ``side`` px of the first crop."""
    h, w = x.shape[-2:]
    centre = (..., slice((h - side) // 2, (h + side) // 2), slice((w - side) // 2, (w + side) // 2))
    unit = lambda t: ((t + 1) / 2).clamp(0, 1)[centre]  # noqa: E731
    tiles, labels = [unit(y)], ["blurry"]
    for label, (est, kernel, score) in found.items():
        tiles += [kernel_view(kernel, side, side // 4), unit(est)]
        labels += [f"kernel: {label.split(' (')[0][:18]}", f"{score:.2f} dB"]
    return side_by_side([*tiles, kernel_view(k, side, side // 4), unit(x)],
                        [*labels, "true kernel", "reference"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=4, help="CBSD68 crops")
    p.add_argument("--size", type=int, default=256, help="crop side")
    p.add_argument("--kernels", choices=("levin", "shakes"), default="levin")
    p.add_argument("--shakes", type=int, default=8, help="with --kernels shakes: how many")
    p.add_argument("--kernel-size", type=int, default=31, help="the blind methods' kernel support (odd)")
    p.add_argument("--prior", default="ffdnet-color", help="prior of blind-pnp and the DPIR oracle")
    p.add_argument("--dps-steps", type=int, default=0, help="blind-dps steps (0: not run)")
    p.add_argument("--dps-limit", type=int, default=1, help="blind-dps on the first N crops only")
    p.add_argument("--dps-zeta", type=float, default=3.0,
                   help="blind-dps guidance scale (published: 1 at 1000 steps; 3 was the best of 1 / 3 / 10 "
                        "at 200 steps on a held-out training crop)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="benchmarks/results/blind")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    crops = centre_crops(data_root() / "test" / "CBSD68", args.size, args.limit)
    runs = methods(args.prior, args.kernel_size, args.dps_steps, args.dps_zeta)
    lpips_model = LPIPS.load("alex")
    rows, pictures = [], []
    for j, (name, x) in enumerate(crops):
        for index, (kernel_name, k) in enumerate(kernels(args.kernels, args.shakes), start=1):
            g = torch.Generator().manual_seed(100 * j + index)
            y = Blur(k).A(x) + SIGMA_Y * torch.randn(x.shape, generator=g)
            found = {}
            for label, run in runs.items():
                if label.startswith("blind-dps") and j >= args.dps_limit:
                    continue
                start = time.perf_counter()
                est, kernel, nfe = run(y, k)
                seconds = time.perf_counter() - start
                scores = aligned_scores(est, x, SHIFT, BORDER, lpips_model)
                ncc = kernel_similarity(kernel, k)[0] if kernel is not None else None
                rows.append({"image": name, "kernel": kernel_name, "method": label, **scores,
                             "kernel_ncc": ncc, "nfe": nfe, "seconds": seconds})
                if kernel is not None and j == 0:
                    found[label] = (torch.roll(est, scores["shift"], (-2, -1)), kernel, scores["psnr"])
                print(f"{name} {kernel_name} {label:48s} {scores['psnr']:.2f} dB"
                      + (f" ncc {ncc:.3f}" if ncc is not None else "") + f" {seconds:.1f} s", flush=True)
            if j == 0:
                pictures.append(picture_row(y, found, k, x, 128))
    out = Path(args.out)
    meta = {"images": [n for n, _ in crops], "size": args.size, "kernels": args.kernels,
            "kernel_size": args.kernel_size, "sigma_y": SIGMA_Y, "sigma_y_scale": "[-1,1]",
            "prior": args.prior, "dps_steps": args.dps_steps, "dps_zeta": args.dps_zeta,
            "dps_images": [n for n, _ in crops[:args.dps_limit]],
            "max_shift": SHIFT, "border": BORDER, "environment": environment()}
    write_json(out / "results.json", {"meta": meta, "rows": rows})
    write_image(np.concatenate(pictures), out / "pictures.png")


if __name__ == "__main__":
    main()
