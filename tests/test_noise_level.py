"""Noise-level estimation (sigma_y="auto"): Chen et al.'s PCA estimate on synthetic noise of known sigma,
in the measurement domain (blurred, downsampled, the known pixels of a mask), with 8-bit clipping, and as
the solvers' and the command line's ``auto``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restora.errors import RestoraError
from restora.io import read_image
from restora.operators import BicubicSR, Blur, Inpaint, box_mask, gaussian_kernel
from restora.operators.mri import MRI
from restora.operators.noise_level import estimate_sigma_y, noise_std
from restora.priors.gaussian import GaussianPrior
from restora.solvers import get

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "restora" / "data" / "sample.png"


def _image() -> torch.Tensor:
    return read_image(SAMPLE) * 2 - 1  # restora's own photo, on [-1, 1]


def _noisy(x: torch.Tensor, sigma_255: float, seed: int = 0, eight_bit: bool = False) -> torch.Tensor:
    sigma = 2 * sigma_255 / 255
    y = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    if eight_bit:
        y = (((y + 1) / 2).clamp(0, 1) * 255).round() / 255 * 2 - 1
    return y


@pytest.mark.parametrize("sigma_255", [5, 15, 50])
def test_the_estimate_is_within_five_percent_on_a_photo(sigma_255):
    x = _image()
    estimate = noise_std(_noisy(x, sigma_255)) * 255 / 2
    assert abs(estimate.item() / sigma_255 - 1) < 0.05


def test_batched_estimates_are_per_image():
    x = _image()
    y = torch.cat([_noisy(x, 5), _noisy(x.flip(-1), 25, seed=1)])
    estimate = noise_std(y) * 255 / 2
    assert estimate.shape == (2,) and abs(estimate[0] - 5) < 0.3 and abs(estimate[1] - 25) < 1.2


def test_clipped_8_bit_files_are_not_read_as_less_noise():
    """Strong noise clips at 0 and 255; the plain estimate on every patch would be far too low."""
    x = _image()
    y = _noisy(x, 50, eight_bit=True)
    estimate = noise_std(y).item() * 255 / 2
    assert abs(estimate / 50 - 1) < 0.1
    from restora.operators import noise_level

    first = noise_level._pca_estimate(y[0], torch.ones_like(y[0, :1]), 0.0).item() * 255 / 2
    assert estimate > first  # the second pass removes part of the clipping's downward bias


@pytest.mark.parametrize("op", [Blur(gaussian_kernel(25, 2.0)), BicubicSR(2)], ids=["blur", "sr2"])
def test_the_estimate_works_in_the_measurement_domain(op):
    y = op.measure(_image(), 2 * 15 / 255, torch.Generator().manual_seed(3))
    assert abs(estimate_sigma_y(op, y).item() * 255 / 2 / 15 - 1) < 0.05


def test_inpainting_uses_only_the_known_pixels():
    """The zeroed hole is not noise-free signal: with the mask it is left out, without it the estimate is
    wrong."""
    x = _image()
    h, w = x.shape[-2:]
    op = Inpaint(box_mask(h, w, min(h, w) // 2))
    y = op.measure(x, 2 * 15 / 255, torch.Generator().manual_seed(4))
    assert abs(estimate_sigma_y(op, y).item() * 255 / 2 / 15 - 1) < 0.05


def test_non_image_measurements_are_refused_with_the_fix():
    op = MRI(torch.ones(32, 32))
    with pytest.raises(RestoraError, match="give sigma_y"):
        estimate_sigma_y(op, op.A(torch.zeros(1, 1, 32, 32)))
    with pytest.raises(RestoraError, match="give sigma_y"):
        noise_std(torch.zeros(1, 3, 6, 6))  # too small for any patch statistics


def test_a_solver_given_auto_runs_with_the_estimate():
    """sigma_y="auto" is the estimate handed to the solver: the same output as passing it."""
    prior = GaussianPrior.natural_like(3, 64).float()
    op = Blur(gaussian_kernel(9, 1.5))
    x = torch.nn.functional.interpolate(_image(), size=(64, 64), mode="area")
    y = op.measure(x, 0.1, torch.Generator().manual_seed(5))
    sigma = estimate_sigma_y(op, y).item()
    assert abs(sigma / 0.1 - 1) < 0.15  # a 64 px image has few patches
    dpir = get("dpir")
    auto = dpir(prior, op, y, sigma_y="auto", steps=4, x8=False)
    given = dpir(prior, op, y, sigma_y=sigma, steps=4, x8=False)
    torch.testing.assert_close(auto, given)


def test_restore_sigma_y_auto_estimates_each_measurement_and_records_it(tmp_path, capsys):
    """`restora restore --sigma-y auto`: the sidecar's level is not used, each file's estimate is printed,
    handed to the solver and written to the summary; the run's settings record 'auto'."""
    import json

    from cli_helpers import run, tiny_prior
    from restora.cli.outputs import read_rows
    from restora.io import write_image

    write_image((_image() + 1) / 2, tmp_path / "clean" / "a.png")
    assert run(capsys, "degrade", tmp_path / "clean", "--task", "deblur-gauss", "--sigma-y", "0.1",
               "-o", tmp_path / "m")[0] == 0
    weights = tiny_prior(tmp_path / "tiny.safetensors")
    code, errors, text = run(capsys, "restore", tmp_path / "m", "--sigma-y", "auto", "--solver", "dpir",
                             "--steps", "2", "--prior", weights, "-o", tmp_path / "o")
    assert code == 0 and not errors and "a.png: sigma_y estimated" in text
    (row,) = read_rows(tmp_path / "o" / "summary.csv")
    assert abs(float(row["sigma_y"]) / 0.1 - 1) < 0.05 and row["sigma_y_estimated"] == "True"
    record = json.loads((tmp_path / "o" / "run.json").read_text())
    assert "auto" in json.dumps(record)
    code, errors, _ = run(capsys, "restore", tmp_path / "m", "--sigma-y", "often", "-o", tmp_path / "x")
    assert code == 2 and "a number or 'auto'" in errors[0]
