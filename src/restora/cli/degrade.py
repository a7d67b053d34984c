"""``restora degrade``: make measurements from clean images, reproducibly, with sidecar JSON files."""

from __future__ import annotations

import argparse
import datetime as _dt
import math
from pathlib import Path

import numpy as np
import torch

import restora
from restora.cli.files import check_no_overwrite, check_output_dir, check_unique_stems, expand_inputs
from restora.cli.log import LOG, error, forward_warnings
from restora.cli.options import check_sigma
from restora.cli.progress import RunProgress, enabled
from restora.cli.runtime import set_threads
from restora.cli.sidecar import Sidecar
from restora.cli.specs import (
    CliSpec,
    Spec,
    check_kernel,
    check_mask_file,
    describe_sigma,
    is_image_like,
    noise_scales,
    probe_operator,
    resolve,
    save_array,
    save_measurement_array,
)
from restora.errors import RestoraError
from restora.io import read_image, to_model, to_unit, write_image
from restora.operators import Inpaint, NoiseModel, noise_model, tasks
from restora.pairs import parse_pairs


@torch.no_grad()
def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    base, noise = _check(args)
    out = check_output_dir(args.out)
    files = expand_inputs(args.inputs, tensors=False)
    check_unique_stems(files)
    read = {f: "the input" for f in files}
    for name, value in (("the kernel", args.kernel), ("the mask", args.mask)):
        if value is not None and Path(value).expanduser().is_file():
            read[Path(value).expanduser()] = name
    check_no_overwrite([out / f"{f.stem}{suffix}" for f in files for suffix in
                        (".png", ".npy", ".json", ".kernel.npy", ".mask.png")]
                       + [out / "reference" / f"{f.stem}.png" for f in files], read)
    LOG.info(f"sigma_y = {describe_sigma(base.sigma_y)}" if noise.name == "gaussian" else
             f"noise {noise.record()} (sigma_y in each sidecar: its Gaussian equivalent)")
    failed = 0
    progress = RunProgress(len(files), len(files), enabled=enabled(args.no_progress))
    for index, path in enumerate(files):
        try:
            _degrade_one(path, index, base, noise, args, out)
        except Exception as exc:
            failed += 1
            error(exc, str(path))
        progress.nfe()
        progress.finished(1)
    progress.close()
    LOG.info(f"degraded {len(files) - failed} image(s) ({base.task}) -> {out}/"
             + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _check(args: argparse.Namespace) -> tuple[Spec, NoiseModel]:
    """The degradation and noise model the options describe, checked (exit 2) before any file is read."""
    sigma = check_sigma(args.sigma_y, scale=args.noise_scale)
    if args.noise != "gaussian" and args.poisson_rate is None:
        raise RestoraError(f"--noise {args.noise} needs --poisson-rate R (photons at full intensity)")
    if args.noise == "gaussian" and args.poisson_rate is not None:
        raise RestoraError("--poisson-rate goes with --noise poisson or poisson-gaussian")
    if args.poisson_rate is not None and not (math.isfinite(args.poisson_rate) and args.poisson_rate >= 1):
        raise RestoraError(f"--poisson-rate must be a number >= 1 (photons at full intensity), got "
                           f"{args.poisson_rate:g}: fewer photons leave noise larger than the image range")
    noise = noise_model(args.noise, sigma, args.poisson_rate)
    cli = CliSpec(task=args.task, mask=args.mask, kernel=args.kernel,
                  task_options=parse_pairs(args.task_opt, "--task-opt"), sigma_y=sigma,
                  invert_mask=args.invert_mask)
    check_kernel(args.kernel)
    check_mask_file(args.mask)
    base = resolve(cli, None, Path("."), args.seed)
    probe_operator(base)  # unknown task options, bad kernels, etc. fail here (exit 2)
    return base, noise


def _degrade_one(path: Path, index: int, base: Spec, noise: NoiseModel, args: argparse.Namespace,
                 out: Path) -> None:
    seed = args.seed + index
    with forward_warnings(f"{path.name}: "):
        # a gray image stays gray, unless the task measures gray images of colour ones (colorize)
        x = read_image(path, channels=1 if args.gray else 3 if base.kind.gray_measurement else None)
    scale = base.kind.scale
    crop = None
    if scale > 1 and args.modcrop:
        h, w = x.shape[-2:]
        crop = (h - h % scale, w - w % scale)
        if 0 in crop:
            raise RestoraError(f"image {h}x{w} is smaller than the scale {scale}")
        x = x[..., : crop[0], : crop[1]]
    x = to_model(x)
    gen = torch.Generator().manual_seed(seed)
    spec = Spec(task=base.task, options=base.options, kernel=base.kernel, mask=base.mask,
                sigma_y=base.sigma_y, seed=seed)
    op = spec.build(tuple(x.shape), gen)  # draws random kernels / masks / CS matrices from gen ...
    clean = op.A(x)
    y = noise(clean, gen)  # ... then the noise
    sigma_y = noise.equivalent_sigma(clean)
    side = Sidecar(task=spec.task, image_shape=list(x.shape[1:]), measurement_shape=list(y.shape[1:]),
                   task_options=spec.options, sigma_y=sigma_y, noise=noise.record(),
                   sigma_y_scales=noise_scales(sigma_y),
                   sigma_y_given={"value": args.sigma_y, "scale": args.noise_scale}, seed=seed,
                   base_seed=args.seed, index=index, kernel_spec=args.kernel, mask_spec=args.mask,
                   modcrop=list(crop) if crop else None, source=str(path), source_name=path.name,
                   restora=restora.__version__,
                   created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    _write_files(op, x, y, crop, path.stem, side, args, out)
    side.write(out / f"{path.stem}.json")  # last: marks the measurement complete


def _write_files(op, x: torch.Tensor, y: torch.Tensor, crop, stem: str, side: Sidecar,
                 args: argparse.Namespace, out: Path) -> None:
    """The measurement (PNG and/or .npy), its kernel or mask, the cropped reference; named in ``side``."""
    if tasks.info(side.task).takes_kernel and op.kernel is not None:
        save_array(op.kernel.detach().cpu().numpy().astype(np.float32), out / f"{stem}.kernel.npy")
        side.kernel = f"{stem}.kernel.npy"
    if isinstance(op, Inpaint):
        write_image(op.mask[0, :1], out / f"{stem}.mask.png")
        side.mask = f"{stem}.mask.png"
    image = tasks.info(side.task).image_measurement and is_image_like(tuple(y.shape))
    if image:
        write_image(to_unit(y, clip=True), out / f"{stem}.png")
        side.measurement = f"{stem}.png"
        side.png_clipped_fraction = float(((y < -1) | (y > 1)).float().mean())
    if args.save_tensor or not image:
        save_measurement_array(y, out / f"{stem}.npy")
        side.tensor = f"{stem}.npy"
    if crop:
        write_image(to_unit(x), out / "reference" / f"{stem}.png")
        side.reference = f"reference/{stem}.png"
