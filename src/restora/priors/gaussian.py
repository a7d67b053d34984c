"""An exact prior for testing solvers: a Gaussian image distribution with a known MMSE denoiser.

x ~ N(mu, Q diag(lam) Q^T) with Q the orthonormal 2-D DCT of each channel, so the denoiser
D(x, sigma) = mu + Q diag(lam / (lam + sigma^2)) Q^T (x - mu) is exact, and for a linear operator
the posterior p(x | y) is Gaussian and computable densely on small images.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.priors.base import Prior


def dct_matrix(n: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """Orthonormal DCT-II matrix (rows are basis vectors)."""
    k = torch.arange(n, dtype=dtype)[:, None]
    i = torch.arange(n, dtype=dtype)[None, :]
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m


class GaussianPrior(Prior):
    """N(mean, Q diag(variances) Q^T) over (C, H, W) images, Q = per-channel orthonormal 2-D DCT."""

    def __init__(self, mean: Tensor, variances: Tensor) -> None:
        super().__init__()
        if mean.ndim != 3 or variances.shape != mean.shape:
            raise RestoraError("mean and variances must both be (C, H, W) tensors of the same shape")
        if not bool((variances > 0).all()):
            raise RestoraError("variances must be positive")
        self.channels = mean.shape[0]
        self.register_buffer("mean", mean.double())
        self.register_buffer("variances", variances.double())
        self.register_buffer("dct_h", dct_matrix(mean.shape[1]))
        self.register_buffer("dct_w", dct_matrix(mean.shape[2]))

    @classmethod
    def natural_like(cls, channels: int = 3, size: int = 8, decay: float = 1.5,
                     scale: float = 0.5) -> GaussianPrior:
        """A zero-mean prior whose DCT variances fall off like natural images (1/f^decay)."""
        f = torch.arange(size, dtype=torch.float64)
        radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2) + 1
        var = scale**2 * radius ** (-2 * decay) * size
        return cls(torch.zeros(channels, size, size), var.expand(channels, -1, -1).clone())

    def to_spectral(self, x: Tensor) -> Tensor:
        return self.dct_h.to(x.dtype) @ x @ self.dct_w.to(x.dtype).T

    def from_spectral(self, c: Tensor) -> Tensor:
        return self.dct_h.to(c.dtype).T @ c @ self.dct_w.to(c.dtype)

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        lam = self.variances.to(x.dtype)
        mu = self.mean.to(x.dtype)
        s2 = sigma.to(x.dtype).view(-1, 1, 1, 1) ** 2
        return mu + self.from_spectral(self.to_spectral(x - mu) * lam / (lam + s2))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n exact samples (float64)."""
        z = torch.randn((n, *self.mean.shape), generator=generator, dtype=torch.float64)
        return self.mean + self.from_spectral(z * self.variances.sqrt())

    def covariance(self) -> Tensor:
        """The dense (D, D) covariance, D = C*H*W (small images only)."""
        eye = torch.eye(self.mean.numel(), dtype=torch.float64).view(-1, *self.mean.shape)
        return self.from_spectral(self.to_spectral(eye) * self.variances).reshape(len(eye), -1)


def dense_matrix(op, shape: tuple[int, int, int]) -> Tensor:
    """The (M, D) matrix of a linear operator on (C, H, W) images, built from basis vectors."""
    d = math.prod(shape)
    eye = torch.eye(d, dtype=torch.float64).view(d, *shape)
    return op.A(eye).reshape(d, -1).T


def gaussian_posterior(prior: GaussianPrior, op, y: Tensor, sigma_y: float) -> tuple[Tensor, Tensor]:
    """Exact posterior mean (N, C, H, W) and covariance (D, D) of x given y = A x + N(0, sigma_y^2)."""
    shape = tuple(prior.mean.shape)
    a = dense_matrix(op, shape)
    cov_prior = prior.covariance()
    noise = sigma_y**2 * torch.eye(len(a), dtype=a.dtype)
    k = cov_prior @ a.T @ torch.linalg.inv(a @ cov_prior @ a.T + noise)
    mu = prior.mean.reshape(-1)
    resid = y.double().reshape(len(y), -1) - (a @ mu)[None]
    mean = mu[None] + resid @ k.T
    cov = cov_prior - k @ a @ cov_prior
    return mean.reshape(len(y), *shape), 0.5 * (cov + cov.T)
