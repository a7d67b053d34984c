"""DPS (Chung et al., ICLR 2023): Diffusion Posterior Sampling for general noisy inverse problems.

Algorithm 1 of the paper (ancestral DDPM sampling, Gaussian noise), in the x = x0 + sigma * eps
convention, for i = 0 .. steps - 1 (sigma_i decreasing, sigma_steps = 0):
  1. x0_hat  = D(x_i, sigma_i)                                   one NFE, with autograd
  2. x'      = x0_hat + c_eps (x_i - x0_hat) / sigma_i + c_noise z    DDPM step (eta = 1), z ~ N(0, I)
  3. x_{i+1} = x' - zeta * k_i * grad_{x_i} ||y - A(x0_hat(x_i))||     per-sample Euclidean norm

The gradient goes through the network (autograd) and only needs ``A``, so non-linear operators
(JPEG, phase retrieval, ...) work too.

Which norm. The released code (github.com/DPS2022/diffusion-posterior-sampling,
guided_diffusion/condition_methods.py, ``PosteriorSampling``) differentiates the *norm*
||y - A(x0_hat)||, not its square, and multiplies by the config's ``scale``; restora does the same
and ``zeta`` *is* that ``scale``. The paper writes zeta_i ||.||^2 with zeta_i = zeta' / ||y - A(x0_hat)||;
since grad ||r||^2 = 2 ||r|| grad ||r||, the paper's zeta' is ``zeta / 2``. ``sigma_y`` does not
enter the update (the normalised step is noise-agnostic); it is only validated.

Step size in VE coordinates (so that ``zeta`` equals the published scale). The official code works
on VP iterates x^vp_t = a_t x_t with a_t = sqrt(abar_t) = 1 / sqrt(1 + sigma_t^2):
    x^vp_{t-1} = DDPM(x^vp_t) - zeta * grad_{x^vp_t} L,    L = ||y - A(x0_hat)||.
x0_hat is the same function of the point whichever coordinates describe it, so by the chain rule
grad_{x^vp_t} L = grad_{x_t} L / a_t. Dividing the update by a_{t-1} to return to VE coordinates,
    x_{t-1} = DDPM(x_t) - zeta / (a_t a_{t-1}) * grad_{x_t} L,
so k_i = sqrt((1 + sigma_i^2) (1 + sigma_{i+1}^2)) (:func:`vp_step_factor`); with sigma_{i+1} = 0 at the
last step, a_{t-1} = 1 (the official last step also lands on abar = 1). Without this factor the
guidance would be ~sigma^2 times too weak at high noise.

Differences from the official code: restora's DDPM step uses the posterior variance
beta_tilde (``eta = 1``) where the official one uses the network's learned variance (ADM
``learned_range``); x0_hat is not clipped to [-1, 1]; the norm is per image, not over the batch
(the official code runs one image at a time, where the two agree).

Defaults (see :data:`DEFAULTS`): 1000 DDPM steps (configs/diffusion_config.yaml); left out, ``zeta`` is
0.3, the scale of the SR and deblurring configs (the code's own fallback ``scale`` is 1.0). The FFHQ task
configs of the repository (configs/*_config.yaml; the versions read are listed in docs/solvers.md) set
scale 0.3 for 4x super-resolution, Gaussian and motion deblurring, 0.5 for random inpainting and 1.0 for
phase retrieval (oversampling 2), all with Gaussian noise sigma = 0.05 on [-1, 1] (``sigma_y = 0.05``
here).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor

from restora.operators.base import Operator
from restora.priors.base import Prior
from restora.solvers.common import Callback, begin, guided_step, image_template, warm_start
from restora.solvers.registry import non_negative, solver, spacing_option, unit_interval, warm_option

DEFAULTS = {
    "sr": {"steps": 1000, "zeta": 0.3},
    "deblur": {"steps": 1000, "zeta": 0.3},
    "inpaint": {"steps": 1000, "zeta": 0.5},
    "phase": {"steps": 1000, "zeta": 1.0},
}
"""Per-task scales of the authors' FFHQ configs (configs/{super_resolution,gaussian_deblur,
motion_deblur,inpainting,phase_retrieval}_config.yaml), with sigma_y = 0.05."""


@solver("dps", "diffusion posterior sampling: gradient of ||y - A(x0_hat)|| through the prior "
               "(Chung et al. 2023)", published=DEFAULTS, needs_linear=False, differentiates_prior=True,
        uses_sigma_y=False,
        warm_start=True,
        options={"zeta": non_negative(), "eta": unit_interval(), "spacing": spacing_option(),
                 "sigma_start": warm_option()})
def dps(prior: Prior, op: Operator, y: Tensor, *, steps: int = 1000, sigma_y: float = 0.0,
        zeta: float = 0.3, eta: float = 1.0, spacing: str = "uniform", sigma_start: float | None = None,
        x_init: Tensor | None = None,
        generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """Restore ``y = A(x) + n`` with DPS: ``steps`` NFEs (each with a backward pass through the prior).

    ``zeta``: the official code's ``scale`` (step on the gradient of the residual *norm*; 0.3 for SR
    and deblurring, 0.5 for inpainting in the authors' FFHQ configs, see :data:`DEFAULTS`).
    ``eta``: 1 = DDPM ancestral steps (the paper), 0 = DDIM. Returns images in [-1, 1] (not clipped).
    """
    sigmas, x, progress = begin(prior, image_template(op, y), steps, spacing, generator, callback,
                                sigma_start=sigma_start, x_init=warm_start(op, y, sigma_start, x_init))
    for s, s_next in pairwise(sigmas):
        x, x0 = guided_step(prior, op, x, y, s, s_next, eta, zeta, generator)
        progress(s, x, x0)
    return x
