"""Plain DDIM (Song et al. 2021): unconditional sampling, the smoke test that a prior is wired."""

from __future__ import annotations

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.priors.base import Prior
from restora.solvers.common import Callback, ddim_coefficients, noise_levels, prior_device, randn_like


@torch.inference_mode()
def ddim(prior: Prior, shape: tuple[int, ...] | torch.Size, *, steps: int = 50, eta: float = 0.0,
         spacing: str = "uniform", generator: torch.Generator | None = None,
         device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
         callback: Callback | None = None) -> Tensor:
    """Draw ``shape[0]`` images from the prior with ``steps`` denoiser calls (eta=1: DDPM-like)."""
    if len(shape) != 4:
        raise RestoraError(f"shape must be (N, C, H, W), got {tuple(shape)}")
    device = torch.device(device) if device is not None else prior_device(prior)
    sigmas = noise_levels(prior, steps, spacing)
    x = sigmas[0] * randn_like(torch.empty(shape, device=device, dtype=dtype), generator)
    for i, s in enumerate(sigmas):
        s_next = sigmas[i + 1] if i + 1 < len(sigmas) else 0.0
        x0 = prior(x, s)
        eps = (x - x0) / s
        c_eps, c_noise = ddim_coefficients(s, s_next, eta)
        x = x0 + c_eps * eps
        if c_noise:
            x = x + c_noise * randn_like(x, generator)
        if callback is not None:
            callback(i, x, x0)
    return x
