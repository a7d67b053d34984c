"""PSNR / SSIM against hand-derived values and scikit-image; folder scoring (the learned metrics:
test_metrics_perceptual.py)."""

import math

import numpy as np
import pytest
import torch

from restora.errors import RestoraError
from restora.io import write_image
from restora.metrics import (
    Scorer,
    frechet_distance,
    pair_by_name,
    psnr,
    rgb_to_y,
    ssim,
    summarize,
)


def pair(n=2, c=3, h=40, w=53, noise=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h, w, generator=g, dtype=torch.float64)
    y = (x + noise * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


# ---- hand-derivable cases


def test_known_mse_gives_known_psnr():
    x = torch.full((1, 3, 16, 16), 100, dtype=torch.uint8)
    y = x.clone()
    y[..., ::2, :] += 2  # half the pixels off by 2 levels: MSE = 2
    assert psnr(x, y, data_range=255).item() == pytest.approx(10 * math.log10(255**2 / 2), abs=1e-12)
    # The same images as float32 in [0, 1] (the default data_range), rounded back to 8 bits.
    expected = 10 * math.log10(255**2 / 2)
    assert psnr(x / 255.0, y / 255.0, quantize=True).item() == pytest.approx(expected, abs=1e-12)


def test_identical_images_give_inf_psnr_or_the_cap():
    x, _ = pair()
    assert torch.isinf(psnr(x, x)).all()
    assert torch.equal(psnr(x, x, max_db=100.0), torch.full((2,), 100.0, dtype=torch.float64))


def test_ssim_identical_is_one_and_symmetric():
    x, y = pair()
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(ssim(x, y), ssim(y, x), atol=1e-12)
    assert (ssim(x, y) < 1).all()


def test_ssim_of_a_constant_shift_is_the_luminance_term():
    m, c = 90.0, 30.0
    a = torch.full((1, 1, 20, 20), m / 255, dtype=torch.float64)
    b = a + c / 255
    c1 = (0.01 * 255) ** 2
    expected = (2 * m * (m + c) + c1) / (m**2 + (m + c) ** 2 + c1)
    assert ssim(a, b).item() == pytest.approx(expected, abs=1e-9)
    # Texture plus a shift: the structure / contrast terms stay 1, only luminance changes.
    x, _ = pair(n=1, c=1)
    assert ssim(x * 0.5, x * 0.5 + 0.2).item() < 1


def test_y_channel_formula_and_gray_passthrough():
    rgb = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]).view(4, 3, 1, 1)
    y255 = rgb_to_y(rgb.double()).flatten() * 255
    expected = torch.tensor([16 + 65.481, 16 + 128.553, 16 + 24.966, 235.0], dtype=torch.float64)
    assert torch.allclose(y255, expected, atol=1e-9)
    g, h = pair(c=1)
    assert torch.equal(psnr(g, h, y_channel=True), psnr(g, h))


def test_crop_border_and_quantize():
    x, _ = pair(n=1)
    y = x.clone()
    y[..., :3, :] = 0  # damage only the 3-pixel top border
    assert torch.isfinite(psnr(x, y, crop_border=2)).all()
    assert torch.isinf(psnr(x, y, crop_border=3)).all()
    assert ssim(x, y, crop_border=3, per_pixel=True).shape == (1, 3, 40 - 6 - 10, 53 - 6 - 10)
    # Sub-level differences vanish once both are rounded to 8 bits.
    q = (x * 255).round() / 255
    assert torch.isfinite(psnr(q, q + 0.001)).all()
    assert torch.isinf(psnr(q, q + 0.001, quantize=True)).all()


def test_batch_and_data_range_consistency():
    x, y = pair(n=3)
    p, s = psnr(x, y, y_channel=True), ssim(x, y, crop_border=4)
    for i in range(3):
        one = psnr(x[i : i + 1], y[i : i + 1], y_channel=True).item()
        assert one == pytest.approx(p[i].item(), abs=1e-12)
        assert ssim(x[i : i + 1], y[i : i + 1], crop_border=4).item() == pytest.approx(s[i].item(), abs=1e-12)
    assert torch.allclose(psnr(x * 255, y * 255, data_range=255), psnr(x, y), atol=1e-10)
    assert torch.allclose(ssim(x * 2, y * 2, data_range=2.0), ssim(x, y), atol=1e-12)
    # float32 inputs are computed in float64 too.
    xf, yf = x.float(), y.float()
    assert torch.allclose(ssim(xf, yf), ssim(xf.double(), yf.double()), atol=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 8)), "NCHW"),
        (lambda: psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9)), "differ in shape"),
        (lambda: psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), crop_border=4), "crop_border"),
        (lambda: psnr(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 3, 8, 8, dtype=torch.uint8)),
         "data_range=255"),
        (lambda: ssim(torch.rand(1, 3, 12, 30), torch.rand(1, 3, 12, 30), crop_border=1), "11x11"),
        (lambda: psnr(torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8), y_channel=True), "RGB or gray"),
    ],
)
def test_bad_inputs_raise_restora_error(call, match):
    with pytest.raises(RestoraError, match=match):
        call()


# ---- independent reference: scikit-image (test-only dependency)


def test_psnr_ssim_match_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    skc = pytest.importorskip("skimage.color")
    x, y = pair(n=2, h=37, w=50)
    for crop in (0, 4):
        p = psnr(x, y, crop_border=crop)
        s = ssim(x, y, crop_border=crop)
        py, sy = psnr(x, y, crop_border=crop, y_channel=True), ssim(x, y, crop_border=crop, y_channel=True)
        for i in range(2):
            a = x[i].permute(1, 2, 0).numpy()
            b = y[i].permute(1, 2, 0).numpy()
            if crop:
                a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
            kw = {"win_size": 11, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False,
                  "data_range": 255}
            ref_p = skm.peak_signal_noise_ratio(a * 255, b * 255, data_range=255)
            ref_s = skm.structural_similarity(a * 255, b * 255, channel_axis=2, **kw)
            assert p[i].item() == pytest.approx(ref_p, abs=1e-9)
            assert s[i].item() == pytest.approx(ref_s, abs=1e-9)
            ya, yb = skc.rgb2ycbcr(a)[..., 0], skc.rgb2ycbcr(b)[..., 0]  # Y on 16..235
            ref_py = skm.peak_signal_noise_ratio(ya, yb, data_range=255)
            assert py[i].item() == pytest.approx(ref_py, abs=1e-9)
            assert sy[i].item() == pytest.approx(skm.structural_similarity(ya, yb, **kw), abs=1e-9)


# ---- set metrics


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    s1, s2 = rng.uniform(0.5, 2, size=4), rng.uniform(0.5, 2, size=4)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-9)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + np.eye(4)
    assert frechet_distance(mu1, cov, mu1, cov) == pytest.approx(0, abs=1e-8)


def _image_folder(path, n, size=(12, 12), seed=0, suffix=".png"):
    path.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        write_image(torch.rand(1, 3, *size, generator=g), path / f"im{i}{suffix}")
    return path


# ---- folder evaluation


def test_evaluate_pairs_and_summarize(tmp_path):
    ref = _image_folder(tmp_path / "ref", 3, size=(24, 20), seed=0)
    res = _image_folder(tmp_path / "res", 3, size=(24, 20), seed=0)
    g = torch.Generator().manual_seed(5)
    write_image(torch.rand(1, 3, 24, 20, generator=g), res / "im1.png")  # differs from its reference
    write_image(torch.rand(1, 3, 24, 20, generator=g), ref / "extra.png")  # ignored
    rows = [Scorer(crop_border=2).score(a, b) for a, b in pair_by_name(res, ref)]
    assert [r["name"] for r in rows] == ["im0", "im1", "im2"]
    assert math.isinf(rows[0]["psnr"]) and rows[0]["ssim"] == pytest.approx(1)
    assert 0 < rows[1]["psnr"] < 20 and rows[1]["ssim_y"] < 0.5
    s = summarize(rows[1:2])
    assert s["count"] == 1 and s["failed"] == 0
    assert {k: s[k] for k in ("psnr", "ssim", "psnr_y", "ssim_y")} == {
        k: rows[1][k] for k in ("psnr", "ssim", "psnr_y", "ssim_y")
    }
    write_image(torch.rand(1, 3, 20, 24, generator=g), res / "im2.png")  # mismatched size
    with pytest.raises(RestoraError, match="restore at the reference's size"):
        Scorer().score(res / "im2.png", ref / "im2.png")
    s = summarize([*rows[:2], {"name": "im2", "error": "size"}])
    assert s["count"] == 2 and s["failed"] == 1 and math.isinf(s["psnr"])


def test_pair_by_name_matches_stems_and_rejects_duplicates(tmp_path):
    ref = _image_folder(tmp_path / "ref", 2)
    res = tmp_path / "res"
    res.mkdir()
    write_image(torch.rand(1, 3, 12, 12), res / "im1.jpg")
    assert pair_by_name(res, ref) == [(res / "im1.jpg", ref / "im1.png")]
    write_image(torch.rand(1, 3, 12, 12), ref / "im1.bmp")
    with pytest.raises(RestoraError, match="rename one"):
        pair_by_name(res, ref)
