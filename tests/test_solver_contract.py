"""The contract every registered solver keeps: one callback per denoiser call, as many as it announces
(resampling jumps and time travel included), declared options checked before any work, and the
decorator as a plug-in API."""

from __future__ import annotations

import pytest
import torch

from restora.errors import RestoraError
from restora.operators import AvgPoolSR, BlindBlur, Blur, Inpaint, box_mask, gaussian_kernel
from restora.priors.gaussian import GaussianPrior
from restora.solvers import Step, get, info, names, solver, validate_options
from restora.solvers import registry as solver_registry
from restora.solvers.common import Progress, initial_noise, noise_levels

CALLS = [  # (solver, options): every solver, and the options that change its number of calls
    *[(name, {"steps": 4}) for name in names(restoration_only=True)],
    ("repaint", {"steps": 6, "jump_length": 2, "jump_n_sample": 3}),
    ("ddnm", {"steps": 8, "travel_length": 3, "travel_repeat": 2}),
    ("dpir", {"steps": 1}),
    ("diffpir", {"steps": 5, "denoise_last": False}),  # the official ending drops the last call
    ("diffpir", {"steps": 5, "order": 2}),
    ("ddnm", {"steps": 6, "travel_length": 2, "travel_repeat": 2, "sigma_start": 0.3}),
    ("repaint", {"steps": 6, "jump_length": 2, "jump_n_sample": 2, "sigma_start": 0.3}),
    # a warm start spreads the same number of calls below its level, on every ladder
    *[(name, {"steps": 5, "sigma_start": 0.5, "spacing": spacing})
      for name in names(restoration_only=True) if info(name).warm_start
      for spacing in ("uniform", "quad", "karras", "logsnr", "karras-3")],
]


def problem(name: str):
    prior = GaussianPrior.natural_like(1, 8)
    op = Inpaint(box_mask(8, 8, 4)) if info(name).masks_only else BlindBlur(3) if info(name).blind else \
        AvgPoolSR(2)
    x = prior.sample(2, torch.Generator().manual_seed(0)).float()
    blurs = Blur(gaussian_kernel(3, 0.8)) if op.blind else op  # a blind operator cannot measure
    return prior.float(), op, blurs.measure(x, 0.05, torch.Generator().manual_seed(1))


@pytest.mark.parametrize(("name", "options"), CALLS, ids=[f"{n}-{sorted(o.items())}" for n, o in CALLS])
def test_callbacks_equal_the_announced_number_of_calls(name, options):
    prior, op, y = problem(name)
    steps: list[Step] = []
    get(name)(prior, op, y, sigma_y=0.05, generator=torch.Generator().manual_seed(2), callback=steps.append,
              **options)
    announced = info(name).nfe(prior=prior, **options)
    assert [s.nfe for s in steps] == list(range(1, announced + 1))
    assert {s.total for s in steps} == {announced}
    assert all(s.sigma > 0 and s.x0.shape == s.x.shape for s in steps)
    if "sigma_start" in options and options.get("travel_repeat", options.get("jump_n_sample", 1)) == 1:
        assert announced == options["steps"]
        assert max(s.sigma for s in steps) == pytest.approx(options["sigma_start"])
    if options.get("jump_n_sample") == 3:
        assert announced == 6 + 2 * 2 * 2  # two jump points, each redone twice, two levels per jump


def test_ddim_announces_its_calls_too():
    steps: list[Step] = []
    get("ddim")(GaussianPrior.natural_like(1, 8), (1, 1, 8, 8), steps=5, callback=steps.append)
    assert [s.nfe for s in steps] == [1, 2, 3, 4, 5] and info("ddim").nfe(5) == 5


@pytest.mark.parametrize("name", names(restoration_only=True))
def test_declared_options_are_checked_before_any_work(name):
    meta = info(name)
    prior, op, y = problem(name)
    for key, option in meta.options.items():
        bad = "not-a-value" if option.kind is not str else 3
        with pytest.raises(RestoraError, match=key.split("_")[0]):
            get(name)(prior, op, y, steps=2, sigma_y=0.05, **{key: bad})
        with pytest.raises(RestoraError, match=key.split("_")[0]):
            validate_options(name, {key: bad})
    with pytest.raises(RestoraError, match="no option"):
        validate_options(name, {"no_such_option": 1})


def test_a_plug_in_solver_registers_and_is_checked():
    @solver("test-denoise-once", "one denoiser call at sigma_y", needs_linear=False, stochastic=False,
            published={"*": {"steps": 1}})
    def once(prior, op, y, *, steps=1, sigma_y, generator=None, callback=None):
        x = prior(op.pinv(y), max(sigma_y, 1e-3))
        Progress(callback, 1)(sigma_y, x, x)
        return x

    try:
        prior, op, y = problem("dpir")
        out = get("test-denoise-once")(prior, op, y, sigma_y=0.05)
        assert out.shape == (2, 1, 8, 8) and "test-denoise-once" in names()
        with pytest.raises(RestoraError, match="already registered"):
            solver("test-denoise-once", "again")(once)
        with pytest.raises(RestoraError, match="NaN"):
            get("test-denoise-once")(prior, op, y * float("nan"), sigma_y=0.05)
    finally:
        solver_registry._SOLVERS.pop("test-denoise-once", None)


def test_the_ladder_ends_in_zero():
    prior = GaussianPrior.natural_like(1, 8)
    sigmas = noise_levels(prior, 5, "uniform")
    assert len(sigmas) == 6 and sigmas[-1] == 0.0 and sigmas == sorted(sigmas, reverse=True)
    assert initial_noise(torch.zeros(2, 1, 4, 4), sigmas[0], torch.Generator().manual_seed(0)).std() > 1


def test_defaults_are_declared_once_in_the_signature():
    """Every option's default (and steps') comes from the function, as the registry read it; the command
    line reads them there (no signature inspection of its own)."""
    for name in names():
        meta = info(name)
        assert set(meta.defaults) == {*meta.options, "steps"}, name
        for key, value in meta.defaults.items():
            if value is not None and key in meta.options:
                assert meta.options[key].validate(name, key, value) == value, (name, key)


def test_the_noise_level_must_be_given_where_the_method_uses_it():
    for name in names(restoration_only=True):
        prior, op, y = problem(name)
        if info(name).uses_sigma_y:
            with pytest.raises(RestoraError, match="needs sigma_y="):
                get(name)(prior, op, y, steps=2)
        else:
            get(name)(prior, op, y, steps=2, generator=torch.Generator().manual_seed(0))


def test_a_plug_in_must_declare_its_keywords_and_take_sigma_y_without_default():
    def undeclared(prior, op, y, *, steps=1, sigma_y, strength=1.0, generator=None, callback=None):
        return y

    with pytest.raises(RestoraError, match="strength"):
        solver("test-undeclared", "an option it does not declare")(undeclared)

    def defaulted(prior, op, y, *, steps=1, sigma_y=0.1, generator=None, callback=None):
        return y

    with pytest.raises(RestoraError, match="sigma_y must have no default"):
        solver("test-defaulted", "a default noise level")(defaulted)
    assert "test-undeclared" not in names() and "test-defaulted" not in names()

