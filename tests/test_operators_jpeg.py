"""JPEG operator: agreement with PIL's encoder/decoder, differentiable mode, errors."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shared_data_dir
from restora.errors import RestoraError
from restora.operators import JPEG
from restora.operators.jpeg import LUMA_TABLE, quality_table

CBSD68 = shared_data_dir() / "test" / "CBSD68"


def _pil_round_trip(arr: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)  # PIL default: 4:2:0
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert(Image.fromarray(arr).mode))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(255.0**2 / float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(arr.copy()).double()
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    return t / 127.5 - 1


def _to_array(x: torch.Tensor) -> np.ndarray:
    a = ((x[0] + 1) * 127.5).permute(1, 2, 0).numpy()
    return a[..., 0] if a.shape[-1] == 1 else a


def test_ijg_quality_tables():
    assert quality_table(LUMA_TABLE, 50)[0, 0] == 16  # quality 50 is the base table
    assert quality_table(LUMA_TABLE, 75)[0, 0] == 8  # (16 * 50 + 50) // 100
    assert quality_table(LUMA_TABLE, 10)[7, 7] == 255  # 99 * 500 -> clamped for baseline
    assert quality_table(LUMA_TABLE, 100).max() == 1


@pytest.mark.skipif(not CBSD68.is_dir(), reason="CBSD68 not available")
@pytest.mark.parametrize(("quality", "threshold"), [(75, 42.0), (10, 39.0)])
def test_matches_pil_encoder(quality, threshold):
    """Measured on CBSD68 0003 (250x203 crop, not a multiple of 16): 45.4 dB at q=75 and 42.3 dB at
    q=10 (Set5 img_001: 45.8 / 43.7 dB), while the JPEG error itself is 32 / 25 dB; the rest is
    libjpeg's integer DCT and 8-bit intermediate rounding."""
    with Image.open(CBSD68 / "0003.png") as im:
        arr = np.asarray(im.convert("RGB"))[:250, :203]
    ref = _pil_round_trip(arr, quality)
    mine = _to_array(JPEG(quality, differentiable=False).A(_to_tensor(arr)))
    assert _psnr(mine, ref) > threshold
    assert _psnr(mine, ref) > _psnr(ref, arr) + 8  # far closer to PIL than to the input
    smooth = _to_array(JPEG(quality, differentiable=True).A(_to_tensor(arr)))
    assert _psnr(smooth, ref) > threshold - 3  # measured 45.0 / 40.4 dB


def test_gray_matches_pil():
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.interpolate(torch.rand(1, 1, 9, 7, generator=g), size=(37, 29), mode="bicubic")
    arr = (base[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    ref = _pil_round_trip(arr, 50)
    mine = _to_array(JPEG(50).A(_to_tensor(arr)))
    assert mine.shape == arr.shape
    assert _psnr(mine, ref) > 40


def test_differentiable_mode_gradcheck():
    g = torch.Generator().manual_seed(1)
    op = JPEG(75, differentiable=True)
    for shape in ((1, 3, 16, 16), (1, 1, 8, 8)):
        x = (0.4 * torch.rand(shape, generator=g, dtype=torch.float64) - 0.2).requires_grad_(True)
        assert torch.autograd.gradcheck(op.A, (x,), eps=1e-7, atol=1e-5, fast_mode=True)


def test_auto_mode_and_grad():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 16, 24, generator=g) * 2 - 1
    op = JPEG(30)
    exact = op.A(x)
    smooth = op.A(x.clone().requires_grad_(True))  # auto: smooth rounding when a gradient is needed
    assert smooth.requires_grad and not torch.equal(exact, smooth.detach())
    y = op.A(torch.rand(2, 3, 16, 24, generator=g) * 2 - 1)
    grad = op.grad(x, y)
    assert grad.shape == x.shape and grad.dtype == x.dtype
    assert bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0
    assert exact.dtype == torch.float32 and op.A(x.double()).dtype == torch.float64


def test_jpeg_errors():
    op = JPEG(50)
    x = torch.zeros(1, 3, 16, 16)
    assert op.linear is False
    for call in (lambda: op.At(x), lambda: op.pinv(x), lambda: op.prox(x, x, 1.0)):
        with pytest.raises(RestoraError, match="not a linear"):
            call()
    with pytest.raises(RestoraError, match="1 \\(gray\\) or 3"):
        op.A(torch.zeros(1, 2, 16, 16))
    with pytest.raises(RestoraError, match="NCHW"):
        op.A(torch.zeros(3, 16, 16))
    for q in (0, 101, 7.5):
        with pytest.raises(RestoraError, match="quality"):
            JPEG(q)
