"""Plain DDIM (Song et al. 2021): unconditional sampling, the smoke test that a prior is wired."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.priors.base import Prior
from restora.solvers.common import Callback, begin, ddpm_step, prior_device
from restora.solvers.registry import solver, spacing_option, unit_interval


@solver("ddim", "unconditional DDIM sampling (no measurement)", measurement=False, needs_linear=False,
        options={"eta": unit_interval(), "spacing": spacing_option()})
def ddim(prior: Prior, shape: tuple[int, ...] | torch.Size, *, steps: int = 50, eta: float = 0.0,
         spacing: str = "uniform", generator: torch.Generator | None = None,
         device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
         callback: Callback | None = None) -> Tensor:
    """Draw ``shape[0]`` images from the prior with ``steps`` denoiser calls (eta=1: DDPM-like)."""
    if len(shape) != 4:
        raise RestoraError(f"shape must be (N, C, H, W), got {tuple(shape)}")
    device = torch.device(device) if device is not None else prior_device(prior)
    template = torch.empty(shape, device=device, dtype=dtype)
    sigmas, x, progress = begin(prior, template, steps, spacing, generator, callback)
    for s, s_next in pairwise(sigmas):
        x0 = prior(x, s)
        x = ddpm_step(x, x0, s, s_next, eta, generator)
        progress(s, x, x0)
    return x
