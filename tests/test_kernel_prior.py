"""The kernel prior: its training distribution (random kernels, never the Levin09 test kernels), the kernel
<-> image mapping, `restora train --kernels` (objective decreases, export says what it trained on), the
bundled prior denoising kernels it never saw, and the prior pulling the kernel fit."""

from __future__ import annotations

import pytest
import torch

from restora.cli.train import main
from restora.errors import RestoraError
from restora.operators import Blur
from restora.operators.kernel_fit import fit_kernel, kernel_similarity
from restora.operators.kernels import image_to_kernel, kernel_to_image, levin_kernel, random_kernel
from restora.priors import registry
from restora.priors.loaders import read_metadata
from restora.train import TrainConfig, build_model, export, train
from restora.train.data import KernelBank, kernel_validation_set


def test_random_kernels_are_kernels_of_both_kinds_and_reproducible():
    draws = [random_kernel(31, torch.Generator().manual_seed(s)) for s in range(40)]
    assert all(k.shape == (31, 31) and abs(float(k.sum()) - 1) < 1e-5 and float(k.min()) >= 0 for k in draws)
    smooth = [bool((k > 0).all()) for k in draws]  # Gaussians cover the grid, camera shakes do not
    assert 0 < sum(smooth) < len(draws)
    assert torch.equal(draws[3], random_kernel(31, torch.Generator().manual_seed(3)))
    with pytest.raises(RestoraError, match="odd"):
        random_kernel(30)


def test_kernel_images_map_back_to_the_kernel():
    k = random_kernel(31, torch.Generator().manual_seed(1))
    z = kernel_to_image(k)
    assert float(z.max()) == pytest.approx(1.0) and float(z.min()) == pytest.approx(-1.0)
    assert torch.allclose(image_to_kernel(z), k, atol=1e-7)
    delta = image_to_kernel(-torch.ones(2, 5, 5))  # all background: no blur
    assert torch.equal(delta[:, 2, 2], torch.ones(2)) and float(delta.sum()) == 2


def test_the_kernel_bank_hands_out_rotated_kernel_images_and_refreshes():
    gen = torch.Generator().manual_seed(0)
    bank = KernelBank(15, gen, pool=8, refresh=4)
    before = bank.pool.clone()
    batch = bank.sample(5, gen)
    assert batch.shape == (5, 1, 15, 15) and float(batch.amax(dim=(2, 3)).min()) == pytest.approx(1.0)
    assert not torch.equal(before, bank.pool)
    assert kernel_validation_set(15, 3).shape == (3, 1, 15, 15)


def _denoising_error(prior, images: torch.Tensor, sigma: float) -> float:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return float((prior(images + sigma * noise, sigma) - images).pow(2).mean())


def test_training_on_kernels_lowers_the_denoising_error_and_export_records_it(tmp_path):
    cfg = TrainConfig(kernels=15, out=str(tmp_path / "run"), model="tiny", steps=60, batch_size=16, lr=2e-3,
                      warmup=5, ckpt_every=60, val_every=60, log_every=20, ema_decay=0.9, threads=1)
    val = kernel_validation_set(15, 16, seed=99)
    start = _denoising_error(build_model(cfg), val, 0.3)
    checkpoint = train(cfg, progress=False)
    weights = export(checkpoint, tmp_path / "k.safetensors")
    from restora.priors import load

    trained = load(str(weights))
    assert trained.channels == 1
    assert _denoising_error(trained, val, 0.3) < 0.5 * start
    assert read_metadata(weights)["train_data"] == "blur kernels 15x15 (random_kernel)"


@pytest.mark.parametrize("argv", [["--kernels", "4"], ["--kernels", "15", "--data", "photos"]])
def test_train_refuses_a_kernel_run_it_cannot_do(argv, tmp_path):
    with pytest.raises(RestoraError, match="kernels"):
        main([*argv, "--out", str(tmp_path / "r")])


def test_a_kernel_run_refuses_to_start_from_an_image_prior_and_back(tmp_path):
    image_prior = str(registry.WEIGHTS_DIR / registry.BUNDLED_FILE)
    with pytest.raises(RestoraError, match="is an image prior"):
        main(["--kernels", "15", "--init-from", image_prior, "--out", str(tmp_path / "k")])
    if BUNDLED.is_file():
        with pytest.raises(RestoraError, match="is a kernel prior"):
            main(["--data", str(tmp_path), "--init-from", str(BUNDLED), "--out", str(tmp_path / "i")])


def test_the_fit_is_pulled_towards_the_prior_estimate():
    x = torch.rand(64, 64, generator=torch.Generator().manual_seed(0))
    k = levin_kernel(3)
    y = Blur(k).A(x[None, None])[0, 0]
    target = random_kernel(15, torch.Generator().manual_seed(2))
    free = fit_kernel(x, y, 15, gamma=1e-4)
    pulled = fit_kernel(x, y, 15, gamma=1e3, towards=target)
    assert kernel_similarity(free, k)[0] > 0.99
    assert float((pulled - target).abs().max()) < 1e-2


BUNDLED = registry.WEIGHTS_DIR / registry.KERNEL_FILE


@pytest.mark.skipif(not BUNDLED.is_file(), reason="the bundled kernel prior is not in this checkout")
def test_the_bundled_kernel_prior_denoises_the_levin_kernels_it_never_saw():
    """Levin09's real camera shakes (held out of training) come out of the prior closer to the truth than the
    noisy input went in, at every noise level the blind solvers use."""
    from restora.priors import load

    prior = load("restora-kernel")
    truth = torch.stack([torch.nn.functional.pad(levin_kernel(i), [(31 - levin_kernel(i).shape[0]) // 2] * 4)
                         for i in range(1, 9)])
    images = kernel_to_image(truth)[:, None]
    for sigma in (0.1, 0.3, 1.0):
        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            out = image_to_kernel(prior(images + sigma * noise, sigma)[:, 0])
        noisy = image_to_kernel((images + sigma * noise)[:, 0])
        for i in range(8):
            better = kernel_similarity(out[i], truth[i])[0] > kernel_similarity(noisy[i], truth[i])[0]
            assert better, (sigma, i)
