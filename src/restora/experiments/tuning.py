"""Choosing a solver's settings for a prior by grid search on held-out training images (never a test
set): the path by which the settings stored with the bundled weights are made (``benchmarks/tune.py``,
then ``restora train --export --solver-settings``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from restora.experiments.measurements import BENCHMARK_TASKS
from restora.metrics import psnr
from restora.operators import Operator
from restora.pictures import as_unit
from restora.priors.base import Prior
from restora.solvers import get

FAMILY_TASKS = {"sr": ("sr4",), "deblur": ("deblur-gauss", "deblur-levin"),
                "inpaint": ("inpaint-random", "inpaint-box"), "mri": ("mri4",), "ct": ("ct-sparse30",),
                "phase": ("phase-retrieval",), "denoise": ("denoise",), "colorize": ("colorize",),
                "cs": ("cs",), "jpeg": ("jpeg",)}
"""The tasks a family's settings are chosen on (one setting serves every blur kernel and every mask, so
both kinds)."""


def grid_search(solver: str, prior: Prior, x: Tensor, family: str, grid: Mapping[str, Sequence[Any]],
                sigma_y: float, *, tasks: Sequence[str] | None = None,
                prepare: Callable[[Operator, Tensor], dict[str, Any]] | None = None,
                ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the options with the best mean PSNR over the family's tasks (or ``tasks``), every trial's per-task
    PSNR). The measurements and the solver's seeds are the same for every trial; ``prepare(op, y)`` gives
    per-measurement keywords computed once (a warm start's ``x_init``). ``steps`` is kept in the choice
    only where the grid searches it; else it is the run's budget."""
    measured = {name: BENCHMARK_TASKS[name].measurements(x, sigma_y, len(x), lambda idx: 3)
                for name in tasks or FAMILY_TASKS[family]}
    problems = {name: [(op, idx, y, prepare(op, y) if prepare else {}) for op, idx, y in chunks]
                for name, chunks in measured.items()}
    ref, trials, best = as_unit(x), [], None
    for values in itertools.product(*grid.values()):
        options = dict(zip(grid, values, strict=True))
        scores = {}
        for name, chunks in problems.items():
            out = torch.empty_like(x)
            for op, idx, y, extra in chunks:
                g = torch.Generator().manual_seed(5)
                out[idx] = get(solver)(prior, op, y, sigma_y=sigma_y, generator=g, **options, **extra)
            scores[name] = float(psnr(as_unit(out), ref, quantize=True).mean())
        score = sum(scores.values()) / len(scores)
        trials += [{"solver": solver, "family": family, "task": name, **options, "psnr": value}
                   for name, value in scores.items()]
        print(f"{solver} {family} {options}: {score:.2f} dB {scores}", flush=True)
        if best is None or score > best[0]:
            best = (score, options)
    chosen = {k: v for k, v in best[1].items() if k != "steps" or len(grid.get("steps", ())) > 1}
    return chosen, trials
