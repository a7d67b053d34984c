"""Warm starts by name: the estimate a sampler started part-way down its ladder begins from (CCDF, Chung et
al. 2022), and the starting levels chosen for it by measurement.

An ``init`` is ``initial`` (the operator's cheap estimate: y itself for blur and masks, else A^+ y),
``pinv`` (A^+ y), ``classical`` (the operator's classical restoration) or a method ``SOLVER@PRIOR[:K=V]``
(e.g. ``dpir@ffdnet-color``: DPIR with FFDNet, or another sampler's output); the CLI also takes files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.experiments.methods import MethodSpec, method_options
from restora.operators import Operator
from restora.priors import load
from restora.priors.base import Prior
from restora.solvers import get

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
    """Computes warm-start estimates for one ``init``, loading a method's prior once (``priors``: already
    loaded priors by name, e.g. the sampler's own)."""

    init: str
    priors: dict[str, Prior] = field(default_factory=dict)
    device: torch.device | str = "cpu"

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
