"""The bundled prior ships with the package and is a real image model, not just loadable weights."""

from importlib import resources

import pytest
import torch

from restora.io import read_image
from restora.metrics import psnr
from restora.operators import build_operator
from restora.priors import load
from restora.solvers.diffpir import diffpir


@pytest.fixture(scope="module")
def sample():
    """A 128x128 crop of the bundled sample photo, in [-1, 1]."""
    img = read_image(resources.files("restora") / "data" / "sample.png", channels=3)
    return img[..., 64:192, 64:192] * 2 - 1


@pytest.fixture(scope="module")
def prior():
    return load("default")


def score(x, ref):
    return float(psnr((x.clamp(-1, 1) + 1) / 2, (ref + 1) / 2)[0])


@pytest.mark.parametrize("sigma255, gain", [(15, 5.0), (50, 9.0)])
def test_denoises_the_sample(prior, sample, sigma255, gain):
    """One call D(y, sigma) gains several dB over the noisy input (the validation set shows more)."""
    sigma = 2 * sigma255 / 255
    y = sample + sigma * torch.randn(sample.shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        den = prior(y, sigma)
    assert score(den, sample) > score(y, sample) + gain


def test_diffpir_inpaints_the_sample(prior, sample):
    """Noiseless random inpainting (70% missing) with 10 DiffPIR steps: the known pixels stay, the
    missing ones come from the prior, far above zero filling (a broken prior gives noise there)."""
    op = build_operator("inpaint-random", sample.shape, generator=torch.Generator().manual_seed(0))
    y = op.measure(sample, 0.0)
    out = diffpir(prior, op, y, steps=10, sigma_y=0.0, lam=1.0, zeta=1.0,
                  generator=torch.Generator().manual_seed(2))
    assert (op.A(out) - y).abs().max() < 1e-2
    assert score(out, sample) > score(op.pinv(y), sample) + 5.0
