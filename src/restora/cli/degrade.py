"""``restora degrade``: make measurements from clean images, reproducibly, with sidecar JSON files."""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path

import numpy as np
import torch

import restora
from restora.cli.files import check_no_overwrite, check_output_dir, check_unique_stems, expand_inputs
from restora.cli.log import LOG, error, forward_warnings
from restora.cli.options import check_sigma, parse_pairs, positive_int
from restora.cli.progress import Progress, enabled
from restora.cli.runtime import set_threads
from restora.cli.sidecar import Sidecar
from restora.cli.specs import (
    NOISE_SCALES,
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
from restora.io import read_image, write_image
from restora.operators import NOISE_MODELS, Inpaint, NoiseModel, get_task, noise_model

EXAMPLES = """examples:
  # 4x bicubic downsampling with noise of std 0.05 on the [-1,1] scale, lossless copies too
  restora degrade clean/ --task sr4 --sigma-y 0.05 --seed 0 -o measured/sr4 --save-tensor
  # motion blur with the Levin kernels (one per run) and DiffPIR's noise level 12.75/255
  restora degrade clean/ --task deblur --kernel levin:3 --sigma-y 12.75 --noise-scale 255 -o measured/blur
  # random inpainting masks (80% of the pixels missing), a different mask per image
  restora degrade clean/ --task inpaint --mask random:0.8 --seed 1 -o measured/holes
  # then restore them: task, kernel, mask and sigma_y come from the sidecars
  restora restore measured/holes -o restored/holes --reference clean/

Noise: --sigma-y is Gaussian noise (default); --noise poisson --poisson-rate R is shot noise with R
photons at full intensity, poisson-gaussian adds --sigma-y read-out noise on top; the sidecar's sigma_y
is then the Gaussian equivalent that restore gives the solver.

For each input NAME this writes NAME.png (the measurement, clipped to [0,1] and quantised to 8
bits), NAME.npy with --save-tensor (lossless float (y+1)/2; always for cs, which is not an image),
NAME.kernel.npy (blur tasks), NAME.mask.png (inpainting, white = known) and NAME.json, the sidecar
(task, options, sigma_y on every scale, seed, source). Inputs are expanded (folders to the images
directly inside them) and sorted by path; image i (0-based) uses the seed --seed + i for everything
random (kernel, mask, compressed-sensing matrix, noise), so a run is reproducible image by image.
"""


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "degrade", parents=parents, help="make measurements (degraded images) from clean images",
        description="Degrade clean images into measurements y = A(x) + noise, with sidecar JSON files.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="clean image files or folders")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--task", required=True,
                   help="sr4, deblur-gauss, deblur-motion, deblur, inpaint, denoise, "
                                                 "colorize, jpeg, cs, ... (see `restora restore --help`)")
    p.add_argument("--kernel", metavar="SPEC|FILE", help="blur kernel (levin:3, gauss:61:3.0, a file, ...)")
    p.add_argument("--mask", metavar="SPEC|FILE",
                   help="box[:SIZE], random[:RATIO missing], lines[:N], half[:SIDE] or a file "
                        "(white = known)")
    p.add_argument("--invert-mask", action="store_true",
                   help="the mask file is white where pixels are missing")
    p.add_argument("--task-opt", action="append", metavar="KEY=VALUE", help="operator option (repeatable)")
    p.add_argument("--sigma-y", type=float, default=0.0, metavar="S", help="noise std (default 0)")
    p.add_argument("--noise-scale", choices=NOISE_SCALES, default="[-1,1]",
                   help="scale --sigma-y is quoted on (default [-1,1])")
    p.add_argument("--noise", choices=NOISE_MODELS, default="gaussian",
                   help="noise model (default gaussian; poisson and poisson-gaussian need --poisson-rate)")
    p.add_argument("--poisson-rate", type=float, metavar="R",
                   help="photons at full intensity for Poisson noise (e.g. 30: strong noise, 1000: mild)")
    p.add_argument("--seed", type=int, default=0, help="base seed: image i uses seed + i (default 0)")
    p.add_argument("--save-tensor", action="store_true", help="also write the lossless NAME.npy")
    p.add_argument("--modcrop", action="store_true",
                   help="crop images to a multiple of the SR scale (and write the cropped reference "
                        "to OUTDIR/reference/NAME.png)")
    p.add_argument("--gray", action="store_true", help="degrade grayscale versions of the images")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: the idle cores)")
    p.set_defaults(func=run)


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
    progress = Progress(len(files), len(files), enabled=enabled(args.no_progress))
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
    x = x * 2 - 1
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
    if get_task(side.task).takes_kernel and getattr(op, "kernel", None) is not None:
        save_array(op.kernel.detach().cpu().numpy().astype(np.float32), out / f"{stem}.kernel.npy")
        side.kernel = f"{stem}.kernel.npy"
    if isinstance(op, Inpaint):
        write_image(op.mask[0, :1], out / f"{stem}.mask.png")
        side.mask = f"{stem}.mask.png"
    image = get_task(side.task).image_measurement and is_image_like(tuple(y.shape))
    if image:
        write_image(((y + 1) / 2).clamp(0, 1), out / f"{stem}.png")
        side.measurement = f"{stem}.png"
        side.png_clipped_fraction = float(((y < -1) | (y > 1)).float().mean())
    if args.save_tensor or not image:
        save_measurement_array(y, out / f"{stem}.npy")
        side.tensor = f"{stem}.npy"
    if crop:
        write_image((x + 1) / 2, out / "reference" / f"{stem}.png")
        side.reference = f"reference/{stem}.png"
