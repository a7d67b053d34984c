"""Noise-level scales: the one place that converts a noise std quoted on [0, 1] or 0..255 to restora's
[-1, 1] scale, and the names of the noise models. Plain Python (no torch), so that the command line can
declare its options without loading torch."""

from __future__ import annotations

from restora.errors import RestoraError

SCALES = {"[-1,1]": 1.0, "[0,1]": 2.0, "255": 2.0 / 255.0}
"""Factor that takes a noise std quoted on each scale to the [-1, 1] scale."""

NOISE_MODELS = ("gaussian", "poisson", "poisson-gaussian")


def sigma_on_model_scale(sigma: float, scale: str = "[-1,1]") -> float:
    """Convert a noise std quoted on ``scale`` ('[-1,1]', '[0,1]' or '255') to the [-1, 1] scale
    used inside restora (DiffPIR's 12.75/255 on [0,1] is 0.1 here; DPS's 0.05 stays 0.05)."""
    if scale not in SCALES:
        raise RestoraError(f"unknown noise scale {scale!r}; choose one of {list(SCALES)}")
    return float(sigma) * SCALES[scale]
