"""DPIR (Zhang, Li, Zuo, Zhang, Van Gool & Timofte, "Plug-and-play image restoration with deep
denoiser prior", TPAMI 2021): half-quadratic splitting with any Gaussian denoiser D(x, sigma).

Algorithm (Sec. 4 of the paper), for k = 1 .. K with sigma_1 > ... > sigma_K log-spaced:
  1. z_k = argmin_x ||y - A x||^2 + rho_k ||x - x_{k-1}||^2,    rho_k = lam sigma_n^2 / sigma_k^2
  2. x_k = D(z_k, sigma_k)                                      one NFE
x_0 is a cheap estimate (bicubic upsampling for SR, y itself where it has the image's shape, else
A^+ y). Deterministic: no noise is drawn; ``generator`` is accepted for the common signature.

Constants of the authors' code (github.com/cszn/DPIR, main_dpir_deblur.py and main_dpir_sisr.py, with
utils/utils_pnp.py ``get_rho_sigma``), quoted on [0, 1] there and doubled to restora's [-1, 1]:
  sigma_1 = 49/255 (``modelSigma1``); sigma_K = the noise level sigma_n, at least sf/255 for SR x sf
  (``modelSigma2 = max(sf, noise_level_model*255)``); sigma_n in rho at least 0.255/255
  (``sigma=max(0.255/255., noise_level_model)``); lam = 0.23; 8 iterations for deblurring, 24 for
  super-resolution; ``x8 = True``: iteration k runs the denoiser on the k % 8-th flip/rotation of z_k
  and undoes it (the 8 geometric transforms cycle; no extra NFE). DPIR has no inpainting script: its
  :data:`DEFAULTS` entries for inpainting, MRI and CT are restora's, tuned on held-out training images
  (benchmarks/tune.py). rho is a ratio of noise levels, so it is the same on either scale.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import Operator
from restora.priors.base import Prior
from restora.solvers.common import Callback, Progress, check_noise_range, data_step, image_template
from restora.solvers.registry import Option, positive, solver

SIGMA_START = 2 * 49 / 255  # modelSigma1 = 49 on 0..255
SIGMA_FLOOR = 2 * 0.255 / 255  # the code's floor on the noise level in rho, 0.255/255 on [0, 1]

DEFAULTS = {
    "sr": {"steps": 24, "lam": 0.23, "x8": True},
    "deblur": {"steps": 8, "lam": 0.23, "x8": True},
    "denoise": {"steps": 1, "x8": False},
    "inpaint": {"steps": 40, "lam": 0.1, "x8": True},
    "mri": {"steps": 40, "lam": 0.1, "x8": True},
    "ct": {"steps": 24, "lam": 0.23, "x8": True},
}
"""The authors' settings (see the module doc); inpainting, MRI and CT: restora's choice, not the paper's,
by benchmarks/tune.py on held-out training images (inpainting: ffdnet-color at 256 px,
benchmarks/results/tune-dpir/dpir-ffdnet-color.json; MRI / CT: --gray with ffdnet-gray,
benchmarks/results/tune-medical/dpir-ffdnet-gray.json)."""


def noise_ladder(steps: int, sigma_start: float, sigma_end: float) -> list[float]:
    """``steps`` noise levels log-spaced from ``sigma_start`` down to ``sigma_end`` (both included);
    one step is the denoiser at ``sigma_end`` alone (plain denoising)."""
    if int(steps) != steps or steps < 1:
        raise RestoraError(f"steps must be an integer >= 1, got {steps}")
    if not 0 < sigma_end <= sigma_start:
        raise RestoraError(f"need 0 < sigma_end <= sigma_start, got {sigma_end} and {sigma_start}")
    if steps == 1:
        return [sigma_end]
    a, b = math.log(sigma_start), math.log(sigma_end)
    return [math.exp(a + (b - a) * k / (steps - 1)) for k in range(steps)]


def geometric(x: Tensor, k: int, inverse: bool = False) -> Tensor:
    """The k-th of the 8 flips/rotations of the square's symmetry group (k % 4 quarter turns, then a
    left-right flip for k >= 4), or its inverse."""
    turns, flip = k % 4, k >= 4
    if inverse:
        x = x.flip(-1) if flip else x
        return torch.rot90(x, -turns, dims=(-2, -1))
    x = torch.rot90(x, turns, dims=(-2, -1))
    return x.flip(-1) if flip else x


@solver("dpir", "plug-and-play HQS with any Gaussian denoiser, deterministic (Zhang et al. 2021)",
        published=DEFAULTS, stochastic=False,
        options={"lam": positive(), "sigma_start": positive(optional=True),
                 "x8": Option(bool),
                 "sigma_end": positive(optional=True)})
def dpir(prior: Prior, op: Operator, y: Tensor, *, steps: int = 8, sigma_y: float, lam: float = 0.23,
         sigma_start: float | None = None, sigma_end: float | None = None, x8: bool = True,
         x_init: Tensor | None = None, generator: torch.Generator | None = None,
         callback: Callback | None = None) -> Tensor:
    """Restore ``y = A x + n`` (``sigma_y`` on [-1, 1]) with ``steps`` denoiser calls.

    ``sigma_start`` (default: the authors' 49/255 on [0, 1], lowered to the top of the prior's range
    where that is smaller, e.g. a colour FFDNet on gray images) and ``sigma_end`` (default: the noise
    level, at least 2 sf / 255 for SR x sf) are the first and last denoising levels; ``x8`` cycles the
    8 flips/rotations over the iterations. Returns images in [-1, 1]."""
    shape = image_template(op, y).shape
    sigma_n = max(sigma_y, SIGMA_FLOOR)
    if sigma_end is None:
        sigma_end = max(sigma_n, 2 * op.scale / 255 if op.scale > 1 else 0.0)
    if sigma_start is None:
        sigma_start = min(SIGMA_START, prior.sigma_max)
    sigmas = noise_ladder(steps, max(sigma_start, sigma_end), sigma_end)
    check_noise_range(prior, sigmas[0])
    x = op.initial_estimate(y) if x_init is None else x_init.to(y.dtype)
    if tuple(x.shape) != tuple(shape):
        raise RestoraError(f"x_init has shape {tuple(x.shape)}, expected {tuple(shape)}")
    progress = Progress(callback, steps)
    for k, sigma in enumerate(sigmas):
        z = data_step(op, x, y, lam * sigma_n**2 / sigma**2)
        t = k % 8 if x8 else 0
        x = geometric(prior(geometric(z, t), sigma), t, inverse=True)
        progress(sigma, x, x)
    return x
