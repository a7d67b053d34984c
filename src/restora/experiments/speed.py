"""Speed measurements: solver x prior x image size x batch size on the current device.

Every speed number in the docs comes from here (``restora bench``). For each configuration the
solver runs ``warmup`` times untimed, then ``repeats`` times timed; the report gives the median.

* **seconds / image**: median wall time of one solver run divided by the batch size.
* **NFE / second**: denoiser calls per second (one call evaluates the whole batch);
  ``image_nfe_per_second`` multiplies by the batch size.
* **network share**: time inside the prior (forward calls, plus backward passes through it for
  DPS / PiGDM / MCG, timed with autograd hooks) over the whole run; the rest is the solver's own
  work (operator solves, noise draws, bookkeeping). On CUDA the timer synchronises the device
  around each call (only in bench mode, as it costs a little), so the split is exact.
* **peak memory**: CUDA ``max_memory_allocated`` over the timed runs; on CPU the peak resident
  set size (Linux ``VmHWM``, reset before the timed runs through ``/proc/self/clear_refs``; where
  that is impossible the process-lifetime peak, which the record says).
"""

from __future__ import annotations

import math
import os
import platform
import re
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from restora.errors import RestoraError
from restora.io import to_model
from restora.priors.base import Prior
from restora.priors.wrappers import TimedPrior, synchronize

# ----------------------------------------------------------------------------------- memory

_HWM = re.compile(r"VmHWM:\s+(\d+)\s+kB")


def _vm_hwm() -> int | None:
    try:
        with open("/proc/self/status") as f:
            m = _HWM.search(f.read())
        return int(m.group(1)) * 1024 if m else None
    except OSError:
        return None


class PeakMemory:
    """Peak memory of a code section: CUDA max allocated bytes, or the CPU peak resident set."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_peak_rss"
        self.scope = "section"

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            self.scope = "section" if _vm_hwm() is not None else "process"
        except OSError:
            self.scope = "process"

    def read(self) -> int:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return int(torch.cuda.max_memory_allocated(self.device))
        hwm = _vm_hwm() if self.scope == "section" else None
        if hwm is not None:
            return hwm
        self.scope = "process"
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss) * (1 if platform.system() == "Darwin" else 1024)


# ----------------------------------------------------------------------------------- runs


def test_images(batch: int, channels: int, size: int, seed: int = 0) -> Tensor:
    """Smooth random images in [-1, 1] (bilinear upsampling of coarse noise): natural-ish content
    so that solvers behave as on photos; the content does not change the timings."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, channels, max(2, size // 16), max(2, size // 16), generator=g)
    x = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return to_model(x)


@dataclass
class Timing:
    """The timed runs of one configuration."""

    seconds: list[float] = field(default_factory=list)
    network_seconds: list[float] = field(default_factory=list)
    nfe: int = 0
    peak_memory_bytes: int = 0


def time_solver(solve: Callable[[Prior], Any], prior: Prior, device: torch.device, *, repeats: int = 3,
                warmup: int = 1, sync: bool | None = None) -> tuple[Timing, PeakMemory]:
    """Time ``solve(timed_prior)``: ``warmup`` untimed runs, then ``repeats`` timed ones."""
    if repeats < 1 or warmup < 0:
        raise RestoraError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    timed = TimedPrior(prior, sync=device.type == "cuda" if sync is None else sync)
    for _ in range(warmup):
        solve(timed)
    mem = PeakMemory(device)
    mem.reset()
    out = Timing()
    for _ in range(repeats):
        timed.reset()
        synchronize(device)
        t0 = time.perf_counter()
        solve(timed)
        synchronize(device)
        out.seconds.append(time.perf_counter() - t0)
        out.network_seconds.append(timed.network_seconds)
        out.nfe = timed.calls
    out.peak_memory_bytes = mem.read()
    return out, mem


@dataclass
class Case:
    """One configuration of the benchmark grid."""

    solver: str
    task: str
    size: int
    batch: int
    steps: int
    sigma_y: float = 0.05
    options: dict[str, Any] = field(default_factory=dict)
    tile: int | None = None  # None: tile fixed-size priors above their native size; 0: never
    tile_overlap: int = 64


def run_case(case: Case, prior: Prior, device: torch.device, *, repeats: int, warmup: int) -> dict[str, Any]:
    """Measure one configuration; returns the record written to the JSON (see the module doc)."""
    from restora.operators import build_operator
    from restora.priors.tiling import TiledPrior, plan_tiles
    from restora.solvers import check_compatible, get

    fn = get(case.solver)
    gen = torch.Generator().manual_seed(0)
    x = test_images(case.batch, prior.channels, case.size)
    op = build_operator(case.task, x.shape, generator=gen)
    check_compatible(case.solver, op)
    y = op.measure(x, case.sigma_y, gen).to(device)
    tile = plan_tiles(prior, case.size, case.size, case.batch, tile=case.tile, overlap=case.tile_overlap).tile
    net = prior if tile is None else TiledPrior(prior, tile=tile, overlap=case.tile_overlap)

    def solve(p: Prior) -> Tensor:
        return fn(p, op, y, steps=case.steps, sigma_y=case.sigma_y,
                  generator=torch.Generator().manual_seed(1), **case.options)

    timing, mem = time_solver(solve, net, device, repeats=repeats, warmup=warmup)
    med = statistics.median(timing.seconds)
    net_med = statistics.median(timing.network_seconds)
    return {
        "solver": case.solver, "task": case.task, "size": case.size, "batch": case.batch,
        "steps": case.steps, "sigma_y": case.sigma_y, "options": case.options, "tile": tile,
        "tile_overlap": case.tile_overlap if tile else None,
        "seconds": [round(s, 6) for s in timing.seconds],
        "median_seconds": med,
        "seconds_per_image": med / case.batch,
        "nfe": timing.nfe,
        "nfe_per_second": timing.nfe / med if med > 0 else math.inf,
        "image_nfe_per_second": timing.nfe * case.batch / med if med > 0 else math.inf,
        "network_seconds": net_med,
        "network_share": min(1.0, net_med / med) if med > 0 else None,
        "solver_share": max(0.0, 1 - net_med / med) if med > 0 else None,
        "peak_memory_bytes": timing.peak_memory_bytes,
        "peak_memory_mib": round(timing.peak_memory_bytes / 2**20, 1),
        "memory_kind": mem.kind,
        "memory_scope": mem.scope,
    }


def device_record(device: torch.device) -> dict[str, Any]:
    """The hardware and software a measurement was taken on."""
    rec: dict[str, Any] = {"type": device.type, "threads": torch.get_num_threads(),
                           "cpu": cpu_name(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                           "python": platform.python_version()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        rec.update(name=props.name, memory_bytes=props.total_memory, cuda=torch.version.cuda,
                   index=device.index)
    else:
        rec["name"] = rec["cpu"]
    return rec


def cpu_name() -> str:
    """The CPU model name (Linux /proc/cpuinfo), else what platform reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """The benchmark records as a Markdown table (failed configurations show their error)."""
    lines = ["| solver | prior | task | size | batch | steps | s / image | NFE / s | network | peak MiB |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        head = f"| {r['solver']} | {r['prior']} | {r['task']} | {r['size']} | {r['batch']} | {r['steps']} "
        if "error" in r:
            lines.append(head + f"| failed: {r['error']} | | | |")
            continue
        share = r["network_share"]
        lines.append(head + f"| {r['seconds_per_image']:.3f} | {r['nfe_per_second']:.2f} | "
                     f"{'' if share is None else f'{100 * share:.0f}%'} | {r['peak_memory_mib']:.0f} |")
    return "\n".join(lines)
