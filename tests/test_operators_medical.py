"""MRI (complex k-space), CT (Radon transform) and phase retrieval against their definitions: adjoint,
pseudo-inverse and SVD checks as for every linear operator, the masks' sampling, scikit-image's radon /
iradon, and the phase-retrieval conventions of DPS."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from restora.errors import RestoraError
from restora.operators import (
    CT,
    MRI,
    PhaseRetrieval,
    align,
    build_operator,
    column_mask,
    hio,
    sparse_view_angles,
    variable_density_mask,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(shape, seed: int = 0, complex_: bool = False) -> torch.Tensor:
    x = torch.randn(shape, generator=gen(seed), dtype=torch.float64)
    if not complex_:
        return x
    return torch.complex(x, torch.randn(shape, generator=gen(seed + 100), dtype=torch.float64))


def inner(a: torch.Tensor, b: torch.Tensor) -> float:
    """The real inner product (the one adjoints of real-image operators are taken in)."""
    return float((a.conj() * b).real.sum()) if a.is_complex() or b.is_complex() else float((a * b).sum())


def real_matrix(op, shape) -> torch.Tensor:
    """The operator on real images as a dense real matrix (complex outputs as real and imaginary rows)."""
    n = math.prod(shape)
    cols = []
    for e in torch.eye(n, dtype=torch.float64).reshape(n, *shape[1:]):
        out = op.A(e[None])
        cols.append(torch.view_as_real(out).flatten() if out.is_complex() else out.flatten())
    return torch.stack(cols, 1)


def as_real(y: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(y).flatten() if y.is_complex() else y.flatten()


OPS = {
    "mri-random": lambda h, w: MRI(column_mask(h, w, 4, kind="random", generator=gen(1))),
    "mri-equispaced": lambda h, w: MRI(column_mask(h, w, 4, kind="equispaced", generator=gen(2))),
    "mri-gaussian": lambda h, w: MRI(variable_density_mask(h, w, 3, "gaussian", gen(3))),
    "mri-poisson": lambda h, w: MRI(variable_density_mask(h, w, 3, "poisson", gen(4))),
    "ct-5": lambda h, w: CT(sparse_view_angles(5), (h, w)),
    "ct-limited": lambda h, w: CT(sparse_view_angles(7, 90.0), (h, w)),
}
CG = {"ct-5", "ct-limited"}  # pinv / prox by conjugate gradients: iterative tolerances


@pytest.mark.parametrize("name", list(OPS))
def test_adjoint(name):
    op = OPS[name](12, 10)
    x = randn((2, 2, 12, 10), 1)
    y = op.A(x)
    v = randn(y.shape, 2, complex_=y.is_complex())
    assert abs(inner(y, v) - inner(x, op.At(v))) <= 1e-10 * max(abs(inner(y, v)), 1.0)
    assert op.y_shape(x.shape) == y.shape and op.x_shape(y.shape) == x.shape


@pytest.mark.parametrize("name", list(OPS))
def test_pinv_consistent_min_norm_and_dense(name):
    op = OPS[name](8, 6)
    x = randn((1, 1, 8, 6), 3)
    y = op.A(x)
    xp = op.pinv(y)
    tol = 1e-5 if name in CG else 1e-10
    assert float((op.A(xp) - y).abs().max()) <= tol * float(y.abs().max())
    assert float((op.pinv(op.A(xp)) - xp).abs().max()) <= tol * float(xp.abs().max())
    assert float(xp.norm()) <= float(x.norm()) * (1 + 1e-9)
    m = real_matrix(op, (1, 1, 8, 6))
    v = randn(y.shape, 4, complex_=y.is_complex())
    expected = torch.linalg.pinv(m) @ as_real(v)
    assert float((op.pinv(v).flatten() - expected).abs().max()) <= 10 * tol * float(expected.abs().max())


@pytest.mark.parametrize("name", [n for n in OPS if n.startswith("mri")])
def test_mri_svd_reconstructs_A_and_matches_dense_singular_values(name):
    op = OPS[name](8, 6)
    x = randn((2, 1, 8, 6), 5)
    z, s = op.Vt(x), op.singular_values(x)
    assert torch.allclose(op.U(s * z), op.A(x)) and torch.allclose(op.V(z), x)
    assert torch.allclose(op.Ut(op.A(x)), s * z)
    # A^T A is the orthogonal projector of a Hermitian mask: singular values 1 (x measured) or 0
    svals = torch.linalg.svdvals(real_matrix(op, (1, 1, 8, 6)))
    assert torch.allclose(svals[svals > 1e-8], torch.ones(1, dtype=torch.float64))
    assert int((svals > 1e-8).sum()) == int(op.mask.sum())


@pytest.mark.parametrize("name", list(OPS))
def test_prox_optimality(name):
    op = OPS[name](8, 6)
    z = randn((2, 1, 8, 6), 7)
    y = op.A(randn((2, 1, 8, 6), 8)) + 0.1 * op.A(randn((2, 1, 8, 6), 9))
    for rho in (0.3, torch.tensor([0.05, 2.0], dtype=torch.float64)):
        x = op.prox(z, y, rho)
        r = rho.view(-1, 1, 1, 1) if isinstance(rho, torch.Tensor) else rho
        residual = op.At(op.A(x) - y) + r * (x - z)
        assert float(residual.abs().max()) <= (1e-5 if name in CG else 1e-9) * float(z.abs().max())


@pytest.mark.parametrize(("kind", "accel"), [("random", 4), ("random", 8), ("equispaced", 4),
                                             ("equispaced", 8)])
def test_column_masks_sample_the_acceleration_with_a_full_centre(kind, accel):
    m = column_mask(320, 368, accel, kind=kind, generator=gen(5))
    cols = m[0, 0, 0]
    assert abs(m.mean().item() * accel - 1) < 0.05  # within 5% of 1/acceleration
    assert bool((m[0, 0] == cols).all())  # whole columns
    centre = round(368 * 0.32 / accel)
    assert bool(cols[: centre // 2].all()) and bool(cols[-(centre // 2):].all())  # low frequencies (DC at 0)
    assert torch.equal(m, column_mask(320, 368, accel, kind=kind, generator=gen(5)))  # seeded
    assert not torch.equal(m, column_mask(320, 368, accel, kind=kind, generator=gen(6)))


@pytest.mark.parametrize("kind", ["gaussian", "poisson"])
def test_variable_density_masks_are_denser_at_low_frequencies(kind):
    m = variable_density_mask(64, 64, 4, kind, gen(7))[0, 0]
    assert 0.18 < float(m.mean()) < 0.32
    shifted = torch.fft.fftshift(m)
    centre = shifted[24:40, 24:40].mean()
    edge = torch.cat([shifted[:8].flatten(), shifted[-8:].flatten()]).mean()
    assert float(centre) > 2 * float(edge)


def test_mri_refuses_a_mask_that_is_not_hermitian():
    m = torch.zeros(8, 8)
    m[0, 1] = 1
    with pytest.raises(RestoraError, match="-k"):
        MRI(m)


def test_mri_noise_is_white_in_the_image_domain():
    op = MRI(column_mask(64, 64, 4, generator=gen(8)))
    x = torch.zeros(2000, 1, 64, 64)
    noise = op.measure(x, 0.1, gen(9))
    measured = op.mask.bool().expand_as(noise)
    power = noise[measured].abs().pow(2).mean()
    assert abs(float(power) - 0.01) < 5e-4  # E|n_k|^2 = sigma_y^2 on every sampled frequency
    assert float(noise[~measured].abs().max()) == 0


# ------------------------------------------------------------------------------------------- CT


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    skimage = pytest.importorskip("skimage")
    from skimage.transform import resize

    return resize(skimage.data.shepp_logan_phantom(), (96, 96))


@pytest.mark.parametrize("views", [18, 30, 60])
def test_radon_matches_scikit_image(phantom, views):
    """The pixel-driven projector against scikit-image's ray-driven one (circle=False): the same
    geometry, different interpolation; measured 0.2-1.3% relative L2, tolerance 2.5%."""
    from skimage.transform import radon

    angles = sparse_view_angles(views)
    ref = radon(phantom, theta=angles, circle=False).T
    ours = CT(angles, phantom.shape).A(torch.from_numpy(phantom)[None, None])[0, 0].numpy()
    assert ours.shape == ref.shape
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 0.025


def test_fbp_matches_iradon(phantom):
    """Given scikit-image's own sinogram, the FBP (same ramp filter, exact back-projection of our geometry)
    equals iradon to 1e-3 relative L2 (measured 2e-4)."""
    from skimage.transform import iradon, radon

    angles = sparse_view_angles(60)
    sino = radon(phantom, theta=angles, circle=False)
    ref = iradon(sino, theta=angles, circle=False, filter_name="ramp")
    ours = CT(angles, phantom.shape).fbp(torch.from_numpy(sino.T.copy())[None, None])[0, 0].numpy()
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 1e-3


def test_ct_batches_channels_and_follows_dtype():
    op = CT(sparse_view_angles(9), (16, 12))
    x = randn((3, 2, 16, 12), 10)
    y = op.A(x)
    assert y.shape == (3, 2, 9, op.detectors) and y.dtype == torch.float64
    assert torch.allclose(op.A(x[1:2, 1:2]), y[1:2, 1:2])
    assert op.A(x.float()).dtype == torch.float32


# --------------------------------------------------------------------------------- phase retrieval


def test_phase_retrieval_follows_the_dps_convention():
    op = PhaseRetrieval(2.0)
    x = randn((1, 1, 256, 256), 11)
    y = op.A(x)
    assert y.shape == (1, 1, 384, 384)  # 64 pixels on each side of a 256 image at oversampling 2
    padded = torch.nn.functional.pad(x, (64, 64, 64, 64))
    assert torch.allclose(y, torch.fft.fft2(padded, norm="ortho").abs())
    assert op.x_shape(y.shape) == x.shape
    assert torch.allclose(op.A(-x), y)  # the sign is lost
    g = op.grad(x, y + 0.1)
    assert g.shape == x.shape and bool(torch.isfinite(g).all())
    with pytest.raises(RestoraError, match="not a linear"):
        op.pinv(y)


def test_hio_fits_the_magnitudes_and_align_resolves_the_ambiguities():
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    x = ((((yy - 12) ** 2 + (xx - 18) ** 2) < 40).double() - 0.5)[None, None]
    op = PhaseRetrieval(2.0)
    y = op.A(x)
    rec = hio(op, y, iters=300, er_iters=50, generator=gen(12))
    fit = float((op.A(rec) - y).norm() / y.norm())
    assert fit < 0.2, fit
    assert torch.equal(align(-x.flip(-2, -1), x), x)


def test_medical_tasks_by_name():
    for name, cls in (("mri4", MRI), ("mri8-equispaced", MRI), ("mri-poisson", MRI), ("ct-sparse30", CT),
                      ("ct-limited", CT), ("phase-retrieval", PhaseRetrieval)):
        op = build_operator(name, (1, 1, 64, 64), generator=gen(13))
        assert isinstance(op, cls), name
    assert build_operator("mri8", (1, 1, 64, 64)).acceleration > 6
    assert len(build_operator("ct-sparse30", (1, 1, 64, 64)).angles) == 30
