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
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from restora.errors import RestoraError
from restora.operators import TASKS

FORMAT = "restora-measurement"
VERSION = 2


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
        if data.get("task") not in TASKS:
            raise RestoraError(f"sidecar {path}: unknown task {data.get('task')!r}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("noise", {"model": "gaussian", "sigma": float(data.get("sigma_y", 0.0))})
        try:
            return cls(**values)
        except TypeError as exc:
            raise RestoraError(f"sidecar {path} lacks a field: {exc}") from exc
