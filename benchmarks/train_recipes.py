"""Training recipes measured before a long run: throughput of the CPU knobs, then validation PSNR
reached at equal CPU time.

1. Throughput (steps/s, images/s, pixels/s) of one training step for: threads, channels_last, bf16
   autocast (detected; also forced once to show what it costs where the CPU lacks bf16), crop size
   vs batch at equal pixels per step, model size.
2. Quality per CPU time: short runs of equal wall-clock budget, each validated at its end
   (``restora.train.validate``: held-out 256x256 crops, sigma 15/25/50): the model sizes from
   scratch, and the crop/batch variants continued from the shipped weights (the way a long run
   would go on). Writes benchmarks/results/training-recipes.json.

    python benchmarks/train_recipes.py --budget 600
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from restora.experiments.measurements import data_root, environment
from restora.priors.base import fast_runtime
from restora.priors.registry import BUNDLED_FILE
from restora.train import (
    ImageBank,
    TrainConfig,
    build_model,
    edm_loss,
    sample_sigmas,
    split_paths,
    train,
    with_weights_architecture,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "restora" / "weights" / BUNDLED_FILE
OUT = ROOT / "benchmarks" / "results" / "training-recipes.json"

THROUGHPUT = [  # (label, config changes, forced bf16 autocast)
    ("small 128x8, 2 threads (v1 recipe)", {}, False),
    ("small 128x8, 1 thread", {"threads": 1}, False),
    ("small 128x8, channels_last", {"channels_last": True}, False),
    ("small 64x2, fp32 (reference for the bf16 row)", {"crop": 64, "batch_size": 2}, False),
    ("small 64x2, bf16 autocast forced", {"crop": 64, "batch_size": 2}, True),
    ("small 64x32", {"crop": 64, "batch_size": 32}, False),
    ("small 256x2", {"crop": 256, "batch_size": 2}, False),
    ("tiny 128x8", {"model": "tiny"}, False),
    ("base 128x8", {"model": "base"}, False),
]
QUALITY = [  # (label, config changes, continue from the shipped weights)
    ("small 128x8 from v1", {}, True),
    ("small 64x32 from v1", {"crop": 64, "batch_size": 32}, True),
    ("small 256x2 from v1", {"crop": 256, "batch_size": 2}, True),
    ("tiny 128x8 from scratch", {"model": "tiny"}, False),
    ("small 128x8 from scratch", {}, False),
    ("base 128x8 from scratch", {"model": "base"}, False),
]


def base_config(out: str) -> TrainConfig:
    return TrainConfig(data=[str(data_root() / "train" / "natural")], out=out, model="small", steps=16000,
                       batch_size=8, crop=128, threads=2, val_every=10**9, ckpt_every=10**9, log_every=10)


def step_seconds(cfg: TrainConfig, force_bf16: bool, steps: int, warmup: int = 2) -> float:
    """Median wall time of one optimisation step (forward, backward, AdamW) for ``cfg``."""
    torch.set_num_threads(cfg.threads)
    paths, _ = split_paths(cfg.data, cfg.holdout_every)
    bank = ImageBank(paths[:20], cfg.crop)
    model = build_model(cfg)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        x0 = bank.sample(cfg.batch_size, gen)
        sigma = sample_sigmas(cfg.batch_size, cfg, gen)
        noise = torch.randn(x0.shape, generator=gen)
        if cfg.channels_last:
            x0, noise = (t.contiguous(memory_format=torch.channels_last) for t in (x0, noise))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=force_bf16):
            loss = edm_loss(model, x0, sigma, noise, cfg.sigma_data)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def throughput(steps: int) -> list[dict]:
    rows = []
    for label, change, bf16 in THROUGHPUT:
        cfg = replace(base_config("unused"), **change)
        n = max(3, steps // 4) if cfg.model == "base" else 2 if bf16 else steps
        sec = step_seconds(cfg, bf16, n, warmup=1 if bf16 else 2)
        rows.append({"recipe": label, "model": cfg.model, "crop": cfg.crop, "batch": cfg.batch_size,
                     "threads": cfg.threads, "channels_last": cfg.channels_last, "bf16": bf16,
                     "seconds_per_step": sec, "steps_per_s": 1 / sec, "images_per_s": cfg.batch_size / sec,
                     "megapixels_per_s": cfg.batch_size * cfg.crop**2 / sec / 1e6})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def quality(budget: float, rates: dict[str, float], only: set[str] | None = None) -> list[dict]:
    """Each recipe trained for ``budget`` seconds (steps from its measured rate), then validated."""
    rows = []
    for label, change, from_v1 in QUALITY:
        if only is not None and label not in only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            cfg = replace(base_config(tmp), **change, val_every=10**9)
            key = (cfg.model, cfg.crop, cfg.batch_size)
            steps = max(1, round(budget * rates[key]))
            if from_v1:
                cfg = with_weights_architecture(replace(cfg, init_from=str(SHIPPED)))
                start = 2500
            else:
                start = 0
            cfg = replace(cfg, stop_at=start + steps, warmup=min(cfg.warmup, max(1, steps // 4)),
                          rewarm=min(cfg.rewarm, max(1, steps // 4)))
            t0 = time.perf_counter()
            train(cfg, progress=False)
            seconds = time.perf_counter() - t0
            val = (Path(tmp) / "val.csv").read_text().splitlines()
            head, last = val[0].split(","), val[-1].split(",")
            metrics = {k: float(v) for k, v in zip(head, last, strict=True) if k != "step"}
        rows.append({"recipe": label, "from": "v1 (step 2500)" if from_v1 else "scratch", "steps": steps,
                     "crops": steps * cfg.batch_size, "budget_seconds": budget, "wall_seconds": seconds,
                     **metrics})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per throughput configuration")
    ap.add_argument("--budget", type=float, default=600, help="wall seconds of training per quality run")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--recipes", help="only these quality recipes (labels, comma-separated); the throughput "
                                      "and the other rows are kept from an earlier record")
    ap.add_argument("--rows", help="a JSON-lines file of quality rows already measured, to keep")
    args = ap.parse_args()
    fast, _ = fast_runtime("cpu")
    old = json.loads(OUT.read_text()) if args.recipes and OUT.exists() else {}
    tp = old.get("throughput") or throughput(args.steps)
    rates = {(r["model"], r["crop"], r["batch"]): r["steps_per_s"] for r in tp
             if r["threads"] == 2 and not r["channels_last"] and not r["bf16"]}
    record = {"machine": old.get("machine") or environment(), "cpu_bf16_detected": fast == "bf16",
              "throughput": tp, "base_config": asdict(base_config("runs/..."))}
    if not args.skip_quality:
        kept = [json.loads(line) for line in Path(args.rows).read_text().splitlines()] if args.rows else []
        only = set(args.recipes.split(",")) if args.recipes else None
        record["quality"] = kept + quality(args.budget, rates, only)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
