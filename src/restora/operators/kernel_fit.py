"""The kernel step of blind deblurring: the blur kernel that best maps an image estimate onto the
measurement, in the gradient domain, solved in Fourier, then made a kernel (non-negative, small values
removed, sum 1).

    k = argmin_{k on a size x size support} sum_d || d * (k * x) - d * y ||^2 + gamma ||k||^2

with d the horizontal and vertical differences (edges are where a kernel shows: Cho & Lee 2009, Levin et
al. 2011, Pan et al. 2014). The support constraint makes it a small positive-definite system (size^2
unknowns) whose matrix-vector product is two FFTs: conjugate gradients solve it exactly. Convolutions are
circular with restora's kernel origin (:func:`restora.operators.blur.p2o`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators.base import conjugate_gradient
from restora.operators.blur import p2o

KEEP = 0.05  # entries below this fraction of the largest are set to zero (Pan et al.'s 1/20)


def differences(img: Tensor) -> tuple[Tensor, Tensor]:
    """The circular forward differences of an image along x and y (the gradient both blind steps use)."""
    return torch.roll(img, -1, dims=-1) - img, torch.roll(img, -1, dims=-2) - img


def gradient_spectra(img: Tensor) -> Tensor:
    """(2, H, W) complex: the FFTs of the circular horizontal and vertical differences of a (H, W) image."""
    return torch.fft.fft2(torch.stack(differences(img)))


def crop(spectrum: Tensor, size: int) -> Tensor:
    """The (size, size) kernel whose transfer function is nearest ``spectrum`` on that support (adjoint of
    :func:`restora.operators.blur.p2o`)."""
    full = torch.fft.ifft2(spectrum).real
    return torch.roll(full, shifts=(size // 2, size // 2), dims=(-2, -1))[..., :size, :size]


def fit_kernel(x: Tensor, y: Tensor, size: int, gamma: float = 1e-3, iters: int = 40,
               towards: Tensor | None = None) -> Tensor:
    """The (size, size) least-squares kernel with ``y ~ k * x`` (each (H, W), or (C, H, W) summed over
    channels) in the gradient domain, ``gamma`` times the gradient energy as ridge pulling it towards
    ``towards`` (a kernel prior's estimate, the half-quadratic split of Fast Diffusion EM) or 0; not yet
    projected."""
    if x.shape != y.shape or x.ndim not in (2, 3):
        raise RestoraError(f"fit_kernel needs an image and a measurement of one (H, W) or (C, H, W) shape, "
                           f"got {tuple(x.shape)} and {tuple(y.shape)}")
    if size % 2 == 0 or size < 3 or size > min(x.shape[-2:]):
        raise RestoraError(f"kernel size must be odd, >= 3 and at most the image side, got {size}")
    x, y = x.double().reshape(-1, *x.shape[-2:]), y.double().reshape(-1, *y.shape[-2:])
    gx = torch.cat([gradient_spectra(c) for c in x])
    gy = torch.cat([gradient_spectra(c) for c in y])
    energy = (gx.abs() ** 2).sum(0)
    ridge = gamma * float(energy.mean())
    rhs = crop((gx.conj() * gy).sum(0), size)
    if towards is not None:
        rhs = rhs + ridge * towards.double()
    shape = tuple(x.shape[-2:])

    def normal(k: Tensor) -> Tensor:
        return crop(energy * p2o(k, shape), size) + ridge * k

    start = torch.zeros(1, size, size, dtype=torch.float64)  # CG works per leading (batch) index
    start[0, size // 2, size // 2] = 1.0
    return conjugate_gradient(normal, rhs[None], start, max_iter=iters, tol=1e-8)[0]


def project_kernel(k: Tensor, keep: float = KEEP) -> Tensor:
    """A kernel from a least-squares fit: negatives and entries below ``keep`` x its largest set to zero,
    sum 1 (float32). A fit with no positive entry is the identity (no blur found)."""
    k = k.clamp_min(0)
    if float(k.max()) <= 0:
        out = torch.zeros_like(k)
        out[k.shape[0] // 2, k.shape[1] // 2] = 1
        return out.float()
    k = torch.where(k >= keep * k.max(), k, torch.zeros_like(k))
    return (k / k.sum()).float()


def centre_kernel(k: Tensor) -> Tensor:
    """``k`` shifted (by whole pixels, circularly in its support) so that its centre of mass is at the
    origin: a blind estimate is defined up to a shift, which moves the image the other way."""
    size = k.shape[-1]
    idx = torch.arange(size, dtype=k.dtype)
    total = k.sum()
    row = round(float((k.sum(1) * idx).sum() / total))
    col = round(float((k.sum(0) * idx).sum() / total))
    return torch.roll(k, shifts=(size // 2 - row, size // 2 - col), dims=(0, 1))


def resize_kernel(k: Tensor, size: int) -> Tensor:
    """``k`` resampled to (size, size) (bilinear), non-negative, sum 1: the coarse-to-fine hand-over."""
    out = torch.nn.functional.interpolate(k[None, None].double(), size=(size, size), mode="bilinear",
                                          align_corners=True)[0, 0].clamp_min(0)
    return (out / out.sum()).float()


def kernel_similarity(estimate: Tensor, truth: Tensor) -> tuple[float, float]:
    """(normalised cross-correlation, PSNR in dB of the peak-normalised kernels) of ``estimate`` against
    ``truth`` at the best integer shift: the usual kernel errors, shift being unidentifiable."""
    size = max(estimate.shape[-1], truth.shape[-1]) * 2 + 1
    a, b = (_pad_to(k.double(), size) for k in (estimate, truth))
    fa, fb = torch.fft.fft2(a), torch.fft.fft2(b)
    corr = torch.fft.ifft2(fb * fa.conj()).real  # corr[s] = sum a(p) b(p + s)
    shift = divmod(int(corr.argmax()), size)
    aligned = torch.roll(a, shifts=shift, dims=(0, 1))
    ncc = float((aligned * b).sum() / (aligned.norm() * b.norm()))
    scale = float(b.max())
    mse = float(((aligned - b) ** 2).mean()) / scale**2
    return ncc, 10 * torch.log10(torch.tensor(1 / max(mse, 1e-20))).item()


def _pad_to(k: Tensor, size: int) -> Tensor:
    out = torch.zeros(size, size, dtype=k.dtype)
    h, w = k.shape
    top, left = (size - h) // 2, (size - w) // 2
    out[top:top + h, left:left + w] = k
    return out
