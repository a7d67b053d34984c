"""The sampling skeleton every solver is written with (k-diffusion / EDM style).

* :func:`noise_levels`: a decreasing sigma ladder from the prior's time grid **ending in 0**; loops
  walk its ``(sigma, sigma_next)`` pairs (``itertools.pairwise``).
* :func:`initial_noise`, :func:`ddpm_step` (x0 + c_eps eps + c_noise z: DDIM at eta = 0, the DDPM
  posterior at eta = 1) and :func:`renoise` (DiffPIR's zeta mix) are the only re-noising steps.
* :class:`Progress` reports each denoiser call to the caller's callback as a :class:`Step`.
* Shared data steps: :func:`data_step` (prox, or gradient steps for non-linear operators), the
  guided step of DPS/MCG (:func:`guided_step`), ILVR/MCG's projection (:func:`project`), the SVD set-up.

Grad mode: the registry runs every solver under ``torch.no_grad()``; the few places that differentiate
through the prior or a non-linear operator open ``torch.enable_grad()`` themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import Operator
from restora.priors.base import Prior
from restora.schedules import sampling_sigmas


@dataclass(frozen=True)
class Step:
    """What a solver reports after each denoiser call (``callback(step)``)."""

    nfe: int  # denoiser calls made so far in this solve, 1 .. total
    total: int  # the calls this solve makes in all (:meth:`restora.solvers.SolverInfo.nfe`)
    sigma: float  # the noise level of this call ([-1, 1] scale)
    x: Tensor  # the iterate after the step
    x0: Tensor  # the prior's clean estimate at this call


Callback = Callable[[Step], None]


class Progress:
    """Counts a solve's denoiser calls and reports each one as a :class:`Step`."""

    def __init__(self, callback: Callback | None, total: int) -> None:
        self.callback, self.total, self.nfe = callback, total, 0

    def __call__(self, sigma: float, x: Tensor, x0: Tensor) -> None:
        self.nfe += 1
        if self.callback is not None:
            self.callback(Step(self.nfe, self.total, float(sigma), x, x0))


def randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like ``x`` from ``generator`` (drawn on the generator's device)."""
    device = generator.device if generator is not None else x.device
    dtype = x.real.dtype
    return torch.randn(x.shape, generator=generator, device=device, dtype=dtype).to(x.device)


def image_template(op: Operator, y: Tensor) -> Tensor:
    """A zero image of the shape the operator's measurement ``y`` comes from (y's device and dtype)."""
    return torch.zeros(op.x_shape(y.shape), device=y.device, dtype=y.dtype)


def initial_noise(template: Tensor, sigma: float, generator: torch.Generator | None) -> Tensor:
    """x_T = sigma_max * z: pure noise shaped like ``template``."""
    return sigma * randn_like(template, generator)


def spectral_noise(op: Operator, template: Tensor, generator: torch.Generator | None) -> Tensor:
    """Noise distributed as V^T n, n ~ N(0, I), in the operator's spectral layout: drawn directly
    when V is real orthogonal (``op.white_spectrum``), else transformed (e.g. Hermitian FFT layouts)."""
    noise = randn_like(template, generator)
    return noise if op.white_spectrum else op.Vt(noise)


def noise_levels(prior: Prior, steps: int, spacing: str, sigma_start: float | None = None) -> list[float]:
    """``steps`` decreasing sigmas on the prior's time grid followed by 0 (Python floats, so the loop
    needs no device syncs), from the prior's top level or, for a warm start, from ``sigma_start``; refused
    when they leave the prior's noise range."""
    sigmas = [float(s) for s in sampling_sigmas(prior.schedule, steps, spacing, sigma_start)]
    check_noise_range(prior, sigmas[0])
    return [*sigmas, 0.0]


def warm_start(op: Operator, y: Tensor, sigma_start: float | None, x_init: Tensor | None) -> Tensor | None:
    """The estimate a warm start (CCDF, Chung et al. 2022) noises to ``sigma_start``: ``x_init``, or the
    operator's cheap initial estimate; None for a cold start. ``x_init`` without a level is refused (at the
    top level the estimate would drown), as is one of another shape than the image."""
    if sigma_start is None:
        if x_init is not None:
            raise RestoraError("x_init is a warm start: give sigma_start too (the noise level it starts at, "
                               "[-1, 1] scale)")
        return None
    if x_init is None:
        return op.initial_estimate(y)
    shape = tuple(op.x_shape(y.shape))
    if not isinstance(x_init, Tensor) or tuple(x_init.shape) != shape:
        got = tuple(x_init.shape) if isinstance(x_init, Tensor) else type(x_init).__name__
        raise RestoraError(f"x_init must be an image of shape {shape} (the one y comes from), got {got}")
    if not bool(torch.isfinite(x_init).all()):
        raise RestoraError("x_init contains NaN or infinite values")
    return x_init.to(device=y.device, dtype=y.real.dtype)


def begin(prior: Prior, template: Tensor, steps: int, spacing: str, generator: torch.Generator | None,
          callback: Callback | None, nfe: int | None = None, *, sigma_start: float | None = None,
          x_init: Tensor | None = None) -> tuple[list[float], Tensor, Progress]:
    """The start of a sampling loop: the sigma ladder (ending in 0), x_T = sigma_max z shaped like
    ``template`` (or, warm, ``x_init`` + sigma_start z: :func:`warm_start` gives it), and the reporter of the
    ``nfe`` (default ``steps``) denoiser calls to come."""
    sigmas = noise_levels(prior, steps, spacing, sigma_start)
    x = initial_noise(template, sigmas[0], generator)
    return sigmas, x if x_init is None else x_init + x, Progress(callback, nfe or steps)


def check_noise_range(prior: Prior, top: float) -> None:
    """Raise before any network call when a solver would query the prior above its trained range."""
    if not prior.covers(top):
        raise RestoraError(
            f"the solver starts at sigma {top:.4g} ([-1, 1] scale), above the prior's range (sigma <= "
            f"{prior.sigma_max:.4g} for {type(prior).__name__}): use a solver that stays in that range "
            "(dpir), or splice the prior under a diffusion prior as a composite (e.g. --prior "
            "default+ffdnet-color)")


def ddim_coefficients(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """(c_eps, c_noise) of the DDIM update in the x = x0 + sigma * eps convention:
    x_next = x0 + c_eps * eps + c_noise * z. eta = 0 is DDIM, eta = 1 the DDPM posterior."""
    if sigma_next == 0:
        return 0.0, 0.0
    abar, abar_next = 1 / (1 + sigma**2), 1 / (1 + sigma_next**2)
    var_vp = eta**2 * (1 - abar_next) / (1 - abar) * (1 - abar / abar_next)
    c_noise = math.sqrt(max(var_vp, 0.0) / abar_next)
    c_eps = math.sqrt(max(sigma_next**2 - c_noise**2, 0.0))
    return c_eps, c_noise


def ddpm_step(x: Tensor, x0: Tensor, sigma: float, sigma_next: float, eta: float,
              generator: torch.Generator | None) -> Tensor:
    """The ancestral step from level ``sigma`` to ``sigma_next`` given the clean estimate ``x0``:
    x0 + c_eps (x - x0) / sigma + c_noise z (:func:`ddim_coefficients`); x0 itself at sigma_next = 0."""
    c_eps, c_noise = ddim_coefficients(sigma, sigma_next, eta)
    x_next = x0 + c_eps * (x - x0) / sigma
    return x_next + c_noise * randn_like(x, generator) if c_noise else x_next


def renoise(x0: Tensor, eps: Tensor, sigma_next: float, noise: Tensor | None, mix: float) -> Tensor:
    """x_next = x0 + sigma_next * (sqrt(1 - mix) * eps + sqrt(mix) * noise).

    ``mix`` = 0 is the deterministic DDIM step, DiffPIR's zeta is ``mix``; with sigma_next = 0 the
    result is x0."""
    if sigma_next == 0:
        return x0
    if mix == 0 or noise is None:
        return x0 + sigma_next * eps
    return x0 + sigma_next * (math.sqrt(1 - mix) * eps + math.sqrt(mix) * noise)


def prior_device(prior: Prior) -> torch.device:
    """The device holding the prior's weights (CPU for weightless priors)."""
    for tensor in (*prior.parameters(), *prior.buffers()):
        return tensor.device
    return torch.device("cpu")


# ------------------------------------------------------------------------------ data steps


def data_step(op: Operator, x0: Tensor, y: Tensor, rho: float, grad_steps: int = 1) -> Tensor:
    """argmin_x ||y - A x||^2 + rho ||x - x0||^2: the operator's prox for linear operators; for
    non-linear ones, ``grad_steps`` gradient steps x <- x - A'(x)^T (A(x) - y) / (rho + L) (DiffPIR's
    first-order fallback). L is ``op.curvature``: the official code steps by 1 / rho, which diverges at
    high noise, where rho -> 0; with L the step never exceeds the inverse curvature of the data term and
    is the same where rho >> L."""
    if op.linear:
        return op.prox(x0, y, rho)
    x = x0
    for _ in range(grad_steps):
        with torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)
            loss = 0.5 * (op.A(xg) - y).pow(2).sum()
            (g,) = torch.autograd.grad(loss, xg)
        x = x - g / (rho + op.curvature)
    return x


def vp_step_factor(sigma: float, sigma_next: float) -> float:
    """k = 1 / (sqrt(abar_t) sqrt(abar_{t-1})): turns a guidance step taken on VP iterates (as the
    DPS / MCG code does) into the same step on VE iterates x = x0 + sigma * eps."""
    return math.sqrt((1 + sigma**2) * (1 + sigma_next**2))


def residual_norm_grad(prior: Prior, op: Operator, x: Tensor, y: Tensor,
                       sigma: float) -> tuple[Tensor, Tensor, Tensor]:
    """(x0_hat, grad_x ||y - A(x0_hat(x))||, ||y - A(x0_hat)||) with one norm per image, by autograd
    through the prior."""
    with torch.enable_grad():
        xg, x0 = denoise_with_graph(prior, x, sigma)
        norm = torch.linalg.vector_norm((y - op.A(x0)).flatten(1), dim=1)
        (grad,) = torch.autograd.grad(norm.sum(), xg)
    return x0.detach(), grad, norm.detach()


def denoise_with_graph(prior: Prior, x: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
    """(x as a leaf that requires grad, D(x, sigma) with its autograd graph); call under enable_grad."""
    xg = x.detach().requires_grad_(True)
    return xg, prior(xg, sigma)


def guided_step(prior: Prior, op: Operator, x: Tensor, y: Tensor, sigma: float, sigma_next: float,
                eta: float, scale: float, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """One DPS step (also MCG's first half): the DDIM/DDPM step from ``sigma`` to ``sigma_next``
    minus ``scale`` times the residual norm's gradient (VP-scaled, :func:`vp_step_factor`);
    returns (x_next, x0_hat)."""
    x0, grad, _ = residual_norm_grad(prior, op, x, y, sigma)
    x_next = ddpm_step(x, x0, sigma, sigma_next, eta, generator)
    return x_next - scale * vp_step_factor(sigma, sigma_next) * grad, x0


def noisy_measurement(op: Operator, y: Tensor, sigma: float, like: Tensor,
                      generator: torch.Generator | None) -> Tensor:
    """y_sigma = y + sigma * A(z), z ~ N(0, I) shaped like the image ``like``: the measurement of an
    iterate at noise level sigma (VE), so that projecting onto it keeps the iterate's noise level."""
    if sigma == 0:
        return y
    return y + sigma * op.A(randn_like(like, generator))


def project(op: Operator, x: Tensor, y_sigma: Tensor) -> Tensor:
    """x + A^+(y_sigma - A x): replace the row-space component of x (phi(x) = A^+ A x) by A^+ y_sigma."""
    return x + op.pinv(y_sigma - op.A(x))


# ------------------------------------------------------------------------------ schedules, SVD


def jump_schedule(steps: int, jump_length: int = 10, jump_n_sample: int = 10) -> list[int]:
    """Level indices visited by a sampler with resampling jumps ("time travel" of RePaint / DDNM):
    0 (sigma_max) .. ``steps`` (clean). jump_n_sample = 1 is the plain sampler.

    RePaint's ``get_schedule_jump`` (github.com/andreas128/RePaint, guided_diffusion/scheduler.py,
    n_sample = 1) in timestep units t = steps - 1 - index: after reaching each t in {0, j, 2j, ...}
    below steps - j (j = ``jump_length``), jump back up by j levels, ``jump_n_sample - 1`` times. Each
    jump is one entry (the official list climbs one timestep at a time)."""
    for name, value in (("steps", steps), ("jump_length", jump_length), ("jump_n_sample", jump_n_sample)):
        if int(value) != value or value < 1:
            raise RestoraError(f"{name} must be an integer >= 1, got {value}")
    jumps = {j: jump_n_sample - 1 for j in range(0, steps - jump_length, jump_length)}
    t = steps - 1
    times = [t]
    while t >= 0:
        t -= 1
        times.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            t += jump_length
            times.append(t)
    return [steps - 1 - t for t in times]


def jump_nfe(steps: int, jump_length: int = 10, jump_n_sample: int = 10) -> int:
    """Denoiser calls of a sampler on :func:`jump_schedule`: one per step down (jumps up are free)."""
    levels = jump_schedule(steps, jump_length, jump_n_sample)
    return sum(b > a for a, b in pairwise(levels))


def spectral_setup(op: Operator, y: Tensor, shape: torch.Size):
    """(s, U^T y, y_bar, measured) for SVD solvers: singular values, the measurement in spectral
    form, its pseudo-inverse coordinates y_bar = U^T y / s, and the mask of s > 0."""
    template = torch.zeros(shape, device=y.device, dtype=y.dtype)
    s = op.singular_values(template)
    uty = op.Ut(y)
    measured = s > 0
    y_bar = torch.where(measured, uty / s.clamp_min(1e-30), torch.zeros_like(uty))
    return s, uty, y_bar, measured
