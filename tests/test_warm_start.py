"""Warm starts (CCDF) and the few-step ladders: where a warm start begins, what it returns at the lowest
level, what it refuses, and that DiffPIR's second-order step solves the probability-flow ODE better."""

from __future__ import annotations

import pytest
import torch

from restora.errors import RestoraError
from restora.operators import AvgPoolSR, Inpaint, box_mask
from restora.priors.gaussian import GaussianPrior
from restora.schedules import VPSchedule, parse_spacing, sampling_sigmas
from restora.solvers import get, info, names

PRIOR = GaussianPrior.natural_like(1, 8).float()
WARM = [n for n in names(restoration_only=True) if info(n).warm_start]


def measured(op, sigma_y: float = 0.0):
    x = PRIOR.sample(2, torch.Generator().manual_seed(0)).float()
    return x, op.measure(x, sigma_y, torch.Generator().manual_seed(1))


@pytest.mark.parametrize("spacing", ["uniform", "quad", "karras", "karras-3", "logsnr"])
def test_a_warm_ladder_runs_from_its_level_to_the_lowest(spacing):
    schedule = VPSchedule.linear()
    sigmas = sampling_sigmas(schedule, 7, spacing, top=0.4)
    assert len(sigmas) == 7 and float(sigmas[0]) == pytest.approx(0.4)
    assert float(sigmas[-1]) == pytest.approx(schedule.sigma_min)
    assert bool((sigmas[1:] < sigmas[:-1]).all())
    cold = sampling_sigmas(schedule, 7, spacing)
    assert float(cold[0]) == pytest.approx(schedule.sigma_max) and bool((cold[1:] < cold[:-1]).all())


def test_spacing_names_and_levels_outside_the_ladder_are_refused():
    assert parse_spacing("karras-2.5") == ("karras", 2.5)
    for bad in ("karras-", "karras--1", "cubic"):
        with pytest.raises(RestoraError, match="spacing"):
            parse_spacing(bad)
    schedule = VPSchedule.linear()
    for top in (schedule.sigma_min / 2, schedule.sigma_max * 2):
        with pytest.raises(RestoraError, match="sigma_start"):
            sampling_sigmas(schedule, 5, "uniform", top=top)


@pytest.mark.parametrize("name", ["diffpir", "ddrm", "ddnm"])
def test_a_warm_start_at_the_lowest_level_returns_the_data_consistent_estimate(name):
    """Started at the prior's lowest noise level from an estimate that is wrong inside the box, the solver
    keeps the estimate where nothing is measured and returns the measurement where it is."""
    op = Inpaint(box_mask(8, 8, 4))
    x, y = measured(op)
    x_init = x + 0.3 * (1 - op.mask)  # the unmeasured box is off by 0.3
    out = get(name)(PRIOR, op, y, sigma_y=0.0, steps=1, sigma_start=PRIOR.schedule.sigma_min, x_init=x_init,
                    generator=torch.Generator().manual_seed(2))
    assert torch.allclose(op.A(out), y, atol=0.03)  # data-consistent
    hole = op.mask == 0
    assert float((out - x_init).abs()[hole.expand_as(out)].max()) < 0.05  # the estimate kept in the box


@pytest.mark.parametrize("name", WARM)
def test_a_warm_start_is_refused_without_its_level_or_with_a_wrong_shape(name):
    op = Inpaint(box_mask(8, 8, 4)) if info(name).masks_only else AvgPoolSR(2)
    x, y = measured(op, 0.05)
    with pytest.raises(RestoraError, match="sigma_start"):
        get(name)(PRIOR, op, y, sigma_y=0.05, steps=2, x_init=x)
    with pytest.raises(RestoraError, match="x_init must be an image of shape"):
        get(name)(PRIOR, op, y, sigma_y=0.05, steps=2, sigma_start=0.5, x_init=x[:, :, :4])
    with pytest.raises(RestoraError, match="outside the prior's ladder"):
        get(name)(PRIOR, op, y, sigma_y=0.05, steps=2, sigma_start=1e6, x_init=x)


def test_second_order_diffpir_solves_the_probability_flow_ode_better():
    """Without data (lam so large that the data step returns the prior's estimate) and zeta = 0, DiffPIR is
    the DDIM sampler of the probability-flow ODE, whose exact solution for a Gaussian prior is known in closed
    form; DPM-Solver++(2M) (order 2) must come much closer to it in 6 steps than the first-order step."""
    op = AvgPoolSR(2)
    _, y = measured(op)
    sigma0, x_init = 2.0, torch.zeros(2, 1, 8, 8)
    start = x_init + sigma0 * torch.randn(x_init.shape, generator=torch.Generator().manual_seed(5))
    lam = PRIOR.variances.float()
    exact = PRIOR.from_spectral(PRIOR.to_spectral(start) * (lam / (lam + sigma0**2)).sqrt())
    errors = []
    for order in (1, 2):
        out = get("diffpir")(PRIOR, op, y, sigma_y=0.0, lam=1e12, zeta=0.0, steps=6, spacing="logsnr",
                             sigma_start=sigma0, x_init=x_init, order=order,
                             generator=torch.Generator().manual_seed(5))
        errors.append(float((out - exact).norm() / exact.norm()))
    assert errors[1] < errors[0] / 4, errors
