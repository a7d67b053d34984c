"""Blind deblurring: the kernel step recovers a known kernel from the true image, the projection makes a
kernel, the similarity measure is shift-invariant, and the classical L0 estimator finds a Levin kernel
from the blurred image alone, close enough that deconvolving with it nears the true kernel's result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from restora.errors import RestoraError
from restora.io import read_image
from restora.operators import Blur
from restora.operators.kernel_fit import centre_kernel, fit_kernel, kernel_similarity, project_kernel
from restora.operators.kernels import levin_kernel, motion_kernel

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "restora" / "data" / "sample.png"


def _gray() -> torch.Tensor:
    return read_image(SAMPLE).mean(1)[0]  # (H, W) on [0, 1]


def _blurred(x: torch.Tensor, k: torch.Tensor, sigma: float = 0.0, seed: int = 0) -> torch.Tensor:
    y = Blur(k).A(x[None, None])[0, 0]
    return y + sigma * torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("index", [2, 6])
def test_the_kernel_step_recovers_a_known_kernel_from_the_true_image(index):
    x, k = _gray(), levin_kernel(index)
    estimate = project_kernel(fit_kernel(x, _blurred(x, k, 0.005), 31))
    ncc, kpsnr = kernel_similarity(estimate, k)
    assert ncc > 0.98 and kpsnr > 40


def test_the_projection_makes_a_kernel():
    raw = torch.randn(9, 9, generator=torch.Generator().manual_seed(0))
    k = project_kernel(raw)
    assert k.min() >= 0 and abs(float(k.sum()) - 1) < 1e-6 and int((k > 0).sum()) < 81
    identity = project_kernel(-raw.abs())
    assert identity[4, 4] == 1 and identity.sum() == 1


def test_kernel_similarity_does_not_see_shifts_but_sees_shapes():
    k = motion_kernel(21, 0.6, torch.Generator().manual_seed(3))
    shifted = torch.roll(k, (2, -3), (0, 1))
    assert kernel_similarity(shifted, k)[0] > 0.999
    other = motion_kernel(21, 0.6, torch.Generator().manual_seed(4))
    assert kernel_similarity(other, k)[0] < 0.8
    centred = centre_kernel(shifted)
    assert kernel_similarity(centred, k)[0] > 0.999


def test_fit_kernel_refuses_what_it_cannot_fit():
    with pytest.raises(RestoraError, match="odd"):
        fit_kernel(torch.zeros(32, 32), torch.zeros(32, 32), 8)
    with pytest.raises(RestoraError, match="one"):
        fit_kernel(torch.zeros(32, 32), torch.zeros(16, 16), 5)


@pytest.mark.slow
def test_the_l0_estimator_finds_a_levin_kernel_from_the_blurred_image_alone():
    from restora.operators.blind_l0 import estimate_kernel

    x, k = _gray(), levin_kernel(1)
    y = _blurred(x, k, 0.01)
    estimate = estimate_kernel(y, 31)
    identity = torch.zeros(31, 31)
    identity[15, 15] = 1
    ncc = kernel_similarity(estimate, k)[0]
    assert ncc > 0.8 and ncc > kernel_similarity(identity, k)[0] + 0.3


def test_only_blind_solvers_take_an_unknown_kernel():
    from restora.operators import BlindBlur
    from restora.solvers import check_compatible

    with pytest.raises(RestoraError, match="blind solver"):
        check_compatible("diffpir", BlindBlur(15))
    with pytest.raises(RestoraError, match="deblur-blind"):
        check_compatible("blind-pnp", Blur(levin_kernel(1)))
    with pytest.raises(RestoraError, match="unknown until"):
        BlindBlur(15).A(torch.zeros(1, 3, 32, 32))
    with pytest.raises(RestoraError, match="odd"):
        BlindBlur(16)


def test_blind_pnp_restores_consistently_with_the_kernel_it_reports():
    """Re-blurring the output with the estimated kernel matches y within the noise; the estimate is a
    kernel close to the truth; one callback per announced NFE."""
    from restora.operators import BlindBlur
    from restora.priors import load
    from restora.solvers import get, info

    x = read_image(SAMPLE)[..., 64:192, 64:192] * 2 - 1
    k, sigma = levin_kernel(5), 0.02
    y = Blur(k).A(x) + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    op, calls = BlindBlur(15), []
    out = get("blind-pnp")(load("default"), op, y, sigma_y=sigma, rounds=1, callback=calls.append)
    assert len(calls) == info("blind-pnp").nfe(8, rounds=1) == 16
    assert op.estimate.shape == (1, 15, 15) and abs(float(op.estimate.sum()) - 1) < 1e-5
    residual = float((op.A(out) - y).pow(2).mean().sqrt())
    assert residual < 1.5 * sigma
    assert kernel_similarity(op.estimate[0], k)[0] > 0.8


def test_blind_dps_restores_consistently_with_the_kernel_it_reports():
    """BlindDPS with the bundled image and kernel priors, 100 steps at the scale the benchmark uses: the
    output re-blurred with the estimated kernel matches y within the noise, and the estimate is a kernel
    close to the truth (a few steps of guidance too weak leave both far off: 50 steps at zeta 1 give a
    residual of 2.7 sigma)."""
    from restora.operators import BlindBlur, gaussian_kernel
    from restora.priors import load
    from restora.solvers import get

    x = read_image(SAMPLE)[..., 64:128, 64:128] * 2 - 1
    k, sigma = gaussian_kernel(7, 1.5), 0.05
    y = Blur(k).A(x) + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    op = BlindBlur(9)
    out = get("blind-dps")(load("default"), op, y, steps=100, zeta=3.0,
                           generator=torch.Generator().manual_seed(0))
    assert op.estimate.shape == (1, 9, 9) and abs(float(op.estimate.sum()) - 1) < 1e-5
    assert float(op.estimate.min()) >= 0
    residual = float((op.A(out) - y).pow(2).mean().sqrt())
    assert residual < 1.5 * sigma
    assert kernel_similarity(op.estimate[0], k)[0] > 0.7


def test_restore_deblur_blind_writes_the_kernel_next_to_the_output(tmp_path, capsys):
    """A photo without a sidecar and without --solver: the blind default runs, noise and kernel estimated,
    both written; a non-blind solver on the task is refused before any work."""
    from cli_helpers import run
    from restora.io import write_image

    write_image(Blur(levin_kernel(5)).A(read_image(SAMPLE)[..., :64, :64]), tmp_path / "photo.png")
    code, errors, text = run(capsys, "restore", tmp_path / "photo.png", "--task", "deblur-blind",
                             "--task-opt", "size=7", "--sigma-y", "auto", "--opt", "rounds=0",
                             "--dtype", "fp32", "-o", tmp_path / "o")
    assert code == 0 and not errors, text
    kernel = np.load(tmp_path / "o" / "kernel" / "photo.npy")
    assert kernel.shape == (7, 7) and abs(kernel.sum() - 1) < 1e-5 and kernel.min() >= 0
    assert read_image(tmp_path / "o" / "kernel" / "photo.png").shape[-1] == 7 * (256 // 7)
    code, errors, _ = run(capsys, "restore", tmp_path / "photo.png", "--task", "deblur-blind",
                          "--solver", "diffpir", "-o", tmp_path / "x")
    assert code == 2 and "blind solver" in errors[0]
