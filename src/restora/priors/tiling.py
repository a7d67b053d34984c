"""Large images through fixed-size networks: overlapping tiles blended with smooth windows.

:func:`tile_apply` cuts an NCHW tensor into overlapping tiles (evenly spaced, so every overlap is
at least ``overlap`` pixels), runs ``fn`` on groups of tiles, and blends the outputs with a
separable raised-cosine window: inside an overlap the two tiles' ramps are complementary
(sin^2 / cos^2, a partition of unity) and a tile edge on the image border is flat, so every pixel
has a positive total weight and a pointwise ``fn`` commutes with tiling. Outputs and weights are
accumulated into two full-size buffers, so memory is one image plus ``tile_batch`` tiles.

:class:`TiledPrior` applies this at every denoiser call: the solver keeps one full-size iterate
and sees one blended, seam-free D(x, sigma) per step, so a fixed-size prior (ADM 256) restores
images of any size without the solver knowing. Blending at every step (rather than restoring
tiles independently and stitching at the end) keeps neighbouring tiles consistent throughout.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from restora.errors import RestoraError
from restora.priors.base import Prior, as_sigma
from restora.priors.wrappers import PriorWrapper


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` (>= tile) with overlaps >= ``overlap``."""
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    last = length - tile
    return [round(i * last / (n - 1)) for i in range(n)]


def _ramp(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Rising half of a raised cosine over ``n`` pixels, strictly inside (0, 1): sin^2."""
    t = (torch.arange(n, dtype=dtype, device=device) + 0.5) / n
    return torch.sin(0.5 * math.pi * t) ** 2


def axis_weights(starts: list[int], tile: int, dtype: torch.dtype, device: torch.device) -> list[Tensor]:
    """1-D blending window of each tile along one axis: ramps over the actual overlaps, flat elsewhere."""
    out = []
    for i, s in enumerate(starts):
        w = torch.ones(tile, dtype=dtype, device=device)
        if i > 0:
            ov = starts[i - 1] + tile - s
            if ov > 0:
                w[:ov] *= _ramp(ov, dtype, device)
        if i + 1 < len(starts):
            ov = s + tile - starts[i + 1]
            if ov > 0:
                w[tile - ov :] *= _ramp(ov, dtype, device).flip(0)
        out.append(w)
    return out


def _pad_to(x: Tensor, h: int, w: int) -> Tensor:
    ph, pw = h - x.shape[-2], w - x.shape[-1]
    if not (ph or pw):
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def tile_apply(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    tile: int = 256,
    overlap: int = 32,
    multiple: int = 1,
    tile_batch: int = 8,
    on_tiles: Callable[[int, int], None] | None = None,
) -> Tensor:
    """``fn`` applied to an NCHW tensor through overlapping, window-blended tiles.

    ``fn`` maps (B, C, th, tw) to (B, C', th, tw). Tiles are ``tile`` pixels (a multiple of
    ``multiple``); a side shorter than that gets one tile of the side rounded up to ``multiple``
    (``multiple=tile`` forces full tiles), the image being reflect-padded and the result cropped.
    Each call of ``fn`` gets the tiles of all N samples at ``max(1, tile_batch // N)`` positions,
    position-major (``[pos0: n0..nN-1, pos1: ...]``). Autograd flows through; output dtype is ``fn``'s.
    ``on_tiles(done, total)`` is called after each call of ``fn`` with the tile positions done so far.
    """
    _check_tiling(x, tile, overlap, multiple, tile_batch)
    n, _, h, w = x.shape
    th = min(tile, -(-h // multiple) * multiple)
    tw = min(tile, -(-w // multiple) * multiple)
    hp, wp = max(h, th), max(w, tw)
    xp = _pad_to(x, hp, wp)
    ys, xs = tile_starts(hp, th, overlap), tile_starts(wp, tw, overlap)
    acc_dtype = torch.promote_types(x.dtype, torch.float32) if x.is_floating_point() else torch.float32
    wy = axis_weights(ys, th, acc_dtype, x.device)
    wx = axis_weights(xs, tw, acc_dtype, x.device)
    positions = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    per_call = max(1, tile_batch // n)

    out: Tensor | None = None
    wsum = torch.zeros(1, 1, hp, wp, dtype=acc_dtype, device=x.device)
    out_dtype = x.dtype
    for k in range(0, len(positions), per_call):
        group = positions[k : k + per_call]
        inp = torch.cat([xp[..., ys[i] : ys[i] + th, xs[j] : xs[j] + tw] for i, j in group])
        res = fn(inp)
        if res.ndim != 4 or res.shape[0] != inp.shape[0] or res.shape[-2:] != inp.shape[-2:]:
            raise RestoraError(
                "tile_apply needs fn to keep batch and spatial size: "
                f"{tuple(inp.shape)} -> {tuple(res.shape)}"
            )
        if out is None:
            out_dtype = res.dtype
            out = torch.zeros(n, res.shape[1], hp, wp, dtype=acc_dtype, device=x.device)
        for g, (i, j) in enumerate(group):
            win = wy[i][:, None] * wx[j][None, :]
            sl = (..., slice(ys[i], ys[i] + th), slice(xs[j], xs[j] + tw))
            out[sl] = out[sl] + res[g * n : (g + 1) * n].to(acc_dtype) * win
            wsum[sl] += win
        if on_tiles is not None:
            on_tiles(k + len(group), len(positions))
    assert out is not None
    return (out / wsum)[..., :h, :w].to(out_dtype)


def _check_tiling(x: Tensor, tile: int, overlap: int, multiple: int, tile_batch: int) -> None:
    if x.ndim != 4:
        raise RestoraError(f"tile_apply takes NCHW tensors, got shape {tuple(x.shape)}")
    if multiple < 1 or tile < 1 or tile % multiple:
        raise RestoraError(f"tile ({tile}) must be a positive multiple of multiple ({multiple})")
    if not 0 <= overlap < tile:
        raise RestoraError(f"overlap must be in [0, tile={tile}), got {overlap}")
    if tile_batch < 1:
        raise RestoraError(f"tile_batch must be >= 1, got {tile_batch}")


class TiledPrior(PriorWrapper):
    """A prior evaluated tile by tile (see the module doc): D(x, sigma) for images of any size.

    ``tile`` defaults to the prior's ``native_size`` (else 256); a fixed-size prior gets exactly
    ``tile`` x ``tile`` inputs (small images are padded). The wrapped prior keeps its own runtime
    settings (dtype, channels_last); :meth:`configure` forwards to it. ``on_tiles(done, total)``, when
    set, is called after each group of tiles of a call (progress for large images).
    """

    def __init__(self, prior: Prior, tile: int | None = None, overlap: int = 32, tile_batch: int = 4) -> None:
        super().__init__(prior)
        self.tile = tile or prior.native_size or 256
        self.overlap = overlap
        self.tile_batch = tile_batch
        self.on_tiles: Callable[[int, int], None] | None = None
        m = max(1, prior.size_multiple)
        self.multiple = self.tile if prior.native_size else m
        if self.tile % self.multiple:
            raise RestoraError(f"tile {self.tile} must be a multiple of the prior's size_multiple {m}")
        if not 0 <= overlap < self.tile:
            raise RestoraError(f"overlap must be in [0, tile={self.tile}), got {overlap}")

    def _tiled(self, call: Callable[[Tensor, Tensor], Tensor], x: Tensor, per_sample: Tensor) -> Tensor:
        n = x.shape[0]

        def fn(t: Tensor) -> Tensor:
            return call(t, per_sample.repeat(t.shape[0] // n))

        return tile_apply(fn, x, self.tile, self.overlap, self.multiple, self.tile_batch, self.on_tiles)

    def forward(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """D(x, sigma) blended from the wrapped prior's outputs on overlapping tiles."""
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise RestoraError(
                f"prior expects NCHW images with {self.channels} channels, got shape {tuple(x.shape)}"
            )
        return self._tiled(self.inner, x, as_sigma(sigma, x))

    def model_output(self, x_t: Tensor, t: Tensor | float) -> Tensor:
        """The wrapped network's raw output (e.g. learned variance), tiled the same way."""
        inner = getattr(self.inner, "model_output", None)
        if inner is None:
            raise RestoraError(f"{type(self.inner).__name__} has no model_output")
        t = torch.as_tensor(t, device=x_t.device, dtype=torch.float32)
        t = t.expand(x_t.shape[0]) if t.ndim == 0 else t.reshape(-1)
        return self._tiled(inner, x_t, t)


# ------------------------------------------------------------------------------ memory planning

PROBE_SIZE = 64
SOLVER_IMAGES = 24
"""Full-size image tensors a solver keeps besides the prior's activations (iterate, estimate, noise,
measurement, transforms of the operator): a generous count, for the memory estimate."""


def prior_bytes_per_pixel(prior: Prior, device: torch.device | str = "cpu") -> float:
    """Memory one image pixel costs in one call of the prior, from a small probe call: the peak over the
    call of the module outputs still alive (each output counted until it is freed) plus the workspace of
    the convolution running then (im2col's), per input pixel. Fully convolutional networks scale with the
    pixel count; fixed-size ones are probed at their native size."""
    live, peak = [0], [0]

    def hook(module: torch.nn.Module, inputs: tuple, output: object) -> None:
        if not isinstance(output, Tensor):
            return
        size = output.numel() * output.element_size()
        workspace = 0
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            workspace = k * output[0, 0].numel() * output.element_size()
        live[0] += size
        peak[0] = max(peak[0], live[0] + workspace)
        weakref.finalize(output, _release, live, size)

    leaves = [m for m in prior.modules() if not list(m.children())]
    # the probe runs the plain network: hooks on a torch.compile'd one break its guards (and compiling for
    # the probe's size alone would cost minutes)
    compiled = {m: m._compiled for m in prior.modules() if isinstance(m, Prior) and m._compiled is not None}
    handles = [m.register_forward_hook(hook) for m in leaves]
    size = prior.native_size or -(-PROBE_SIZE // prior.size_multiple) * prior.size_multiple
    try:
        for m in compiled:
            m._compiled = None
        with torch.no_grad():
            prior(torch.zeros(1, prior.channels, size, size, device=device), min(1.0, prior.sigma_max))
    finally:
        for h in handles:
            h.remove()
        for m, fn in compiled.items():
            m._compiled = fn
    return peak[0] / size**2


def _release(live: list[int], size: int) -> None:
    live[0] -= size


def available_bytes(device: torch.device | str) -> int | None:
    """Memory free for this process on ``device``: CUDA's free memory, or on Linux the smaller of
    MemAvailable and what the control group still allows; None where neither is known."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    found = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        used = int(open("/sys/fs/cgroup/memory.current").read())
        if limit != "max":
            found.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


@dataclass(frozen=True)
class TilePlan:
    """How a solve fits in memory: ``tile`` None runs the prior on the whole image."""

    tile: int | None
    tile_batch: int
    need_bytes: int  # estimated for the whole image at once
    budget_bytes: int | None


def plan_tiles(prior: Prior, height: int, width: int, batch: int, *, tile: int | None = None,
               overlap: int = 64, budget: int | None = None,
               bytes_per_pixel: float | None = None) -> TilePlan:
    """Where the prior runs whole and where in tiles: ``tile`` N forces tiles of N pixels, 0 never tiles;
    None tiles fixed-size priors above their native size and any prior whose estimated memory for the
    whole ``batch`` exceeds ``budget`` bytes (then the largest tile that fits, one position per call).
    Raises a RestoraError naming ``--tile`` / ``--max-memory`` when not even small tiles fit."""
    bpp = bytes_per_pixel if bytes_per_pixel is not None else (
        prior_bytes_per_pixel(prior) if budget is not None else 0.0)
    need = int(bpp * height * width * batch)
    native = prior.native_size
    if tile == 0 or (tile is None and native is None and (budget is None or need <= budget)):
        return TilePlan(None, 1, need, budget)
    size = tile or native
    if size is not None:
        if height <= size and width <= size:
            return TilePlan(None, 1, need, budget)
        return TilePlan(size, 4, need, budget)
    solver = SOLVER_IMAGES * batch * prior.channels * height * width * 4
    m = max(1, prior.size_multiple)
    side = int(math.sqrt(max(budget - solver, 0) / max(bpp * batch, 1e-9))) // m * m
    floor = max(2 * overlap + m, 64)
    if side < floor:
        raise RestoraError(
            f"a {height}x{width} image needs ~{need / 2**30:.2f} GiB for the prior and "
            f"~{solver / 2**30:.2f} GiB "
            f"for the solver, more than the {budget / 2**30:.2f} GiB available even in {floor}-pixel tiles: "
            "free memory, raise --max-memory, or force smaller tiles with --tile N and --tile-overlap")
    return TilePlan(min(side, max(height, width)), 1, need, budget)
