"""Zero-shot solvers: plain functions ``solve(prior, op, y, *, steps, sigma_y, generator, callback, ...)``.

Every solver shares the keywords ``steps``, ``sigma_y`` (measurement noise std on the [-1, 1] scale),
``generator`` and ``callback`` (called once per denoiser call with a :class:`Step`); its own keywords
are documented on its function and declared in its registry entry. ``get(name)`` returns the function,
``names()`` the names, ``info(name)`` what the method needs and accepts, ``settings(name, family, prior)``
its published (and prior-tuned) settings. Each solver registers itself where it is defined, with
:func:`solver`; a plug-in solver is a module that does the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restora.errors import RestoraError
from restora.solvers import (  # noqa: F401 (register)
    blind_dps,
    blind_pnp,
    ddim,
    ddnm,
    ddrm,
    diffpir,
    dpir,
    dps,
    ilvr,
    mcg,
    pigdm,
    repaint,
)
from restora.solvers.common import Callback, Step
from restora.solvers.registry import (
    Option,
    SolverInfo,
    check_compatible,
    get,
    info,
    names,
    options_for,
    settings,
    solver,
    validate_options,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from torch import Tensor

    from restora.operators.base import Operator
    from restora.priors.base import Prior


def restore_samples(solver_fn: str | Callable, prior: Prior, op: Operator, y: Tensor, *, samples: int,
                    **kwargs) -> Tensor:
    """``samples`` restorations of every image of ``y`` from one batched solve, shape (N, S, C, H, W).

    Posterior samplers return one draw per call; the mean of S draws estimates the posterior mean
    (what PSNR rewards) and their spread is a per-pixel uncertainty. ``kwargs`` go to the solver
    (``steps``, ``sigma_y``, ``generator``, ...); batch-shaped tensors among them must already be
    repeated like the images (``repeat_interleave(samples, 0)``).
    """
    if not isinstance(samples, int) or samples < 1:
        raise RestoraError(f"samples must be a positive integer, got {samples!r}")
    fn = get(solver_fn) if isinstance(solver_fn, str) else solver_fn
    x = fn(prior, op.repeat_samples(samples), y.repeat_interleave(samples, 0), **kwargs)
    return x.unflatten(0, (y.shape[0], samples))


__all__ = ["Callback", "Option", "SolverInfo", "Step", "check_compatible", "get", "info", "names",
           "options_for", "restore_samples", "settings", "solver", "validate_options"]
