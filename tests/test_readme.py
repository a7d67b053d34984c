"""The README's library example runs as written (on a small photo) and improves on its measurement."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from restora.io import read_image, write_image
from restora.metrics import psnr
from restora.priors.registry import BUNDLED_FILE

README = Path(__file__).resolve().parents[1] / "README.md"
WEIGHTS = resources.files("restora") / "weights" / BUNDLED_FILE


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="bundled weights not installed")
def test_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = python_blocks(README.read_text())
    clean = read_image(resources.files("restora") / "data" / "sample.png", channels=3)[..., 64:128, 64:128]
    write_image(clean, tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(block, str(README), "exec"), names)
    restored = read_image(tmp_path / "restored.png", channels=3)
    assert restored.shape == clean.shape
    blurred = ((names["y"] + 1) / 2).clamp(0, 1)
    assert float(psnr(restored, clean)[0]) > float(psnr(blurred, clean)[0]) + 1.0
