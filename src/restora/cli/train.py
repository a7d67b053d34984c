"""``restora train``: train a prior (EDM denoising score matching) or export one; the training itself
is :mod:`restora.train`, which this module only parses and checks arguments for."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

from restora.errors import RestoraError
from restora.train import TrainConfig, export, train, with_weights_architecture


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``restora train``'s arguments: the export flags, then one flag per :class:`TrainConfig` field."""
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="restora train",
        description="Train a restora diffusion prior (EDM denoising score matching).",
        epilog="examples:\n  restora train --data ../shared/data/train/natural --out runs/natural\n"
               "  torchrun --nproc-per-node 4 -m restora train --data imgs/ --out runs/x --resume\n"
               "  restora train --export runs/x/checkpoint.pt prior.safetensors\n"
               "  restora train --kernels 31 --model kernel --out runs/kernel   (a blur-kernel prior)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", action="append", default=[], help="image folder (repeatable)")
    p.add_argument("--export", nargs=2, metavar=("CHECKPOINT", "OUT"),
                   help="write a checkpoint's EMA weights (or an exported prior's weights) to OUT "
                        "(.safetensors) and exit")
    p.add_argument("--half", action="store_true", help="with --export: store weights as fp16")
    p.add_argument("--solver-settings", metavar="JSON",
                   help="with --export: solver settings tuned for this prior (benchmarks/tune.py) to store")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="start again in an --out that holds a run (its checkpoint and logs are removed)")
    p.add_argument("--force", action="store_true", help="with --export: replace an existing OUT")
    p.add_argument("--no-progress", action="store_true")
    for name, value in asdict(d).items():
        if name == "data":
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        else:
            p.add_argument(flag, type=type(value), default=value)
    return p.parse_args(argv)


def check_export(args: argparse.Namespace) -> None:
    """``--export CHECKPOINT OUT``: an existing checkpoint or prior, a .safetensors OUT that is replaced only
    with --force."""
    src, dst = (Path(p).expanduser() for p in args.export)
    if not src.is_file():
        raise RestoraError(f"--export {src}: no such checkpoint or prior file")
    if dst.suffix != ".safetensors":
        raise RestoraError(f"--export writes a .safetensors file, got {dst.name}")
    if dst.exists() and not args.force:
        raise RestoraError(f"--export: {dst} exists; pass --force to replace it")
    if args.solver_settings is not None and not Path(args.solver_settings).is_file():
        raise RestoraError(f"--solver-settings {args.solver_settings}: no such file")


def check_run_folder(cfg: TrainConfig, resume: bool, overwrite: bool) -> None:
    """A run folder that holds a checkpoint is continued with --resume or restarted with --overwrite (which
    removes the old checkpoint and logs); anything else would silently replace a run."""
    out = Path(cfg.out)
    old = [out / name for name in ("checkpoint.pt", "log.csv", "val.csv") if (out / name).exists()]
    if resume and overwrite:
        raise RestoraError("--resume continues the run in --out and --overwrite replaces it: pass one")
    if old and not resume and not overwrite:
        raise RestoraError(f"--out {out} already holds a training run ({', '.join(p.name for p in old)}): "
                           "pass --resume to continue it, --overwrite to start it again, or another --out")
    if overwrite:
        for path in old:
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    """Run ``restora train`` with ``argv``: export and exit, or check the run folder and train."""
    args = parse_args(argv)
    if args.export:
        check_export(args)
        export(*args.export, half=args.half, solver_settings=args.solver_settings)
        return 0
    if not args.data and not args.kernels:
        raise RestoraError("give at least one --data folder of training images (or --kernels SIZE for a "
                           "kernel prior)")
    if args.data and args.kernels:
        raise RestoraError("--kernels trains on generated blur kernels: leave out --data")
    cfg = TrainConfig(**{k: getattr(args, k) for k in asdict(TrainConfig())})
    problem = cfg.problem()
    if problem is not None:
        raise RestoraError(problem)
    if cfg.init_from and not Path(cfg.init_from).is_file():
        raise RestoraError(f"--init-from {cfg.init_from}: no such weights file")
    cfg = with_weights_architecture(cfg)
    check_run_folder(cfg, args.resume, args.overwrite)
    fields = asdict(cfg)
    if args.resume and (Path(cfg.out) / "checkpoint.pt").exists():
        saved = json.loads(torch.load(Path(cfg.out) / "checkpoint.pt", map_location="cpu",
                                      weights_only=True)["config"])
        for key in ("model", "crop", "sigma_data", "sigma_min", "sigma_max", "kernels"):
            if saved[key] != fields[key]:
                raise RestoraError(f"--resume with a different {key} ({fields[key]!r} vs {saved[key]!r})")
    train(cfg, resume=args.resume, progress=not args.no_progress)
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0

