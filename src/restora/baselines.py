"""Classical (prior-free) restorations to compare the diffusion solvers against: each operator's own
:meth:`~restora.operators.Operator.classical` (bicubic upsampling for SR, zero-filled inverse FFT for MRI,
filtered back-projection for CT, HIO for phase retrieval, the decoded image for JPEG, and Tikhonov with a
gradient penalty and the discrepancy principle for the other linear operators), or Tikhonov with a given
``mu`` (benchmarks may report the oracle-tuned best: say so in the table).
"""

from __future__ import annotations

import torch
from torch import Tensor

from restora.operators.base import Operator
from restora.operators.tikhonov import MU_GRID, discrepancy_tikhonov, grad_normal, tikhonov


def classical(op: Operator, y: Tensor, sigma_y: float = 0.0, mu: float | None = None,
              generator: torch.Generator | None = None) -> Tensor:
    """The classical baseline for ``op`` (its own, or Tikhonov with ``mu``); images in [-1, 1]."""
    return op.classical(y, sigma_y, generator) if mu is None else tikhonov(op, y, mu)


def initial_estimate(op: Operator, y: Tensor) -> Tensor:
    """A cheap first guess of the image (:meth:`~restora.operators.Operator.initial_estimate`)."""
    return op.initial_estimate(y)


__all__ = ["MU_GRID", "classical", "discrepancy_tikhonov", "grad_normal", "initial_estimate", "tikhonov"]
