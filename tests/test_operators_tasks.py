"""build_operator task names, bad-input errors, and a few end-to-end measurements."""

from __future__ import annotations

import pytest
import torch

from restora.errors import RestoraError
from restora.operators import (
    AvgPoolSR,
    BicubicSR,
    BlockCS,
    Blur,
    BlurDownsampleSR,
    Colorize,
    Compose,
    GaussianNoise,
    Identity,
    Inpaint,
    PoissonNoise,
    WalshHadamardCS,
    box_mask,
    build_operator,
    gaussian_kernel,
    tasks,
)

SHAPE = (2, 3, 96, 96)  # divisible by 2, 3, 4, 8 and the 32-pixel CS blocks


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("task", tasks.names())
def test_every_task_builds_and_measures(task):
    extra = {"mask": box_mask(96, 96, 20)} if task == "inpaint" else {}
    if task == "deblur":
        extra = {"kernel": "levin:2"}
    op = build_operator(task, SHAPE, generator=_gen(0), **extra)
    assert isinstance(tasks.info(task).summary, str) and tasks.info(task).summary
    if op.blind:  # nothing to measure with until a blind solver has estimated the kernel
        with pytest.raises(RestoraError, match="unknown until"):
            op.measure(torch.zeros(SHAPE), 0.05)
        return
    x = torch.rand(SHAPE, generator=_gen(1)) * 2 - 1
    y = op.measure(x, 0.05, generator=_gen(2))
    assert y.shape == op.y_shape(torch.Size(SHAPE))
    assert bool(torch.isfinite(y).all())
    if op.linear and tasks.info(task).family != "ct":  # CT's pinv is CGLS: tested on small images
        assert op.pinv(y).shape == x.shape                 # in tests/test_operators_medical.py


def test_task_defaults():
    assert isinstance(build_operator("sr4", SHAPE), BicubicSR)
    assert isinstance(build_operator("sr4-pool", SHAPE), AvgPoolSR)
    blur_sr = build_operator("sr4-blur", SHAPE)
    assert isinstance(blur_sr, BlurDownsampleSR) and blur_sr.kernel.shape == (25, 25)
    gauss = build_operator("deblur-gauss", SHAPE)
    assert isinstance(gauss, Blur) and gauss.kernel.shape == (61, 61)
    assert build_operator("deblur-motion", SHAPE, kernel="levin:3").kernel.shape == (15, 15)
    m1 = build_operator("deblur-motion", SHAPE, generator=_gen(5)).kernel
    assert torch.equal(m1, build_operator("deblur-motion", SHAPE, generator=_gen(5)).kernel)
    assert not torch.equal(m1, build_operator("deblur-motion", SHAPE, generator=_gen(6)).kernel)
    rnd = build_operator("inpaint-random", SHAPE, ratio=0.25)
    assert isinstance(rnd, Inpaint) and abs(float(1 - rnd.mask.mean()) - 0.25) < 1e-3
    assert int((build_operator("inpaint-box", (256, 256)).mask == 0).sum()) == 128 * 128
    assert isinstance(build_operator("colorize", SHAPE, weights="luma"), Colorize)
    assert isinstance(build_operator("cs", SHAPE, ratio=0.1), BlockCS)
    assert isinstance(build_operator("cs", (1, 3, 64, 64), method="wht"), WalshHadamardCS)
    assert build_operator("jpeg", SHAPE, quality=40).quality == 40
    assert isinstance(build_operator("denoise", (8, 8)), Identity)


def test_task_errors():
    with pytest.raises(RestoraError, match="valid tasks: denoise, sr2"):
        build_operator("super-resolution", SHAPE)
    with pytest.raises(RestoraError, match="crop it to 63x66"):
        build_operator("sr3", (1, 3, 64, 66))
    with pytest.raises(RestoraError, match=r"does not take option\(s\) \['ratio'\]"):
        build_operator("sr4", SHAPE, ratio=0.5)
    with pytest.raises(RestoraError, match="needs mask="):
        build_operator("inpaint", SHAPE)
    with pytest.raises(RestoraError, match="takes no kernel"):
        build_operator("inpaint-box", SHAPE, kernel="levin:1")
    with pytest.raises(RestoraError, match="larger than"):
        build_operator("deblur-gauss", (1, 3, 32, 32))
    with pytest.raises(RestoraError, match="3 channels"):
        build_operator("colorize", (1, 1, 32, 32))
    with pytest.raises(RestoraError, match="powers of two"):
        build_operator("cs", (1, 3, 96, 64), method="wht")


def test_bad_inputs_raise_restora_error():
    x3 = torch.zeros(3, 16, 16)
    for op in (Identity(), Blur(gaussian_kernel(3, 1.0)), BicubicSR(2), AvgPoolSR(2),
               BlurDownsampleSR(gaussian_kernel(3, 1.0), 2), Inpaint(box_mask(16, 16, 4)), Colorize(),
               BlockCS(0.5, 4), WalshHadamardCS(0.5, (16, 16))):
        with pytest.raises(RestoraError, match="NCHW"):
            op.A(x3)
    with pytest.raises(RestoraError, match="expects 3 channel"):
        Colorize().A(torch.zeros(1, 1, 8, 8))
    with pytest.raises(RestoraError, match="crop it to 12x8"):
        AvgPoolSR(4).A(torch.zeros(1, 1, 14, 10))
    with pytest.raises(RestoraError, match="crop it to 12x8"):
        BlurDownsampleSR(gaussian_kernel(3, 1.0), 4).A(torch.zeros(1, 1, 14, 10))
    with pytest.raises(RestoraError, match="positive integer"):
        BicubicSR(2.5)
    with pytest.raises(RestoraError, match="built for 16x16"):
        WalshHadamardCS(0.5, (16, 16)).A(torch.zeros(1, 1, 8, 8))
    with pytest.raises(RestoraError, match="ratio"):
        BlockCS(0.0)
    with pytest.raises(RestoraError):
        Compose()


def test_cs_generators_are_seeded():
    a, b, c = BlockCS(0.25, 8, _gen(1)), BlockCS(0.25, 8, _gen(1)), BlockCS(0.25, 8, _gen(2))
    assert torch.equal(a.Q, b.Q) and not torch.equal(a.Q, c.Q)
    torch.testing.assert_close(a.Q @ a.Q.T, torch.eye(64, dtype=torch.float64))
    w1, w2 = WalshHadamardCS(0.3, (8, 8), _gen(1)), WalshHadamardCS(0.3, (8, 8), _gen(1))
    assert torch.equal(w1.rows, w2.rows) and torch.equal(w1.signs, w2.signs)


def test_noise_models_reexported():
    y = torch.zeros(1, 1, 64, 64)
    assert float(GaussianNoise(0.1)(y, _gen(0)).std()) == pytest.approx(0.1, rel=0.1)
    p = PoissonNoise(50.0)(y, _gen(0))
    assert p.shape == y.shape and bool(torch.isfinite(p).all())
