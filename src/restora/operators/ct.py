"""2-D parallel-beam CT: the Radon transform at any set of angles, its exact adjoint, and filtered
back-projection (FBP).

Projector (pixel-driven, linear interpolation): pixel (i, j) at (x, y) = (j - W//2, H//2 - i) projects
at angle theta to the detector coordinate t = x cos theta + y sin theta, and its value is shared
between the two nearest of ``detectors`` unit-spaced bins, bin ``detectors // 2`` at t = 0 (default
ceil(sqrt(2) max(H, W)) bins: the whole image at every angle; the centres and sizes of
``skimage.transform.radon`` with ``circle=False``, which samples along rays instead: the two agree to
within interpolation error, about 1% in L2, tests/test_operators_medical.py). The back-projection
``At`` gathers with the same weights, so it is the exact adjoint. Angles are in degrees, 0 = projection
onto the x axis, as scikit-image's. Measurements are sinograms (N, C, n_angles, detectors) of line
integrals (pixel size 1).

``pinv`` is CGLS (minimum-norm least squares) and ``prox`` conjugate gradients on the regularised normal
equations (A has no cheap SVD);
:meth:`CT.fbp` is the classical reconstruction (Ram-Lak or Hann-windowed ramp filter, the scaling of
``iradon``), used as the classical baseline and as the solvers' cheap first estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.operators._util import check_built_size, check_nchw, work_dtype
from restora.operators.base import Operator, cgls

CHUNK = 1 << 24  # elements of the (batch x angles x pixels) products built at once


def sparse_view_angles(views: int, arc: float = 180.0) -> list[float]:
    """``views`` evenly spaced angles (degrees) over ``arc``: 180 is the full parallel-beam range, less is
    a limited-angle scan."""
    if int(views) != views or views < 1:
        raise RestoraError(f"CT needs an integer number of views >= 1, got {views}")
    if not 0 < arc <= 180:
        raise RestoraError(f"CT arc must be in (0, 180] degrees, got {arc}")
    return [arc * k / views for k in range(int(views))]


class CT(Operator):
    """The parallel-beam Radon transform of (H, W) images at ``angles`` (degrees)."""

    linear = True

    def __init__(self, angles: Sequence[float], size: tuple[int, int], detectors: int | None = None) -> None:
        self.angles = [float(a) for a in angles]
        if not self.angles or not all(math.isfinite(a) for a in self.angles):
            raise RestoraError("CT needs at least one finite angle")
        self.size = (int(size[0]), int(size[1]))
        h, w = self.size
        self.detectors = int(detectors or math.ceil(math.sqrt(2) * max(h, w)))
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    def _weights(self, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """(lower bin index, weight of the upper bin) of every (angle, pixel), flattened per angle."""
        key = (device, dtype)
        if key not in self._cache:
            with torch.inference_mode(False):
                h, w = self.size
                yy, xx = torch.meshgrid(torch.arange(h).double(), torch.arange(w).double(), indexing="ij")
                x, y = (xx - w // 2).reshape(-1), (h // 2 - yy).reshape(-1)
                theta = torch.tensor(self.angles, dtype=torch.float64)[:, None] * math.pi / 180
                t = x * torch.cos(theta) + y * torch.sin(theta) + self.detectors // 2
                lo = t.floor().clamp(0, self.detectors - 2)
                frac = (t - lo).clamp(0, 1)
                self._cache[key] = (lo.long().to(device), frac.to(device=device, dtype=dtype))
        return self._cache[key]

    def _check(self, x: Tensor) -> None:
        check_built_size(x, self.size, "CT")

    def _chunks(self, batch: int) -> list[slice]:
        per = max(1, CHUNK // max(1, batch * self.size[0] * self.size[1]))
        return [slice(a, min(a + per, len(self.angles))) for a in range(0, len(self.angles), per)]

    def A(self, x: Tensor) -> Tensor:
        """The sinogram (N, C, n_angles, detectors)."""
        self._check(x)
        n, c = x.shape[:2]
        dt = work_dtype(x.dtype)
        lo, frac = self._weights(x.device, dt)
        flat = x.to(dt).reshape(n * c, 1, -1)
        d = self.detectors
        out = torch.zeros(n * c, len(self.angles) * d, device=x.device, dtype=dt)
        for part in self._chunks(n * c):
            base = (torch.arange(part.start, part.stop, device=x.device) * d)[:, None]
            index = (lo[part] + base).reshape(-1)
            upper = flat * frac[part]
            out = out.index_add(1, index, (flat - upper).reshape(n * c, -1))
            out = out.index_add(1, index + 1, upper.reshape(n * c, -1))
        return out.reshape(n, c, len(self.angles), d).to(x.dtype)

    def At(self, y: Tensor) -> Tensor:
        """Back-projection: each pixel gathers its two detector bins at every angle, with the same weights."""
        check_nchw(y, "CT (sinogram)")
        if tuple(y.shape[-2:]) != (len(self.angles), self.detectors):
            raise RestoraError(f"CT sinogram must be (N, C, {len(self.angles)}, {self.detectors}), got "
                               f"{tuple(y.shape)}")
        n, c = y.shape[:2]
        dt = work_dtype(y.dtype)
        lo, frac = self._weights(y.device, dt)
        sino = y.to(dt).reshape(n * c, len(self.angles), self.detectors)
        out = torch.zeros(n * c, self.size[0] * self.size[1], device=y.device, dtype=dt)
        for part in self._chunks(n * c):
            rows = sino[:, part]
            low = torch.gather(rows, 2, lo[part].expand(n * c, -1, -1))
            high = torch.gather(rows, 2, (lo[part] + 1).expand(n * c, -1, -1))
            out = out + (low * (1 - frac[part]) + high * frac[part]).sum(1)
        return out.reshape(n, c, *self.size).to(y.dtype)

    def pinv(self, y: Tensor) -> Tensor:
        """A^+ y by CGLS started from the FBP (a back-projection, so in the row space: the minimum-norm
        least-squares solution)."""
        return cgls(self.A, self.At, y, self.fbp(y), max_iter=1000, tol=1e-10)

    def initial_estimate(self, y: Tensor) -> Tensor:
        """The filtered back-projection (a start and the classical restoration alike)."""
        return self.fbp(y)

    def classical(self, y: Tensor, sigma_y: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
        """Filtered back-projection with the ramp filter."""
        return self.fbp(y)

    def fbp(self, y: Tensor, window: str = "ramp") -> Tensor:
        """Filtered back-projection: each projection filtered by |f| (``window='hann'``: times a Hann
        window), back-projected, scaled by pi / (2 n_angles) as ``skimage.transform.iradon``."""
        d = self.detectors
        size = max(64, 1 << (2 * d - 1).bit_length())
        dt = work_dtype(y.dtype)
        # the band-limited ramp from its spatial samples (Kak & Slaney 1988, eq. 3.61), as iradon builds it
        k = torch.cat([torch.arange(1, size // 2 + 1, 2), torch.arange(size // 2 - 1, 0, -2)]).double()
        taps = torch.zeros(size, dtype=torch.float64)
        taps[0] = 0.25
        taps[1::2] = -1 / (math.pi * k) ** 2
        ramp = (2 * torch.fft.fft(taps).real).to(device=y.device, dtype=dt)
        if window == "hann":
            f = torch.fft.fftfreq(size, device=y.device, dtype=dt)
            ramp = ramp * (0.5 + 0.5 * torch.cos(2 * math.pi * f))
        elif window != "ramp":
            raise RestoraError(f"FBP window must be 'ramp' or 'hann', got {window!r}")
        spec = torch.fft.fft(y.to(ramp.dtype), n=size, dim=-1) * ramp
        filtered = torch.fft.ifft(spec, dim=-1).real[..., :d]
        return (self.At(filtered) * math.pi / (2 * len(self.angles))).to(y.dtype)

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size((x_shape[0], x_shape[1], len(self.angles), self.detectors))

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        return torch.Size((y_shape[0], y_shape[1], *self.size))
