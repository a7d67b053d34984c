"""Blind deblurring on CBSD68 crops blurred by each of the 8 Levin09 kernels (the kernel never given to
the blind methods), against the same image solvers given the true kernel.

    python benchmarks/blind.py --limit 2 --threads 1 --out benchmarks/results/blind

Per crop and kernel: y = k * x + n (circular), sigma_y 0.02 on [-1, 1] (2.55/255 on [0, 1]), seeded per
crop and kernel. Methods: the classical blind row (``BlindBlur.classical``: the L0 kernel estimate of Xu
et al. / Pan et al., then the discrepancy-principle Tikhonov deconvolution), ``blind-pnp`` (with
``--prior``), and the oracles: the classical deconvolution and DPIR with the true kernel. PSNR on 8-bit
RGB at the best integer shift within +-8 px, 16 px borders left out (a blind result is defined up to the
kernel's shift); the kernel's normalised cross-correlation with the truth at the best shift; seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from restora.experiments.measurements import centre_crops, data_root, environment
from restora.experiments.records import write_json
from restora.experiments.scoring import aligned_psnr
from restora.operators import BlindBlur, Blur
from restora.operators.kernel_fit import kernel_similarity
from restora.operators.kernels import levin_kernel
from restora.priors import load
from restora.solvers import get

SIGMA_Y = 0.02  # [-1, 1]
SHIFT, BORDER = 8, 16


def methods(prior_name: str, size: int) -> dict:
    """label -> fn(y, true kernel) -> (restoration, estimated kernel or None, NFE)."""
    prior = load(prior_name)

    def classical_blind(y, k):
        op = BlindBlur(size)
        return op.classical(y, SIGMA_Y), op.estimate[0], 0

    def blind_pnp(y, k):
        op = BlindBlur(size)
        calls = []
        x = get("blind-pnp")(prior, op, y, sigma_y=SIGMA_Y, callback=calls.append)
        return x, op.estimate[0], len(calls)

    def oracle_dpir(y, k):
        calls = []
        x = get("dpir")(prior, Blur(k), y, sigma_y=SIGMA_Y, steps=8, x8=True, callback=calls.append)
        return x, None, len(calls)

    return {"classical blind (L0 + Tikhonov)": classical_blind, f"blind-pnp@{prior_name}": blind_pnp,
            "oracle: classical, true kernel": lambda y, k: (Blur(k).classical(y, SIGMA_Y), None, 0),
            f"oracle: dpir@{prior_name}, true kernel": oracle_dpir}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=2, help="CBSD68 crops")
    p.add_argument("--size", type=int, default=256, help="crop side")
    p.add_argument("--kernel-size", type=int, default=31, help="the blind methods' kernel support (odd)")
    p.add_argument("--prior", default="ffdnet-color", help="prior of blind-pnp and the DPIR oracle")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="benchmarks/results/blind")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    crops = centre_crops(data_root() / "test" / "CBSD68", args.size, args.limit)
    runs = methods(args.prior, args.kernel_size)
    rows = []
    for j, (name, x) in enumerate(crops):
        for index in range(1, 9):
            k = levin_kernel(index)
            g = torch.Generator().manual_seed(100 * j + index)
            y = Blur(k).A(x) + SIGMA_Y * torch.randn(x.shape, generator=g)
            for label, run in runs.items():
                start = time.perf_counter()
                est, kernel, nfe = run(y, k)
                seconds = time.perf_counter() - start
                score, shift = aligned_psnr(est, x, SHIFT, BORDER)
                ncc = kernel_similarity(kernel, k)[0] if kernel is not None else None
                rows.append({"image": name, "kernel": index, "method": label, "psnr": score, "shift": shift,
                             "kernel_ncc": ncc, "nfe": nfe, "seconds": seconds})
                print(f"{name} levin:{index} {label:40s} {score:.2f} dB"
                      + (f" ncc {ncc:.3f}" if ncc is not None else "") + f" {seconds:.1f} s", flush=True)
    meta = {"images": [n for n, _ in crops], "size": args.size, "kernel_size": args.kernel_size,
            "sigma_y": SIGMA_Y, "sigma_y_scale": "[-1,1]", "prior": args.prior, "max_shift": SHIFT,
            "border": BORDER, "environment": environment()}
    write_json(Path(args.out) / "results.json", {"meta": meta, "rows": rows})


if __name__ == "__main__":
    main()
