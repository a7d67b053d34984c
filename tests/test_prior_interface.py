"""The D(x, sigma) interface: VP eps-model wrapping/unwrapping, EDM preconditioning, restora UNet."""

import math

import pytest
import torch
from torch import nn

from restora.errors import RestoraError
from restora.priors.base import VPEpsPrior, vp_eps
from restora.priors.loaders import load_restora_prior, save_restora_prior
from restora.priors.unet import MODEL_SIZES, UNet, UNetConfig, build_restora_prior
from restora.schedules import VPSchedule


class ToyEps(nn.Module):
    """A fixed nonlinear eps-network of (x_t, t) with a learned-variance-like extra output."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x_t, t):
        return torch.tanh(self.conv(x_t)) * (1 + t.view(-1, 1, 1, 1) / 1000)


def test_wrap_then_unwrap_eps_model_is_identity():
    net = ToyEps()
    prior = VPEpsPrior(net)
    x_t = torch.randn(3, 3, 16, 16)
    for t in (torch.tensor([0, 500, 999]), torch.tensor([12.25, 400.5, 998.9])):
        with torch.no_grad():
            eps = vp_eps(prior, x_t, t)
            ref = net(x_t, t.float())[:, :3]
        assert torch.allclose(eps, ref, atol=2e-5), (eps - ref).abs().max()


def test_vp_wrapper_denoises_consistently():
    """D(x, sigma) = x - sigma * eps(x_t, t) with x_t = x / sqrt(1 + sigma^2)."""
    net = ToyEps()
    prior = VPEpsPrior(net)
    s = VPSchedule.linear()
    x = torch.randn(2, 3, 8, 8) * 3
    t = torch.tensor([100, 700])
    sigma = s.sigmas[t].float()
    with torch.no_grad():
        d = prior(x, sigma)
        x_t = x / torch.sqrt(1 + sigma**2).view(-1, 1, 1, 1)
        ref = x - sigma.view(-1, 1, 1, 1) * net(x_t, t.float())[:, :3]
    assert torch.allclose(d, ref, atol=1e-4)


def test_edm_preconditioning_at_init_is_c_skip_times_x():
    """The output layer starts at zero, so D = c_skip * x = sd^2 / (sigma^2 + sd^2) * x."""
    prior = build_restora_prior(MODEL_SIZES["tiny"])
    x = torch.randn(2, 3, 16, 16)
    sigma = torch.tensor([0.1, 5.0])
    with torch.no_grad():
        d = prior(x, sigma)
    c_skip = 0.25 / (sigma**2 + 0.25)
    assert torch.allclose(d, c_skip.view(-1, 1, 1, 1) * x, atol=1e-6)


@pytest.mark.parametrize("size", [(32, 32), (37, 50), (5, 9)])
def test_unet_any_size_returns_input_shape(size):
    torch.manual_seed(0)
    prior = build_restora_prior(MODEL_SIZES["tiny"])
    for p in prior.parameters():  # make the network non-trivial
        p.data.normal_(0, 0.05)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        out = prior(x, 0.5)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_fully_convolutional_translation_equivariance():
    """Away from the borders the UNet is (nearly) shift-equivariant by its size multiple."""
    torch.manual_seed(0)
    net = UNet(MODEL_SIZES["tiny"])
    for p in net.parameters():
        p.data.normal_(0, 0.05)
    for m in net.modules():
        if isinstance(m, nn.GroupNorm):  # global statistics break exact equivariance
            m.eval()
    x = torch.randn(1, 3, 64, 64)
    shift = 4
    with torch.no_grad():
        a = net(torch.roll(x, shift, dims=-1), torch.zeros(1))
        b = torch.roll(net(x, torch.zeros(1)), shift, dims=-1)
    interior = (slice(None), slice(None), slice(16, 48), slice(16, 48))
    assert torch.allclose(a[interior], b[interior], atol=1e-3)


def test_model_sizes_span_2m_to_60m_parameters():
    counts = {}
    for name in ("small", "base", "large"):
        with torch.device("meta"):
            counts[name] = sum(p.numel() for p in UNet(MODEL_SIZES[name]).parameters())
    assert 2e6 < counts["small"] < 10e6
    assert counts["small"] < counts["base"] < counts["large"] < 65e6


def test_save_and_load_restora_prior_round_trip(tmp_path):
    torch.manual_seed(1)
    prior = build_restora_prior(MODEL_SIZES["tiny"])
    for p in prior.parameters():
        p.data.normal_(0, 0.05)
    path = save_restora_prior(prior, tmp_path / "p.safetensors", extra={"note": "test"})
    loaded = load_restora_prior(path)
    x = torch.randn(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(prior(x, 0.3), loaded(x, 0.3))
    assert loaded.size_multiple == prior.size_multiple


def test_prior_rejects_bad_input():
    prior = build_restora_prior(MODEL_SIZES["tiny"])
    with pytest.raises(RestoraError, match="channels"):
        prior(torch.randn(1, 1, 16, 16), 0.1)
    with pytest.raises(RestoraError, match="sigmas"):
        prior(torch.randn(2, 3, 16, 16), torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(RestoraError, match="divisible"):
        UNetConfig(channels=10, groups=4)


def test_float64_input_keeps_dtype():
    prior = build_restora_prior(MODEL_SIZES["tiny"])
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        assert prior(x, math.pi).dtype == torch.float64
