"""Kernels and masks: bundled data, analytic kernels, seeded generators, loading and validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from restora.errors import RestoraError
from restora.operators import (
    Blur,
    Inpaint,
    anisotropic_gaussian_kernel,
    bicubic_kernel,
    box_mask,
    gaussian_kernel,
    half_mask,
    kernel12,
    levin_kernel,
    lines_mask,
    load_kernel,
    load_mask,
    motion_kernel,
    random_mask,
)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_bundled_kernels():
    sizes = [levin_kernel(i).shape[0] for i in range(1, 9)]
    assert sizes == [19, 17, 15, 27, 13, 21, 23, 23]
    for k in [levin_kernel(3), kernel12(5), kernel12(12), bicubic_kernel(4)]:
        assert k.dtype == torch.float32 and k.ndim == 2
        assert abs(float(k.double().sum()) - 1) < 1e-6  # bicubic x4 ships at 0.99990: renormalised
    assert bicubic_kernel(2).shape == (25, 25) and float(bicubic_kernel(3).min()) < 0
    for bad in (lambda: levin_kernel(9), lambda: kernel12(0), lambda: bicubic_kernel(8)):
        with pytest.raises(RestoraError, match="index"):
            bad()


def test_gaussian_kernels():
    k = gaussian_kernel(61, 3.0)
    assert k.shape == (61, 61) and int(k.argmax()) == 30 * 61 + 30
    t = torch.arange(61, dtype=torch.float64) - 30
    var = float((k.double().sum(0) * t**2).sum())
    assert abs(var - 9.0) < 1e-3
    a = anisotropic_gaussian_kernel(41, 4.0, 1.0, 0.0).double()
    t = torch.arange(41, dtype=torch.float64) - 20
    var_x, var_y = float((a.sum(0) * t**2).sum()), float((a.sum(1) * t**2).sum())
    assert abs(var_x - 16) < 1e-2 and abs(var_y - 1) < 1e-2  # std 4 along x (columns), 1 along y
    rot = anisotropic_gaussian_kernel(41, 4.0, 1.0, torch.pi / 2)
    torch.testing.assert_close(rot.double(), a.T, atol=1e-7, rtol=0)
    diag = anisotropic_gaussian_kernel(25, 4.0, 1.0, torch.pi / 4)
    assert float(diag[6, 18]) > float(diag[6, 6])  # +45 degrees: up-right (row decreases, col increases)


def test_motion_kernel_seeded():
    k1 = motion_kernel(61, 0.5, _gen(1))
    assert torch.equal(k1, motion_kernel(61, 0.5, _gen(1)))
    assert not torch.equal(k1, motion_kernel(61, 0.5, _gen(2)))
    assert torch.equal(motion_kernel(), motion_kernel())  # None -> seed 0, not the global RNG
    assert k1.shape == (61, 61) and float(k1.min()) >= 0
    assert abs(float(k1.double().sum()) - 1) < 1e-6
    idx = torch.arange(61, dtype=torch.float64)
    com = (float((k1.double().sum(1) * idx).sum()), float((k1.double().sum(0) * idx).sum()))
    assert max(abs(com[0] - 30), abs(com[1] - 30)) < 1e-6  # centre of mass at the origin: no shift
    assert int((k1 > 0).sum()) > 30  # a path, not a dot
    with pytest.raises(RestoraError):
        motion_kernel(61, 1.5)


def test_load_kernel_specs_and_files(tmp_path):
    torch.testing.assert_close(load_kernel("levin:3"), levin_kernel(3))
    torch.testing.assert_close(load_kernel("k12:5"), kernel12(5))
    torch.testing.assert_close(load_kernel("bicubic:4"), bicubic_kernel(4))
    torch.testing.assert_close(load_kernel("gauss:61:3.0"), gaussian_kernel(61, 3.0))
    torch.testing.assert_close(load_kernel("aniso:25:4:1:0.5"), anisotropic_gaussian_kernel(25, 4, 1, 0.5))
    torch.testing.assert_close(load_kernel("motion:31:0.7:5"), motion_kernel(31, 0.7, _gen(5)))
    k = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float64) / 16
    np.save(tmp_path / "k.npy", k)
    np.savez(tmp_path / "one.npz", kern=k)
    np.savez(tmp_path / "two.npz", a=k, b=k.T)
    np.savetxt(tmp_path / "k.txt", k)
    Image.fromarray((k * 16 * 60).astype(np.uint8)).save(tmp_path / "k.png")  # exact 8-bit values
    expected = torch.tensor(k, dtype=torch.float32)
    for spec in ("k.npy", "one.npz", "two.npz:key=b", "k.txt", "k.png"):
        torch.testing.assert_close(load_kernel(tmp_path / spec if ":" not in spec else f"{tmp_path}/{spec}"),
                                   expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(load_kernel(tmp_path / "two.npz", key="a"), expected)
    with pytest.raises(RestoraError, match="key=NAME"):
        load_kernel(tmp_path / "two.npz")
    with pytest.raises(RestoraError, match="not found"):
        load_kernel(tmp_path / "missing.npy")
    with pytest.raises(RestoraError, match="bad kernel spec"):
        load_kernel("gauss:61")


def test_kernel_validation_errors():
    with pytest.raises(RestoraError, match="NaN"):
        Blur(torch.tensor([[0.5, float("nan")], [0.25, 0.25]]))
    with pytest.raises(RestoraError, match=r"k / k\.sum"):
        Blur(torch.ones(3, 3))
    with pytest.raises(RestoraError, match="positive sum"):
        Blur(-torch.ones(3, 3) / 9)
    with pytest.raises(RestoraError, match="2-D"):
        Blur(torch.ones(1, 3, 3) / 9)
    k = torch.ones(3, 3) / 9 * 1.0005  # within 1e-3: accepted and renormalised exactly
    assert abs(float(Blur(k).kernel.double().sum()) - 1) < 1e-6
    with pytest.raises(RestoraError, match="larger than the image"):
        Blur(gaussian_kernel(9, 1.0)).A(torch.zeros(1, 1, 8, 8))


def test_masks_seeded_and_shapes():
    for make in (lambda g: random_mask(32, 40, 0.7, g), lambda g: lines_mask(32, 40, generator=g),
                 lambda g: box_mask(32, 40, 10, center=False, generator=g)):
        m1 = make(_gen(1))
        assert m1.shape == (1, 1, 32, 40) and m1.dtype == torch.float32
        assert set(m1.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(m1, make(_gen(1)))
        assert not torch.equal(m1, make(_gen(2)))
        assert torch.equal(make(None), make(None))
    r = random_mask(32, 40, 0.7, _gen(3))
    assert int((r == 0).sum()) == round(0.7 * 32 * 40)  # ratio = fraction of *missing* pixels
    b = box_mask(32, 40, 10)
    assert int((b == 0).sum()) == 100 and float(b[0, 0, 11:21, 15:25].sum()) == 0
    h = half_mask(8, 10, "right")
    assert float(h[..., :5].min()) == 1 and float(h[..., 5:].max()) == 0
    assert float(half_mask(8, 10, "top")[..., :4, :].max()) == 0
    lm = lines_mask(64, 64, generator=_gen(4))
    assert 0.02 < float((lm == 0).float().mean()) < 0.8
    with pytest.raises(RestoraError):
        box_mask(32, 40, 64)
    with pytest.raises(RestoraError):
        random_mask(8, 8, 1.5)
    with pytest.raises(RestoraError):
        half_mask(8, 8, "middle")


def test_load_mask(tmp_path):
    arr = np.zeros((6, 5), np.uint8)
    arr[:, :3] = 255
    Image.fromarray(arr).save(tmp_path / "m.png")
    m = load_mask(tmp_path / "m.png", 6, 5)
    assert m.shape == (1, 1, 6, 5) and float(m[..., :3].min()) == 1 and float(m[..., 3:].max()) == 0
    torch.testing.assert_close(load_mask(tmp_path / "m.png", 6, 5, invert=True), 1 - m)
    with pytest.raises(RestoraError, match="6x5 but the image is 8x8"):
        load_mask(tmp_path / "m.png", 8, 8)


def test_inpaint_mask_errors():
    op = Inpaint(box_mask(16, 16, 4))
    with pytest.raises(RestoraError, match="16x16 but the image is 8x8"):
        op.A(torch.zeros(1, 3, 8, 8))
    with pytest.raises(RestoraError, match="0 \\(missing\\) or 1"):
        Inpaint(torch.full((1, 1, 4, 4), 0.5))
    with pytest.raises(RestoraError, match="broadcast"):
        Inpaint(torch.ones(1, 2, 4, 4)).A(torch.zeros(1, 3, 4, 4))
