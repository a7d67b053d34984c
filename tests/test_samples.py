"""Several restorations per image in one batched solve (``restora.solvers.restore_samples``)."""

from __future__ import annotations

import pytest
import torch

from restora.errors import RestoraError
from restora.operators import Blur, Compose, Inpaint, gaussian_kernel, random_mask
from restora.priors.gaussian import GaussianPrior, gaussian_posterior
from restora.solvers import restore_samples

SIZE = 8


def masks(n: int) -> torch.Tensor:
    return torch.cat([random_mask(SIZE, SIZE, 0.5, torch.Generator().manual_seed(10 + i))
                        for i in range(n)])


@pytest.mark.parametrize("make", [
    lambda m: Inpaint(m),
    lambda m: Compose(Blur(gaussian_kernel(3, 0.8)), Inpaint(m)),
    lambda m: Inpaint(m[:1]),  # one shared mask
], ids=["masks", "blur-then-masks", "shared-mask"])
def test_repeated_operator_acts_on_each_copy_like_the_original(make):
    op, s = make(masks(3)), 4
    x = torch.randn(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    rep = op.repeat_samples(s)
    torch.testing.assert_close(rep.A(x.repeat_interleave(s, 0)), op.A(x).repeat_interleave(s, 0))
    y = op.A(x)
    torch.testing.assert_close(rep.At(y.repeat_interleave(s, 0)), op.At(y).repeat_interleave(s, 0))


def test_samples_keep_their_own_images_known_pixels_and_average_to_its_posterior_mean():
    prior = GaussianPrior.natural_like(3, SIZE)
    m = masks(2)
    op = Inpaint(m)
    x_true = prior.sample(2, torch.Generator().manual_seed(1))
    y = op.measure(x_true, 0.0)
    draws = restore_samples("ddnm", prior, op, y, samples=200, steps=50, sigma_y=0.0,
                            generator=torch.Generator().manual_seed(0))
    assert draws.shape == (2, 200, 3, SIZE, SIZE)
    assert draws[:, 0].sub(draws[:, 1]).abs().amax() > 0.1  # independent draws, not copies
    for i in range(2):
        known = m[i].expand(3, SIZE, SIZE).bool()
        assert draws[i][:, known].sub(y[i][known]).abs().amax() < 1e-4
        mean, cov = gaussian_posterior(prior, Inpaint(m[i:i + 1]), y[i:i + 1], 1e-4)
        std = cov.diagonal().sqrt().view(mean.shape[1:])
        informative = std > 0.02
        err = ((draws[i].mean(0) - mean[0]) / std)[informative].abs().mean()
        other = ((draws[1 - i].mean(0) - mean[0]) / std)[informative].abs().mean()
        print(f"image {i}: mean |err| / std {err:.3f} (other image's draws: {other:.3f})")
        assert err < 0.3 < other


def test_the_mean_of_draws_is_closer_to_the_truth_than_one_draw():
    prior = GaussianPrior.natural_like(3, SIZE)
    op = Inpaint(masks(1))
    x_true = prior.sample(4, torch.Generator().manual_seed(5))
    y = op.measure(x_true, 0.1, torch.Generator().manual_seed(6))
    draws = restore_samples("diffpir", prior, op, y, samples=16, steps=30, sigma_y=0.1,
                            generator=torch.Generator().manual_seed(0))
    one = (draws[:, 0] - x_true).pow(2).mean()
    mean = (draws.mean(1) - x_true).pow(2).mean()
    print(f"mse: one draw {one:.4f}, mean of 16 {mean:.4f}")
    assert mean < 0.75 * one  # in theory one draw has twice the posterior-mean error


@pytest.mark.parametrize("samples", [0, -1, 1.5])
def test_bad_sample_count_is_refused(samples):
    prior = GaussianPrior.natural_like(3, SIZE)
    with pytest.raises(RestoraError, match="samples"):
        restore_samples("diffpir", prior, Inpaint(masks(1)), torch.zeros(1, 3, SIZE, SIZE), samples=samples)
