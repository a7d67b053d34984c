"""Single-coil Cartesian MRI: ``y = M F x``, the orthonormal 2-D FFT of the image, sampled by a k-space mask.

The image is real: the magnitude image of the MRI papers' experiments (fastMRI's single-coil
reconstruction target, the gray test images here). Its spectrum is Hermitian, so measuring the
frequency k also measures -k; the masks are made Hermitian-symmetric (k is sampled exactly when -k is),
which makes ``A^T A = F^H M F`` an orthogonal projector on real images and ``A = U diag(s) V^T`` exact
with V^T = F, s = the mask (0/1), U = I on the k-space grid: DDRM, DDNM, PiGDM, DiffPIR (closed-form
prox) and DPIR all run on it through :class:`~restora.operators.base.SVDOperator`.

Measurements are complex (N, C, H, W) tensors on the full k-space grid (zero where not sampled), DC at
index (0, 0) (no fftshift). Noise: :meth:`MRI.measure` adds ``M F n`` with n real white Gaussian of std
sigma_y in the image domain: complex noise on each sampled frequency with E|n_k|^2 = sigma_y^2 and the
Hermitian pairing of a real image's spectrum, the noise whose std the SVD solvers are told.

Masks (:func:`column_mask`, :func:`variable_density_mask`; seeded, fastMRI conventions on a centred
spectrum and shifted to DC-at-0): ``random`` columns (fastMRI ``RandomMaskFunc``: a fully sampled
centre of ``center`` x W columns, the rest drawn with the probability that gives the acceleration),
``equispaced`` columns (``EquispacedMaskFunc``: every R-th column with a random offset, plus the
centre), and 2-D ``gaussian`` (independent points, density exp(-r^2 / 2 s^2) with s set by the
acceleration) and ``poisson`` (Poisson-disc: points no closer than a radius growing from the centre)
variable-density masks.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import check_nchw, complex_of, default_generator, rand, work_dtype
from restora.operators.base import GaussianNoise, NoiseModel, SVDOperator

MASK_KINDS = ("random", "equispaced", "gaussian", "poisson")


def _hermitian(mask: Tensor) -> Tensor:
    """The mask made symmetric under k -> -k (indices mod H, W): a frequency is sampled when it or its
    mirror was."""
    mirror = torch.roll(mask.flip(-2, -1), shifts=(1, 1), dims=(-2, -1))
    return torch.maximum(mask, mirror)


def _centred_columns(w: int, lines: Tensor) -> Tensor:
    """(W,) 0/1 column lines given on a centred spectrum -> DC-at-0 order."""
    return torch.roll(lines, shifts=-(w // 2))


def column_mask(h: int, w: int, acceleration: float = 4.0, center: float | None = None, kind: str = "random",
                generator: torch.Generator | None = None) -> Tensor:
    """A Cartesian (1, 1, H, W) 0/1 mask of full k-space columns, Hermitian-symmetric, DC at 0.
    ``center``: fraction of fully sampled central columns (default 0.32 / R: 0.08 at 4x, 0.04 at 8x, as
    fastMRI); ``kind``: 'random' (the other columns drawn without replacement, as many as make the
    acceleration) or 'equispaced' (evenly spaced with a random offset)."""
    if not acceleration >= 1:
        raise RestoraError(f"MRI acceleration must be >= 1, got {acceleration}")
    g = default_generator(generator)
    center = 0.32 / acceleration if center is None else float(center)
    n_low = max(1, round(w * center))
    lines = torch.zeros(w)
    lo = (w - n_low + 1) // 2
    lines[lo:lo + n_low] = 1
    side = torch.arange(lo + n_low, w)  # the positive frequencies beyond the centre (mirrored later)
    k = min(len(side), max(0, round((w / acceleration - n_low) / 2)))
    if kind == "random":
        lines[side[torch.randperm(len(side), generator=g, device=g.device)[:k].cpu()]] = 1
    elif kind == "equispaced":
        step = len(side) / max(k, 1)
        offset = float(rand((1,), g)[0]) * step
        lines[side[[min(len(side) - 1, int(offset + i * step)) for i in range(k)]]] = 1
    else:
        raise RestoraError(f"column mask kind must be 'random' or 'equispaced', got {kind!r}")
    cols = _centred_columns(w, lines)
    return _hermitian(cols.view(1, 1, 1, w).expand(1, 1, h, w).clone())


def variable_density_mask(h: int, w: int, acceleration: float = 4.0, kind: str = "gaussian",
                          generator: torch.Generator | None = None, center: float = 0.04) -> Tensor:
    """A 2-D (1, 1, H, W) 0/1 variable-density mask, Hermitian-symmetric, DC at 0: 'gaussian' (density
    exp(-r^2 / 2 s^2), s found by bisection so that 1/acceleration of k-space is sampled) or 'poisson'
    (Poisson-disc dart throwing with a minimum distance that grows linearly from the centre, tuned to
    the same fraction); a disc of radius ``center`` x min(H, W) around DC is always sampled."""
    if not acceleration >= 1:
        raise RestoraError(f"MRI acceleration must be >= 1, got {acceleration}")
    g = default_generator(generator)
    yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    r = torch.sqrt((yy / (h / 2)) ** 2 + (xx / (w / 2)) ** 2).double()  # 0 at DC, ~1 at the edges
    target = 1.0 / acceleration
    core = r <= 2 * center
    if kind == "gaussian":
        lo, hi = 1e-3, 10.0
        for _ in range(60):
            s = (lo + hi) / 2
            frac = torch.where(core, 1.0, torch.exp(-(r**2) / (2 * s**2))).mean()
            lo, hi = (s, hi) if frac < target else (lo, s)
        density = torch.where(core, 1.0, torch.exp(-(r**2) / (2 * s**2)))
        mask = (rand((h, w), g) < density / 2).double()  # halved: mirroring doubles
    elif kind == "poisson":
        mask = _poisson_disc(r, target, g)
    else:
        raise RestoraError(f"variable-density mask kind must be 'gaussian' or 'poisson', got {kind!r}")
    mask = torch.maximum(mask, core.double())
    mask = torch.roll(mask, shifts=(-(h // 2), -(w // 2)), dims=(0, 1)).float()
    return _hermitian(mask[None, None])


def _poisson_disc(r: Tensor, target: float, g: torch.Generator) -> Tensor:
    """Dart throwing in random order: a point is kept when no kept point lies within its radius, the
    radius scale (linear in r) found by bisection for the target fraction (of one half: mirrored later)."""
    import numpy as np

    h, w = r.shape
    order = torch.argsort(rand((h * w,), g)).numpy()
    radius = 0.5 + r.numpy().reshape(-1)[order]

    def throw(scale: float) -> np.ndarray:
        kept = np.zeros((h, w), dtype=bool)
        for idx, rad in zip(order.tolist(), (scale * radius).tolist(), strict=True):
            y, x, k = idx // w, idx % w, math.ceil(rad)
            if not kept[max(0, y - k):y + k + 1, max(0, x - k):x + k + 1].any():
                kept[y, x] = True
        return kept

    lo, hi = 0.0, 8.0
    mask = throw(hi)
    for _ in range(8):
        mid = (lo + hi) / 2
        cand = throw(mid)
        if cand.mean() > target / 2:
            lo, mask = mid, cand
        else:
            hi = mid
    return torch.from_numpy(mask.astype(np.float64))


class MRI(SVDOperator):
    """``y = M F x``: orthonormal 2-D FFT of each channel, frequencies kept where ``mask`` is 1."""

    def __init__(self, mask: Tensor) -> None:
        """``mask``: 0/1 (H, W) or (1|N, 1, H, W) k-space mask with DC at index 0, Hermitian-symmetric
        (as :func:`column_mask` / :func:`variable_density_mask` make them)."""
        m = mask[None, None] if mask.ndim == 2 else mask
        if m.ndim != 4 or m.shape[1] != 1:
            raise RestoraError(f"MRI mask must be (H, W) or (1|N, 1, H, W), got {tuple(mask.shape)}")
        m = m.detach().to(torch.float32)
        if not bool(((m == 0) | (m == 1)).all()):
            raise RestoraError("MRI mask values must be 0 or 1")
        if not torch.equal(m, _hermitian(m)):
            raise RestoraError("MRI mask must sample k exactly when it samples -k (the spectrum of a real "
                               "image is Hermitian); make it so with restora.operators.mri.column_mask or by "
                               "adding each sampled frequency's mirror")
        self.mask = m
        self.acceleration = float(m[0].numel() / m[0].sum().clamp_min(1))
        self._cache: dict[tuple, Tensor] = {}


    def classical(self, y: Tensor, sigma_y: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
        """The zero-filled inverse FFT (A^+ y)."""
        return self.pinv(y)
    def _m(self, x: Tensor) -> Tensor:
        check_nchw(x, "MRI")
        if tuple(x.shape[-2:]) != tuple(self.mask.shape[-2:]):
            raise RestoraError(f"MRI mask is {self.mask.shape[-2]}x{self.mask.shape[-1]} but the image is "
                               f"{x.shape[-2]}x{x.shape[-1]}")
        if self.mask.shape[0] not in (1, x.shape[0]):
            raise RestoraError(f"MRI mask has {self.mask.shape[0]} samples for a batch of {x.shape[0]}")
        key = (x.device, x.real.dtype)
        if key not in self._cache:
            with torch.inference_mode(False):
                self._cache[key] = self.mask.to(device=x.device, dtype=work_dtype(x.real.dtype))
        return self._cache[key]

    # -- the SVD: V^T = F (orthonormal), s = mask, U = I on the k-space grid
    def Vt(self, x: Tensor) -> Tensor:
        self._m(x)
        return torch.fft.fft2(x.to(work_dtype(x.dtype)), norm="ortho")

    def V(self, z: Tensor) -> Tensor:
        return torch.fft.ifft2(z, norm="ortho").real

    def Ut(self, y: Tensor) -> Tensor:
        return self._m(y) * y

    def U(self, z: Tensor) -> Tensor:
        return self._m(z) * z.to(complex_of(work_dtype(z.real.dtype)))

    def singular_values(self, x: Tensor) -> Tensor:
        return self._m(x)

    def singular_values_like_y(self, y: Tensor) -> Tensor:
        return self._m(y)

    def measure(self, x: Tensor, sigma_y: float = 0.0, generator: torch.Generator | None = None,
                noise: NoiseModel | None = None) -> Tensor:
        """M F (x + n), n real white Gaussian of std ``sigma_y`` in the image domain (see the module doc)."""
        if noise is not None and not isinstance(noise, GaussianNoise):
            raise RestoraError("MRI measurements take Gaussian noise (sigma_y)")
        sigma = noise.sigma if noise is not None else sigma_y
        n = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.real.dtype) if sigma else 0
        return self.A(x + sigma * n)

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size(x_shape)

    def repeat_samples(self, samples: int) -> MRI:
        return self if self.mask.shape[0] == 1 else MRI(self.mask.repeat_interleave(samples, 0))
