"""Blind deblurring of "real" photos: Set5 images blurred here by camera shakes the method is never told,
with noise, saved as JPEG (quality 90), then restored as a user would restore a phone photo: from the
JPEG alone, with the noise level estimated (``sigma_y="auto"``) and the kernel estimated (``blind-pnp``,
the default of ``restora restore --task deblur-blind``). No score is the point: the pictures are judged
by eye; the true kernels are shown only afterwards, with the kernel NCC and the estimated noise level.

    python benchmarks/blind_photos.py --threads 1 --out benchmarks/results/blind-photos
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restora.experiments.measurements import data_root, environment
from restora.experiments.records import write_json
from restora.io import read_image, to_model, to_uint8, to_unit, write_image
from restora.operators import BlindBlur, Blur
from restora.operators.kernel_fit import kernel_similarity
from restora.operators.kernels import random_shake
from restora.operators.noise_level import estimate_sigma_y
from restora.pictures import kernel_view, side_by_side
from restora.priors import load
from restora.solvers import get

PHOTOS = ("img_002.png", "img_003.png", "img_004.png")  # Set5 bird, butterfly, head
NOISE, QUALITY, SECRET_SEED = 0.02, 90, 31_337  # sigma on [-1, 1]; JPEG quality; the shakes' seed


def as_jpeg(x: torch.Tensor, path: Path) -> None:
    """Write a [-1, 1] image as an 8-bit JPEG (the degraded "photo" the method gets)."""
    Image.fromarray(to_uint8(to_unit(x, clip=True))).save(path, quality=QUALITY)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prior", default="ffdnet-color", help="image prior of blind-pnp")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="benchmarks/results/blind-photos")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    prior, gen = load(args.prior), torch.Generator().manual_seed(SECRET_SEED)
    rows, pictures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in PHOTOS:
            x = to_model(read_image(data_root() / "test" / "Set5" / name, channels=3))
            h, w = (s - s % 2 for s in x.shape[-2:])
            x = x[..., :h, :w]
            k = random_shake(31, gen)
            y = Blur(k).A(x) + NOISE * torch.randn(x.shape, generator=gen)
            as_jpeg(y, Path(tmp) / "photo.jpg")
            photo = to_model(read_image(Path(tmp) / "photo.jpg", channels=3))  # all the method gets
            op = BlindBlur(31)
            sigma = float(estimate_sigma_y(op, photo)[0])
            restored = get("blind-pnp")(prior, op, photo, sigma_y="auto")
            ncc = kernel_similarity(op.estimate[0], k)[0]
            rows.append({"image": name, "size": [h, w], "sigma_y_estimate": sigma, "kernel_ncc": ncc})
            print(f"{name} {h}x{w}: sigma_y estimated {sigma:.4f} (added {NOISE}, then JPEG q{QUALITY}), "
                  f"kernel NCC {ncc:.3f}", flush=True)
            side = min(h, w)
            crop = (..., slice(0, side), slice(0, side))
            pictures.append(side_by_side(
                [to_unit(photo, clip=True)[crop], kernel_view(op.estimate[0], side, side // 4),
                 to_unit(restored, clip=True)[crop], kernel_view(k, side, side // 4)],
                ["JPEG photo (input)", "kernel found", "restored (blind-pnp)", "true kernel (hidden)"]))
    out = Path(args.out)
    meta = {"images": list(PHOTOS), "set": "Set5", "noise_sigma": NOISE, "sigma_y_scale": "[-1,1]",
            "jpeg_quality": QUALITY, "kernel_size": 31, "prior": args.prior, "environment": environment()}
    write_json(out / "results.json", {"meta": meta, "rows": rows})
    width = max(pic.shape[1] for pic in pictures)
    write_image(np.concatenate([np.pad(pic, ((0, 0), (0, width - pic.shape[1]), (0, 0)))
                                for pic in pictures]), out / "pictures.png")


if __name__ == "__main__":
    main()
