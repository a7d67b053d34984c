"""The sidecar JSON that `restora degrade` writes next to each measurement and `restora restore` reads:
one versioned type, :class:`Sidecar`, with :meth:`Sidecar.write` and :meth:`Sidecar.read`.

Version 2 (``"format": "restora-measurement-v2"``) adds Poisson noise (``noise``: poisson or
poisson-gaussian with its rate); ``sigma_y`` stays the Gaussian std a solver is given (for Poisson
noise its Gaussian equivalent). A file is written with the lowest version that describes it: Gaussian
measurements stay version 1, which every restora reads (as Gaussian noise). File names inside are
relative to the sidecar's folder.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from restora.cli.options import SIGMA_Y_MAX
from restora.errors import RestoraError
from restora.operators import tasks

FORMAT = "restora-measurement"
VERSION = 2
MAX_SIDE = 2**17  # pixels on a side of an image a sidecar may describe


@dataclass
class Sidecar:
    """What a measurement is: its task, options, files, noise, seed and shapes."""

    task: str
    image_shape: list[int]
    measurement_shape: list[int]
    task_options: dict[str, Any] = field(default_factory=dict)
    sigma_y: float = 0.0  # [-1, 1] scale: the Gaussian std (or equivalent) solvers are given
    noise: dict[str, Any] = field(default_factory=lambda: {"model": "gaussian", "sigma": 0.0})
    sigma_y_scales: dict[str, float] = field(default_factory=dict)
    sigma_y_given: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    base_seed: int = 0
    index: int = 0
    kernel_spec: str | None = None
    mask_spec: str | None = None
    kernel: str | None = None  # file names, relative to the sidecar's folder
    mask: str | None = None
    measurement: str | None = None
    tensor: str | None = None
    reference: str | None = None
    modcrop: list[int] | None = None
    png_clipped_fraction: float | None = None
    source: str = ""
    source_name: str = ""
    restora: str = ""
    created: str = ""

    @staticmethod
    def path_for(measurement: Path) -> Path:
        """The sidecar of a measurement file: the same stem, ``.json``."""
        return measurement.with_suffix(".json")

    def write(self, path: Path) -> Path:
        """Write atomically (the measurement is complete once its sidecar exists)."""
        from restora.cli.files import write_json_atomic

        version = 1 if self.noise.get("model", "gaussian") == "gaussian" else VERSION
        return write_json_atomic(path, {"format": f"{FORMAT}-v{version}", **asdict(self)})

    @classmethod
    def read(cls, path: Path) -> Sidecar | None:
        """The sidecar at ``path``; None when there is none or the JSON is someone else's. A sidecar of a
        newer version than this restora reads, or one that is broken, is a RestoraError."""
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RestoraError(f"cannot read the sidecar {path}: {exc}") from exc
        if not isinstance(data, dict) or not str(data.get("format", "")).startswith(FORMAT):
            return None  # some other JSON file with the same name: not ours
        m = re.fullmatch(rf"{FORMAT}-v(\d+)", str(data["format"]))
        if m is None:
            raise RestoraError(f"sidecar {path}: unknown format {data['format']!r}")
        if int(m.group(1)) > VERSION:
            raise RestoraError(f"sidecar {path} is version {m.group(1)}, newer than this restora reads "
                               f"(up to {VERSION}): upgrade restora, or degrade the images again with this "
                               "one")
        if data.get("task") not in tasks.names():
            raise RestoraError(f"sidecar {path}: unknown task {data.get('task')!r}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        try:
            side = cls(**values)
        except TypeError as exc:
            raise RestoraError(f"sidecar {path} lacks a field: {exc}") from exc
        problem = side.problem()
        if problem is not None:
            raise RestoraError(f"sidecar {path}: {problem}; degrade the image again with restora degrade")
        if "noise" not in values:
            side.noise = {"model": "gaussian", "sigma": side.sigma_y}
        return side

    def problem(self) -> str | None:
        """What is wrong with the fields a restoration uses (types, ranges, file names), else None."""
        number = (int, float)
        if not (isinstance(self.sigma_y, number) and not isinstance(self.sigma_y, bool)
                and math.isfinite(self.sigma_y) and 0 <= self.sigma_y <= SIGMA_Y_MAX):
            return f"sigma_y must be a number in [0, {SIGMA_Y_MAX:g}] ([-1, 1] scale), got {self.sigma_y!r}"
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed < 2**63):
            return f"seed must be an integer in [0, 2^63), got {self.seed!r}"
        if not isinstance(self.task_options, dict):
            return f"task_options must be an object, got {self.task_options!r}"
        for key in ("image_shape", "measurement_shape"):
            shape = getattr(self, key)
            sides = isinstance(shape, list) and len(shape) == 3 and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIDE for v in shape)
            if not sides:
                return f"{key} must be [C, H, W] with sides in 1..{MAX_SIDE}, got {shape!r}"
        for key, name in self.files().items():
            if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
                return (f"{key} must name a file inside the sidecar's folder (a relative path without '..'), "
                        f"got {name!r}")
        return None

    def files(self) -> dict[str, str]:
        """The files the sidecar names (field -> name relative to its folder): the measurement, its lossless
        array, the kernel, the mask and the cropped reference."""
        names = {k: getattr(self, k) for k in ("measurement", "tensor", "kernel", "mask", "reference")}
        return {k: v for k, v in names.items() if v is not None}
