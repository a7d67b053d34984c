"""The solver registry: each solver module declares itself with :func:`solver` where it is defined.

The decorator records what the method needs from an operator, its options (type and valid range), its
published settings per task family and how many denoiser calls (NFEs) a call makes, and wraps the
function so that every entry, :func:`get` or a direct import, checks once: operator compatibility,
the measurement, the options; and runs the solver without autograd (solvers that differentiate through
the prior enable it locally). A plug-in solver is one module that uses the decorator and is imported.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch

from restora.errors import RestoraError

if TYPE_CHECKING:
    from torch import Tensor

    from restora.operators.base import Operator
    from restora.priors.base import Prior

SHARED_KEYWORDS = ("steps", "sigma_y", "generator", "callback")
"""Keywords every solver takes (the rest are its :attr:`SolverInfo.options`); ``sigma_y="auto"`` estimates
the noise level from the measurement (:mod:`restora.operators.noise_level`)."""


@dataclass(frozen=True)
class Option:
    """A solver keyword: its type, a range check (``rule`` says it in words) or a set of ``choices``
    (``label`` names them in messages), and whether None is allowed."""

    kind: type
    check: Callable[[Any], bool] | None = None
    rule: str = ""
    optional: bool = False
    choices: tuple[str, ...] = ()
    label: str = ""

    def validate(self, solver: str, key: str, value: Any) -> Any:
        """``value`` coerced to the option's type (an int for a float, an integral float for an int), or
        a RestoraError that says what is expected."""
        if value is None and self.optional:
            return None
        ok = False
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind in (int, float) and isinstance(value, int | float) and not isinstance(value, bool):
            if self.kind is int and float(value).is_integer():
                value, ok = int(value), True
            elif self.kind is float and math.isfinite(value):
                value, ok = float(value), True
        elif self.kind is str:
            ok = isinstance(value, str)
        else:
            ok = isinstance(value, self.kind)
        if ok and self.choices and value not in self.choices:
            raise RestoraError(f"{solver}: unknown {self.label or key} {value!r}; choose one of "
                               f"{', '.join(self.choices)}")
        if ok and (self.check is None or self.check(value)):
            return value
        if ok and self.label:
            raise RestoraError(f"{solver}: unknown {self.label} {value!r}; choose {self.rule}")
        if ok:
            raise RestoraError(f"{solver}: {key} must be {self.rule}, got {value!r}")
        kind = {bool: "true or false", int: "an integer", float: "a finite number", str: "a word"}.get(
            self.kind, self.kind.__name__)
        rule = f" {self.rule}" if self.rule else ""
        raise RestoraError(f"{solver}: {key} must be {kind}{rule}, got {value!r}")


def positive(kind: type = float, optional: bool = False) -> Option:
    return Option(kind, lambda v: v > 0, "> 0", optional=optional)


def non_negative(kind: type = float) -> Option:
    return Option(kind, lambda v: v >= 0, ">= 0")


def at_least(low: int) -> Option:
    return Option(int, lambda v: v >= low, f">= {low}")


def unit_interval() -> Option:
    return Option(float, lambda v: 0 <= v <= 1, "in [0, 1]")


def one_of(*choices: str, label: str = "") -> Option:
    return Option(str, choices=choices, label=label)


def spacing_option() -> Option:
    """The timestep spacing of a sigma ladder (:data:`restora.schedules.SPACINGS`, or ``karras-RHO``)."""
    from restora.schedules import SPACINGS, is_spacing

    return Option(str, is_spacing, f"one of {', '.join(SPACINGS)} or karras-RHO (e.g. karras-3)",
                  label="timestep spacing")


def warm_option() -> Option:
    """``sigma_start``: the noise level ([-1, 1] scale) a warm start begins at, None for a cold start."""
    return positive(optional=True)


@dataclass(frozen=True)
class SolverInfo:
    """What a solver is, what it needs from an operator and what it accepts."""

    name: str
    summary: str
    function: Callable  # the checked entry point
    options: Mapping[str, Option] = field(default_factory=dict)
    published: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Settings per task family (``sr``, ``deblur``, ``inpaint``, ...) as the authors run them."""
    count_nfe: Callable[..., int] | None = None
    needs_linear: bool = True
    needs_svd: bool = False
    masks_only: bool = False
    differentiates_prior: bool = False
    stochastic: bool = True  # draws noise: the mean of several draws differs from one draw
    uses_sigma_y: bool = True  # False: sigma_y is only validated (the method ignores the noise level)
    measurement: bool = True  # False: unconditional sampling (ddim), not a restoration solver
    stable_steps: int = 0  # fewer steps than this can leave the image range (measured; 0: not known)
    blind: bool = False  # estimates part of the operator (deblur-blind's kernel) with the image
    warm_start: bool = False  # starts from x_init noised to sigma_start (CCDF) when given one
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Each option's value when a call leaves it out, and ``steps``': read once from the function's signature,
    the one place they are declared (:func:`settings` gives the published values per task family instead)."""

    def nfe(self, steps: int, prior: Prior | None = None, **options: Any) -> int:
        """Denoiser calls one solve makes with ``steps`` and ``options`` (what the callback counts); ``prior``
        is there for plug-in counts that depend on its noise levels (a warm start's does not)."""
        if self.count_nfe is None:
            return int(steps)
        return self.count_nfe(steps, prior=prior, **options)


_SOLVERS: dict[str, SolverInfo] = {}


def solver(name: str, summary: str, *, options: Mapping[str, Option] | None = None,
           published: Mapping[str, Mapping[str, Any]] | None = None,
           count_nfe: Callable[..., int] | None = None, **needs: Any) -> Callable[[Callable], Callable]:
    """Register the decorated ``solve(prior, op, y, *, steps, sigma_y, generator, callback, ...)`` as
    ``name``. ``needs``: the :class:`SolverInfo` flags (needs_linear, needs_svd, masks_only, ...)."""

    def wrap(fn: Callable) -> Callable:
        if name in _SOLVERS:
            raise RestoraError(f"a solver named {name!r} is already registered")
        opts = MappingProxyType(dict(options or {}))
        meta: dict[str, Any] = {}

        def checked(kwargs: dict[str, Any]) -> dict[str, Any]:
            for key, value in kwargs.items():
                if key in opts:
                    kwargs[key] = opts[key].validate(name, key, value)
            if "steps" in kwargs:
                kwargs["steps"] = at_least(1).validate(name, "steps", kwargs["steps"])
            return kwargs

        @functools.wraps(fn)
        def entry(prior: Prior, op: Operator, y: Tensor, **kwargs: Any) -> Tensor:
            if meta["info"].uses_sigma_y and "sigma_y" not in kwargs:
                raise RestoraError(f"{name} needs sigma_y=, the measurement's noise std on the [-1, 1] scale "
                                   "(0 for a noiseless measurement; restora.scales converts other scales)")
            check_compatible(meta["info"], op)
            if isinstance(kwargs.get("sigma_y"), str) and kwargs["sigma_y"] == "auto":
                kwargs["sigma_y"] = auto_sigma_y(op, y)
            check_measurement(op, y, kwargs.get("sigma_y", 0.0))
            kwargs = checked(kwargs)
            with torch.no_grad():
                if y.is_inference():  # a normal tensor, so that solvers may use it with autograd
                    y = y.clone()
                return fn(prior, op, y, **kwargs)

        @functools.wraps(fn)
        def sampler(prior: Prior, shape: tuple[int, ...], **kwargs: Any) -> Tensor:
            with torch.no_grad():
                return fn(prior, shape, **checked(kwargs))

        if not needs.get("measurement", True):
            entry = sampler  # unconditional: (prior, shape), no operator or measurement

        info = SolverInfo(name=name, summary=summary, function=entry, options=opts,
                          published=MappingProxyType(dict(published or {})), count_nfe=count_nfe,
                          defaults=MappingProxyType(signature_defaults(name, fn, opts, needs)), **needs)
        meta["info"] = info
        _SOLVERS[name] = info
        return entry

    return wrap


EXTRA_KEYWORDS = ("x_init", "device", "dtype")
"""Keywords a solver may take besides the shared ones and its options: tensors and devices, which the
command line does not set."""


def signature_defaults(name: str, fn: Callable, options: Mapping[str, Option],
                       needs: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults of ``steps`` and every declared option, from the function's signature; a keyword that is
    not declared (or an option the function lacks) is refused at registration, as is a default for
    ``sigma_y`` where the method uses the noise level (it must be given: solvers disagreed on it)."""
    params = inspect.signature(fn).parameters
    keywords = {k: p for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    undeclared = set(keywords) - set(options) - set(SHARED_KEYWORDS) - set(EXTRA_KEYWORDS)
    missing = set(options) - set(keywords)
    if undeclared or missing:
        raise RestoraError(f"solver {name!r}: keywords {sorted(undeclared)} are not declared options, "
                           f"options {sorted(missing)} are not keywords of the function")
    if needs.get("warm_start") and not ("sigma_start" in options and "x_init" in keywords):
        raise RestoraError(f"solver {name!r} declares warm_start: it needs the option sigma_start and the "
                           "keyword x_init")
    uses_sigma_y = needs.get("uses_sigma_y", True) and needs.get("measurement", True)
    if uses_sigma_y and "sigma_y" in keywords and keywords["sigma_y"].default is not inspect.Parameter.empty:
        raise RestoraError(f"solver {name!r} uses the noise level: sigma_y must have no default")
    return {k: p.default for k, p in keywords.items() if k in options or k == "steps"}


def auto_sigma_y(op: Operator, y: Tensor) -> float:
    """``sigma_y="auto"``: the noise std estimated from the measurement itself (the mean over the batch:
    a solver takes one noise level; restore images of different noise in separate calls)."""
    from restora.operators.noise_level import estimate_sigma_y

    if not (isinstance(y, torch.Tensor) and y.ndim == 4):
        return math.nan  # check_measurement says what is wrong with it
    return float(estimate_sigma_y(op, y).mean())


def check_measurement(op: Operator, y: Tensor, sigma_y: float) -> None:
    """A finite NCHW measurement whose shape the operator can make, and a finite noise level >= 0."""
    from restora.operators._util import check_nchw

    if not (isinstance(y, torch.Tensor) and y.ndim == 4):
        check_nchw(y, "the measurement")
    if not (y.is_floating_point() or y.is_complex()):
        raise RestoraError(f"the measurement must be a float (or complex) tensor on the [-1, 1] scale, got "
                           f"{y.dtype}: convert images with restora.io.to_model(read_image(...)), or "
                           "y.float()")
    if y.device.type == "meta":
        raise RestoraError("the measurement is on the meta device (shapes only, no values): give a real "
                           "tensor")
    if not bool(torch.isfinite(y).all()):
        raise RestoraError("measurement contains NaN or infinite values")
    if not (isinstance(sigma_y, int | float) and math.isfinite(sigma_y) and sigma_y >= 0):
        raise RestoraError(f"sigma_y must be a finite number >= 0 ([-1, 1] scale), got {sigma_y}")


def names(restoration_only: bool = False) -> list[str]:
    """Names of the registered solvers (only those that restore a measurement, if asked)."""
    return sorted(n for n, i in _SOLVERS.items() if i.measurement or not restoration_only)


def info(name: str) -> SolverInfo:
    """Metadata of solver ``name``."""
    if name not in _SOLVERS:
        known = ", ".join(names(restoration_only=True))
        raise RestoraError(f"unknown solver {name!r}; choose one of {known}")
    return _SOLVERS[name]


def get(name: str) -> Callable:
    """The (checked) solver function called ``name``."""
    return info(name).function


def settings(name: str, family: str, prior: Prior | None = None, *,
             tuned: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Options for solver ``name`` on a task family: its published settings for the family (or for every
    family, key ``"*"``; they may include ``steps``), overridden by those tuned for ``prior``
    (``prior.solver_settings``, stored with its weights; ``tuned``: that table read from a weights file
    without loading it)."""
    from restora.operators import tasks

    families = sorted({tasks.info(name).family for name in tasks.names()})
    if family not in families:
        raise RestoraError(f"unknown task family {family!r}; the families are {', '.join(families)} "
                           "(restora.operators.task_family(TASK) gives a task's)")
    table = info(name).published
    published = {**table.get("*", {}), **table.get(family, {})}
    table = tuned if tuned is not None else getattr(prior, "solver_settings", None) or {}
    return {**published, **table.get(name, {}).get(family, {})}


def options_for(name: str, family: str, prior: Prior | None = None, *, steps: int | None = None,
                overrides: Mapping[str, Any] | None = None,
                tuned: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a solve of ``name`` on ``family`` runs with, resolved in one order for the CLI, the demo, the
    benchmarks and the tuning: :func:`settings` (published, then tuned for the prior), then ``steps``,
    then ``overrides`` (checked against the solver's options). ``steps`` is always in the result: the
    signature's default where nothing else sets it."""
    chosen = settings(name, family, prior, tuned=tuned)
    chosen["steps"] = int(steps or chosen.get("steps") or info(name).defaults["steps"])
    return {**chosen, **validate_options(name, overrides or {})}


def validate_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` checked and coerced against the solver's declared options, without running it."""
    meta = info(name)
    out = {}
    for key, value in options.items():
        if key in SHARED_KEYWORDS:
            raise RestoraError(f"{key} is not a method option: pass it as {key}= (on the command line "
                               f"--{key.replace('_', '-')})")
        if key not in meta.options:
            raise RestoraError(f"solver {name!r} has no option {key!r}; it takes "
                               f"{', '.join(meta.options) or 'none'}")
        out[key] = meta.options[key].validate(name, key, value)
    return out


def check_compatible(solver_or_info: str | SolverInfo, op: Operator) -> None:
    """Raise a clear error if the solver cannot handle operator ``op``."""
    meta = solver_or_info if isinstance(solver_or_info, SolverInfo) else info(solver_or_info)
    name = meta.name
    if op.blind and not meta.blind:
        blind = ", ".join(n for n, i in _SOLVERS.items() if i.blind) or "none registered"
        raise RestoraError(f"{name} needs a known operator; {type(op).__name__}'s kernel is unknown: use a "
                           f"blind solver ({blind}), or give the kernel with a non-blind deblur task")
    if meta.blind and not op.blind:
        raise RestoraError(f"{name} estimates the blur kernel: use it with task deblur-blind, not "
                           f"{type(op).__name__}")
    if meta.needs_linear and not op.linear:
        raise RestoraError(f"{name} needs a linear operator; {type(op).__name__} is not (try diffpir or dps)")
    if meta.needs_svd and not op.has_svd:
        raise RestoraError(f"{name} needs an operator with an SVD; {type(op).__name__} has none "
                           "(try diffpir, dps or pigdm)")
    if meta.masks_only and not op.pixel_mask:
        raise RestoraError(f"{name} only handles inpainting masks, got {type(op).__name__} "
                           "(use ddrm, diffpir, dps or mcg for other operators)")
