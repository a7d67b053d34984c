"""Blind deblurring by alternating an image step through the prior and a kernel step in Fourier: the
plug-and-play branch of blind diffusion restoration (GibbsDDRM, Murata et al. ICML 2023, and Fast
Diffusion EM, Laroche et al. WACV 2024, alternate a diffusion image step with a kernel update).

  k_0 = the classical L0 estimate (coarse to fine, restora.operators.blind_l0) of each image's luma
  for r = 0 .. rounds:  x_r = DPIR(y, k_r) with the prior (``steps`` NFEs)
                        k_{r+1} = the least-squares kernel mapping x_r onto y in the gradient domain
                                  (restora.operators.kernel_fit), projected onto kernels
With a ``kernel_prior`` (default restora-kernel; None, `--opt kernel_prior=none`, for the plain fit)
the kernel step is Fast Diffusion EM's M-step (Laroche et al. WACV 2024): a half-quadratic split,
z = D_k(k, kernel_sigma_r) by the kernel prior, then the fit with its ridge pulling towards z (``mu``),
kernel_sigma halved every round; the L0 start is passed through the same step. The restored image
x_rounds and the kernels (``op.estimate``) are the result. A MAP-style image step (DPIR) is used rather
than a posterior sample: the kernel fit needs the image's edges, not invented texture. Deterministic;
``generator`` is accepted for the common signature.
"""

from __future__ import annotations

import torch
from torch import Tensor

from restora.operators.base import Operator
from restora.operators.blind import BlindBlur
from restora.operators.blind_l0 import GAMMA, estimate_kernel
from restora.operators.kernel_fit import fit_kernel, project_kernel
from restora.priors.base import Prior
from restora.solvers.common import Callback, Progress
from restora.solvers.dpir import dpir
from restora.solvers.kernel_prior import KERNEL_PRIOR, denoise_kernels, load_kernel_prior
from restora.solvers.registry import Option, at_least, positive, solver


def _count(steps: int, prior: Prior | None = None, rounds: int = 5, **_: object) -> int:
    return int(steps) * (int(rounds) + 1)


@solver("blind-pnp", "blind deblurring: L0 kernel start, then DPIR image steps alternating with Fourier "
        "kernel refits", options={
            "rounds": at_least(0), "lam": positive(), "gamma": positive(), "kernel_sigma": positive(),
            "mu": positive(),
            "kernel_prior": Option(str, bool, "a kernel prior's name or file, or none", optional=True)},
        published={"deblur": {"steps": 8, "rounds": 5, "lam": 0.23}}, count_nfe=_count, blind=True,
        stochastic=False)
def blind_pnp(prior: Prior, op: Operator, y: Tensor, *, steps: int = 8, sigma_y: float,
              generator: torch.Generator | None = None, callback: Callback | None = None, rounds: int = 5,
              lam: float = 0.23, gamma: float = GAMMA, kernel_prior: str | None = KERNEL_PRIOR,
              kernel_sigma: float = 0.2, mu: float = 0.1) -> Tensor:
    """Restore ``y = k * x + n`` with ``k`` unknown (``op``: a :class:`BlindBlur`); sets ``op.estimate``."""
    assert isinstance(op, BlindBlur)  # the registry lets only blind operators through
    progress = Progress(callback, _count(steps, rounds=rounds))
    kprior = None if kernel_prior is None else load_kernel_prior(kernel_prior, "cpu")  # where kernels are fit
    unit_y = ((y.float() + 1) / 2).cpu()
    kernels = torch.stack([estimate_kernel(g, op.size) for g in unit_y.mean(1)])
    if kprior is not None:
        kernels = denoise_kernels(kprior, kernels, kernel_sigma)
    for r in range(rounds + 1):
        op.set_estimate(kernels)
        x = dpir(prior, op.known(), y, steps=steps, sigma_y=sigma_y, lam=lam, x8=True,
                 callback=lambda step: progress(step.sigma, step.x, step.x0))
        if r < rounds:
            unit_x = ((x.float() + 1) / 2).cpu()
            kernels = torch.stack([project_kernel(fit_kernel(unit_x[i], unit_y[i], op.size, gamma=gamma))
                                   for i in range(len(kernels))])
            if kprior is not None:  # the M-step's half-quadratic split: the prior's pull, then the fit
                towards = denoise_kernels(kprior, kernels, kernel_sigma / 2 ** (r + 1))
                kernels = torch.stack([project_kernel(fit_kernel(unit_x[i], unit_y[i], op.size, gamma=mu,
                                                                 towards=towards[i]))
                                       for i in range(len(kernels))])
    return x
