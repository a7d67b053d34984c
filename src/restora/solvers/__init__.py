"""Zero-shot solvers: plain functions ``solve(prior, op, y, *, steps, sigma_y, generator, ...) -> x``.

Every solver shares the keywords ``steps`` (denoiser calls), ``sigma_y`` (measurement noise std on
the [-1, 1] scale), ``generator`` and ``callback``; method-specific keywords are documented on
each function. ``get(name)`` returns the function, ``list()`` the names, ``info(name)`` what the
method needs from the operator.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from restora.errors import RestoraError

if TYPE_CHECKING:
    from torch import Tensor

    from restora.operators.base import Operator
    from restora.priors.base import Prior


@dataclass(frozen=True)
class SolverInfo:
    """What a solver is and what it needs from an operator."""

    name: str
    module: str
    function: str
    summary: str
    needs_linear: bool = True
    needs_svd: bool = False
    masks_only: bool = False
    differentiates_prior: bool = False

    def load(self) -> Callable:
        return getattr(importlib.import_module(self.module), self.function)


_SOLVERS = {
    info.name: info
    for info in (
        SolverInfo("diffpir", "restora.solvers.diffpir", "diffpir",
                   "HQS splitting with the operator's prox (Zhu et al. 2023)", needs_linear=False),
        SolverInfo("ddim", "restora.solvers.ddim", "ddim", "unconditional DDIM sampling (no measurement)",
                   needs_linear=False),
        SolverInfo("ddrm", "restora.solvers.ddrm", "ddrm",
                   "denoising diffusion restoration in the operator's SVD basis (Kawar et al. 2022)",
                   needs_svd=True),
        SolverInfo("ddnm", "restora.solvers.ddnm", "ddnm",
                   "range-null space decomposition; DDNM+ for noisy y, time travel (Wang et al. 2023)"),
        SolverInfo("pigdm", "restora.solvers.pigdm", "pigdm",
                   "pseudoinverse guidance through the prior's Jacobian (Song et al. 2023)",
                   differentiates_prior=True),
        SolverInfo("dps", "restora.solvers.dps", "dps",
                   "diffusion posterior sampling: gradient of ||y - A(x0_hat)|| through the prior "
                   "(Chung et al. 2023)", needs_linear=False, differentiates_prior=True),
        SolverInfo("mcg", "restora.solvers.mcg", "mcg",
                   "manifold constrained gradient + measurement projection (Chung et al. 2022)",
                   differentiates_prior=True),
        SolverInfo("ilvr", "restora.solvers.ilvr", "ilvr",
                   "iterative latent variable refinement: A^+ A low-pass replacement (Choi et al. 2021)"),
        SolverInfo("repaint", "restora.solvers.repaint", "repaint",
                   "inpainting by known-region replacement with resampling jumps (Lugmayr et al. 2022)",
                   masks_only=True),
    )
}


def register(info: SolverInfo) -> None:
    """Add a solver (e.g. from a plug-in module)."""
    _SOLVERS[info.name] = info


def get(name: str) -> Callable:
    """The solver function called ``name``."""
    return info(name).load()


def info(name: str) -> SolverInfo:
    """Metadata of solver ``name``."""
    if name not in _SOLVERS:
        raise RestoraError(f"unknown solver {name!r}; choose one of {', '.join(sorted(_SOLVERS))}")
    return _SOLVERS[name]


def list() -> builtins.list[str]:
    """Names of the available solvers."""
    return sorted(_SOLVERS)


def settings(name: str, family: str, prior=None) -> dict:
    """Options for solver ``name`` on a task family (``sr``, ``deblur``, ``inpaint``, ...): the
    method's published defaults (its module's ``DEFAULTS``), overridden by the settings tuned for
    ``prior`` (``prior.solver_settings``, stored with its weights). May include ``steps``."""
    meta = info(name)
    published = getattr(importlib.import_module(meta.module), "DEFAULTS", {}).get(family, {})
    tuned = (getattr(prior, "solver_settings", None) or {}).get(name, {}).get(family, {})
    return {**published, **tuned}


def restore_samples(solver: str | Callable, prior: Prior, op: Operator, y: Tensor, *, samples: int,
                    **kwargs) -> Tensor:
    """``samples`` restorations of every image of ``y`` from one batched solve, shape (N, S, C, H, W).

    Posterior samplers return one draw per call; the mean of S draws estimates the posterior mean
    (what PSNR rewards) and their spread is a per-pixel uncertainty. ``kwargs`` go to the solver
    (``steps``, ``sigma_y``, ``generator``, ...); batch-shaped tensors among them must already be
    repeated like the images (``repeat_interleave(samples, 0)``).
    """
    if not isinstance(samples, int) or samples < 1:
        raise RestoraError(f"samples must be a positive integer, got {samples!r}")
    fn = get(solver) if isinstance(solver, str) else solver
    x = fn(prior, op.repeat_samples(samples), y.repeat_interleave(samples, 0), **kwargs)
    return x.unflatten(0, (y.shape[0], samples))


def check_compatible(name: str, op) -> None:
    """Raise a clear error if solver ``name`` cannot handle operator ``op``."""
    meta = info(name)
    if meta.needs_linear and not op.linear:
        raise RestoraError(f"{name} needs a linear operator; {type(op).__name__} is not (try diffpir or dps)")
    if meta.needs_svd and not op.has_svd:
        raise RestoraError(f"{name} needs an operator with an SVD; {type(op).__name__} has none "
                           "(try diffpir, dps or pigdm)")
    if meta.masks_only and getattr(op, "mask", None) is None:
        raise RestoraError(f"{name} only handles inpainting masks")
