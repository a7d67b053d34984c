"""Methods as experiments name them, ``SOLVER@PRIOR:KEY=VALUE:...``, and what they run with: the solver's
settings for the task family and prior, the step budget, the NFE per image, one draw or several.

The options come from the one resolver the CLI and the demo use too (:func:`restora.solvers.options_for`:
the published settings with those tuned for the prior, then the run's step budget, then the method's own
overrides); the NFE from the solver's own count (:meth:`restora.solvers.SolverInfo.nfe`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import Tensor

from restora.baselines import classical
from restora.errors import RestoraError
from restora.operators import Operator
from restora.pairs import parse_pairs
from restora.priors.base import Prior
from restora.references.models import ReferenceRestorer, check_operator, reference
from restora.solvers import check_compatible, get, info, options_for, restore_samples, validate_options


@dataclass(frozen=True)
class MethodSpec:
    """``SOLVER@PRIOR:KEY=VALUE:...``: a solver, the prior it runs on and the options it overrides."""

    solver: str
    prior: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""

    @classmethod
    def parse(cls, text: str, prior: str | None = None) -> MethodSpec:
        """Parse a spec (``prior`` where it names none), its overrides checked against the solver."""
        head, *pairs = text.split(":")
        solver, sep, name = head.partition("@")
        if not sep and prior is None:
            raise RestoraError(f"method {text!r}: expected SOLVER@PRIOR, e.g. diffpir@default")
        name = name if sep else prior
        return cls(solver, name, validate_options(solver, parse_pairs(pairs, text)),
                   text if sep else f"{solver}@{name}" + "".join(f":{p}" for p in pairs))


def parse_steps(text: str) -> dict[str, int]:
    """``'diffpir=25,dps=50'`` -> {'diffpir': 25, 'dps': 50} (keys: a solver or a method)."""
    pairs = (item.split("=") for item in filter(None, text.split(",")))
    return {name: int(value) for name, value in pairs}


def method_options(spec: MethodSpec, family: str, prior: Prior, steps: Mapping[str, int],
                   no_x8: bool = False) -> dict[str, Any]:
    """The options ``spec`` runs with on ``family`` (:func:`restora.solvers.options_for`), its step budget
    from ``steps`` (keyed by the method, else by its solver); ``no_x8`` turns DPIR's self-ensemble off."""
    budget = steps.get(spec.text, steps.get(spec.solver))
    options = options_for(spec.solver, family, prior, steps=budget, overrides=spec.overrides)
    if no_x8 and "x8" in options:
        options["x8"] = False
    return options


Run = Callable[[Operator, Tensor, torch.Generator], Tensor]


@dataclass(frozen=True)
class Method:
    """A labelled restoration ``run(op, y, generator)``: (N, C, H, W) images, or (N, S, C, H, W) draws
    where it draws several; ``nfe`` denoiser calls per image and draw."""

    label: str
    run: Run
    nfe: int


def classical_method(label: str, sigma_y: float, restarts: int = 1) -> Method:
    """The operator's classical restoration; with ``restarts`` > 1, that many tries in one batch (from
    random starts, where the method has one), the one with the smallest measurement residual kept."""
    def run(op: Operator, y: Tensor, g: torch.Generator) -> Tensor:
        if restarts == 1:
            return classical(op, y, sigma_y, generator=g)
        tries = classical(op.repeat_samples(restarts), y.repeat_interleave(restarts, 0), sigma_y, generator=g)
        return best_of(op, y, tries.unflatten(0, (len(y), restarts)))

    return Method(label, run, 0)


def reference_methods(names: list[str], op: Operator, sigma_y: float) -> list[Method]:
    """The supervised reference models (:mod:`restora.references`) trained for ``op``, labelled
    '<name> (supervised)' so that no table mistakes them for zero-shot methods."""
    out = []
    for name in names:
        try:
            check_operator(reference(name), op)
        except RestoraError:
            continue
        restorer = ReferenceRestorer(name)
        out.append(Method(f"{name} (supervised)", lambda op, y, g, r=restorer: r(op, y, sigma_y), 0))
    return out


def solver_methods(specs: list[MethodSpec], priors: Mapping[str, Prior], op: Operator, family: str, *,
                   sigma_y: float, steps: Mapping[str, int], draws: int = 1, mean_of: int = 1,
                   no_x8: bool = False,
                   label: Callable[[MethodSpec], str] = lambda s: s.text) -> list[Method]:
    """Every spec that can handle ``op``: ``draws`` draws per image in one solve (one: plain images), and
    for a sampling solver with ``mean_of`` > 1 also the mean of that many draws, labelled '... mean of S'."""
    out = []
    for spec in specs:
        try:
            check_compatible(spec.solver, op)
        except ValueError:
            continue
        prior = priors[spec.prior]
        options = method_options(spec, family, prior, steps, no_x8)
        calls = info(spec.solver).nfe(prior=prior, **options)  # DPIR's x8 costs no extra calls
        solve = (partial(get(spec.solver), prior, sigma_y=sigma_y, **options) if draws == 1 else
                 partial(restore_samples, get(spec.solver), prior, samples=draws, sigma_y=sigma_y, **options))
        out.append(Method(label(spec), lambda op, y, g, solve=solve: solve(op, y, generator=g), calls))
        if mean_of > 1 and info(spec.solver).stochastic:
            several = partial(restore_samples, get(spec.solver), prior, samples=mean_of, sigma_y=sigma_y,
                              **options)
            out.append(Method(f"{label(spec)} mean of {mean_of}",
                              lambda op, y, g, s=several: s(op, y, generator=g).clamp(-1, 1).mean(1), calls))
    return out


def residual(op: Operator, x: Tensor, y: Tensor) -> Tensor:
    """Per-image ||y - A(x)||: how draws are ranked without the ground truth."""
    return (op.A(x) - y).flatten(1).norm(dim=1)


def misfit(op: Operator, x: Tensor, y: Tensor) -> Tensor:
    """Per-image relative measurement misfit ||y - A(x)|| / ||y||."""
    return residual(op, x, y) / y.flatten(1).norm(dim=1)


def best_of(op: Operator, y: Tensor, draws: Tensor) -> Tensor:
    """The draw of each image (draws: N, S, C, H, W) whose measurement residual is smallest."""
    n, s = draws.shape[:2]
    res = residual(op.repeat_samples(s), draws.flatten(0, 1), y.repeat_interleave(s, 0)).view(n, s)
    return draws[torch.arange(n), res.argmin(1)]
