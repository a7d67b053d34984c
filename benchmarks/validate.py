"""Held-out denoising PSNR of the bundled weights themselves (what `restora train` logs during training),
for the model card's last validation row.

    python benchmarks/validate.py

The validation images and crop are those of the training run that made the weights (its record in
benchmarks/results/training-*.json). Writes benchmarks/results/validation/results.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from restora.experiments.measurements import environment
from restora.experiments.records import write_json
from restora.priors import load as load_prior
from restora.priors.loaders import read_metadata
from restora.priors.registry import BUNDLED_FILE
from restora.train import split_paths, validate, validation_set

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--record", default=str(ROOT / "benchmarks" / "results" / "training-natural-v3.json"),
                   help="the training record whose validation set to use")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "validation" / "results.json"))
    args = p.parse_args(argv)
    cfg = json.loads(Path(args.record).read_text())["config"]
    _, val = split_paths([str(ROOT / d) for d in cfg["data"]], cfg["holdout_every"])
    with torch.inference_mode():
        measured = validate(load_prior("default"), validation_set(val, cfg["val_crop"]))
    weights = ROOT / "src" / "restora" / "weights" / BUNDLED_FILE
    steps = int(read_metadata(weights)["train_steps"])
    write_json(Path(args.out), {"weights": BUNDLED_FILE, "train_steps": steps,
                                "record": Path(args.record).name, "images": len(val), "crop": cfg["val_crop"],
                                "psnr": measured, "environment": environment()})
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
