"""Linear operators against their definitions: adjoint, pinv, SVD, prox, gradients, dtypes."""

from __future__ import annotations

import pytest
import torch

from restora.operators import (
    AvgPoolSR,
    BicubicSR,
    BlockCS,
    Blur,
    BlurDownsampleSR,
    Colorize,
    Compose,
    Identity,
    Inpaint,
    WalshHadamardCS,
    conjugate_gradient,
    gaussian_kernel,
    motion_kernel,
    random_mask,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _even_kernel() -> torch.Tensor:
    k = torch.rand(4, 4, generator=_gen(3), dtype=torch.float64) + 0.1
    return k / k.sum()


def _channel_mask() -> torch.Tensor:
    return (torch.rand(2, 3, 6, 5, generator=_gen(4)) > 0.4).float()


# name -> (factory, image shape for the adjoint tests, tiny shape for dense tests or None)
CASES = {
    "identity": (Identity, (2, 3, 5, 7), (1, 2, 3, 4)),
    "blur-odd": (lambda: Blur(gaussian_kernel(5, 1.0)), (2, 3, 9, 8), (1, 1, 8, 8)),
    "blur-even": (lambda: Blur(_even_kernel()), (1, 2, 7, 10), (1, 1, 6, 7)),
    "blur-motion": (lambda: Blur(motion_kernel(7, 0.8, _gen(1))), (1, 1, 11, 9), (1, 1, 7, 8)),
    "bicubic-x2": (lambda: BicubicSR(2), (2, 2, 8, 12), (1, 1, 8, 8)),
    "bicubic-x3": (lambda: BicubicSR(3), (1, 3, 9, 6), (1, 1, 6, 9)),
    "bicubic-x4": (lambda: BicubicSR(4), (1, 1, 16, 8), (1, 1, 8, 12)),
    "blurdown-x2": (lambda: BlurDownsampleSR(gaussian_kernel(5, 1.2), 2), (2, 2, 10, 6), (1, 1, 8, 8)),
    "blurdown-x3-even": (lambda: BlurDownsampleSR(_even_kernel(), 3), (1, 1, 9, 6), (1, 1, 9, 6)),
    "blurdown-bicubic": (lambda: BlurDownsampleSR("bicubic:2", 2), (1, 1, 26, 28), None),
    "avgpool-x2": (lambda: AvgPoolSR(2), (2, 3, 8, 6), (1, 1, 6, 8)),
    "avgpool-x3": (lambda: AvgPoolSR(3), (1, 2, 9, 6), (1, 1, 9, 6)),
    "inpaint": (lambda: Inpaint(random_mask(7, 9, 0.5, _gen(2))), (2, 3, 7, 9), None),
    "inpaint-channels": (lambda: Inpaint(_channel_mask()), (2, 3, 6, 5), None),
    "inpaint-tiny": (lambda: Inpaint(random_mask(4, 5, 0.4, _gen(5))), (1, 2, 4, 5), (1, 2, 4, 5)),
    "colorize-mean": (Colorize, (2, 3, 5, 6), (1, 3, 3, 4)),
    "colorize-luma": (lambda: Colorize("luma"), (1, 3, 4, 3), (1, 3, 2, 3)),
    "blockcs": (lambda: BlockCS(0.3, 4, _gen(6)), (2, 2, 8, 12), (1, 1, 8, 8)),
    "wht": (lambda: WalshHadamardCS(0.4, (8, 4), _gen(7)), (2, 2, 8, 4), (1, 1, 8, 4)),
    "compose-blur-mask": (
        lambda: Compose(Blur(gaussian_kernel(3, 0.8)), Inpaint(random_mask(6, 7, 0.3, _gen(8)))),
        (2, 2, 6, 7), (1, 1, 6, 7)),
    "compose-identity-bicubic": (lambda: Compose(Identity(), BicubicSR(2)), (1, 1, 6, 8), (1, 1, 6, 4)),
}
DENSE = [name for name, case in CASES.items() if case[2] is not None]


def _make(name):
    factory, shape, tiny = CASES[name]
    return factory(), shape, tiny


def _randn(shape, seed=0):
    return torch.randn(shape, generator=_gen(seed), dtype=torch.float64)


def dense_matrix(op, shape) -> torch.Tensor:
    """The operator as a dense (m, n) matrix, built column by column."""
    n = int(torch.tensor(shape).prod())
    eye = torch.eye(n, dtype=torch.float64).reshape(n, *shape[1:])
    return torch.stack([op.A(e[None]).flatten() for e in eye], 1)


def _close(a, b, tol=1e-9):
    scale = max(float(b.abs().max()), 1e-12)
    assert float((a - b).abs().max()) <= tol * scale, float((a - b).abs().max()) / scale


@pytest.mark.parametrize("name", list(CASES))
def test_adjoint(name):
    op, shape, _ = _make(name)
    x = _randn(shape, 1)
    y = _randn(op.A(x).shape, 2)
    lhs = (op.A(x) * y).sum()
    rhs = (x * op.At(y)).sum()
    assert abs(float(lhs - rhs)) <= 1e-10 * max(abs(float(lhs)), 1.0)
    assert op.y_shape(torch.Size(shape)) == op.A(x).shape
    assert op.x_shape(op.A(x).shape) == torch.Size(shape)


@pytest.mark.parametrize("name", list(CASES))
def test_pinv_consistent_and_min_norm(name):
    op, shape, _ = _make(name)
    x = _randn(shape, 3)
    y = op.A(x)
    xp = op.pinv(y)
    tol = 1e-5 if name.startswith("compose-blur") else 1e-8  # CG for general compositions
    _close(op.A(xp), y, tol)
    # a minimum-norm solution lies in the row space: applying A^+ A to it changes nothing
    _close(op.pinv(op.A(xp)), xp, tol)
    # and it is shorter than x (any other solution)
    assert float(xp.norm()) <= float(x.norm()) * (1 + 1e-9)


@pytest.mark.parametrize("name", DENSE)
def test_pinv_matches_dense_lstsq(name):
    op, _, tiny = _make(name)
    m = dense_matrix(op, tiny)
    y = _randn(op.y_shape(torch.Size(tiny)), 4)
    expected = torch.linalg.pinv(m) @ y.flatten()
    tol = 1e-5 if name.startswith("compose-blur") else 1e-7
    _close(op.pinv(y).flatten(), expected, tol)


@pytest.mark.parametrize("name", [n for n in CASES if _make(n)[0].has_svd])
def test_svd_reconstructs_A(name):
    op, shape, _ = _make(name)
    x = _randn(shape, 5)
    z = op.Vt(x)
    s = op.singular_values(x)
    assert z.numel() == x.numel()
    assert not s.is_complex() and bool((s >= 0).all())
    _close(op.U(s * z), op.A(x))
    _close(op.V(z), x)
    _close(op.Ut(op.A(x)), s * z)  # Ut(U(s z)) == s z
    zz = s * op.Vt(_randn(shape, 6))  # a (Hermitian, for FFT layouts) spectral vector on s > 0
    _close(op.Ut(op.U(zz)), zz)


@pytest.mark.parametrize("name", [n for n in DENSE if _make(n)[0].has_svd])
def test_singular_values_match_dense(name):
    op, _, tiny = _make(name)
    m = dense_matrix(op, tiny)
    x = torch.zeros(tiny, dtype=torch.float64)
    s = op.singular_values(x).expand(op.Vt(x).shape).flatten().sort(descending=True).values
    ref = torch.linalg.svdvals(m)
    k = ref.numel()
    _close(s[:k], ref, 1e-8)
    assert float(s[k:].abs().sum()) <= 1e-8


@pytest.mark.parametrize("name", list(CASES))
def test_prox_optimality(name):
    op, shape, _ = _make(name)
    z = _randn(shape, 7)
    y = _randn(op.A(z).shape, 8)
    rhos = [0.3, torch.tensor([0.05, 2.0][: shape[0]], dtype=torch.float64)]
    for rho in rhos:
        x = op.prox(z, y, rho)
        r = rho.view(-1, 1, 1, 1) if isinstance(rho, torch.Tensor) else rho
        residual = op.At(op.A(x) - y) + r * (x - z)
        tol = 1e-5 if name.startswith("compose-blur") else 1e-9
        assert float(residual.abs().max()) <= tol * float(z.abs().max())
        if not isinstance(rho, torch.Tensor):
            cg = conjugate_gradient(lambda v, r=r: op.At(op.A(v)) + r * v, op.At(y) + r * z,
                                    max_iter=300, tol=1e-10)
            _close(x, cg, 1e-5 if name.startswith("compose-blur") else 1e-7)


@pytest.mark.parametrize("name", DENSE)
def test_prox_matches_dense_solve(name):
    op, _, tiny = _make(name)
    m = dense_matrix(op, tiny)
    z = _randn(tiny, 9)
    y = _randn(op.y_shape(torch.Size(tiny)), 10)
    rho = 0.7
    expected = torch.linalg.solve(m.T @ m + rho * torch.eye(m.shape[1], dtype=m.dtype),
                                  m.T @ y.flatten() + rho * z.flatten())
    _close(op.prox(z, y, rho).flatten(), expected, 1e-5 if name.startswith("compose-blur") else 1e-9)


@pytest.mark.parametrize("name", DENSE)
def test_gradcheck(name):
    op, _, tiny = _make(name)
    x = _randn(tiny, 11).requires_grad_(True)
    assert torch.autograd.gradcheck(op.A, (x,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["identity", "blur-odd", "bicubic-x2", "blurdown-x2", "avgpool-x2",
                                  "inpaint", "colorize-mean", "blockcs", "wht"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_input(name, dtype):
    op, shape, _ = _make(name)
    x = _randn(shape, 12).to(dtype)
    y = op.A(x)
    assert y.dtype == dtype and y.device == x.device
    for out in (op.At(y), op.pinv(y), op.prox(x, y, 0.5), op.grad(x, y)):
        assert out.dtype == dtype and out.shape == x.shape
    if op.has_svd:
        assert op.V(op.Vt(x)).dtype == dtype
        assert op.singular_values(x).dtype == dtype
    if dtype == torch.float32:  # float32 results agree with float64 ones
        y64 = op.A(x.double())
        assert float((y.double() - y64).abs().max()) <= 1e-5 * float(y64.abs().max())


def test_measure_adds_seeded_noise():
    op = Blur(gaussian_kernel(3, 1.0))
    x = _randn((1, 1, 8, 8), 13)
    y1 = op.measure(x, 0.1, _gen(1))
    y2 = op.measure(x, 0.1, _gen(1))
    assert torch.equal(y1, y2)
    assert 0.05 < float((y1 - op.A(x)).std()) < 0.15


@pytest.mark.parametrize("name", ["blur-odd", "bicubic-x2", "blurdown-x2", "avgpool-x2", "inpaint",
                                  "colorize-mean", "blockcs", "wht"])
def test_inference_mode_then_autograd(name):
    """Constants cached inside torch.inference_mode (as solvers run) stay usable by autograd later."""
    op, shape, _ = _make(name)
    x = _randn(shape, 14)
    with torch.inference_mode():
        y = op.A(x)
        z1 = op.prox(x, y, 0.5)
        z2 = op.prox(x, y, 0.5)  # the second call may reuse per-measurement caches
        torch.testing.assert_close(z1, z2)
    xg = x.clone().requires_grad_(True)
    op.A(xg).pow(2).sum().backward()
    assert xg.grad is not None and xg.grad.shape == x.shape


def test_prox_cache_sees_new_measurements():
    op = Blur(gaussian_kernel(5, 1.0))
    z = _randn((1, 1, 8, 8), 15)
    y = _randn((1, 1, 8, 8), 16)
    a = op.prox(z, y, 0.3)
    y.mul_(2)  # in-place change must invalidate the cached transform of y
    torch.testing.assert_close(op.prox(z, y, 0.3), op.prox(z, y.clone(), 0.3))
    assert not torch.allclose(a, op.prox(z, y, 0.3))


@pytest.mark.parametrize("name", [n for n in CASES if _make(n)[0].white_spectrum])
def test_white_spectrum_means_a_real_orthogonal_v(name):
    """Operators that let SVD solvers draw spectral noise directly: V^T keeps the shape, is real
    and preserves norms, so V^T of white noise is white noise."""
    op, shape, _ = _make(name)
    x = _randn(shape, 11)
    z = op.Vt(x)
    assert z.shape == x.shape and not z.is_complex()
    torch.testing.assert_close(z.norm(), x.norm(), rtol=1e-10, atol=0)
    torch.testing.assert_close(op.V(z), x, rtol=1e-10, atol=1e-10)


def test_only_fft_layouts_lack_a_white_spectrum():
    svd = {n: _make(n)[0] for n in CASES if _make(n)[0].has_svd}
    assert {n for n, op in svd.items() if not op.white_spectrum} == {"blur-odd", "blur-even", "blur-motion"}
