"""A prior spliced from two by noise level: a low-noise expert below a split, another prior above.

Diffusion solvers query one denoiser over the whole noise range, sigma ~ 80 down to ~0.01, while the
restoration's PSNR is decided at the low end. A strong Gaussian denoiser trained for low noise only
(FFDNet: sigma <= 150/255 on [-1, 1]) beats a small diffusion prior there, and cannot serve the high
end at all; :class:`NoiseSplitPrior` routes every sample of a batch by its own sigma, with one call of
each expert on its share of the batch, so any solver uses it unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.priors.base import Prior, as_sigma


class NoiseSplitPrior(Prior):
    """D(x, sigma) = low(x, sigma) where sigma <= ``split``, else high(x, sigma), per sample.

    The time grid, top of the noise range, native size and tuned solver settings are the high prior's
    (the solver's schedule comes from the diffusion prior); the bottom of the range is the low one's."""

    def __init__(self, high: Prior, low: Prior, split: float) -> None:
        super().__init__(high.schedule)
        if high.channels != low.channels:
            raise RestoraError(f"cannot splice priors for {high.channels} and {low.channels} channels")
        if not (math.isfinite(split) and 0 < split and low.covers(split)):
            raise RestoraError(f"the split must be in (0, {low.sigma_max:.4g}] (the low-noise prior's "
                               "range), "
                               f"got {split}")
        self.high, self.low, self.split = high, low, float(split)
        self.channels = high.channels
        self.sigma_min, self.sigma_max = low.sigma_min, high.sigma_max
        self.size_multiple = math.lcm(high.size_multiple, low.size_multiple)
        self.native_size = high.native_size
        self.solver_settings = high.solver_settings

    def forward(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """Each sample denoised by the expert its sigma belongs to (one call per expert that has any)."""
        sigma = as_sigma(sigma, x)
        is_low = sigma <= self.split
        n_low = int(is_low.sum())
        if n_low in (0, len(sigma)):
            return (self.low if n_low else self.high)(x, sigma)
        lo, hi = is_low.nonzero().squeeze(1), (~is_low).nonzero().squeeze(1)
        out = torch.zeros_like(x)
        out = out.index_put((lo,), self.low(x[lo], sigma[lo]))
        return out.index_put((hi,), self.high(x[hi], sigma[hi]))

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        return self.forward(x, sigma)

    def configure(self, dtype: str | torch.dtype = "fp32", channels_last: bool | None = False,
                  compile: bool = False) -> NoiseSplitPrior:
        """The runtime knobs of both experts (see :meth:`Prior.configure`)."""
        self.high.configure(dtype, channels_last, compile)
        self.low.configure(dtype, channels_last, compile)
        self.run_dtype, self.channels_last = self.high.run_dtype, self.high.channels_last
        return self
