"""Priors around another prior (k-diffusion's ``external.py`` wrappers hold an ``inner_model`` the same
way): one delegating base, :class:`PriorWrapper`, and the call counter / timer :class:`TimedPrior`.
The tiled prior (:class:`restora.priors.tiling.TiledPrior`) is one too."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.priors.base import Prior, as_sigma


class PriorWrapper(Prior):
    """A prior that evaluates ``inner``: it presents the inner prior's schedule, noise range, sizes and
    tuned settings as its own, and forwards runtime knobs and raw model outputs to it."""

    def __init__(self, inner: Prior) -> None:
        super().__init__(inner.schedule)
        self.inner = inner
        self.channels = inner.channels
        self.sigma_min, self.sigma_max = inner.sigma_min, inner.sigma_max
        self.size_multiple, self.native_size = inner.size_multiple, inner.native_size
        self.solver_settings = inner.solver_settings
        self.run_dtype, self.channels_last = inner.run_dtype, inner.channels_last

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        return self.forward(x, sigma)

    def model_output(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The inner network's raw output (e.g. an ADM model's learned variance)."""
        inner = getattr(self.inner, "model_output", None)
        if inner is None:
            raise RestoraError(f"{type(self.inner).__name__} has no model_output")
        return inner(x_t, t)

    def configure(self, dtype: str | torch.dtype = "fp32", channels_last: bool | None = False,
                  compile: bool = False) -> PriorWrapper:
        """The inner prior's runtime knobs (see :meth:`Prior.configure`)."""
        self.inner.configure(dtype, channels_last, compile)
        self.run_dtype, self.channels_last = self.inner.run_dtype, self.inner.channels_last
        return self


class GrayAsColor(PriorWrapper):
    """A colour prior on gray images: the gray channel replicated to RGB, denoised, and averaged back.

    A colour prior is trained on white noise, the same std in every direction of RGB space. Replicated
    gray noise of std sigma lies along luminance, (1, 1, 1) / sqrt(3), with std sqrt(3) sigma, and has
    no chroma at all. So the wrapper asks for sqrt(3) sigma, and adds chroma noise of that std (a fixed
    pattern, seed 0: D stays a deterministic function) so that the input looks like what the prior was
    trained on; the channel mean (the luminance) is the answer, and the noise range and time grid are the
    inner prior's divided by sqrt(3). For an exact MMSE denoiser this is exact (tests/test_gray_priors.py);
    for real networks it matters: FFDNet on Set12 at 25/255 gives 23.7 dB asked for sigma, 30.5 for
    sqrt(3) sigma, and DiffPIR with the bundled prior gains 2-3 dB from the chroma noise (docs/results.md
    compares with FFDNet's own gray network)."""

    LUMA = math.sqrt(3.0)

    def __init__(self, prior: Prior) -> None:
        if prior.channels != 3:
            raise RestoraError(f"GrayAsColor wraps a 3-channel prior, got {prior.channels} channels")
        super().__init__(prior)
        self.channels = 1
        self.schedule = prior.schedule.scaled(1 / self.LUMA)
        self.sigma_min, self.sigma_max = prior.sigma_min / self.LUMA, prior.sigma_max / self.LUMA

    def forward(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise RestoraError(f"GrayAsColor expects NCHW gray images, got shape {tuple(x.shape)}")
        s = as_sigma(sigma, x) * self.LUMA
        return self.inner(x.expand(-1, 3, -1, -1) + s.view(-1, 1, 1, 1).to(x.dtype) * chroma_noise(x),
                          s).mean(1, keepdim=True)


def chroma_noise(x: Tensor) -> Tensor:
    """White noise of unit std in the two chroma directions of RGB (orthogonal to (1, 1, 1)), none in
    luminance, shaped like ``x`` with three channels; always the same pattern for the same shape."""
    g = torch.Generator(device=x.device).manual_seed(0)
    n = torch.randn((x.shape[0], 3, *x.shape[2:]), generator=g, device=x.device, dtype=x.dtype)
    return n - n.mean(1, keepdim=True)


def for_channels(prior: Prior, channels: int) -> Prior:
    """``prior`` for images of ``channels`` channels: a colour prior runs gray images as replicated RGB
    (:class:`GrayAsColor`); other mismatches are a RestoraError."""
    if channels == prior.channels:
        return prior
    if channels == 1 and prior.channels == 3:
        return GrayAsColor(prior)
    example = "default or ffdnet-color for colour images" if channels == 3 else "ffdnet-gray for gray images"
    raise RestoraError(f"the prior is for {prior.channels}-channel images, these have {channels}: use a "
                       f"{channels}-channel prior (e.g. {example})")


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); a no-op elsewhere."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Mark(torch.autograd.Function):
    """Identity whose backward calls ``hook`` (marks where the backward pass enters/leaves the net)."""

    @staticmethod
    def forward(ctx, x: Tensor, hook: Callable[[], None]) -> Tensor:
        ctx.hook = hook
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        ctx.hook()
        return grad, None


class TimedPrior(PriorWrapper):
    """Counts the inner prior's calls (NFE) and times them.

    ``calls``: forward calls since :meth:`reset`; ``forward_seconds`` / ``backward_seconds``: time in
    the forward calls and in backward passes through them. With ``sync`` the device is synchronised
    before and after each timed section (use it for benchmarks on CUDA only; without it CUDA timings
    measure launch time, not compute).
    """

    def __init__(self, prior: Prior, sync: bool = False) -> None:
        super().__init__(prior)
        self.sync = sync
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.forward_seconds = 0.0
        self.backward_seconds = 0.0
        self._backward_start: float | None = None

    @property
    def network_seconds(self) -> float:
        return self.forward_seconds + self.backward_seconds

    def _sync(self, device: torch.device) -> None:
        if self.sync:
            synchronize(device)

    def forward(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        self.calls += 1
        device = x.device
        grad = torch.is_grad_enabled() and not torch.is_inference_mode_enabled()

        def start() -> None:
            self._sync(device)
            self._backward_start = time.perf_counter()

        def stop() -> None:
            if self._backward_start is not None:
                self._sync(device)
                self.backward_seconds += time.perf_counter() - self._backward_start
                self._backward_start = None

        self._sync(device)
        t0 = time.perf_counter()
        if grad and x.requires_grad:
            x = _Mark.apply(x, stop)
        out = self.inner(x, sigma)
        self._sync(device)
        self.forward_seconds += time.perf_counter() - t0
        if grad and out.requires_grad:
            out = _Mark.apply(out, start)
        return out
