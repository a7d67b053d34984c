"""ILVR (Choi et al., ICCV 2021): Iterative Latent Variable Refinement.

Algorithm 1 of the paper, in the x = x0 + sigma * eps convention, for i = 0 .. steps - 1:
  1. x0_hat  = D(x_i, sigma_i)                                  one NFE
  2. x'      = DDPM step from x_i to sigma_{i+1}                 (eta = 1, as the paper)
  3. y_{i+1} = the reference brought to noise level sigma_{i+1}
     x_{i+1} = x' - phi(x') + phi(y_{i+1})                       low frequencies from the reference

ILVR's phi is the "downsample then upsample" low-pass filter. restora generalises it through the
operator: phi = A^+ A, the orthogonal projection onto the row space of A (for average-pooling SR
this is exactly the box down-up filter; for bicubic SR the bicubic one), so step 3 reads
x_{i+1} = x' + A^+(y_{i+1} - A x') (:func:`restora.solvers.common.project`). For a mask it replaces
the known pixels.

The measurement at level sigma: in the VE convention A x_sigma = A x0 + sigma A eps, so the noise
added to y is sigma * A(z) with z ~ N(0, I) image-shaped (for masks: white noise on the known pixels;
for averaging SR: noise of std sigma / s on an s x s average) -- exactly what ILVR's
phi(q_sample(reference)) produces. The official code (github.com/jychoi118/ilvr_adm,
guided_diffusion/gaussian_diffusion.py) noises the reference to the level t of the step's *input*
rather than t - 1 of its output; restora uses the output's level.

``range_t`` follows the official code: a step is guided when its input timestep index (counting
down, ``steps - 1`` at the first step, 0 at the last) is > ``range_t``. The official default 0 guides
every step but the last (sigma_min -> 0); ``range_t = -1`` guides that one too (then A x = y
exactly); larger values leave the low-noise steps free (the README's face example uses 20 of 100).
Defaults: 100 steps (the README's ``--timestep_respacing 100``), ``range_t = 0`` (scripts/ilvr_sample.py).
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
    ddpm_step,
    image_template,
    noisy_measurement,
    project,
    warm_start,
)
from restora.solvers.registry import Option, solver, spacing_option, unit_interval, warm_option

DEFAULTS = {"*": {"steps": 100, "range_t": 0}}


@solver("ilvr", "iterative latent variable refinement: A^+ A low-pass replacement (Choi et al. 2021)",
        published=DEFAULTS, uses_sigma_y=False,
        warm_start=True,
        options={"range_t": Option(int, lambda v: v >= -1, ">= -1"), "eta": unit_interval(),
                 "spacing": spacing_option(), "sigma_start": warm_option()})
def ilvr(prior: Prior, op: Operator, y: Tensor, *, steps: int = 100, sigma_y: float = 0.0,
         range_t: int = 0, eta: float = 1.0, spacing: str = "uniform", sigma_start: float | None = None,
         x_init: Tensor | None = None,
         generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """Restore ``y = A x + n`` (linear A) with ILVR: ``steps`` NFEs, no gradients through the prior.

    ``range_t``: guide the steps whose input timestep index (``steps - 1`` .. 0) is > ``range_t``
    (0: all but the last, -1: all). ``eta``: 1 = DDPM (the paper), 0 = DDIM.
    ``sigma_y`` is only validated: the reference is used as given (noisy measurements are kept).
    """
    sigmas, x, progress = begin(prior, image_template(op, y), steps, spacing, generator, callback,
                                sigma_start=sigma_start, x_init=warm_start(op, y, sigma_start, x_init))
    for i, (s, s_next) in enumerate(pairwise(sigmas)):
        x0 = prior(x, s)
        x_next = ddpm_step(x, x0, s, s_next, eta, generator)
        if steps - 1 - i > range_t:
            x_next = project(op, x_next, noisy_measurement(op, y, s_next, x, generator))
        x = x_next
        progress(s, x, x0)
    return x
