"""Every solver end to end on the guided-diffusion fixture network (random weights, 64x64 batch),
plus determinism and compatibility checks. Smoke tests: shapes, finiteness, seeds; not quality."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from restora.errors import RestoraError
from restora.operators import (
    JPEG,
    AvgPoolSR,
    BicubicSR,
    Blur,
    BlurDownsampleSR,
    Inpaint,
    box_mask,
    gaussian_kernel,
)
from restora.priors.adm import build_adm_prior
from restora.solvers import check_compatible, get, names, settings
from restora.solvers.diffpir import DEFAULTS as DIFFPIR_DEFAULTS

FEW_STEPS = {
    "diffpir": {"steps": 3}, "ddrm": {"steps": 3}, "ddnm": {"steps": 3}, "pigdm": {"steps": 3},
    "dps": {"steps": 3}, "mcg": {"steps": 3}, "ilvr": {"steps": 3},
    "repaint": {"steps": 4, "jump_length": 2, "jump_n_sample": 2}, "dpir": {"steps": 3},
}


@pytest.fixture(scope="module")
def adm_prior(adm_reference):
    entry = adm_reference["adm_ffhq256_layout"]
    prior = build_adm_prior(json.loads(entry["config"]))
    prior.net.load_state_dict(entry["state_dict"], strict=True)
    return prior.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1


def operator_for(solver: str):
    if solver == "repaint":
        return Inpaint(box_mask(64, 64, 24))
    return AvgPoolSR(4)


@pytest.mark.parametrize("solver", sorted(FEW_STEPS))
def test_every_solver_runs_on_the_adm_network(adm_prior, images, solver):
    op = operator_for(solver)
    y = op.measure(images, 0.05, torch.Generator().manual_seed(1))
    calls = []
    out = get(solver)(adm_prior, op, y, sigma_y=0.05, generator=torch.Generator().manual_seed(2),
                      callback=lambda step: calls.append(step.nfe), **FEW_STEPS[solver])
    assert out.shape == images.shape and bool(torch.isfinite(out).all())
    assert calls and calls == sorted(calls)


def test_ddim_samples_from_the_adm_network(adm_prior):
    out = get("ddim")(adm_prior, (2, 3, 64, 64), steps=3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 64, 64) and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("solver", ["diffpir", "ddrm", "ddnm", "pigdm"])
def test_same_seed_same_output_different_seed_different(adm_prior, images, solver):
    op = BicubicSR(2)
    y = op.measure(images, 0.05, torch.Generator().manual_seed(1))

    def run(seed):
        gen = torch.Generator().manual_seed(seed)
        return get(solver)(adm_prior, op, y, sigma_y=0.05, steps=3, generator=gen)

    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_every_registered_solver_is_covered():
    assert set(names()) == {*FEW_STEPS, "ddim"}
    assert set(names(restoration_only=True)) == set(FEW_STEPS)


def test_compatibility_errors_name_an_alternative():
    with pytest.raises(RestoraError, match="SVD"):
        check_compatible("ddrm", BlurDownsampleSR(gaussian_kernel(5, 1.0), 2))
    with pytest.raises(RestoraError, match="linear"):
        check_compatible("ddnm", JPEG(50))
    with pytest.raises(RestoraError, match="mask"):
        check_compatible("repaint", Blur(gaussian_kernel(5, 1.0)))
    check_compatible("dps", JPEG(50))
    check_compatible("repaint", Inpaint(box_mask(32, 32, 8)))


def test_diffpir_handles_a_nonlinear_operator_with_gradient_steps(adm_prior, images):
    op = JPEG(30)
    y = op.measure(images, 0.0)
    out = get("diffpir")(adm_prior, op, y, steps=2, sigma_y=0.0, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape and bool(torch.isfinite(out).all())


def test_settings_put_the_prior_tuned_options_over_the_published_defaults():
    tuned = SimpleNamespace(solver_settings={"diffpir": {"sr": {"zeta": 0.9}}})
    assert settings("diffpir", "sr") == DIFFPIR_DEFAULTS["sr"]
    assert settings("diffpir", "sr", tuned) == {**DIFFPIR_DEFAULTS["sr"], "zeta": 0.9}
    assert settings("diffpir", "deblur", tuned) == DIFFPIR_DEFAULTS["deblur"]
    assert settings("ddrm", "sr", tuned) == settings("ddrm", "sr")
