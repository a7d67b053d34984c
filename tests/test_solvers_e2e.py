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
    BlindBlur,
    Blur,
    BlurDownsampleSR,
    Inpaint,
    PhaseRetrieval,
    box_mask,
    gaussian_kernel,
)
from restora.priors.adm import build_adm_prior
from restora.priors.base import Prior
from restora.solvers import check_compatible, get, names, settings
from restora.solvers.common import data_step, noise_levels
from restora.solvers.diffpir import DEFAULTS as DIFFPIR_DEFAULTS

FEW_STEPS = {
    "diffpir": {"steps": 3}, "ddrm": {"steps": 3}, "ddnm": {"steps": 3}, "pigdm": {"steps": 3},
    "dps": {"steps": 3}, "mcg": {"steps": 3}, "ilvr": {"steps": 3},
    "repaint": {"steps": 4, "jump_length": 2, "jump_n_sample": 2}, "dpir": {"steps": 3},
    "blind-pnp": {"steps": 2, "rounds": 1}, "blind-dps": {"steps": 2},
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
    if solver.startswith("blind-"):
        return BlindBlur(5)
    return AvgPoolSR(4)


@pytest.mark.parametrize("solver", sorted(FEW_STEPS))
def test_every_solver_runs_on_the_adm_network(adm_prior, images, solver):
    op = operator_for(solver)
    measuring = Blur(gaussian_kernel(5, 1.0)) if op.blind else op  # a blind operator cannot measure
    y = measuring.measure(images, 0.05, torch.Generator().manual_seed(1))
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


def test_the_gradient_data_step_is_stable_where_rho_vanishes(adm_prior, images):
    """At high noise rho -> 0: a step of 1 / rho (the official code's) explodes; 1 / (rho + curvature)
    is an error-reduction step on phase retrieval, which cannot raise the residual."""
    op = PhaseRetrieval(2.0)
    y = op.A(images)
    x0 = torch.randn(images.shape, generator=torch.Generator().manual_seed(1)) * 0.5
    x1 = data_step(op, x0, y, rho=1e-12)
    fit = [float((op.A(v) - y).norm()) for v in (x0, x1)]
    assert bool(torch.isfinite(x1).all()) and fit[1] <= fit[0], fit
    out = get("diffpir")(adm_prior, op, y, steps=3, sigma_y=0.05, generator=torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(out).all())


def test_settings_put_the_prior_tuned_options_over_the_published_defaults():
    tuned = SimpleNamespace(solver_settings={"diffpir": {"sr": {"zeta": 0.9}}})
    assert settings("diffpir", "sr") == DIFFPIR_DEFAULTS["sr"]
    assert settings("diffpir", "sr", tuned) == {**DIFFPIR_DEFAULTS["sr"], "zeta": 0.9}
    assert settings("diffpir", "deblur", tuned) == DIFFPIR_DEFAULTS["deblur"]
    assert settings("ddrm", "sr", tuned) == settings("ddrm", "sr")


class _Overshoot(Prior):
    """A prior whose estimate is 1.5 everywhere: outside the image range, where clipping matters."""

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, 1.5)


def test_diffpir_clips_the_prior_estimate_only_when_asked():
    """clip_x0 (the official code's clip_denoised): in the hole of a mask the result is the clipped
    estimate, 1.0, instead of the prior's 1.5; measured pixels follow y either way."""
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1
    op = Inpaint(mask)
    y = op.A(torch.zeros(1, 3, 8, 8))
    hole = (1 - mask).bool().expand(1, 3, 8, 8)
    for clip, value in ((False, 1.5), (True, 1.0)):
        out = get("diffpir")(_Overshoot(), op, y, steps=4, sigma_y=0.0, zeta=0.0, clip_x0=clip,
                             generator=torch.Generator().manual_seed(0))
        assert torch.allclose(out[hole], torch.full_like(out[hole], value))
        assert float(out[~hole].abs().max()) < 0.05  # y = 0 there, up to the tiny rho of sigma_y 0


class _Counting(_Overshoot):
    """_Overshoot that counts its calls."""

    calls = 0

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return super().denoise(x, sigma)


def test_diffpir_returns_the_last_renoised_iterate_without_the_final_denoise():
    """denoise_last=False (the official code's ending): one prior call fewer, and the output is the
    iterate at the lowest noise level, the estimate 1.5 plus that level's (fresh, zeta = 1) noise."""
    op = Inpaint(torch.zeros(1, 1, 16, 16))  # nothing measured: the output is the prior's
    y = op.A(torch.zeros(1, 3, 16, 16))
    outs = {}
    for last in (True, False):
        prior = _Counting()
        outs[last] = get("diffpir")(prior, op, y, steps=5, sigma_y=0.0, zeta=1.0, denoise_last=last,
                                    generator=torch.Generator().manual_seed(0))
        assert prior.calls == (5 if last else 4)
    assert torch.allclose(outs[True], torch.full_like(outs[True], 1.5))
    lowest = float(noise_levels(_Counting(), 5, "quad")[-2])
    spread = float((outs[False] - 1.5).std())
    assert 0.8 * lowest < spread < 1.2 * lowest
