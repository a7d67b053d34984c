"""The denoiser interface every solver sees: ``D(x, sigma) -> x0_hat``.

``x = x0 + sigma * eps`` with images in [-1, 1] and one sigma per sample (EDM convention).
Subclasses implement :meth:`Prior.denoise`; :meth:`Prior.forward` adds the common handling
(sigma broadcasting, padding to the network's size multiple, runtime dtype / memory layout).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.schedules import VPSchedule, vp_scale

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def as_sigma(sigma: Tensor | float, x: Tensor) -> Tensor:
    """Sigma as a vector of one value per sample of ``x``, on ``x``'s device (float32, or float64
    for float64 images)."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    sigma = torch.as_tensor(sigma, device=x.device, dtype=dtype)
    if sigma.ndim == 0:
        sigma = sigma.expand(x.shape[0])
    sigma = sigma.reshape(-1)
    if sigma.shape[0] != x.shape[0]:
        raise RestoraError(f"got {sigma.shape[0]} sigmas for a batch of {x.shape[0]} images")
    return sigma


class Prior(nn.Module):
    """A learned (or analytic) denoiser for images in [-1, 1].

    Attributes that solvers may read:
      ``schedule``: the VP time grid solvers pick their sigmas from (the model's own for
      discrete-time models, the standard linear 1000-step grid for continuous ones);
      ``sigma_min`` / ``sigma_max``: the range the model was trained on;
      ``size_multiple``: inputs are reflect-padded to a multiple of this and cropped back;
      ``native_size``: the training resolution of fixed-size models (a tiling hint), else None;
      ``solver_settings``: solver -> task family -> options tuned for this prior (stored with its
      weights; :func:`restora.solvers.settings` puts them over the published defaults).
    """

    channels: int = 3
    size_multiple: int = 1
    native_size: int | None = None

    def __init__(self, schedule: VPSchedule | None = None) -> None:
        super().__init__()
        self.schedule = schedule or VPSchedule.linear()
        self.sigma_min = self.schedule.sigma_min
        self.sigma_max = self.schedule.sigma_max
        self.run_dtype = torch.float32
        self.channels_last = False
        self.solver_settings: dict[str, dict[str, dict]] = {}
        self._compiled: Callable[[Tensor, Tensor], Tensor] | None = None

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        """x0 estimate for unpadded-to-multiple inputs; ``sigma`` is a (N,) float32 vector."""
        raise NotImplementedError

    def forward(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """D(x, sigma): the MMSE-style estimate of the clean image, same dtype/device as ``x``."""
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise RestoraError(
                f"prior expects NCHW images with {self.channels} channels, got shape {tuple(x.shape)}"
            )
        sigma = as_sigma(sigma, x)
        h, w = x.shape[-2:]
        m = self.size_multiple
        ph, pw = (-h) % m, (-w) % m
        param = next(self.parameters(), None)
        inp = x.to(param.dtype) if param is not None and param.is_floating_point() else x
        sigma = sigma.to(inp.dtype)
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            inp = F.pad(inp, (0, pw, 0, ph), mode=mode)
        if self.channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        fn = self._compiled or self.denoise
        if self.run_dtype == torch.float32:
            out = fn(inp, sigma)
        else:
            with torch.autocast(device_type=inp.device.type, dtype=self.run_dtype):
                out = fn(inp, sigma)
        return out[..., :h, :w].to(x.dtype).contiguous()

    def covers(self, sigma: float) -> bool:
        """Whether noise level ``sigma`` is within the range the model was trained for (to 1e-6 relative)."""
        return sigma <= self.sigma_max * (1 + 1e-6)

    def eps(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """The noise estimate (x - D(x, sigma)) / sigma."""
        sigma_b = as_sigma(sigma, x).view(-1, 1, 1, 1).to(x.dtype)
        return (x - self(x, sigma)) / sigma_b

    def configure(
        self, dtype: str | torch.dtype = "fp32", channels_last: bool | None = False, compile: bool = False
    ) -> Prior:
        """Set runtime knobs: autocast dtype (fp32/bf16/fp16), channels_last, torch.compile.
        ``dtype="auto"`` / ``channels_last=None`` take the fastest setting for the device holding the
        weights (:func:`fast_runtime`)."""
        if dtype == "auto" or channels_last is None:
            param = next(self.parameters(), None)
            fast_dtype, fast_layout = fast_runtime(param.device if param is not None else "cpu")
            dtype = fast_dtype if dtype == "auto" else dtype
            channels_last = fast_layout if channels_last is None else channels_last
        if isinstance(dtype, str):
            if dtype not in DTYPES:
                raise RestoraError(f"unknown dtype {dtype!r}; choose one of {sorted(DTYPES)}")
            dtype = DTYPES[dtype]
        self.run_dtype = dtype
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self._compiled = torch.compile(self.denoise) if compile else None
        return self

    @property
    def dtype_name(self) -> str:
        """The autocast dtype in effect as its knob name (fp32 / bf16 / fp16)."""
        return next(name for name, dtype in DTYPES.items() if dtype == self.run_dtype)


CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})  # x86 AVX512-BF16 / AMX, Arm BF16


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU executes bf16 arithmetic in hardware, read from the ``flags`` / ``Features``
    lines of ``cpuinfo`` (default: /proc/cpuinfo; elsewhere: False, the safe side)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return bool(flags & CPU_BF16_FLAGS)


def fast_runtime(device: torch.device | str) -> tuple[str, bool]:
    """(dtype, channels_last) that run a prior fastest on ``device`` at fp32 quality: bf16 autocast where
    the hardware has fast bf16 (CUDA with bf16 support; CPUs with bf16 instructions, :func:`cpu_has_bf16`),
    else fp32; channels_last everywhere. The solver's own state stays fp32. oneDNN also reports bf16
    on AVX-512 CPUs without those instructions, where it is emulated: 3.4x *slower* than fp32 for the
    ADM-256 network (docs/peers.md), hence the instruction check. On a CPU with them (docs/performance.md):
    2.5x faster than fp32 NCHW, restorations equal to 0.01 dB."""
    device = torch.device(device)
    if device.type == "cuda":
        fast = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
        try:
            onednn = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
            fast = bool(onednn) and cpu_has_bf16()
        except (AttributeError, RuntimeError):  # a build without the query: stay on the safe side
            fast = False
    else:
        fast = False
    return ("bf16" if fast else "fp32"), True


def vp_eps(prior: Prior, x_t: Tensor, t: Tensor | float) -> Tensor:
    """The native VP view of any prior: predicted noise at (possibly fractional) timestep t for
    ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``."""
    t = torch.as_tensor(t, device=x_t.device)
    sigma = prior.schedule.sigma(t).to(device=x_t.device, dtype=torch.float32)
    sigma = as_sigma(sigma, x_t)
    x = x_t / vp_scale(sigma).view(-1, 1, 1, 1)
    return prior.eps(x, sigma)


class VPEpsPrior(Prior):
    """Wraps a discrete-time epsilon-prediction network ``net(x_t, t)`` (DDPM / ADM) as D(x, sigma).

    Extra output channels (learned variance of ``learn_sigma`` models) are ignored by D and kept
    available through :meth:`model_output`.
    """

    def __init__(self, net: nn.Module, schedule: VPSchedule | None = None, channels: int = 3,
                 size_multiple: int = 1, native_size: int | None = None) -> None:
        super().__init__(schedule)
        self.net = net
        self.channels = channels
        self.size_multiple = size_multiple
        self.native_size = native_size

    def model_output(self, x_t: Tensor, t: Tensor) -> Tensor:
        """The network's raw output at VP input x_t and (fractional) timestep t."""
        return self.net(x_t, t)

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        t = self.schedule.t(sigma).to(torch.float32)
        x_t = x * vp_scale(sigma).view(-1, 1, 1, 1)
        eps = self.net(x_t, t)[:, : self.channels].float()
        return x - sigma.view(-1, 1, 1, 1) * eps


class EDMPrior(Prior):
    """EDM preconditioning (Karras et al. 2022, Table 1) around a raw network ``F(c_in x, c_noise)``:
    D = c_skip x + c_out F, with c_noise = log(sigma) / 4."""

    def __init__(self, net: nn.Module, sigma_data: float = 0.5, sigma_min: float = 0.002,
                 sigma_max: float = 160.0, channels: int = 3, size_multiple: int = 1) -> None:
        super().__init__()
        self.net = net
        self.sigma_data = sigma_data
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.channels = channels
        self.size_multiple = size_multiple

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        sd = self.sigma_data
        s = sigma.view(-1, 1, 1, 1)
        c_skip = sd**2 / (s**2 + sd**2)
        c_out = s * sd / (s**2 + sd**2).sqrt()
        c_in = 1 / (s**2 + sd**2).sqrt()
        c_noise = sigma.log() / 4
        return c_skip * x + c_out * self.net(c_in * x, c_noise).float()
