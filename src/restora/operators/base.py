"""The operator interface: degradation models ``y = A(x) + n`` on NCHW image batches.

Every operator gives ``A`` (forward), ``At`` (adjoint), ``pinv`` (Moore-Penrose pseudo-inverse)
and ``prox(z, y, rho) = argmin_x ||y - A x||^2 + rho ||x - z||^2``. :class:`Operator` solves pinv and
prox with conjugate gradients from A and At.

:class:`SVDOperator` (``has_svd``): ``A = U diag(s) V^T`` with a *spectral* tensor layout chosen by the
operator (same number of elements as x; may be complex, e.g. orthonormal FFT coefficients):
  ``Vt(x) -> z``, ``V(z) -> x``, ``Ut(y) -> z`` (zero where s == 0), ``U(z) -> y``,
  ``singular_values(x) -> s`` (real, >= 0, broadcastable to z);
from these five it derives A, At, pinv and prox (as deepinv's ``DecomposablePhysics`` does), so a
family only writes its SVD, plus a closed form where that is faster (each says so).
Solvers only mix spectral tensors elementwise with real coefficients and draw spectral noise
as ``Vt(randn_like(x))``, which is correct for complex (Hermitian) layouts too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.scales import NOISE_MODELS

Rho = float | Tensor


def batch_view(value: Rho, like: Tensor) -> Tensor | float:
    """A scalar, or a per-sample (N,) tensor reshaped to broadcast over ``like``'s other dims."""
    if isinstance(value, Tensor) and value.ndim > 0:
        return value.to(device=like.device, dtype=like.real.dtype).view(-1, *([1] * (like.ndim - 1)))
    return float(value)


def bdot(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample real inner product <a, b> (N,), for real or complex tensors."""
    return (a.conj() * b).real.flatten(1).sum(1) if a.is_complex() else (a * b).flatten(1).sum(1)


def conjugate_gradient(apply: Callable[[Tensor], Tensor], b: Tensor, x0: Tensor | None = None,
                       max_iter: int = 100, tol: float = 1e-6) -> Tensor:
    """Solve ``apply(x) = b`` for a symmetric positive (semi-)definite operator, per sample."""
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - apply(x)
    p = r.clone()
    rs = bdot(r, r)
    stop = (tol**2) * bdot(b, b).clamp_min(1e-30)
    for _ in range(max_iter):
        if bool((rs <= stop).all()):
            break
        ap = apply(p)
        alpha = rs / bdot(p, ap).clamp_min(1e-30)
        alpha = torch.where(rs <= stop, torch.zeros_like(alpha), alpha)
        x = x + batch_view(alpha, x) * p
        r = r - batch_view(alpha, r) * ap
        rs_new = bdot(r, r)
        p = r + batch_view(rs_new / rs.clamp_min(1e-30), p) * p
        rs = rs_new
    return x


def cgls(A: Callable[[Tensor], Tensor], At: Callable[[Tensor], Tensor], y: Tensor, x0: Tensor,
         max_iter: int = 500, tol: float = 1e-10) -> Tensor:
    """argmin ||A x - y|| by CGLS (conjugate gradients on the normal equations with the residual kept in
    measurement space: stable on ill-conditioned A), per sample; from ``x0`` in A's row space it gives the
    minimum-norm solution."""
    x = x0.clone()
    r = y - A(x)
    s = At(r)
    p = s.clone()
    gamma = bdot(s, s)
    stop = (tol**2) * bdot(At(y), At(y)).clamp_min(1e-30)
    for _ in range(max_iter):
        if bool((gamma <= stop).all()):
            break
        q = A(p)
        alpha = torch.where(gamma <= stop, torch.zeros_like(gamma), gamma / bdot(q, q).clamp_min(1e-30))
        x = x + batch_view(alpha, x) * p
        r = r - batch_view(alpha, r) * q
        s = At(r)
        gamma_new = bdot(s, s)
        p = s + batch_view(gamma_new / gamma.clamp_min(1e-30), p) * p
        gamma = gamma_new
    return x


class Operator:
    """A degradation y = A(x). Subclasses set ``linear`` and implement ``A`` (and ``At`` if linear);
    pinv and prox then come from conjugate gradients."""

    linear: bool = True
    has_svd: bool = False
    scale: int = 1
    """The resolution factor between image and measurement (SR operators: their factor)."""
    kernel: Tensor | None = None
    """The blur kernel of blur and blur-then-decimate operators."""
    mask: Tensor | None = None
    """The 0/1 sampling mask of masking operators: known pixels (inpainting), sampled k-space (MRI)."""
    pixel_mask: bool = False
    """A keeps some pixels and drops the others (``mask`` is in image space): inpainting."""
    blind: bool = False
    """Part of A is unknown and estimated with the image (blind deblurring): only blind solvers take it."""
    white_spectrum: bool = False
    """V is a real orthogonal map on image-shaped tensors, so V^T of white noise is white noise: SVD
    solvers then draw spectral noise directly instead of transforming it."""
    curvature: float = 1.0
    """An upper bound on the curvature of 0.5 ||y - A(x)||^2 (||A||^2 for linear A, the squared norm of
    the Jacobian otherwise): gradient data steps on non-linear operators divide by ``rho + curvature``
    to stay stable where rho is small. 1 holds for masks, averaging blurs, orthonormal transforms,
    Fourier magnitudes and the JPEG round trip."""

    # -- the operator and its adjoint -------------------------------------------------------
    def A(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def At(self, y: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no adjoint")

    def __call__(self, x: Tensor) -> Tensor:
        return self.A(x)

    # -- derived solves (closed forms override these) --------------------------------------
    def pinv(self, y: Tensor) -> Tensor:
        """A^+ y: the minimum-norm least-squares solution (CG on the normal equations)."""
        b = self.At(y)
        return conjugate_gradient(lambda v: self.At(self.A(v)), b, max_iter=500, tol=1e-7)

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        """argmin_x ||y - A x||^2 + rho ||x - z||^2, i.e. (A^T A + rho I) x = A^T y + rho z (CG)."""
        r = batch_view(rho, z)
        b = self.At(y) + r * z
        return conjugate_gradient(lambda v: self.At(self.A(v)) + r * v, b, x0=z, max_iter=200, tol=1e-7)

    def grad(self, x: Tensor, y: Tensor) -> Tensor:
        """Gradient of 0.5 ||y - A x||^2 with respect to x: A^T (A x - y)."""
        return self.At(self.A(x) - y)

    # -- estimates without a prior (families override them) ---------------------------------------
    def initial_estimate(self, y: Tensor) -> Tensor:
        """A cheap first guess of the image (a start for iterative solvers, not a baseline): y itself where
        it has the image's shape (blur, masks, denoising), else the pseudo-inverse."""
        if tuple(self.x_shape(y.shape)) == tuple(y.shape) and not y.is_complex():
            return y.clone()
        return self.pinv(y)

    def classical(self, y: Tensor, sigma_y: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
        """The classical restoration to measure a prior's gain by: Tikhonov with a gradient penalty, its
        weight by the discrepancy principle for noise ``sigma_y`` (:mod:`restora.operators.tikhonov`).
        ``generator`` seeds the methods that start from a random guess (phase retrieval's HIO)."""
        from restora.operators.tikhonov import discrepancy_tikhonov

        return discrepancy_tikhonov(self, y, sigma_y)

    # -- SVD view (SVDOperator) ---------------------------------------------------------------
    def Vt(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no SVD view")

    def V(self, z: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no SVD view")

    def Ut(self, y: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no SVD view")

    def U(self, z: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no SVD view")

    def singular_values(self, x: Tensor) -> Tensor:
        """Singular values for images shaped like ``x``, broadcastable to ``Vt(x)``."""
        raise NotImplementedError(f"{type(self).__name__} has no SVD view")

    # -- shapes and measurement -------------------------------------------------------------
    def y_shape(self, x_shape: torch.Size) -> torch.Size:
        """Shape of A(x) for x of ``x_shape`` (computed on an empty meta tensor by default)."""
        return self.A(torch.empty(x_shape, device="meta")).shape

    def x_shape(self, y_shape: torch.Size) -> torch.Size:
        """Shape of the image for a measurement of ``y_shape``; override where they differ."""
        return torch.Size(y_shape)

    def measure(self, x: Tensor, sigma_y: float = 0.0, generator: torch.Generator | None = None,
                noise: NoiseModel | None = None) -> Tensor:
        """y = A(x) + n with Gaussian noise of std ``sigma_y`` ([-1, 1] scale) or ``noise``."""
        y = self.A(x)
        model = noise or GaussianNoise(sigma_y)
        return model(y, generator)

    def repeat_samples(self, samples: int) -> Operator:
        """The operator for the batch ``x.repeat_interleave(samples, 0)`` (each image ``samples`` times in
        a row, to draw several restorations in one solve); operators without per-image data are their
        own answer."""
        return self


class NonlinearOperator(Operator):
    """A non-linear y = A(x): subclasses implement ``A`` and ``grad``; the linear-only methods (adjoint,
    pseudo-inverse, closed-form prox) raise one clear error that ``hint`` completes."""

    linear = False
    hint = "use a solver that needs only A and its gradient (dps, or diffpir's gradient data step)"

    def _nonlinear(self, what: str) -> RestoraError:
        name = type(self).__name__
        return RestoraError(f"{name} is not a linear operator, so it has no {what}; {self.hint}")

    def At(self, y: Tensor) -> Tensor:
        raise self._nonlinear("adjoint")

    def pinv(self, y: Tensor) -> Tensor:
        raise self._nonlinear("pseudo-inverse")

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        raise self._nonlinear("closed-form prox")

    def initial_estimate(self, y: Tensor) -> Tensor:
        """A zero image: without an inverse, the solver starts from nothing."""
        return torch.zeros(self.x_shape(y.shape), device=y.device, dtype=y.real.dtype)

    def classical(self, y: Tensor, sigma_y: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
        """The measurement itself where it is an image (e.g. JPEG: the decoded image)."""
        return y.clone()


class SVDOperator(Operator):
    """A linear operator given by its SVD ``A = U diag(s) V^T`` (see the module doc): subclasses
    implement ``U``, ``Ut``, ``V``, ``Vt`` and ``singular_values``; A, At, pinv and prox follow."""

    linear = True
    has_svd = True

    def singular_values_like_y(self, y: Tensor) -> Tensor:
        """Singular values when only a measurement is at hand (uses :meth:`x_shape`)."""
        like = torch.empty(self.x_shape(y.shape), device=y.device, dtype=y.real.dtype)
        return self.singular_values(like)

    def A(self, x: Tensor) -> Tensor:
        """U diag(s) V^T x."""
        z = self.Vt(x)  # first: the family's checks of x run before anything else
        return self.U(self.singular_values(x) * z)

    def At(self, y: Tensor) -> Tensor:
        """V diag(s) U^T y."""
        z = self.Ut(y)
        return self.V(self.singular_values_like_y(y) * z)

    def pinv(self, y: Tensor) -> Tensor:
        """V diag(1/s on s > 0) U^T y."""
        z = self.Ut(y)
        s = self.singular_values_like_y(y)
        return self.V(torch.where(s > 0, z / s.clamp_min(1e-30), torch.zeros_like(z)))

    def prox(self, z: Tensor, y: Tensor, rho: Rho) -> Tensor:
        """V (s U^T y + rho V^T z) / (s^2 + rho): the normal equations, diagonal in the SVD basis."""
        zs = self.Vt(z)
        s = self.singular_values(z)
        r = batch_view(rho, zs)
        return self.V((s * self.Ut(y) + r * zs) / (s**2 + r))


class NoiseModel:
    """Measurement noise added to A(x); images live on the [-1, 1] scale."""

    name = ""

    def __call__(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    def equivalent_sigma(self, clean: Tensor) -> float:
        """The std of white Gaussian noise with the same mean power on the noise-free measurement
        ``clean`` ([-1, 1] scale): the ``sigma_y`` to give a solver that assumes Gaussian noise."""
        raise NotImplementedError

    def record(self) -> dict[str, float | str]:
        """The model as plain values (for sidecars)."""
        raise NotImplementedError


class GaussianNoise(NoiseModel):
    """Additive white Gaussian noise of standard deviation ``sigma`` on the [-1, 1] scale."""

    name = "gaussian"

    def __init__(self, sigma: float) -> None:
        if not sigma >= 0:
            raise RestoraError(f"noise sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def __call__(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.sigma == 0:
            return y
        n = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.real.dtype)
        return y + self.sigma * n

    def equivalent_sigma(self, clean: Tensor) -> float:
        return self.sigma

    def record(self) -> dict[str, float | str]:
        return {"model": self.name, "sigma": self.sigma}


class PoissonNoise(NoiseModel):
    """Shot noise: photon counts ~ Poisson(rate * intensity) with intensity = (y + 1) / 2 in [0, 1]
    (``rate``: photons at full intensity)."""

    name = "poisson"

    def __init__(self, rate: float) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise RestoraError(f"Poisson rate must be a finite number > 0, got {rate}")
        self.rate = float(rate)

    def __call__(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        intensity = ((y + 1) / 2).clamp_min(0) * self.rate
        counts = torch.poisson(intensity, generator=generator)
        return counts / self.rate * 2 - 1

    def equivalent_sigma(self, clean: Tensor) -> float:
        """2 sqrt(mean intensity / rate): Poisson variance I / rate on [0, 1], doubled for [-1, 1]."""
        return 2 * math.sqrt(float(((clean + 1) / 2).clamp_min(0).mean()) / self.rate)

    def record(self) -> dict[str, float | str]:
        return {"model": self.name, "rate": self.rate}


class PoissonGaussianNoise(NoiseModel):
    """Shot noise at ``rate`` followed by read-out noise: Gaussian of std ``sigma`` ([-1, 1] scale)."""

    name = "poisson-gaussian"

    def __init__(self, rate: float, sigma: float) -> None:
        self.poisson, self.gaussian = PoissonNoise(rate), GaussianNoise(sigma)

    def __call__(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.gaussian(self.poisson(y, generator), generator)

    def equivalent_sigma(self, clean: Tensor) -> float:
        return math.hypot(self.poisson.equivalent_sigma(clean), self.gaussian.sigma)

    def record(self) -> dict[str, float | str]:
        return {"model": self.name, "rate": self.poisson.rate, "sigma": self.gaussian.sigma}


def noise_model(name: str, sigma: float = 0.0, rate: float | None = None) -> NoiseModel:
    """A noise model by name: ``gaussian`` (std ``sigma``), ``poisson`` (``rate`` photons at full
    intensity), ``poisson-gaussian`` (both)."""
    if name not in NOISE_MODELS:
        raise RestoraError(f"unknown noise model {name!r}; choose one of {', '.join(NOISE_MODELS)}")
    if name != "gaussian" and rate is None:
        raise RestoraError(f"{name} noise needs a rate (photons at full intensity)")
    if name == "gaussian":
        return GaussianNoise(sigma)
    return PoissonNoise(rate) if name == "poisson" else PoissonGaussianNoise(rate, sigma)
