"""``restore --init``: the estimate a warm-started solver begins from (CCDF), checked before any work and
computed per batch: ``auto`` (the start measured best for the solver and task family), a named estimate or
method (:mod:`restora.experiments.warm`), an image file, or a folder of estimates named like the inputs
(another run's -o folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from restora import solvers
from restora.errors import RestoraError
from restora.experiments.warm import WARM_DEFAULTS, Estimator, describe
from restora.io import list_images, read_image, to_model
from restora.operators import Operator

AUTO = "auto"


def warm_solvers() -> list[str]:
    """The restoration solvers that take a warm start (DPIR's ``sigma_start`` is its own ladder's top)."""
    return [n for n in solvers.names(restoration_only=True) if solvers.info(n).warm_start]


def check_init(text: str | None, solver: str) -> str | Path | None:
    """--init as given: None, ``auto``, a path (file or folder) or a checked estimate name; refused for a
    solver without a warm start."""
    if text is None:
        return None
    if solver not in warm_solvers():
        raise RestoraError(f"--init: {solver} has no warm start; the solvers that take one are "
                           f"{', '.join(warm_solvers())}")
    if text == AUTO:
        if solver not in WARM_DEFAULTS:
            raise RestoraError(f"--init auto: no measured warm start for {solver} (there is one for "
                               f"{', '.join(WARM_DEFAULTS)}): name the estimate, e.g. --init "
                               "dpir@ffdnet-color")
        return AUTO
    path = Path(text)
    return path if path.exists() else describe(text)


def warm_settings(solver: str, family: str, init: str | Path, steps: int | None, options: dict[str, Any],
                  given: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """(steps, options) of a warm-started batch: the start measured for the solver and task family
    (:data:`restora.experiments.warm.WARM_DEFAULTS`: its level, ladder and NFE) over ``options``, then the
    user's --steps and --opt (``given``); without a measured start, --opt sigma_start must say the level."""
    measured = dict(WARM_DEFAULTS.get(solver, {}).get(family, {}))
    if init == AUTO and not measured:
        raise RestoraError(f"--init auto: for {solver} on {family} tasks no warm start beat the cold start "
                           "on held-out crops (docs/results.md, section 10): drop --init, or name an "
                           "estimate and its level, e.g. --init dpir@ffdnet-color --opt sigma_start=0.2")
    measured.pop("init", None)
    chosen = {**options, **{k: v for k, v in measured.items() if k != "steps"}, **given}
    if chosen.get("sigma_start") is None:
        raise RestoraError(f"--init: no measured starting level for {solver} on {family} tasks: give one "
                           "with --opt sigma_start=S (a noise level on the [-1, 1] scale, e.g. 0.2)")
    return steps if steps is not None else measured.get("steps"), chosen


class InitEstimates:
    """The --init estimates of a run's batches (each method's prior loaded once)."""

    def __init__(self, init: str | Path, device: torch.device) -> None:
        self.init, self.device = init, device
        self.estimators: dict[str, Estimator] = {}

    def __call__(self, names: list[Path], op: Operator, y: Tensor, *, solver: str, sigma_y: float,
                 family: str, generator: torch.Generator) -> Tensor:
        """One estimate per input (its path in ``names``), shaped like the images ``y`` comes from."""
        if isinstance(self.init, Path):
            return self._from_files(names, op, y)
        name = WARM_DEFAULTS[solver][family]["init"] if self.init == AUTO else self.init
        if name not in self.estimators:
            self.estimators[name] = Estimator(name, device=self.device)
        return self.estimators[name](op, y, sigma_y=sigma_y, family=family, generator=generator)

    def _from_files(self, names: list[Path], op: Operator, y: Tensor) -> Tensor:
        shape = tuple(op.x_shape(y.shape))
        images = [self._file_for(path) for path in names]
        x = torch.cat([to_model(read_image(path, channels=shape[1])) for path in images]).to(y.device)
        if tuple(x.shape) != shape:
            raise RestoraError(f"--init {self.init}: the estimates are {tuple(x.shape[1:])}, the images "
                               f"{shape[1:]} (C, H, W): give estimates of the restored size")
        return x

    def _file_for(self, path: Path) -> Path:
        assert isinstance(self.init, Path)
        if self.init.is_file():
            return self.init
        found = [p for p in list_images(self.init) if p.stem == path.stem]
        if not found:
            raise RestoraError(f"--init {self.init}: no estimate named {path.stem}.* for {path.name}")
        return found[0]
