"""``restora degrade``: make measurements from clean images, reproducibly, with sidecar JSON files."""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import torch

import restora
from restora.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Console,
    check_outputs,
    check_sigma,
    expand_inputs,
    forward_warnings,
    one_line,
    parse_pairs,
    positive_int,
    prepare_output_dir,
    progress,
    set_threads,
    write_json_atomic,
)
from restora.cli.specs import (
    NOISE_SCALES,
    SIDECAR_FORMAT,
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
    sr_scale,
    takes_kernel,
)
from restora.errors import RestoraError
from restora.io import read_image, write_image
from restora.operators import Inpaint, sigma_on_model_scale

EXAMPLES = """examples:
  # 4x bicubic downsampling with noise of std 0.05 on the [-1,1] scale, lossless copies too
  restora degrade clean/ --task sr4 --sigma-y 0.05 --seed 0 -o measured/sr4 --save-tensor
  # motion blur with the Levin kernels (one per run) and DiffPIR's noise level 12.75/255
  restora degrade clean/ --task deblur --kernel levin:3 --sigma-y 12.75 --noise-scale 255 -o measured/blur
  # random inpainting masks (80% of the pixels missing), a different mask per image
  restora degrade clean/ --task inpaint --mask random:0.8 --seed 1 -o measured/holes
  # then restore them: task, kernel, mask and sigma_y come from the sidecars
  restora restore measured/holes -o restored/holes --reference clean/

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
    p.add_argument("--seed", type=int, default=0, help="base seed: image i uses seed + i (default 0)")
    p.add_argument("--save-tensor", action="store_true", help="also write the lossless NAME.npy")
    p.add_argument("--modcrop", action="store_true",
                   help="crop images to a multiple of the SR scale (and write the cropped reference "
                        "to OUTDIR/reference/NAME.png)")
    p.add_argument("--gray", action="store_true", help="degrade grayscale versions of the images")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.set_defaults(func=run)


@torch.no_grad()
def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    sigma = sigma_on_model_scale(check_sigma(args.sigma_y), args.noise_scale)
    cli = CliSpec(task=args.task, mask=args.mask, kernel=args.kernel,
                  task_options=parse_pairs(args.task_opt, "--task-opt"), sigma_y=sigma,
                  invert_mask=args.invert_mask)
    check_kernel(args.kernel)
    check_mask_file(args.mask)
    base = resolve(cli, None, Path("."), args.seed)
    probe_operator(base)  # unknown task options, bad kernels, etc. fail here (exit 2)
    out = prepare_output_dir(args.out)
    files = expand_inputs(args.inputs, tensors=False)
    check_outputs(files, out, (".png", ".npy"))
    Console.info(f"sigma_y = {describe_sigma(sigma)}")
    failed = 0
    for index, path in enumerate(progress(files, desc="degrade", unit="img")):
        try:
            _degrade_one(path, index, base, args, out)
        except Exception as exc:
            failed += 1
            msg = one_line(exc)
            Console.error(msg if str(path) in msg else f"{path}: {msg}", exc)
    Console.info(f"degraded {len(files) - failed} image(s) ({base.task}) -> {out}/"
                 + (f"; {failed} failed" if failed else ""))
    return EXIT_FAILED if failed else EXIT_OK


def _degrade_one(path: Path, index: int, base: Spec, args: argparse.Namespace, out: Path) -> None:
    seed = args.seed + index
    with forward_warnings(f"{path.name}: "):
        x = read_image(path, channels=1 if args.gray else 3)
    scale = sr_scale(base.task)
    crop = None
    if scale and args.modcrop:
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
    y = op.measure(x, spec.sigma_y, gen)  # ... then the noise
    stem = path.stem
    record: dict[str, Any] = {
        "format": SIDECAR_FORMAT, "restora": restora.__version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "source": str(path), "source_name": path.name,
        "task": spec.task, "task_options": spec.options,
        "kernel_spec": args.kernel, "mask_spec": args.mask, "kernel": None, "mask": None,
        "sigma_y": spec.sigma_y, "sigma_y_scales": noise_scales(spec.sigma_y),
        "sigma_y_given": {"value": args.sigma_y, "scale": args.noise_scale},
        "seed": seed, "base_seed": args.seed, "index": index,
        "image_shape": list(x.shape[1:]), "measurement_shape": list(y.shape[1:]),
        "modcrop": list(crop) if crop else None, "measurement": None, "tensor": None,
    }
    if takes_kernel(spec.task) and getattr(op, "kernel", None) is not None:
        kfile = out / f"{stem}.kernel.npy"
        save_array(op.kernel.detach().cpu().numpy().astype(np.float32), kfile)
        record["kernel"] = kfile.name
    if isinstance(op, Inpaint):
        mfile = out / f"{stem}.mask.png"
        write_image(op.mask[0, :1], mfile)
        record["mask"] = mfile.name
    if is_image_like(tuple(y.shape)):
        mpath = out / f"{stem}.png"
        write_image(((y + 1) / 2).clamp(0, 1), mpath)
        record["measurement"] = mpath.name
        record["png_clipped_fraction"] = float(((y < -1) | (y > 1)).float().mean())
    if args.save_tensor or not is_image_like(tuple(y.shape)):
        save_measurement_array(y, out / f"{stem}.npy")
        record["tensor"] = f"{stem}.npy"
    if crop:
        write_image((x + 1) / 2, out / "reference" / f"{stem}.png")
        record["reference"] = f"reference/{stem}.png"
    write_json_atomic(out / f"{stem}.json", record)  # last: marks the measurement complete
