"""Noise schedules and timestep spacing: the one place that converts discrete VP time <-> sigma.

Convention (EDM / k-diffusion): a noisy image is ``x = x0 + sigma * eps``. A discrete
variance-preserving (VP) model sees ``x_t = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * eps``, which is
the same point scaled: ``x_t = x / sqrt(1 + sigma^2)`` with ``sigma_t = sqrt((1 - abar_t) / abar_t)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restora.errors import RestoraError

SPACINGS = ("uniform", "quad", "karras", "logsnr")
"""Named ladders: VP timesteps evenly spaced (DDIM) or dense at low noise (DiffPIR's quad), Karras et al.'s
rho = 7 ramp (``karras-RHO`` picks another rho, e.g. ``karras-3``), and log-SNR uniform (evenly spaced in
log sigma, DPM-Solver's ``logSNR`` steps; its ``time_uniform`` / ``time_quadratic`` are uniform / quad)."""


def linear_betas(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """Linear betas of DDPM (Ho et al. 2020), used by the guided-diffusion checkpoints."""
    return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)


def cosine_betas(num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Cosine schedule of Nichol & Dhariwal (2021), betas clipped at ``max_beta``."""
    steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    abar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


def sigma_to_alpha_bar(sigma: Tensor) -> Tensor:
    """alpha_bar = 1 / (1 + sigma^2)."""
    return 1.0 / (1.0 + sigma**2)


def alpha_bar_to_sigma(alpha_bar: Tensor) -> Tensor:
    """sigma = sqrt((1 - alpha_bar) / alpha_bar)."""
    return ((1.0 - alpha_bar) / alpha_bar).sqrt()


def vp_scale(sigma: Tensor) -> Tensor:
    """sqrt(alpha_bar) for noise level sigma: multiply ``x0 + sigma * eps`` by this to get ``x_t``."""
    return 1.0 / (1.0 + sigma**2).sqrt()


class VPSchedule:
    """A discrete VP schedule of ``num_steps`` timesteps with sigma <-> t conversions.

    Fractional timesteps interpolate linearly in log-sigma (as k-diffusion does), so that
    ``t(sigma(t)) == t`` for any t in [0, num_steps - 1] and a continuous-time model can be fed
    any sigma inside the range.
    """

    def __init__(self, betas: Tensor) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or len(betas) < 2 or not bool(((betas > 0) & (betas < 1)).all()):
            raise RestoraError("betas must be a 1-D sequence of at least 2 values in (0, 1)")
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.sigmas = alpha_bar_to_sigma(self.alphas_cumprod)
        self.log_sigmas = self.sigmas.log()

    @classmethod
    def linear(cls, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> VPSchedule:
        """The linear schedule of the guided-diffusion checkpoints (1e-4..0.02, 1000 steps)."""
        return cls(linear_betas(num_steps, beta_start, beta_end))

    @classmethod
    def cosine(cls, num_steps: int = 1000) -> VPSchedule:
        """The cosine schedule of improved DDPM."""
        return cls(cosine_betas(num_steps))

    def scaled(self, factor: float) -> VPSchedule:
        """The same time grid with every sigma multiplied by ``factor``."""
        alpha_bar = sigma_to_alpha_bar(self.sigmas * factor)
        previous = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
        return VPSchedule(1.0 - alpha_bar / previous)

    @property
    def num_steps(self) -> int:
        return len(self.betas)

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma(self, t: Tensor | float | int) -> Tensor:
        """Sigma at (possibly fractional) timestep t, float64, on t's device."""
        t = torch.as_tensor(t, dtype=torch.float64)
        log_sigmas = self.log_sigmas.to(t.device)
        t = t.clamp(0, self.num_steps - 1)
        lo = t.floor().long().clamp(max=self.num_steps - 2)
        w = t - lo
        return ((1 - w) * log_sigmas[lo] + w * log_sigmas[lo + 1]).exp()

    def t(self, sigma: Tensor | float) -> Tensor:
        """Fractional timestep whose sigma is ``sigma`` (clamped to the schedule's range), float64."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        log_sigmas = self.log_sigmas.to(sigma.device)
        log_sigma = sigma.clamp(self.sigma_min, self.sigma_max).log()
        hi = torch.searchsorted(log_sigmas, log_sigma.reshape(-1).contiguous()).reshape(log_sigma.shape)
        hi = hi.clamp(1, self.num_steps - 1)
        lo = hi - 1
        w = (log_sigma - log_sigmas[lo]) / (log_sigmas[hi] - log_sigmas[lo])
        return lo.to(torch.float64) + w.clamp(0, 1)

    def nearest_t(self, sigma: Tensor | float) -> Tensor:
        """Integer timestep whose sigma is closest in log-space (DiffPIR's ``find_nearest``)."""
        return self.t(sigma).round().long()


def spaced_timesteps(steps: int, num_train: int = 1000, spacing: str = "uniform") -> Tensor:
    """Decreasing integer timesteps for a ``steps``-step sampler over a ``num_train``-step model.

    ``uniform``: evenly spaced from num_train - 1 down to 0 (DDIM-style, both ends included).
    ``quad``: DiffPIR's ``skip_type='quad'`` (dense at low noise: t_i = T - 1 - floor(sqrt(...))).
    """
    if steps < 1 or steps > num_train:
        raise RestoraError(f"steps must be in [1, {num_train}], got {steps}")
    if spacing == "uniform":
        t = torch.linspace(num_train - 1, 0, steps, dtype=torch.float64).round().long()
    elif spacing == "quad":
        # DiffPIR indexes its reversed sigma table with seq = int(sqrt(linspace(0, T^2, n))), last - 1;
        # position i there is timestep T - 1 - seq[i].
        seq = torch.linspace(0, float(num_train) ** 2, steps, dtype=torch.float64).sqrt().floor().long()
        seq[-1] -= 1
        t = (num_train - 1 - seq).clamp(0, num_train - 1)
    else:
        raise RestoraError(f"unknown timestep spacing {spacing!r}; choose 'uniform' or 'quad'")
    return torch.unique_consecutive(t)


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """Decreasing sigmas of Karras et al. (2022), eq. 5, without the trailing zero (float64)."""
    if steps < 1:
        raise RestoraError(f"steps must be >= 1, got {steps}")
    if not 0 < sigma_min < sigma_max:
        raise RestoraError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def parse_spacing(spacing: str) -> tuple[str, float]:
    """(kind, rho) of a spacing name: one of :data:`SPACINGS`, or ``karras-RHO`` (rho > 0); a RestoraError
    names the choices otherwise."""
    if isinstance(spacing, str) and spacing.startswith("karras-"):
        try:
            rho = float(spacing.removeprefix("karras-"))
        except ValueError:
            rho = math.nan
        if math.isfinite(rho) and rho > 0:
            return "karras", rho
    elif spacing in SPACINGS:
        return spacing, 7.0
    raise RestoraError(f"unknown timestep spacing {spacing!r}; choose one of {', '.join(SPACINGS)} or "
                       "karras-RHO (e.g. karras-3)")


def is_spacing(spacing: object) -> bool:
    """Whether ``spacing`` names a ladder :func:`sampling_sigmas` knows."""
    try:
        parse_spacing(spacing)  # type: ignore[arg-type]
    except RestoraError:
        return False
    return True


def sampling_sigmas(schedule: VPSchedule, steps: int, spacing: str = "uniform",
                    top: float | None = None) -> Tensor:
    """``steps`` decreasing sigmas (float64) for a sampler, from the schedule's top level (or ``top``, a warm
    start's level) down to its lowest: VP timesteps (``uniform``, ``quad``), a Karras ramp or log-SNR uniform.

    Without ``top`` the VP spacings are the integer timesteps of :func:`spaced_timesteps` (as the released
    codes index their tables); with it they are fractional timesteps from t(top) down to 0, so that a warm
    start makes exactly ``steps`` calls whatever its level."""
    kind, rho = parse_spacing(spacing)
    if steps < 1:
        raise RestoraError(f"steps must be >= 1, got {steps}")
    high = schedule.sigma_max if top is None else float(top)
    if not schedule.sigma_min * (1 - 1e-3) <= high <= schedule.sigma_max * (1 + 1e-9):
        raise RestoraError(f"a start at sigma {high:.4g} ([-1, 1] scale) is outside the prior's ladder "
                           f"[{schedule.sigma_min:.4g}, {schedule.sigma_max:.4g}]: give sigma_start in that "
                           "range")
    high = min(max(high, schedule.sigma_min), schedule.sigma_max)  # a rounded end counts as the end
    if kind == "karras":
        return karras_sigmas(steps, schedule.sigma_min, high, rho) if high > schedule.sigma_min else \
            torch.full((steps,), high, dtype=torch.float64)
    if kind == "logsnr":
        return torch.linspace(math.log(high), math.log(schedule.sigma_min), steps, dtype=torch.float64).exp()
    if top is None:
        return schedule.sigma(spaced_timesteps(steps, schedule.num_steps, spacing))
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    t_top = schedule.t(high)
    t = t_top * (1 - ramp) if kind == "uniform" else (t_top - (t_top + 1) * ramp.sqrt()).clamp_min(0)
    return schedule.sigma(t)
