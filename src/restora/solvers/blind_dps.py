"""BlindDPS (Chung et al., CVPR 2023, "Parallel diffusion models of operator and image for blind inverse
problems"): two reverse diffusions run side by side, the image under the image prior and the blur kernel
under a kernel prior (restora-kernel: kernels as one-channel images, 2 k / max k - 1), both guided by the
gradient of one measurement residual through both denoisers.

For i = 0 .. steps - 1 (sigma_i decreasing, sigma_steps = 0), with x the image and z the kernel image:
  1. x0 = D_x(x_i, sigma_i), z0 = D_k(z_i, sigma_i)                 one NFE of each, with autograd
  2. k0 = (z0 + 1) / 2 normalised to sum 1                           (not clipped: see 4)
  3. L  = ||y - k0 * x0|| + reg ||k0||_1                             per image, circular convolution
  4. x_{i+1} = DDPM(x_i; x0) - zeta_i grad_x L,  z_{i+1} = DDPM(z_i; z0) - zeta_i grad_z L
The L1 term of a kernel summing to 1 is 1 + 2 x its negative mass: it pushes the estimate to be a kernel.
``zeta_i`` is the authors' released schedule, zeta sqrt(abar_i) on the VP iterates (their code "implements
gradually increasing scale that shows stable performance"; the paper reports a constant one), turned into
VE coordinates as in DPS (:func:`restora.solvers.common.vp_step_factor`). Released settings
(github.com/BlindDPS/blind-dps): 1000 DDPM steps, reg_ord 1 and reg_scale 1.0 (run_deblur.sh), sigma_y
0.02 on [-1, 1] (configs/motion_deblur_config.yaml), and the step sqrt(abar_t) itself, i.e. zeta = 1
(BlindDPS.p_sample_loop in guided_diffusion/gaussian_diffusion.py, which overrides the config's scale 0.3).

The NFE count is that of the image prior (the kernel prior, ~1M parameters, is called alongside at each
step). The restored image and ``op.estimate`` (the kernels of the last step) are the result.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor

from restora.operators.base import Operator
from restora.operators.blind import BlindBlur, blur_by
from restora.operators.kernels import image_to_kernel
from restora.priors.base import Prior
from restora.solvers.common import (
    Callback,
    begin,
    ddpm_step,
    denoise_with_graph,
    image_template,
    initial_noise,
    vp_step_factor,
)
from restora.solvers.kernel_prior import KERNEL_PRIOR, canvas_margin, crop_kernel_image, load_kernel_prior
from restora.solvers.registry import Option, non_negative, solver, spacing_option, unit_interval


def normalised(z0: Tensor) -> Tensor:
    """The kernels (N, s, s) a denoised kernel image (N, 1, s, s) stands for, kept differentiable:
    (z0 + 1) / 2 divided by its sum, not clipped (the L1 term pushes the negatives out)."""
    k = (z0[:, 0] + 1) / 2
    return k / k.sum(dim=(-2, -1), keepdim=True)


@solver("blind-dps", "blind deblurring: image and kernel reverse diffusions in parallel, guided by one "
        "residual (BlindDPS, Chung et al. 2023)",
        published={"deblur": {"steps": 1000, "zeta": 1.0, "reg": 1.0}},
        options={"zeta": non_negative(), "reg": non_negative(), "eta": unit_interval(),
                 "spacing": spacing_option(),
                 "kernel_prior": Option(str, bool, "a kernel prior's name or weights file")},
        blind=True, needs_linear=False, differentiates_prior=True, uses_sigma_y=False)
def blind_dps(prior: Prior, op: Operator, y: Tensor, *, steps: int = 1000, sigma_y: float = 0.0,
              zeta: float = 1.0, reg: float = 1.0, eta: float = 1.0, spacing: str = "uniform",
              kernel_prior: str = KERNEL_PRIOR, generator: torch.Generator | None = None,
              callback: Callback | None = None) -> Tensor:
    """Restore ``y = k * x + n`` with ``k`` unknown (``op``: a :class:`BlindBlur`); sets ``op.estimate``.
    ``zeta``: scale of the guidance schedule zeta sqrt(abar); ``reg``: weight of the kernel's L1 norm."""
    assert isinstance(op, BlindBlur)  # the registry lets only blind operators through
    kprior = load_kernel_prior(kernel_prior, y.device)
    sigmas, x, progress = begin(prior, image_template(op, y), steps, spacing, generator, callback)
    canvas = op.size + 2 * canvas_margin(op.size)
    z = initial_noise(y.new_empty(y.shape[0], 1, canvas, canvas), sigmas[0], generator)
    for s, s_next in pairwise(sigmas):
        with torch.enable_grad():
            xg, x0 = denoise_with_graph(prior, x, s)
            zg, z0 = denoise_with_graph(kprior, z, s)
            k0 = normalised(crop_kernel_image(z0, op.size))
            residual = torch.linalg.vector_norm((y - blur_by(x0, k0)).flatten(1), dim=1)
            loss = residual + reg * k0.abs().flatten(1).sum(1)
            grad_x, grad_z = torch.autograd.grad(loss.sum(), (xg, zg))
        step = zeta * vp_step_factor(s, s_next) / (1 + s**2) ** 0.5  # zeta sqrt(abar_i), in VE coordinates
        x = ddpm_step(x, x0.detach(), s, s_next, eta, generator) - step * grad_x
        z = ddpm_step(z, z0.detach(), s, s_next, eta, generator) - step * grad_z
        progress(s, x, x0.detach())
    op.set_estimate(image_to_kernel(crop_kernel_image(z, op.size)[:, 0].float()))
    return x
