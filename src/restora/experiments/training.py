"""A training stage's record, read from its run folder (checkpoint, log.csv, val.csv): steps, compute and
the validation log, kept in benchmarks/results so that a model card survives the git-ignored run folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch

from restora.experiments.speed import cpu_name
from restora.train import TrainConfig, train_runtime, weights_compute


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def training_summary(run: Path, root: Path) -> dict[str, Any]:
    """Steps, wall time (sum of logged intervals: restarts excluded), compute and validation PSNR of a run;
    ``root``: where the run's relative ``init_from`` path starts."""
    ckpt = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    cfg = json.loads(ckpt["config"])
    # A resumed run logs again the steps after its last checkpoint: the last record of a step wins.
    rows = read_csv(run / "log.csv")
    log = sorted({int(r["step"]): r for r in rows}.values(), key=lambda r: int(r["step"]))
    first = int(ckpt.get("first_step", 0))
    seconds, prev = 0.0, first
    for row in log:  # images / s over each logging interval -> its duration
        seconds += (int(row["step"]) - prev) * cfg["batch_size"] / float(row["images_per_s"])
        prev = int(row["step"])
    val = [{k: float(v) if k != "step" else int(v) for k, v in r.items()} for r in read_csv(run / "val.csv")]
    # run folders stay on the machine that trained them: this is that machine
    bf16, _ = train_runtime(torch.device("cpu"), TrainConfig(amp=cfg["amp"]))
    record = {"config": cfg, "first_step": first, "step": int(ckpt["step"]), "seconds": seconds, "val": val,
              "final_loss": float(log[-1]["loss"]),
              "machine": {"cpu": cpu_name(), "torch": torch.__version__, "bf16_autocast": bf16}}
    if ckpt.get("compute"):  # wall / CPU seconds of the steps in the checkpoint (restarts excluded)
        record["compute"] = ckpt["compute"]
        start = root / cfg["init_from"] if cfg.get("init_from") else None
        if start is not None and start.is_file():  # the count continues the compute those weights record
            record["compute_before"] = weights_compute(start)
    # every logged row, redone steps included: what the run cost
    per_row = cfg["log_every"] * cfg["batch_size"]
    record["spent_wall_seconds"] = sum(per_row / float(r["images_per_s"]) for r in rows)
    return record
