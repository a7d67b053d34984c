"""Command-line values: ``KEY=VALUE`` options, argparse types, noise levels, memory sizes, and solver
options checked against what the solver declares."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping
from typing import Any

from restora.errors import RestoraError

SIGMA_Y_MAX = 2.0
"""The largest measurement noise std accepted ([-1, 1] scale): the whole intensity range (255 on
0..255). Noise that strong leaves nothing of the image to restore, and solvers overflow on it."""

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def check_sigma(value: float, flag: str = "--sigma-y", scale: str = "[-1,1]") -> float:
    """A noise std quoted on ``scale``, checked and converted to the [-1, 1] scale."""
    from restora.scales import sigma_on_model_scale

    if not (math.isfinite(value) and value >= 0):
        raise RestoraError(f"{flag} must be a finite number >= 0, got {value}")
    sigma = sigma_on_model_scale(value, scale)
    if sigma > SIGMA_Y_MAX:
        raise RestoraError(
            f"{flag} {value:g} (on the {scale} scale) is {sigma:g} on [-1, 1], more than the whole intensity "
            f"range ({SIGMA_Y_MAX:g} on [-1, 1], 255 on 0..255): no image survives such noise. Typical "
            "values are 0.01-0.2 on [-1, 1]; check the scale (--noise-scale)")
    return sigma


AUTO = "auto"


def sigma_or_auto(text: str) -> float | str:
    """--sigma-y: a number, or ``auto`` (estimate it from each measurement)."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


SEED_LIMIT = 2**63 - 2**32
"""Seeds are in [0, SEED_LIMIT): image i of a run uses seed + i, which must still fit torch's 64-bit seed."""


def seed_int(text: str) -> int:
    """argparse type: a base seed, an integer in [0, 2^63 - 2^32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2^63 - 2^32), got {text}")
    return value


def int_list(text: str) -> list[int]:
    """argparse type: '1,4,16' -> [1, 4, 16] (each >= 1)."""
    return [positive_int(part) for part in text.split(",") if part.strip()]


def str_list(text: str) -> list[str]:
    """argparse type: 'a,b' -> ['a', 'b']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def byte_size(text: str) -> int:
    """argparse type: a memory size, '512M', '2G', '1.5GiB' or plain bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(i?B)?\s*", text, flags=re.IGNORECASE)
    if m is None:
        raise argparse.ArgumentTypeError(f"expected a size like 512M or 2G, got {text!r}")
    size = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if size < 1:
        raise argparse.ArgumentTypeError(f"a memory size must be more than 0 bytes, got {text!r}")
    return size


def check_solver_options(name: str, options: Mapping[str, Any], in_effect: Mapping[str, Any]) -> dict[str,
                                                                                                      Any]:
    """``--opt`` values checked against the solver's declared options (see :mod:`restora.solvers.registry`);
    an unknown key lists the valid ones with the values the run would use (``in_effect``)."""
    from restora import solvers

    meta = solvers.info(name)
    for key in options:
        if key in ("steps", "sigma_y", "generator", "callback"):
            raise RestoraError(f"--opt {key}=...: use the --{key.replace('_', '-')} option instead")
        if key not in meta.options:
            names = ", ".join(f"{k} ({in_effect[k]!r})" if k in in_effect else k for k in meta.options)
            raise RestoraError(f"solver {name!r} has no option {key!r}; its --opt keys are: "
                               f"{names or 'none'}")
    return solvers.validate_options(name, options)
