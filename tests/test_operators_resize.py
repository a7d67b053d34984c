"""MATLAB-compatible bicubic imresize: a slow scalar reference, hand values, USRNet kernels, LR data."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import shared_data_dir
from restora.errors import RestoraError
from restora.operators import (
    BicubicSR,
    BlurDownsampleSR,
    bicubic_kernel,
    imresize,
    modcrop,
    resize_matrix,
)

SET5 = shared_data_dir() / "test" / "Set5"


def _cubic(t: float) -> float:
    """Keys' cubic with a = -0.5, as published (MATLAB imresize 'bicubic')."""
    a = abs(t)
    if a <= 1:
        return 1.5 * a**3 - 2.5 * a**2 + 1
    if a <= 2:
        return -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
    return 0.0


def reference_matrix(n_in: int, n_out: int, scale: float) -> list[list[float]]:
    """One output sample at a time, straight from MATLAB's description (1-based indices)."""
    rows = []
    for x in range(1, n_out + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        width = 4 / scale if scale < 1 else 4
        left = math.floor(u - width / 2)
        taps = [left + p for p in range(math.ceil(width) + 2)]
        if scale < 1:
            weights = [scale * _cubic(scale * (u - j)) for j in taps]
        else:
            weights = [_cubic(u - j) for j in taps]
        total = sum(weights)
        row = [0.0] * n_in
        for j, wgt in zip(taps, weights, strict=True):
            # symmetric mirroring: ... 2 1 | 1 2 ... n | n n-1 ...
            k = (j - 1) % (2 * n_in)
            k = k if k < n_in else 2 * n_in - 1 - k
            row[k] += wgt / total
        rows.append(row)
    return rows


@pytest.mark.parametrize(("n_in", "n_out", "scale"), [
    (12, 6, 0.5), (9, 3, 1 / 3), (16, 4, 0.25), (16, 2, 0.125), (7, 14, 2.0), (5, 15, 3.0),
    (10, 7, 0.7), (3, 1, 1 / 3), (4, 16, 4.0),
])
def test_resize_matrix_matches_slow_reference(n_in, n_out, scale):
    ref = torch.tensor(reference_matrix(n_in, n_out, scale), dtype=torch.float64)
    got = resize_matrix(n_in, n_out, scale)
    assert got.shape == (n_out, n_in)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-13)


def test_hand_derived_weights():
    # x2 down: weights 0.5 * cubic(0.25, 0.75, 1.25, 1.75) mirrored around the output centre
    half = [0.5 * _cubic(t) for t in (1.75, 1.25, 0.75, 0.25)]
    assert half == [-0.01171875, -0.03515625, 0.11328125, 0.43359375]
    m = resize_matrix(32, 16, 0.5)
    o = 7  # interior output sample, centred between inputs 14 and 15 (0-based)
    expected = torch.tensor(half + half[::-1], dtype=torch.float64)
    torch.testing.assert_close(m[o, 2 * o - 3: 2 * o + 5], expected, rtol=0, atol=1e-15)
    assert float(m[o].abs().sum() - expected.abs().sum()) == 0.0
    # x2 up: output 8 (1-based) sits at u = 4.25, taps 3..6 at distances 1.25, 0.25, 0.75, 1.75
    up = resize_matrix(8, 16, 2.0)
    torch.testing.assert_close(up[7, 2:6], torch.tensor([-0.0703125, 0.8671875, 0.2265625, -0.0234375],
                                                        dtype=torch.float64), rtol=0, atol=1e-15)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_constant_and_ramp(scale):
    h, w = 8 * scale, 6 * scale
    const = torch.full((1, 2, h, w), 0.37, dtype=torch.float64)
    expected = torch.full((1, 2, 8, 6), 0.37, dtype=torch.float64)
    torch.testing.assert_close(imresize(const, 1 / scale), expected)
    ramp = torch.arange(w, dtype=torch.float64).expand(1, 1, h, w).clone()
    y = imresize(ramp, 1 / scale)
    centres = torch.arange(6, dtype=torch.float64) * scale + (scale - 1) / 2
    inner = slice(3, 4) if scale == 8 else slice(2, 4)  # away from the mirrored borders
    torch.testing.assert_close(y[0, 0, 0, inner], centres[inner], rtol=0, atol=1e-12)
    # upsampling by s and back keeps a constant image
    up = imresize(const, float(scale))
    assert up.shape[-2:] == (h * scale, w * scale)
    torch.testing.assert_close(up, torch.full_like(up, 0.37))


def test_imresize_sizes_and_bicubic_operator_agree():
    x = torch.rand(2, 3, 24, 36, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert imresize(x, 1 / 3).shape == (2, 3, 8, 12)
    assert imresize(x, size=(10, 20)).shape == (2, 3, 10, 20)
    assert imresize(torch.zeros(1, 1, 25, 35), 1 / 3).shape[-2:] == (9, 12)  # MATLAB: ceil(25/3), ceil(35/3)
    for s in (2, 3, 4):
        torch.testing.assert_close(BicubicSR(s).A(x), imresize(x, 1 / s), rtol=0, atol=1e-13)
    with pytest.raises(RestoraError, match="crop it to 24x36"):
        BicubicSR(4).A(torch.zeros(1, 3, 26, 38))
    assert modcrop(torch.zeros(1, 1, 26, 38), 4).shape[-2:] == (24, 36)


def _psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 1.0) -> float:
    return 10 * math.log10(peak**2 / float(((a - b) ** 2).mean()))


@pytest.mark.skipif(not SET5.is_dir(), reason="Set5 not available")
@pytest.mark.parametrize(("scale", "threshold"), [(2, 50.0), (3, 65.0), (4, 58.0)])
def test_usrnet_bicubic_kernels_reproduce_imresize(scale, threshold):
    """The USRNet kernels, used with restora's convention (origin at index 12, keep pixels [0::s])
    and *no extra shift*, reproduce MATLAB imresize: measured on Set5 img_003 interior pixels
    54.5 / 70.0 / 63.9 dB for x2 / x3 / x4 (other Set5 images: 54-61 / 70-75 / 64-71 dB).
    Any one-pixel shift drops this to about 30 dB, so the alignment is unambiguous."""
    from restora.io import read_image

    x = modcrop(read_image(SET5 / "img_003.png").double(), 12)
    ref = imresize(x, 1 / scale)
    op = BlurDownsampleSR(bicubic_kernel(scale), scale)
    y = op.A(x)
    b = 16 // scale + 2  # the 25x25 kernel wraps around the borders (circular), imresize mirrors
    assert _psnr(y[..., b:-b, b:-b], ref[..., b:-b, b:-b]) > threshold
    shifted = op.A(torch.roll(x, 1, -1))
    assert _psnr(shifted[..., b:-b, b:-b], ref[..., b:-b, b:-b]) < threshold - 15


@pytest.mark.skipif(not SET5.is_dir(), reason="Set5 not available")
def test_set5_lr_convention():
    """LR test images: modcrop HR to the scale, then imresize by 1/s (uint8 round trip as in MATLAB)."""
    from restora.io import read_image

    hr = read_image(SET5 / "img_005.png")  # 344x228 -> modcrop 4 -> 344x228
    for s in (2, 3, 4):
        hr_s = modcrop(hr, s)
        lr = imresize(hr_s.double(), 1 / s)
        assert lr.shape[-2:] == (hr_s.shape[-2] // s, hr_s.shape[-1] // s)
        lr8 = (lr.clamp(0, 1) * 255).round() / 255
        # the LR image is a faithful low-pass version: upsampling it back is close to HR
        assert _psnr(imresize(lr8, float(s)), hr_s.double()) > 20
        torch.testing.assert_close(BicubicSR(s).A(hr_s.double()), lr)
