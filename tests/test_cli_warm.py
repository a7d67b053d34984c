"""`restora restore --init`: warm starts from a named estimate, a method, or a folder of estimates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import save_tiny_prior
from restora.cli import main
from restora.experiments.warm import WARM_DEFAULTS

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny.safetensors (a random tiny prior), clean/ (two smooth 32x32 images) and their noiseless sr4
    measurements in m/ (with sidecars)."""
    root = tmp_path_factory.mktemp("warm")
    save_tiny_prior(root / "tiny.safetensors")
    rng = np.random.default_rng(0)
    (root / "clean").mkdir()
    for i in range(2):
        coarse = Image.fromarray((rng.random((4, 4, 3)) * 255).astype(np.uint8))
        coarse.resize((32, 32), Image.BILINEAR).save(root / "clean" / f"im{i}.png")
    assert main(["degrade", str(root / "clean"), "--task", "sr4", "-o", str(root / "m"), "-q"]) == 0
    return root


def psnrs(out: Path) -> list[float]:
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["status"] == "ok" for r in rows), rows
    return [float(r["psnr"]) for r in rows]


def restore(work: Path, out: str, *args: str) -> int:
    return main(["restore", str(work / "m"), "--prior", str(work / "tiny.safetensors"), "--reference",
                 str(work / "clean"), "-o", str(work / out), "--steps", "2", "-q", *args])


def test_a_folder_of_estimates_started_at_the_lowest_level_is_kept(work: Path) -> None:
    """Started at the prior's lowest noise level from the clean images themselves, the random prior cannot
    spoil them: the outputs are the estimates (a cold start with that prior gives noise)."""
    assert restore(work, "cold") == 0
    assert restore(work, "warm", "--init", str(work / "clean"), "--opt", "sigma_start=0.01") == 0
    assert min(psnrs(work / "warm")) > 35 > max(psnrs(work / "cold"))


@pytest.mark.parametrize("init", ["pinv", "classical", "auto"])
def test_named_estimates_start_at_the_measured_level(work: Path, init: str) -> None:
    """Without --opt sigma_start the measured start of the task family is used (and with auto its estimate,
    ladder and NFE), as summary.csv and run.json say."""
    measured = WARM_DEFAULTS["diffpir"]["sr"]
    args = ("--init", init) if init == "auto" else ("--init", init, "--steps", "2")
    assert main(["restore", str(work / "m"), "--prior", str(work / "tiny.safetensors"), "--reference",
                 str(work / "clean"), "-o", str(work / f"w_{init}"), "-q", *args]) == 0
    assert len(psnrs(work / f"w_{init}")) == 2
    used = json.loads((work / f"w_{init}" / "run.json").read_text())["solver_settings"]["sr"]
    assert used["sigma_start"] == measured["sigma_start"] and used["spacing"] == measured["spacing"]
    assert used["steps"] == (measured["steps"] if init == "auto" else 2)


@pytest.mark.parametrize(("args", "needle"), [
    (["--init", "bogus"], "unknown warm start 'bogus'"),
    (["--init", "pinv", "--solver", "dpir"], "dpir has no warm start"),
    (["--init", "nosolver@default"], "unknown solver 'nosolver'"),
])
def test_bad_warm_starts_are_usage_errors(work: Path, capsys: pytest.CaptureFixture, args: list[str],
                                          needle: str) -> None:
    assert restore(work, "bad", *args) == 2
    assert needle in capsys.readouterr().err
    assert not (work / "bad").exists() or not list((work / "bad").glob("*.png"))
