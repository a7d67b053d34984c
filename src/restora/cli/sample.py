"""``restora sample``: unconditional samples from a prior (DDIM), the check that a prior is wired and what
it has learned."""

from __future__ import annotations

import argparse
import time

import torch

from restora import solvers
from restora.cli.files import check_output_dir, write_json_atomic
from restora.cli.log import LOG
from restora.cli.options import positive_int
from restora.cli.progress import Progress, enabled
from restora.cli.runtime import resolve_device, set_threads
from restora.errors import RestoraError
from restora.io import write_image
from restora.pictures import as_unit
from restora.priors.spec import load_spec

EXAMPLES = """examples:
  restora sample --prior default -n 4 --size 128 -o samples/
  restora sample --prior adm-ffhq256:ffhq_10m.pt -n 8 --steps 100 --eta 1 --device cuda -o faces/

Writes OUT/sample0000.png, ... and OUT/run.json. Sample i is drawn alone with the seed --seed + i, so a
run is reproducible image by image whatever -n is.
"""


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sample", parents=parents, help="unconditional samples from a prior (DDIM)",
                       description="Draw images from a prior with DDIM (eta 0) or DDPM-like (eta 1) "
                                   "sampling.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("-n", "--count", type=positive_int, default=4, help="images to draw (default 4)")
    p.add_argument("--size", type=positive_int, default=128, help="height and width in pixels (default 128)")
    p.add_argument("--prior", default="default", help="a prior spec, as for `restora restore`")
    p.add_argument("--weights", metavar="FILE", help="weights file for a preset name or adm:CONFIG.json")
    p.add_argument("--steps", type=positive_int, default=50, help="denoiser calls per image (default 50)")
    p.add_argument("--eta", type=float, default=0.0, help="0: DDIM, 1: DDPM posterior noise (default 0)")
    p.add_argument("--seed", type=int, default=0, help="sample i uses seed + i")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: the idle cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    solvers.validate_options("ddim", {"eta": args.eta})
    device = resolve_device(args.device)
    out = check_output_dir(args.out)
    prior, info = load_spec(args.prior, args.weights, device=device, dtype=args.dtype, channels_last=None)
    if prior.native_size is not None and args.size != prior.native_size:
        raise RestoraError(f"{info.name} draws {prior.native_size}x{prior.native_size} images; pass --size "
                           f"{prior.native_size}")
    size = -(-args.size // prior.size_multiple) * prior.size_multiple
    progress = Progress(args.count, args.count * args.steps, enabled=enabled(args.no_progress))
    t0 = time.perf_counter()
    for i in range(args.count):
        progress.batch(f"sample {i}", args.steps)
        img = solvers.get("ddim")(prior, (1, prior.channels, size, size), steps=args.steps, eta=args.eta,
                                  generator=torch.Generator().manual_seed(args.seed + i), device=device,
                                  callback=lambda step: progress.nfe())
        write_image(as_unit(img[..., : args.size, : args.size].cpu()), out / f"sample{i:04d}.png")
        progress.finished(1)
    progress.close()
    write_json_atomic(out / "run.json", {"prior": info.as_dict(), "count": args.count, "size": args.size,
                                         "steps": args.steps, "eta": args.eta, "seed": args.seed,
                                         "seconds": round(time.perf_counter() - t0, 3)})
    LOG.info(f"drew {args.count} sample(s) from {info.name} in {time.perf_counter() - t0:.1f} s -> {out}/")
    return 0

