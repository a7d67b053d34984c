"""MCG (Chung et al., NeurIPS 2022): Manifold Constrained Gradient.

The update of the paper (reverse step, gradient, projection), in the x = x0 + sigma * eps convention,
for i = 0 .. steps - 1:
  1. x0_hat  = D(x_i, sigma_i)                                        one NFE, with autograd
  2. x'      = DDPM step from x_i to sigma_{i+1}                       (eta = 1)
  3. x''     = x' - alpha * k_i * grad_{x_i} ||y - A x0_hat(x_i)||       manifold constrained gradient
  4. x_{i+1} = x'' + A^+(y_{i+1} - A x'')                              projection onto {A x = y_{i+1}}

Step 3 is the DPS step (:func:`restora.solvers.common.guided_step`, with the same VP -> VE factor k_i);
step 4 is ILVR's projection (:func:`restora.solvers.common.project`) onto the measurement noised to the level
of the output, y_{i+1} = y + sigma_{i+1} A(z): for masks the paper's known-region replacement
x = (1 - m) x'' + m (y + sigma z); at the last step (sigma = 0) A x = y exactly.

Norm. The paper writes alpha ||W (y - A x0_hat)||^2; the released inpainting code
(github.com/HJ-harry/MCG_diffusion, guided_diffusion/gaussian_diffusion.py, sample_method "MCG")
differentiates the plain norm ||m (y - x0_hat)|| with weight 1 on VP iterates, as does the
``mcg`` conditioning of the DPS repository. restora follows the code: ``alpha`` multiplies the
gradient of the (per-image) norm, i.e. the paper's squared-norm weight alpha_i = alpha / (2 ||r||).
Only the null-space part of the gradient survives the projection (the official code masks it).
The official code noises y to the level t of the step's input (as ILVR's does); restora uses the
level t - 1 of its output, the level of the iterate it is pasted into.

Defaults: 1000 DDPM steps and ``alpha = 1`` (the official inpainting sampler). Noisy measurements
are projected onto as they are (the paper's method is meant for noiseless ones; DPS is its
noise-robust successor). ``sigma_y`` is only validated.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor

from restora.operators.base import Operator
from restora.priors.base import Prior
from restora.solvers.common import (
    Callback,
    begin,
    guided_step,
    image_template,
    noisy_measurement,
    project,
    warm_start,
)
from restora.solvers.registry import non_negative, solver, spacing_option, unit_interval, warm_option

DEFAULTS = {"*": {"steps": 1000, "alpha": 1.0}}


@solver("mcg", "manifold constrained gradient + measurement projection (Chung et al. 2022)",
        published=DEFAULTS,
        differentiates_prior=True, uses_sigma_y=False,
        warm_start=True,
        options={"alpha": non_negative(), "eta": unit_interval(), "spacing": spacing_option(),
                 "sigma_start": warm_option()})
def mcg(prior: Prior, op: Operator, y: Tensor, *, steps: int = 1000, sigma_y: float = 0.0,
        alpha: float = 1.0, eta: float = 1.0, spacing: str = "uniform", sigma_start: float | None = None,
        x_init: Tensor | None = None,
        generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """Restore ``y = A x`` (linear A) with MCG: ``steps`` NFEs, each with a backward pass.

    ``alpha``: step on the gradient of the residual norm (official code: 1). ``eta``: 1 = DDPM.
    """
    sigmas, x, progress = begin(prior, image_template(op, y), steps, spacing, generator, callback,
                                sigma_start=sigma_start, x_init=warm_start(op, y, sigma_start, x_init))
    for s, s_next in pairwise(sigmas):
        x_next, x0 = guided_step(prior, op, x, y, s, s_next, eta, alpha, generator)
        x = project(op, x_next, noisy_measurement(op, y, s_next, x, generator))
        progress(s, x, x0)
    return x
