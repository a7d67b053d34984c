"""DPS, MCG, ILVR and RePaint.

* Statistics against the exact posterior of a Gaussian image law (GaussianPrior, 1x8x8, float64):
  one call on a batch of N copies of y, sample mean vs posterior mean in posterior-std units per
  pixel, and the measurement residual. None of the four methods is an exact posterior sampler,
  so the bounds are each method's measured error plus a margin (printed with ``pytest -s``).
* Agreement with the published algorithms written in their own VP coordinates (x_t = sqrt(abar) x0
  + sqrt(1 - abar) eps, guidance step on VP iterates, official jump schedule), fed the same random
  draws: pins the VP -> VE conversion of the step sizes and of the noised measurements.
* Exact known pixels, determinism, callbacks, a real-network smoke test, bad input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import pytest
import torch
from torch import Tensor

from restora import solvers
from restora.errors import RestoraError
from restora.operators import JPEG, AvgPoolSR, Blur, Inpaint, gaussian_kernel, random_mask
from restora.priors.gaussian import GaussianPrior, gaussian_posterior
from restora.priors.unet import MODEL_SIZES, build_restora_prior
from restora.solvers.common import jump_schedule, noise_levels
from restora.solvers.dps import dps
from restora.solvers.ilvr import ilvr
from restora.solvers.mcg import mcg
from restora.solvers.repaint import repaint, repaint_nfe

GUIDED = {"dps": dps, "mcg": mcg, "ilvr": ilvr, "repaint": repaint}
N = 400  # posterior samples per call: Monte Carlo error of the mean ~ 1 / sqrt(N) = 0.05 std
PRIOR = GaussianPrior.natural_like(1, 8)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads, and on a shared CPU an oversubscribed OpenMP pool makes
    the UNet backward pass ~100x slower: run this module single-threaded, then restore."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- exact-posterior statistics ------------------------------------------------------------------

@dataclass
class Case:
    op: object
    y: Tensor  # (1, ...) measurement
    sigma_y: float
    mean: Tensor  # exact posterior mean (1, 8, 8)
    std: Tensor  # exact posterior std per pixel
    known: Tensor | None  # observed pixels (masks)
    m: int  # number of actual measurements


def make_case(kind: str, sigma_y: float) -> Case:
    g = torch.Generator().manual_seed(0)
    x = PRIOR.sample(1, g)
    if kind == "inpaint":
        op = Inpaint(random_mask(8, 8, ratio=0.5, generator=g))
        known = op.mask[0].bool()
        m = int(known.sum())
    else:
        op = AvgPoolSR(2)
        known, m = None, 16
    y = op.measure(x, sigma_y, generator=g)
    # sigma_y = 0 makes the posterior singular on the observed pixels: regularise, and leave them
    # out of the z-scores (their posterior std is ~1e-4).
    mean, cov = gaussian_posterior(PRIOR, op, y, max(sigma_y, 1e-4))
    return Case(op, y, sigma_y, mean[0], cov.diagonal().sqrt().view(1, 8, 8), known, m)


CASES = {}


def case(name: str) -> Case:
    if name not in CASES:
        kind, noise = name.split("-")
        CASES[name] = make_case(kind, 0.1 if noise == "noisy" else 0.0)
    return CASES[name]


def errors(x: Tensor, c: Case) -> dict[str, float]:
    z = (x.mean(0) - c.mean) / c.std
    free = ~c.known if c.known is not None else torch.ones_like(z, dtype=torch.bool)
    out = {"z_free": float(z[free].pow(2).mean().sqrt()), "z_max": float(z[free].abs().max())}
    if c.known is not None and c.sigma_y > 0:
        out["z_known"] = float(z[c.known].pow(2).mean().sqrt())
    out["spread"] = float((x.std(0) / c.std)[free].median())
    # A A^+ y: the measurement without its noise on the zero rows of A (masked-out pixels)
    resid = torch.linalg.vector_norm((c.op.A(x) - c.op.A(c.op.pinv(c.y))).flatten(1), dim=1)
    out["resid"] = float(resid.mean()) / math.sqrt(c.m)
    return out


# (solver, case, kwargs, bounds), bounds set from the measured values (comments) with a margin.
# z_free: rms z-score of the sample mean over the unobserved pixels (all pixels for SR); z_known:
# over the observed ones; resid: (low, high) for the rms of A x - A A^+ y per measurement. An exact
# sampler would give z ~ 0.05 (Monte Carlo) and, for inpaint-noisy, resid 0.113 (computed from the
# exact posterior). The projection methods paste the noisy y into the known pixels (resid 0), so
# only their unobserved pixels are compared.
POSTERIOR_CASES = [
    # DPS: noisy inpainting (the paper's setting; larger zeta fits y harder), noiseless averaging SR.
    ("dps", "inpaint-noisy", {"steps": 100, "zeta": 0.3},  # 0.181 / 0.455 / 0.0665
     {"z_free": 0.25, "z_known": 0.6, "resid": (0.045, 0.09)}),
    ("dps", "inpaint-noisy", {"steps": 100, "zeta": 1.0},  # 0.271 / 1.33 / 0.0121
     {"z_free": 0.36, "z_known": 1.6, "resid": (0.006, 0.02)}),
    ("dps", "sr-clean", {"steps": 100, "zeta": 1.0},  # 0.0557 / 0.0291
     {"z_free": 0.1, "resid": (0.015, 0.045)}),
    # MCG: the gradient step, then the projection.
    ("mcg", "inpaint-clean", {"steps": 100},  # 0.272
     {"z_free": 0.36, "resid": (0, 1e-12)}),
    ("mcg", "sr-clean", {"steps": 100},  # 0.0598
     {"z_free": 0.1, "resid": (0, 1e-12)}),
    ("mcg", "inpaint-noisy", {"steps": 100},  # 0.345
     {"z_free": 0.45, "resid": (0, 1e-12)}),
    # ILVR: plain replacement of the A^+ A component (the last step is free unless range_t = -1).
    ("ilvr", "sr-clean", {"steps": 100},  # 0.191 / 0.0049
     {"z_free": 0.26, "resid": (0.002, 0.01)}),
    ("ilvr", "inpaint-clean", {"steps": 100},  # 0.803 / 0.0098 (the replacement bias)
     {"z_free": 0.95, "resid": (0.004, 0.02)}),
    ("ilvr", "sr-clean", {"steps": 100, "range_t": -1},  # 0.191
     {"z_free": 0.26, "resid": (0, 1e-12)}),
    # RePaint: resampling removes much of the replacement bias (ILVR above: 0.80).
    ("repaint", "inpaint-clean", {"steps": 100, "jump_length": 10, "jump_n_sample": 10},  # 0.338
     {"z_free": 0.45, "resid": (0, 1e-12)}),
    ("repaint", "inpaint-noisy", {"steps": 100, "jump_length": 10, "jump_n_sample": 10},  # 0.124
     {"z_free": 0.2, "resid": (0, 1e-12)}),
]


@pytest.mark.parametrize(("name", "case_name", "kwargs", "bounds"), POSTERIOR_CASES,
                         ids=[f"{n}-{c}-{'-'.join(f'{k}{v}' for k, v in kw.items())}"
                              for n, c, kw, _ in POSTERIOR_CASES])
def test_posterior_statistics(name, case_name, kwargs, bounds):
    c = case(case_name)
    y = c.y.expand(N, *c.y.shape[1:]).clone()
    x = GUIDED[name](PRIOR, c.op, y, sigma_y=c.sigma_y, generator=torch.Generator().manual_seed(1), **kwargs)
    assert x.shape == (N, 1, 8, 8) and x.dtype == torch.float64
    err = errors(x, c)
    print(f"\n{name:8s} {case_name:14s} {kwargs}: " + ", ".join(f"{k} {v:.4f}" for k, v in err.items()))
    assert err["z_free"] < bounds["z_free"]
    if "z_known" in bounds:
        assert err["z_known"] < bounds["z_known"]
    lo, hi = bounds["resid"]
    assert lo <= err["resid"] <= hi


# -- the published algorithms in VP coordinates ------------------------------------------------

def vp_grid(steps: int) -> list[float]:
    """alpha_bar at the solver's levels; the ladder ends in sigma 0, alpha_bar 1 (the clean image)."""
    return [1 / (1 + s**2) for s in noise_levels(PRIOR, steps, "uniform")]


def vp_denoise(x_vp: Tensor, ab: float) -> Tensor:
    return PRIOR(x_vp / math.sqrt(ab), math.sqrt((1 - ab) / ab))


def vp_ddpm(x0: Tensor, x_vp: Tensor, ab: float, ab_prev: float, g: torch.Generator) -> Tensor:
    """The DDPM posterior q(x_{t-1} | x_t, x0) sample (Ho et al. eqs. 6-7) on a respaced grid."""
    alpha = ab / ab_prev
    beta = 1 - alpha
    mean = math.sqrt(ab_prev) * beta / (1 - ab) * x0 + math.sqrt(alpha) * (1 - ab_prev) / (1 - ab) * x_vp
    if ab_prev == 1:
        return mean
    var = beta * (1 - ab_prev) / (1 - ab)
    return mean + math.sqrt(var) * torch.randn(x_vp.shape, generator=g, dtype=x_vp.dtype)


def vp_norm_grad(op, x_vp: Tensor, y: Tensor, ab: float) -> tuple[Tensor, Tensor]:
    """(x0_hat, grad_{x_t} ||y - A x0_hat||) on VP iterates, as the DPS / MCG code computes it."""
    with torch.enable_grad():
        xg = x_vp.detach().requires_grad_(True)
        x0 = vp_denoise(xg, ab)
        norm = torch.linalg.vector_norm((y - op.A(x0)).flatten(1), dim=1).sum()
        (grad,) = torch.autograd.grad(norm, xg)
    return x0.detach(), grad


def vp_measurement(op, y: Tensor, ab: float, like: Tensor, g: torch.Generator) -> Tensor:
    """A x_t of a VP iterate at alpha_bar ab: sqrt(ab) y + sqrt(1 - ab) A z."""
    if ab == 1:
        return y
    z = torch.randn(like.shape, generator=g, dtype=like.dtype)
    return math.sqrt(ab) * y + math.sqrt(1 - ab) * op.A(z)


def reference(name: str, op, y: Tensor, steps: int, seed: int, **kw) -> Tensor:
    """DPS (scale on VP iterates), MCG, ILVR (official range_t test) and RePaint (official expanded
    jump schedule, one-step VP re-noising merged per climb) written in VP coordinates. Random draws in
    the same order as restora's solvers; the start is restora's x_T = sigma_max * z, mapped to VP."""
    g = torch.Generator().manual_seed(seed)
    abar = vp_grid(steps)
    shape = op.x_shape(y.shape)
    sigma0 = math.sqrt((1 - abar[0]) / abar[0])
    x = math.sqrt(abar[0]) * sigma0 * torch.randn(shape, generator=g, dtype=y.dtype)
    if name == "repaint":
        return reference_repaint(op, y, abar, x, g, steps, **kw)
    for i in range(steps):
        ab, ab_prev = abar[i], abar[i + 1]
        if name in ("dps", "mcg"):
            x0, grad = vp_norm_grad(op, x, y, ab)
            x = vp_ddpm(x0, x, ab, ab_prev, g) - kw.get("zeta", kw.get("alpha", 1.0)) * grad
        else:
            x = vp_ddpm(vp_denoise(x, ab), x, ab, ab_prev, g)
        if name == "mcg" or (name == "ilvr" and steps - 1 - i > kw.get("range_t", 0)):
            x = x + op.pinv(vp_measurement(op, y, ab_prev, x, g) - op.A(x))
    return x


def official_jump_times(t_T: int, jump_length: int, jump_n_sample: int) -> list[int]:
    """RePaint's get_schedule_jump_paper (guided_diffusion/scheduler.py), one timestep per entry."""
    jumps = {j: jump_n_sample - 1 for j in range(0, t_T - jump_length, jump_length)}
    t, ts = t_T, []
    while t >= 1:
        t -= 1
        ts.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump_length):
                t += 1
                ts.append(t)
    ts.append(-1)
    return ts


def reference_repaint(op, y, abar, x, g, steps, jump_length=10, jump_n_sample=10) -> Tensor:
    times = official_jump_times(steps, jump_length, jump_n_sample)
    ab_of = {t: abar[steps - 1 - t] for t in range(-1, steps)}  # timestep t -> alpha_bar
    mask = op.At(op.A(torch.ones_like(x)))
    i = 0
    while i + 1 < len(times):
        t, t_next = times[i], times[i + 1]
        if t_next < t:  # reverse step t -> t - 1, then paste the known region noised to t - 1
            x = vp_ddpm(vp_denoise(x, ab_of[t]), x, ab_of[t], ab_of[t_next], g)
            ab = ab_of[t_next]
            known = math.sqrt(ab) * op.pinv(y)
            if ab < 1:
                known = known + math.sqrt(1 - ab) * torch.randn(x.shape, generator=g, dtype=x.dtype)
            x = mask * known + (1 - mask) * x
            i += 1
        else:  # climb: q(x_{t'} | x_t) composed over the consecutive one-step climbs
            j = i
            while j + 1 < len(times) and times[j + 1] > times[j]:
                j += 1
            ratio = ab_of[times[j]] / ab_of[t]
            x = math.sqrt(ratio) * x + math.sqrt(1 - ratio) * torch.randn(x.shape, generator=g, dtype=x.dtype)
            i = j
    return x


REFERENCE_CASES = [
    ("dps", "inpaint-noisy", {"zeta": 0.7}),
    ("dps", "sr-clean", {"zeta": 1.0}),
    ("mcg", "inpaint-noisy", {"alpha": 0.5}),
    ("mcg", "sr-clean", {"alpha": 1.0}),
    ("ilvr", "sr-clean", {}),
    ("ilvr", "inpaint-noisy", {"range_t": 5}),
    ("repaint", "inpaint-noisy", {"jump_length": 3, "jump_n_sample": 3}),
]


@pytest.mark.parametrize(("name", "case_name", "kwargs"), REFERENCE_CASES)
def test_matches_published_vp_algorithm(name, case_name, kwargs):
    """restora's VE iterates, mapped to VP, follow the official VP algorithm draw for draw; so the
    step sizes (zeta, alpha) and the noised measurements mean what they mean in the papers."""
    c = case(case_name)
    y = c.y.expand(3, *c.y.shape[1:]).clone()
    steps = 20
    ref = reference(name, c.op, y, steps, seed=5, **kwargs)
    out = GUIDED[name](PRIOR, c.op, y, steps=steps, sigma_y=c.sigma_y,
                       generator=torch.Generator().manual_seed(5), **kwargs)
    assert (out - ref).abs().max() < 1e-8, (out - ref).abs().max()


def test_repaint_schedule_is_the_papers():
    levels = jump_schedule(250, 10, 10)
    assert levels[0] == 0 and levels[-1] == 250
    official = official_jump_times(250, 10, 10)
    assert repaint_nfe() == 2410 == sum(a > b for a, b in pairwise(official))
    # the compressed climbs of jump_schedule visit the official timesteps in the same order
    expanded = [levels[0]]
    for a, b in pairwise(levels):
        expanded += range(a + 1, b + 1) if b > a else range(a - 1, b - 1, -1)
    assert [250 - 1 - k for k in expanded] == official
    assert repaint_nfe(50, 10, 1) == 50
    with pytest.raises(RestoraError):
        jump_schedule(10, 0, 10)


# -- exact known pixels, determinism, callbacks ------------------------------------------------

@pytest.mark.parametrize(("name", "kwargs"), [
    ("repaint", {"steps": 20, "jump_length": 5, "jump_n_sample": 3}),
    ("mcg", {"steps": 20}),
    ("ilvr", {"steps": 20, "range_t": -1}),
])
def test_noiseless_inpainting_keeps_known_pixels(name, kwargs):
    c = case("inpaint-clean")
    y = c.y.expand(4, 1, 8, 8).clone()
    x = GUIDED[name](PRIOR, c.op, y, sigma_y=0.0, generator=torch.Generator().manual_seed(0), **kwargs)
    assert (c.op.A(x) - y).abs().max() < 1e-6


FAST = {"dps": {"steps": 10}, "mcg": {"steps": 10}, "ilvr": {"steps": 10},
        "repaint": {"steps": 10, "jump_length": 3, "jump_n_sample": 2}}


@pytest.mark.parametrize("name", sorted(GUIDED))
def test_seeded_runs_are_reproducible(name):
    c = case("inpaint-noisy")
    y = c.y.expand(2, 1, 8, 8).clone()

    def run(seed):
        return GUIDED[name](PRIOR, c.op, y, sigma_y=0.1, generator=torch.Generator().manual_seed(seed),
                            **FAST[name])

    a, b, other = run(3), run(3), run(4)
    assert torch.equal(a, b)
    assert (a - other).abs().max() > 1e-3
    assert (a[0] - a[1]).abs().max() > 1e-3  # the batch members get different noise


@pytest.mark.parametrize("name", sorted(GUIDED))
def test_callback_sees_every_denoiser_call(name):
    c = case("inpaint-noisy")
    calls = []
    out = GUIDED[name](PRIOR, c.op, c.y, sigma_y=0.1, generator=torch.Generator().manual_seed(0),
                       callback=calls.append, **FAST[name])
    expected = repaint_nfe(10, 3, 2) if name == "repaint" else 10
    assert [s.nfe for s in calls] == list(range(1, expected + 1))
    assert {s.total for s in calls} == {expected}
    assert all(s.x.shape == out.shape and s.x0.shape == out.shape for s in calls)


def test_dps_handles_a_nonlinear_operator():
    """DPS only needs A and autograd: JPEG (smooth rounding under autograd)."""
    op = JPEG(quality=20)
    y = op.A(PRIOR.sample(2, torch.Generator().manual_seed(0)).clamp(-1, 1))

    def misfit(zeta):
        x = dps(PRIOR, op, y, steps=50, sigma_y=0.0, zeta=zeta, generator=torch.Generator().manual_seed(1))
        assert x.shape == y.shape and bool(torch.isfinite(x).all())
        return float((op.A(x) - y).pow(2).mean())

    assert misfit(1.0) < 0.1 * misfit(0.0)  # measured 0.0084 vs 0.289


# -- a real network ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unet_prior():
    """The restora UNet ('tiny'), random weights; the zero-initialised output layers get small
    random values so that D depends on the network (and its gradient flows through it)."""
    prior = build_restora_prior(MODEL_SIZES["tiny"]).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    for p in prior.parameters():
        if not p.any():
            p.copy_(0.02 * torch.randn(p.shape, generator=g))
    return prior


@pytest.mark.parametrize("name", sorted(GUIDED))
def test_smoke_on_restora_unet(name, unet_prior):
    g = torch.Generator().manual_seed(0)
    x_true = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    op = Inpaint(random_mask(32, 32, 0.5, generator=g)) if name == "repaint" else AvgPoolSR(2)
    y = op.measure(x_true, 0.05, generator=g)
    kwargs = {"steps": 4, "jump_length": 2, "jump_n_sample": 2} if name == "repaint" else {"steps": 4}
    solver = solvers.get(name)
    solvers.check_compatible(name, op)
    x = solver(unet_prior, op, y, sigma_y=0.05, generator=g, **kwargs)
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
    assert bool(torch.isfinite(x).all())


# -- registry and bad input --------------------------------------------------------------------

def test_registry_flags():
    for name in GUIDED:
        assert solvers.get(name) is GUIDED[name]
    assert not solvers.info("dps").needs_linear and solvers.info("dps").differentiates_prior
    assert solvers.info("mcg").needs_linear and solvers.info("mcg").differentiates_prior
    assert solvers.info("ilvr").needs_linear and not solvers.info("ilvr").differentiates_prior
    assert solvers.info("repaint").masks_only
    with pytest.raises(RestoraError):
        solvers.check_compatible("repaint", AvgPoolSR(2))
    with pytest.raises(RestoraError):
        solvers.check_compatible("mcg", JPEG(10))


@pytest.mark.parametrize("op", [AvgPoolSR(2), Blur(gaussian_kernel(5, 1.0))], ids=["avgpool", "blur"])
def test_repaint_rejects_non_mask_operators(op):
    y = op.A(torch.zeros(1, 1, 8, 8))
    with pytest.raises(RestoraError, match="inpainting"):
        repaint(PRIOR, op, y, steps=5)


@pytest.mark.parametrize("name", sorted(GUIDED))
def test_bad_measurements_are_rejected(name):
    c = case("inpaint-noisy")
    bad = c.y.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(RestoraError, match="NaN"):
        GUIDED[name](PRIOR, c.op, bad, sigma_y=0.1, **FAST[name])
    with pytest.raises(RestoraError, match="sigma_y"):
        GUIDED[name](PRIOR, c.op, c.y, sigma_y=-0.1, **FAST[name])


def test_bad_keywords_are_rejected():
    c = case("inpaint-noisy")
    with pytest.raises(RestoraError, match="zeta"):
        dps(PRIOR, c.op, c.y, steps=5, zeta=-1.0)
    with pytest.raises(RestoraError, match="alpha"):
        mcg(PRIOR, c.op, c.y, steps=5, alpha=float("nan"))
    with pytest.raises(RestoraError, match="range_t"):
        ilvr(PRIOR, c.op, c.y, steps=5, range_t=-2)
    with pytest.raises(RestoraError, match="jump_n_sample"):
        repaint(PRIOR, c.op, c.y, steps=5, jump_n_sample=0)
    with pytest.raises(RestoraError, match="linear"):
        ilvr(PRIOR, JPEG(10), c.y, steps=5)
