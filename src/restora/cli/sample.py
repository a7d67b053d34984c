"""``restora sample``: unconditional samples from a prior (DDIM), the check that a prior is wired and what
it has learned."""

from __future__ import annotations

import argparse
import time

import torch

from restora import solvers
from restora.cli.files import check_output_dir, write_json_atomic
from restora.cli.log import LOG
from restora.cli.progress import RunProgress, enabled
from restora.cli.runtime import resolve_device, set_threads
from restora.errors import RestoraError
from restora.io import write_image
from restora.pictures import as_unit
from restora.priors.spec import load_spec
from restora.priors.spec import parse as parse_prior


def check_fits(prior, size: int, device: torch.device) -> None:
    """Refuse (exit 2) a --size whose one call of the prior needs more memory than is free: samples are
    drawn whole (tiles would leave seams in an image that has no measurement to hold them together)."""
    from restora.priors.tiling import available_bytes, prior_bytes_per_pixel

    free = available_bytes(device)
    need = prior_bytes_per_pixel(prior, device) * size * size
    if free is not None and need > free / 2:
        raise RestoraError(f"--size {size}: one call of the prior needs ~{need / 2**30:.1f} GiB, more than "
                           f"half of the {free / 2**30:.1f} GiB free; draw smaller samples")


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    solvers.validate_options("ddim", {"eta": args.eta})
    device = resolve_device(args.device)
    out = check_output_dir(args.out)
    prior, info = load_spec(parse_prior(args.prior, args.weights), device=device, dtype=args.dtype,
                            channels_last=None)
    if prior.native_size is not None and args.size != prior.native_size:
        raise RestoraError(f"{info.name} draws {prior.native_size}x{prior.native_size} images; pass --size "
                           f"{prior.native_size}")
    size = -(-args.size // prior.size_multiple) * prior.size_multiple
    check_fits(prior, size, device)
    progress = RunProgress(args.count, args.count * args.steps, enabled=enabled(args.no_progress))
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

