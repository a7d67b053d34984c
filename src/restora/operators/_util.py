"""Small helpers shared by the operator families (validation, FFT dtypes, default generators)."""

from __future__ import annotations

import torch
from torch import Tensor

from restora.errors import RestoraError


def check_nchw(x: Tensor, who: str, channels: int | None = None) -> None:
    """Raise RestoraError unless ``x`` is a 4-D NCHW tensor (with ``channels`` channels if given)."""
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise RestoraError(
            f"{who} expects an NCHW image batch (4-D tensor), got "
            f"{tuple(getattr(x, 'shape', ())) or type(x).__name__}; "
            "add a batch dimension with x[None] (and a channel one with x[:, None] for gray images)"
        )
    if channels is not None and x.shape[1] != channels:
        raise RestoraError(f"{who} expects {channels} channel(s), got {x.shape[1]} (shape {tuple(x.shape)})")


def check_built_size(x: Tensor, size: tuple[int, int], who: str, hint: str = "") -> None:
    """Raise RestoraError unless ``x`` is NCHW with the (H, W) the operator was built for."""
    check_nchw(x, who)
    if tuple(x.shape[-2:]) != tuple(size):
        raise RestoraError(f"{who} was built for {size[0]}x{size[1]} images, got "
                           f"{x.shape[-2]}x{x.shape[-1]}{hint}")


def check_divisible(h: int, w: int, s: int, who: str) -> None:
    """Raise RestoraError naming the nearest working size unless ``s`` divides ``h`` and ``w``."""
    if h % s or w % s:
        raise RestoraError(
            f"{who}: image size {h}x{w} is not a multiple of {s}; crop it to {h - h % s}x{w - w % s} "
            f"(e.g. restora.operators.modcrop(x, {s}))"
        )


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Real dtype to compute in: float32/float64 stay, half precisions are upcast to float32."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def complex_of(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype matching a real working dtype."""
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def default_generator(generator: torch.Generator | None) -> torch.Generator:
    """The caller's generator, or a fresh CPU generator seeded with 0 (never torch's global RNG)."""
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise RestoraError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return generator


def rand(shape: tuple[int, ...], generator: torch.Generator, normal: bool = False) -> Tensor:
    """Float64 CPU uniform (or normal) draws from ``generator`` (which may live on any device)."""
    fn = torch.randn if normal else torch.rand
    return fn(shape, generator=generator, device=generator.device, dtype=torch.float64).cpu()


def pinv_tol(n: int, dtype: torch.dtype) -> float:
    """Relative cut-off for 'zero' singular values, as torch.linalg.pinv: max(m, n) * eps(dtype)."""
    return n * torch.finfo(work_dtype(dtype)).eps


def same_tensor(a: Tensor | None, b: Tensor, version: int | None) -> bool:
    """True when ``a`` is the very tensor ``b`` and was not modified in place since it was cached."""
    if a is None or a is not b or b.requires_grad or b.is_inference():
        return False
    return version == b._version


def spatial_key(x: Tensor) -> tuple:
    """Cache key of a batch: spatial size, device and dtype."""
    return (int(x.shape[-2]), int(x.shape[-1]), x.device, x.dtype)
