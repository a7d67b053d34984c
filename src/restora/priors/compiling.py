"""When ``restora restore --compile auto`` (the default) compiles the prior: where the time torch.compile
saves over the run's network calls outweighs its one-off cost in this process. Both were measured on the
project's CPU with a warm on-disk compile cache (``benchmarks/compile.py``, docs/performance.md, *Compile
where it pays*); torch keeps that cache across processes (its FX-graph and AOTAutograd caches), so only
the first compile of a network on a machine pays the full code generation."""

from __future__ import annotations

from collections.abc import Mapping

import torch

REFERENCE_PIXELS = 256 * 256

BREAK_EVEN_CALLS: Mapping[str, float] = {"restora-natural": 3591, "adm-ffhq256": 529}
"""Network calls on one 256x256 image after which compiling has paid for itself in a process whose compile
cache is empty, by preset name, on CPU (``benchmarks/results/performance/compile.json``; with a warm cache
it pays far sooner, but a run cannot know that torch's cache holds its graph, so the rule is the safe one).
A preset that is not here (compiled no faster, or not measured) is never compiled by default."""


def image_calls(calls: int, images: int, height: int, width: int) -> float:
    """``calls`` network calls on a batch of ``images`` of ``height`` x ``width``, in 256x256 single-image
    calls (the compiled saving grows with the pixels a call evaluates, the compile cost does not)."""
    return calls * images * height * width / REFERENCE_PIXELS


def compile_pays(preset: str, device: torch.device, work: float) -> bool:
    """Whether compiling ``preset`` on ``device`` pays for ``work`` (:func:`image_calls`): measured on CPU
    only, so on other devices ``--compile`` decides."""
    threshold = BREAK_EVEN_CALLS.get(preset)
    return device.type == "cpu" and threshold is not None and work > threshold
