"""Warm starts by name: the estimate a sampler started part-way down its ladder begins from (CCDF, Chung et
al. 2022), and the starting levels chosen for it by measurement.

An ``init`` is ``initial`` (the operator's cheap estimate: y itself for blur and masks, else A^+ y),
``pinv`` (A^+ y), ``classical`` (the operator's classical restoration) or a method ``SOLVER@PRIOR[:K=V]``
(e.g. ``dpir@ffdnet-color``: DPIR with FFDNet, or another sampler's output); the CLI also takes files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.experiments.measurements import BENCHMARK_TASKS
from restora.experiments.methods import MethodSpec, method_options
from restora.experiments.tuning import grid_search
from restora.operators import Operator
from restora.priors import load
from restora.priors.base import Prior
from restora.solvers import get, info, options_for

CHEAP_INITS = ("initial", "pinv", "classical")

_FROM_DPIR = {"init": "dpir@ffdnet-color", "sigma_start": 0.02, "spacing": "quad", "steps": 10}
WARM_DEFAULTS: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "diffpir": {"sr": {**_FROM_DPIR, "order": 1}, "deblur": {**_FROM_DPIR, "order": 1}},
    "ddrm": {"sr": _FROM_DPIR, "deblur": _FROM_DPIR, "inpaint": {**_FROM_DPIR, "sigma_start": 0.8}},
    "ddnm": {"sr": _FROM_DPIR, "deblur": _FROM_DPIR,
             "inpaint": {**_FROM_DPIR, "sigma_start": 0.8, "spacing": "logsnr"}},
}
"""What ``--init auto`` runs, by solver and task family: the estimate, level, ladder (and DiffPIR's order)
with the best mean PSNR at 10 NFE on held-out training crops (``benchmarks/nfe.py``, record
``benchmarks/results/nfe``: sr4, deblur-gauss, inpaint-box), kept only where it beat the cold start there
(DiffPIR on inpainting: the cold start won); ``tests/test_results.py`` checks it against the record."""


def describe(init: str) -> str:
    """``init`` checked: one of :data:`CHEAP_INITS` or a ``SOLVER@PRIOR`` method, else a RestoraError."""
    if init in CHEAP_INITS:
        return init
    if "@" not in init:
        raise RestoraError(f"unknown warm start {init!r}: give one of {', '.join(CHEAP_INITS)}, a method "
                           "SOLVER@PRIOR (e.g. dpir@ffdnet-color), or (on the command line) an image file or "
                           "a folder of estimates named like the inputs")
    return MethodSpec.parse(init).text


@dataclass
class Estimator:
    """Computes warm-start estimates for one ``init``, loading a method's prior once, on ``device``."""

    init: str
    device: torch.device | str = "cpu"
    priors: dict[str, Prior] = field(default_factory=dict, init=False, repr=False)  # loaded once, by name

    def __post_init__(self) -> None:
        self.init = describe(self.init)

    def __call__(self, op: Operator, y: Tensor, *, sigma_y: float, family: str,
                 generator: torch.Generator | None = None) -> Tensor:
        """The estimate of the image behind ``y`` (same shape as the image, [-1, 1])."""
        if self.init == "initial":
            return op.initial_estimate(y)
        if self.init == "pinv":
            if not op.linear:
                raise RestoraError(f"{type(op).__name__} is not linear: it has no pseudo-inverse (use "
                                   "--init initial or classical)")
            return op.pinv(y)
        if self.init == "classical":
            return op.classical(y, sigma_y, generator=generator)
        spec = MethodSpec.parse(self.init)
        if spec.prior not in self.priors:
            self.priors[spec.prior] = load(spec.prior, device=self.device)
        prior = self.priors[spec.prior]
        options = method_options(spec, family, prior, {})
        return get(spec.solver)(prior, op, y, sigma_y=sigma_y, generator=generator, **options)


def choose_start(solver: str, prior: Prior, x: Tensor, task: str, *, nfe: int, sigma_y: float,
                 spacings: Sequence[str], levels: Sequence[float],
                 estimators: Mapping[str, Estimator]) -> dict[str, Any]:
    """{"cold": options, "warm": options + init, "trials": [...]}: at ``nfe`` calls on the held-out crops
    ``x``, the best ladder (and DiffPIR's order) from pure noise, and the best warm start over the estimates,
    levels and ladders (:func:`restora.experiments.tuning.grid_search`, same measurements and seeds)."""
    family = BENCHMARK_TASKS[task].family
    base = options_for(solver, family, prior, steps=nfe)
    orders = {"order": [1, 2]} if "order" in info(solver).options else {}
    grid = {**{k: [v] for k, v in base.items()}, "spacing": list(spacings), **orders}
    cold, trials = grid_search(solver, prior, x, family, grid, sigma_y, tasks=[task])
    best: dict[str, Any] = {"cold": {**base, **cold}, "trials": [{**t, "start": "cold"} for t in trials]}
    warm_score = None
    for init, estimate in estimators.items():
        def prepare(op: Operator, y: Tensor, estimate: Estimator = estimate) -> dict[str, Tensor]:
            return {"x_init": estimate(op, y, sigma_y=sigma_y, family=family,
                                       generator=torch.Generator().manual_seed(3))}
        warm_grid = {**grid, "sigma_start": list(levels)}
        options, trials = grid_search(solver, prior, x, family, warm_grid, sigma_y, tasks=[task],
                                      prepare=prepare)
        best["trials"] += [{**t, "start": init} for t in trials]
        top = max(t["psnr"] for t in trials)
        if warm_score is None or top > warm_score:
            warm_score, best["warm"] = top, {**base, **options, "init": init}
    return best


def held_out_scores(picked: Mapping[str, Any]) -> tuple[float, float]:
    """(cold, warm) held-out PSNR of a solver's chosen starts on one task (from its trials)."""
    def best(start: str, options: Mapping[str, Any]) -> float:
        return max(t["psnr"] for t in picked["trials"] if _same(t, options, start))

    return best("cold", picked["cold"]), best(picked["warm"]["init"], picked["warm"])


def shipped_starts(meta: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """{solver: {family: start}}: the warm starts that beat the cold start on the held-out crops, as
    :data:`WARM_DEFAULTS` must hold them (estimate, level, ladder, NFE)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for solver, tasks in meta["chosen"].items():
        for task, picked in tasks.items():
            cold, warm = held_out_scores(picked)
            if warm > cold:
                start = {k: picked["warm"][k] for k in ("init", "sigma_start", "spacing", "order")
                         if k in picked["warm"]}
                family = BENCHMARK_TASKS[task].family
                out.setdefault(solver, {})[family] = {**start, "steps": meta["tune"]["nfe"]}
    return out


def _same(trial: Mapping[str, Any], options: Mapping[str, Any], start: str) -> bool:
    return trial["start"] == start and all(trial.get(k) == v for k, v in options.items()
                                           if k not in ("steps", "init"))
