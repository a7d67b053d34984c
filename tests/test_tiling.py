"""Overlapping-tile application: exactness for pointwise maps, seam-only error for local ones, priors."""

import itertools

import pytest
import torch
from torch import nn

from restora.errors import RestoraError
from restora.priors.base import Prior, VPEpsPrior
from restora.priors.tiling import TiledPrior, axis_weights, tile_apply, tile_starts


def img(n=1, c=3, h=300, w=517, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


class Recorder:
    """Wraps a tile function and records the batch shapes it was called with."""

    def __init__(self, fn):
        self.fn, self.shapes = fn, []

    def __call__(self, t):
        self.shapes.append(tuple(t.shape))
        return self.fn(t)


@pytest.mark.parametrize("tile, overlap, multiple", [(128, 32, 1), (128, 100, 1), (64, 0, 8), (96, 17, 32)])
def test_identity_and_pointwise_maps_commute_with_tiling(tile, overlap, multiple):
    x = img(n=2)
    rec = Recorder(lambda t: t)
    out = tile_apply(rec, x, tile=tile, overlap=overlap, multiple=multiple, tile_batch=5)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.allclose(out, x, atol=1e-6, rtol=0)
    assert all(s[-2:] == (tile, tile) and s[0] <= 5 and s[0] % 2 == 0 for s in rec.shapes)
    out = tile_apply(lambda t: t * 2 + 1, x, tile=tile, overlap=overlap, multiple=multiple)
    assert torch.allclose(out, x * 2 + 1, atol=1e-5, rtol=0)


def test_weights_cover_every_pixel_and_overlaps_are_partitions_of_unity():
    starts = tile_starts(517, 128, 32)
    assert starts[0] == 0 and starts[-1] == 517 - 128
    assert all(b - a <= 128 - 32 for a, b in itertools.pairwise(starts))
    ws = axis_weights(starts, 128, torch.float64, torch.device("cpu"))
    total = torch.zeros(517, dtype=torch.float64)
    for s, w in zip(starts, ws, strict=True):
        assert (w > 0).all()
        total[s : s + 128] += w
    assert torch.allclose(total, torch.ones(517, dtype=torch.float64))  # pairwise overlaps: sin^2 + cos^2
    assert ws[0][0] == 1 and ws[-1][-1] == 1  # flat at the image border


def test_local_filter_differs_only_at_tile_seams():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=1, padding_mode="reflect")
    x = img()
    with torch.no_grad():
        full = conv(x)
        tiled = tile_apply(conv, x, tile=128, overlap=32)
    assert torch.allclose(full, tiled, atol=1e-3)  # seam pixels get tiny window weights
    # Away from interior tile edges (1 px band), identical up to rounding.
    mask = torch.zeros(300, 517, dtype=torch.bool)
    for axis, size in ((0, 300), (1, 517)):
        for s in tile_starts(size, 128, 32):
            for e in (s, s + 127):
                if 0 < e < size - 1:
                    idx = slice(max(e - 1, 0), e + 2)
                    if axis == 0:
                        mask[idx, :] = True
                    else:
                        mask[:, idx] = True
    assert mask.any()
    assert torch.allclose(full[..., ~mask], tiled[..., ~mask], atol=1e-5)
    assert (full - tiled).abs().max() > 0  # the seams are really there


def test_images_smaller_than_a_tile():
    x = img(h=50, w=70)
    rec = Recorder(lambda t: t * 3)
    assert torch.allclose(tile_apply(rec, x, tile=128), x * 3, atol=1e-6)
    assert rec.shapes == [(1, 3, 50, 70)]
    rec = Recorder(lambda t: t * 3)  # fixed-size fn: multiple=tile pads up to a full tile
    assert torch.allclose(tile_apply(rec, x, tile=128, multiple=128), x * 3, atol=1e-6)
    assert rec.shapes == [(1, 3, 128, 128)]
    rec = Recorder(lambda t: t)
    tile_apply(rec, img(h=61, w=45), tile=128, multiple=8)
    assert rec.shapes == [(1, 3, 64, 48)]
    tiny = img(h=3, w=5)  # padding larger than the image: replicate
    assert torch.allclose(tile_apply(lambda t: t, tiny, tile=64, multiple=64), tiny, atol=1e-6)


def test_channels_may_change_and_gradients_flow():
    x = img(n=1, h=90, w=130).requires_grad_()
    out = tile_apply(lambda t: t.mean(dim=1, keepdim=True) * 3, x, tile=64, overlap=16)
    assert out.shape == (1, 1, 90, 130)
    out.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x), atol=1e-5)


def test_bad_arguments_raise():
    x = img(h=40, w=40)
    with pytest.raises(RestoraError, match="overlap"):
        tile_apply(lambda t: t, x, tile=32, overlap=32)
    with pytest.raises(RestoraError, match="multiple"):
        tile_apply(lambda t: t, x, tile=30, multiple=8)
    with pytest.raises(RestoraError, match="keep batch and spatial size"):
        tile_apply(lambda t: t[..., :-1], x, tile=32, overlap=8)
    with pytest.raises(RestoraError, match="NCHW"):
        tile_apply(lambda t: t, x[0], tile=32)


class ShrinkPrior(Prior):
    """A pointwise analytic denoiser (Gaussian prior): D = x / (1 + sigma^2); optionally fixed-size."""

    def __init__(self, native=None):
        super().__init__()
        self.native_size = native
        self.seen = []

    def denoise(self, x, sigma):
        self.seen.append(tuple(x.shape))
        if self.native_size:
            assert x.shape[-2:] == (self.native_size, self.native_size)
        return x / (1 + sigma.view(-1, 1, 1, 1) ** 2)


def test_tiled_prior_repeats_sigma_per_tile():
    x = img(n=3, h=150, w=217)
    sigma = torch.tensor([0.1, 1.0, 5.0])
    inner = ShrinkPrior(native=64)
    tiled = TiledPrior(inner, overlap=16, tile_batch=7)
    assert tiled.tile == 64 and tiled.schedule is inner.schedule and tiled.sigma_max == inner.sigma_max
    with torch.no_grad():
        out = tiled(x, sigma)
        assert torch.allclose(out, ShrinkPrior()(x, sigma), atol=1e-6)
        assert torch.allclose(tiled.eps(x, sigma), ShrinkPrior().eps(x, sigma), atol=1e-4)
        assert torch.allclose(tiled(x, 0.5), x / 1.25, atol=1e-6)
    assert all(s[0] % 3 == 0 and s[0] <= 6 for s in inner.seen)
    small = img(n=1, h=40, w=33)
    with torch.no_grad():
        assert torch.allclose(tiled(small, 1.0), small / 2, atol=1e-6)
    with pytest.raises(RestoraError, match="3 channels"):
        tiled(img(c=1, h=8, w=8), 1.0)


def test_tiled_vp_prior_close_to_full_image_and_model_output():
    torch.manual_seed(0)

    class ToyEps(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, padding=1, padding_mode="reflect")

        def forward(self, x_t, t):
            return torch.tanh(self.conv(x_t)) * (1 + t.view(-1, 1, 1, 1) / 1000)

    prior = VPEpsPrior(ToyEps(), size_multiple=8)
    tiled = TiledPrior(prior, tile=64, overlap=16)
    assert tiled.multiple == 8
    x = img(n=2, h=100, w=150)
    sigma = torch.tensor([0.3, 2.0])
    t = torch.tensor([100.0, 700.0])
    with torch.no_grad():
        assert (tiled(x, sigma) - prior(x, sigma)).abs().max() < 0.02
        mo = tiled.model_output(x, t)
        assert mo.shape == (2, 6, 100, 150)
        assert (mo - prior.model_output(x, t)).abs().max() < 0.02
    assert tiled.configure("bf16") is tiled and prior.run_dtype == torch.bfloat16
    with pytest.raises(RestoraError, match="no model_output"):
        TiledPrior(ShrinkPrior(), tile=64).model_output(x, t)
