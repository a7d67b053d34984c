"""RePaint (Lugmayr et al., CVPR 2022): inpainting with an unconditional DDPM and resampling.

Algorithm 1 of the paper, in the x = x0 + sigma * eps convention, levels sigma_0 > ... > sigma_{T-1}
> sigma_T = 0 (T = ``steps``). A reverse step from level k to k + 1 (one NFE):
  1. x0_hat   = D(x, sigma_k)
  2. unknown  = DDPM step from x to sigma_{k+1}                           (eta = 1)
  3. known    = y + sigma_{k+1} z,  z ~ N(0, I)                            the measurement at that level
  4. x        = m * known + (1 - m) * unknown                             m: the binary mask
A resampling jump from level k back up to k' < k re-noises the whole image, x + sqrt(sigma_k'^2 -
sigma_k^2) z (in the VE convention noise variances add; the official code does it one DDPM step
q(x_t | x_{t-1}) at a time, which is the same distribution), and the reverse steps are repeated,
letting the unknown region harmonise with the known one.

The jump schedule is the paper's (:func:`restora.solvers.common.jump_schedule`, after
``get_schedule_jump`` with n_sample = 1): after reaching each timestep t in {0, j, 2j, ...} below
T - j (j = ``jump_length``), jump back up by j levels, ``jump_n_sample - 1`` times. Defaults are the
paper's: T = 250, j = 10, r = 10 (confs/face_example.yml), i.e. 250 + 24 * 9 * 10 = 2410 NFEs;
the callback reports each one.

Unlike the official code, which merges at the start of each step with the measurement noised to the
step's input level (so its last step returns the network's x0 everywhere), restora merges after each
step at the output's level, as in Algorithm 1: the final merge at sigma = 0 keeps the known pixels
exactly equal to y. Noisy measurements are pasted as they are. ``sigma_y`` is only validated.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import Operator
from restora.priors.base import Prior
from restora.solvers.common import (
    Callback,
    begin,
    ddpm_step,
    image_template,
    jump_nfe,
    jump_schedule,
    randn_like,
    warm_start,
)
from restora.solvers.registry import at_least, solver, spacing_option, unit_interval, warm_option

DEFAULTS = {"inpaint": {"steps": 250, "jump_length": 10, "jump_n_sample": 10}}


def repaint_nfe(steps: int = 250, jump_length: int = 10, jump_n_sample: int = 10, **_: object) -> int:
    """Number of denoiser calls of :func:`repaint` (2410 for the paper's 250 / 10 / 10)."""
    return jump_nfe(steps, jump_length, jump_n_sample)


def inpainting_mask(op: Operator, y: Tensor, shape: torch.Size) -> tuple[Tensor, Tensor]:
    """(m, known): the binary image-space mask A^T A 1 and the known pixels A^+ y of a mask operator;
    a mask that is not binary is a RestoraError."""
    m = op.At(op.A(torch.ones(shape, device=y.device, dtype=y.dtype)))
    if not bool(((m == 0) | (m == 1)).all()):
        raise RestoraError("repaint needs a binary mask (0 = missing, 1 = known); this operator's "
                           "A^T A is not a 0/1 diagonal")
    return m, op.pinv(y)


@solver("repaint", "inpainting by known-region replacement with resampling jumps (Lugmayr et al. 2022)",
        published=DEFAULTS, count_nfe=repaint_nfe, masks_only=True, uses_sigma_y=False,
        warm_start=True,
        options={"jump_length": at_least(1), "jump_n_sample": at_least(1), "eta": unit_interval(),
                 "spacing": spacing_option(), "sigma_start": warm_option()})
def repaint(prior: Prior, op: Operator, y: Tensor, *, steps: int = 250, sigma_y: float = 0.0,
            jump_length: int = 10, jump_n_sample: int = 10, eta: float = 1.0, spacing: str = "uniform",
            sigma_start: float | None = None, x_init: Tensor | None = None,
            generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """Inpaint ``y`` (an inpainting operator's measurement) with RePaint.

    ``steps`` distinct noise levels; with resampling the number of NFEs is
    :func:`repaint_nfe(steps, jump_length, jump_n_sample) <repaint_nfe>` (``jump_n_sample = 1``: no
    resampling, ``steps`` NFEs). ``eta``: 1 = DDPM (the paper). The known pixels of the result are y.
    """
    template = image_template(op, y)
    levels = jump_schedule(steps, jump_length, jump_n_sample)
    m, known = inpainting_mask(op, y, template.shape)
    sigmas, x, progress = begin(prior, template, steps, spacing, generator, callback,
                                repaint_nfe(steps, jump_length, jump_n_sample), sigma_start=sigma_start,
                                x_init=warm_start(op, y, sigma_start, x_init))
    for k, k_next in pairwise(levels):
        s, s_next = sigmas[k], sigmas[k_next]
        if k_next < k:  # resampling jump: back up to the higher level s_next
            x = x + math.sqrt(s_next**2 - s**2) * randn_like(x, generator)
            continue
        x0 = prior(x, s)
        x_next = ddpm_step(x, x0, s, s_next, eta, generator)
        known_next = known + s_next * randn_like(x, generator) if s_next > 0 else known
        x = torch.where(m > 0, known_next, x_next)
        progress(s, x, x0)
    return x
