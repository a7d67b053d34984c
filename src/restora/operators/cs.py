"""Compressed sensing with orthonormal-row measurement matrices (so the SVD is trivial: s = 1 or 0).

* :class:`BlockCS` -- every B x B block of every channel is measured by the same m x B^2 matrix, the
  first m = round(ratio * B^2) rows of a random orthogonal Q (QR of a Gaussian matrix, signs fixed so
  Q is Haar distributed). Measurement shape (N, C * m, H / B, W / B).
* :class:`WalshHadamardCS` -- subsampled randomised Walsh-Hadamard transform per channel:
  y = P H D x / sqrt(n) with random signs D, the fast (Sylvester-order) WHT H and m random rows P;
  n = H * W must be a power of two. Measurement shape (N, C, 1, m).

SVD view in image shape: Vt is the full orthogonal transform, singular values are 1 on the measured
coefficients and 0 elsewhere, Ut scatters y into those coefficients, U gathers them.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from restora.errors import RestoraError
from restora.operators._util import check_built_size, check_divisible, check_nchw, default_generator, rand
from restora.operators.base import Rho, SVDOperator, batch_view


def _check_ratio(ratio: float) -> float:
    if not 0.0 < ratio <= 1.0:
        raise RestoraError(f"CS sampling ratio must be in (0, 1], got {ratio}")
    return float(ratio)


def random_orthogonal(n: int, generator: torch.Generator | None = None) -> Tensor:
    """A Haar-random orthogonal (n, n) float64 matrix: QR of a Gaussian matrix with R's signs fixed."""
    g = default_generator(generator)
    q, r = torch.linalg.qr(rand((n, n), g, normal=True))
    return q * torch.sign(torch.diagonal(r))[None, :]


class BlockCS(SVDOperator):
    """Block-wise random orthogonal compressed sensing (B x B blocks, one shared matrix). A, At, pinv and
    prox are written out: they apply the m measured rows of Q, not the whole B^2 x B^2 V."""

    white_spectrum = True

    def __init__(self, ratio: float = 0.25, block: int = 32, generator: torch.Generator | None = None,
                 matrix: Tensor | None = None) -> None:
        """``ratio``: measurements per pixel, m = round(ratio * B^2) >= 1; ``block``: B; ``matrix``: the
        orthogonal B^2 x B^2 Q (default: drawn by :meth:`draw` from ``generator``, None: seed 0)."""
        self.ratio = _check_ratio(ratio)
        self.block = int(block)
        if self.block < 1:
            raise RestoraError(f"CS block size must be >= 1, got {block}")
        n = self.block**2
        self.m = max(1, round(self.ratio * n))
        self.Q = self.draw(self.block, generator) if matrix is None else matrix.to(torch.float64)
        if self.Q.shape != (n, n):
            raise RestoraError(f"BlockCS matrix must be {n}x{n} for {self.block}x{self.block} blocks, "
                               f"got {tuple(self.Q.shape)}")
        self._cache: dict[tuple, Tensor] = {}

    @staticmethod
    def draw(block: int, generator: torch.Generator | None) -> Tensor:
        """The random part of the operator: a Haar orthogonal (B^2, B^2) matrix (rows [:m] are measured)."""
        return random_orthogonal(int(block) ** 2, generator)

    def _q(self, x: Tensor) -> Tensor:
        key = (x.device, x.real.dtype)
        if key not in self._cache:
            with torch.inference_mode(False):  # normal tensors, usable by autograd later
                self._cache[key] = self.Q.to(device=x.device, dtype=key[1])
        return self._cache[key]

    def _blocks(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, C, B^2, H/B, W/B)."""
        check_nchw(x, "BlockCS")
        n, c, h, w = x.shape
        check_divisible(h, w, self.block, "BlockCS")
        return F.pixel_unshuffle(x, self.block).reshape(n, c, self.block**2, h // self.block, w // self.block)

    def _image(self, blocks: Tensor) -> Tensor:
        n, c, k, hb, wb = blocks.shape
        return F.pixel_shuffle(blocks.reshape(n, c * k, hb, wb), self.block)

    def _split_y(self, y: Tensor) -> Tensor:
        check_nchw(y, "BlockCS (measurement)")
        n, cm, hb, wb = y.shape
        if cm % self.m:
            raise RestoraError(f"BlockCS measurement has {cm} channels, not a multiple of m = {self.m}")
        return y.reshape(n, cm // self.m, self.m, hb, wb)

    def A(self, x: Tensor) -> Tensor:
        q = self._q(x)[: self.m]
        yb = torch.einsum("mk,nckhw->ncmhw", q, self._blocks(x))
        n, c, m, hb, wb = yb.shape
        return yb.reshape(n, c * m, hb, wb)

    def At(self, y: Tensor) -> Tensor:
        q = self._q(y)[: self.m]
        return self._image(torch.einsum("mk,ncmhw->nckhw", q, self._split_y(y)))

    def pinv(self, y: Tensor) -> Tensor:
        """A^+ = A^T (the rows are orthonormal)."""
        return self.At(y)

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        """(A^T A + rho I)^-1 b = (b - P b) / rho + P b / (1 + rho), P = A^T A being a projector."""
        r = batch_view(rho, z)
        b = self.At(y) + r * z
        pb = self.At(self.A(b))
        return (b - pb) / r + pb / (1 + r)

    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        n, c, h, w = x_shape
        check_divisible(h, w, self.block, "BlockCS")
        return torch.Size((n, c * self.m, h // self.block, w // self.block))

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        n, cm, hb, wb = y_shape
        return torch.Size((n, cm // self.m, hb * self.block, wb * self.block))

    def Vt(self, x: Tensor) -> Tensor:
        return self._image(torch.einsum("jk,nckhw->ncjhw", self._q(x), self._blocks(x)))

    def V(self, z: Tensor) -> Tensor:
        return self._image(torch.einsum("jk,ncjhw->nckhw", self._q(z), self._blocks(z)))

    def Ut(self, y: Tensor) -> Tensor:
        yb = self._split_y(y)
        return self._image(F.pad(yb, (0, 0, 0, 0, 0, self.block**2 - self.m)))

    def U(self, z: Tensor) -> Tensor:
        zb = self._blocks(z)[:, :, : self.m]
        n, c, m, hb, wb = zb.shape
        return zb.reshape(n, c * m, hb, wb)

    def singular_values(self, x: Tensor) -> Tensor:
        s = torch.zeros(1, 1, self.block**2, 1, 1, device=x.device, dtype=x.real.dtype)
        s[:, :, : self.m] = 1
        b = self.block
        return F.pixel_shuffle(s.reshape(1, b * b, 1, 1), b).repeat(1, 1, x.shape[-2] // b, x.shape[-1] // b)


def fwht(x: Tensor) -> Tensor:
    """Orthonormal fast Walsh-Hadamard transform (Sylvester order) over the last dimension (a power
    of two), in log2(n) vectorised butterfly stages; it is its own inverse."""
    n = x.shape[-1]
    if n < 1 or n & (n - 1):
        raise RestoraError(f"the Walsh-Hadamard transform needs a power-of-two length, got {n}")
    lead = x.shape[:-1]
    h = 1
    while h < n:
        v = x.reshape(*lead, n // (2 * h), 2, h)
        a, b = v[..., 0, :], v[..., 1, :]
        x = torch.stack((a + b, a - b), dim=-2).reshape(*lead, n)
        h *= 2
    return x / n**0.5


class WalshHadamardCS(SVDOperator):
    """Subsampled randomised Walsh-Hadamard compressed sensing on (H, W) images, H * W a power of 2.
    A and At are written out (one transform and a gather/scatter); pinv and prox are the SVD's."""

    white_spectrum = True

    def __init__(self, ratio: float, size: tuple[int, int], generator: torch.Generator | None = None,
                 signs: Tensor | None = None, rows: Tensor | None = None) -> None:
        """``ratio``: m = round(ratio * H * W) measurements per channel; ``size``: (H, W) of the
        images (both powers of two); ``signs`` / ``rows``: the random signs and measured rows (default:
        drawn by :meth:`draw` from ``generator``, None: seed 0)."""
        self.ratio = _check_ratio(ratio)
        h, w = (int(v) for v in size)
        n = h * w
        if h < 1 or w < 1 or n & (n - 1):
            raise RestoraError(f"WalshHadamardCS needs H and W powers of two, got {h}x{w}; crop or pad "
                               "the image (e.g. to 256x256) or use BlockCS")
        self.size = (h, w)
        self.m = max(1, round(self.ratio * n))
        if signs is None or rows is None:
            signs, rows = self.draw(self.ratio, self.size, generator)
        self.signs, self.rows = signs.to(torch.float64), rows
        self._cache: dict[tuple, tuple[Tensor, Tensor, Tensor]] = {}

    @staticmethod
    def draw(ratio: float, size: tuple[int, int], generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """The random part of the operator: (signs of D, sorted measured rows of H)."""
        n = int(size[0]) * int(size[1])
        g = default_generator(generator)
        signs = torch.where(rand((n,), g) < 0.5, -1.0, 1.0).to(torch.float64)
        rows = torch.sort(torch.argsort(rand((n,), g))[: max(1, round(ratio * n))]).values
        return signs, rows

    def _get(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        key = (x.device, x.real.dtype)
        if key not in self._cache:
            with torch.inference_mode(False):  # normal tensors, usable by autograd later
                keep = torch.zeros(self.size[0] * self.size[1], device=x.device, dtype=key[1])
                rows = self.rows.to(x.device)
                keep[rows] = 1
                signs = self.signs.to(device=x.device, dtype=key[1])
                self._cache[key] = (signs, rows, keep)
        return self._cache[key]

    def _flat(self, x: Tensor) -> Tensor:
        check_built_size(x, self.size, "WalshHadamardCS", f"; build it with size={tuple(x.shape[-2:])}")
        return x.reshape(*x.shape[:2], -1)

    def _check_y(self, y: Tensor) -> None:
        check_nchw(y, "WalshHadamardCS (measurement)")
        if y.shape[-2:] != (1, self.m):
            raise RestoraError(f"WalshHadamardCS measurement must be (N, C, 1, {self.m}), "
                               f"got {tuple(y.shape)}")

    def A(self, x: Tensor) -> Tensor:
        d, rows, _ = self._get(x)
        return fwht(self._flat(x) * d)[..., rows][:, :, None, :]

    def At(self, y: Tensor) -> Tensor:
        self._check_y(y)
        d, rows, _ = self._get(y)
        n, c = y.shape[:2]
        full = torch.zeros(n, c, self.size[0] * self.size[1], dtype=y.dtype, device=y.device)
        full = full.index_copy(-1, rows, y[:, :, 0, :])
        return (fwht(full) * d).reshape(n, c, *self.size)


    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        return torch.Size((x_shape[0], x_shape[1], 1, self.m))

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        return torch.Size((y_shape[0], y_shape[1], *self.size))

    def Vt(self, x: Tensor) -> Tensor:
        d, _, _ = self._get(x)
        return fwht(self._flat(x) * d).reshape(x.shape)

    def V(self, z: Tensor) -> Tensor:
        d, _, _ = self._get(z)
        return (fwht(self._flat(z)) * d).reshape(z.shape)

    def Ut(self, y: Tensor) -> Tensor:
        self._check_y(y)
        _, rows, _ = self._get(y)
        n, c = y.shape[:2]
        full = torch.zeros(n, c, self.size[0] * self.size[1], dtype=y.dtype, device=y.device)
        return full.index_copy(-1, rows, y[:, :, 0, :]).reshape(n, c, *self.size)

    def U(self, z: Tensor) -> Tensor:
        _, rows, _ = self._get(z)
        return self._flat(z)[..., rows][:, :, None, :]

    def singular_values(self, x: Tensor) -> Tensor:
        _, _, keep = self._get(x)
        return keep.view(1, 1, *self.size)
