"""Train a prior on one CUDA GPU within a time budget, and check the weights on CPU before shipping them.

    python benchmarks/train_gpu.py train --out runs/gpu --minutes 9          # on the GPU machine
    python benchmarks/train_gpu.py check runs/gpu/prior.safetensors         # here, on CPU
    python benchmarks/train_gpu.py train --out /tmp/t --tiny --minutes 0.2  # CPU smoke test

``train``: restora's recipe (EDM denoising score matching on ../shared/data/train/natural, the
bundled prior's noise range and augmentation) with a larger model and batch than the CPU can afford
(default: the ``base`` UNet, batch 64 of 128x128 crops), bf16 autocast, channels_last and
torch.compile on CUDA. The number of steps is planned from the speed of the first steps so that the
cosine learning-rate schedule anneals fully within --minutes (``TrainConfig.time_budget``); the run
is resumable (``restora train --resume``). Writes OUT/checkpoint.pt, the EMA weights as
OUT/prior.safetensors and OUT/report.json (steps, images seen, seconds, validation PSNR).
``check``: loads the weights with the safe loader on CPU, measures the held-out denoising PSNR that
``restora train`` logs and compares it with the bundled prior's; exits non-zero unless they are
better at every noise level. Only then copy them to src/restora/weights/ (and rerun the benchmarks).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from restora.experiments.measurements import data_root, environment
from restora.priors import load
from restora.train import TrainConfig, export, split_paths, train, validate, validation_set

DATA_DIR = data_root() / "train" / "natural"


def config(args: argparse.Namespace) -> TrainConfig:
    cuda = torch.cuda.is_available()
    tiny = {"model": "tiny", "batch_size": 2, "crop": 32, "val_crop": 64, "warmup": 5} if args.tiny else {}
    return TrainConfig(**{
        "data": [str(args.data)], "out": str(args.out), "model": args.model, "batch_size": args.batch,
        "crop": 128, "lr": args.lr, "steps": 10**9, "time_budget": args.minutes * 60,
        "compile": cuda and not args.no_compile, "channels_last": cuda, "amp": True,
        "ckpt_every": 1000, "val_every": 10**9, "log_every": 50, "seed": args.seed,
        "holdout_every": args.holdout_every, **tiny})


def run_train(args: argparse.Namespace) -> int:
    cfg = config(args)
    start = time.perf_counter()
    ckpt = train(cfg, progress=not args.no_progress)
    seconds = time.perf_counter() - start
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    weights = export(ckpt, Path(args.out) / "prior.safetensors")
    _, val = split_paths(cfg.data, cfg.holdout_every)
    with torch.inference_mode():
        metrics = validate(load(str(weights)), validation_set(val, cfg.val_crop))
    report = {"config": asdict(cfg) | {"steps": int(state["step"])}, "steps": int(state["step"]),
              "images_seen": int(state["step"]) * cfg.batch_size, "seconds": seconds,
              "validation": metrics, "environment": environment(),
              "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}
    (Path(args.out) / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("steps", "images_seen", "seconds", "validation")}))
    return 0


def run_check(args: argparse.Namespace) -> int:
    _, val = split_paths([str(args.data)], args.holdout_every)
    images = validation_set(val, args.val_crop)
    with torch.inference_mode():
        new = validate(load(str(args.weights)), images)
        shipped = validate(load("default"), images)
    for key in new:
        print(f"{key}: new {new[key]:.2f} dB, shipped {shipped[key]:.2f} dB ({new[key] - shipped[key]:+.2f})")
    better = all(new[k] > shipped[k] for k in new)
    print("better at every noise level: ship it" if better else "not better: do not ship")
    return 0 if better else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train within a time budget and export")
    t.add_argument("--out", required=True, help="folder for the checkpoint, weights and report")
    t.add_argument("--minutes", type=float, default=9.0, help="training time budget")
    t.add_argument("--model", default="base", help="UNet size (tiny / small / base) or config JSON")
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-compile", action="store_true", help="skip torch.compile on CUDA")
    t.add_argument("--tiny", action="store_true", help="a tiny model and crops: a CPU smoke test")
    t.add_argument("--no-progress", action="store_true")
    c = sub.add_parser("check", help="validate weights on CPU against the bundled prior")
    c.add_argument("weights")
    c.add_argument("--val-crop", type=int, default=TrainConfig().val_crop, help="validation crop size")
    for q in (t, c):
        q.add_argument("--data", default=str(DATA_DIR), help="training images (the held-out split validates)")
        q.add_argument("--holdout-every", type=int, default=TrainConfig().holdout_every,
                       help="every N-th image (sorted by name) is held out for validation")
    args = p.parse_args(argv)
    return run_train(args) if args.command == "train" else run_check(args)


if __name__ == "__main__":
    sys.exit(main())
