"""`--compile auto`: the rule that compiles the prior only where the run's calls repay the compilation, and
where torch keeps compiled graphs between processes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restora.cli.runtime import persistent_compile_cache
from restora.priors import compiling
from restora.priors.compiling import compile_pays, image_calls


def test_work_is_counted_in_256_px_single_image_calls():
    assert image_calls(10, 4, 128, 128) == pytest.approx(10)
    assert image_calls(20, 1, 512, 512) == pytest.approx(80)


def test_compiling_pays_only_past_the_measured_break_even_on_cpu(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(compiling, "BREAK_EVEN_CALLS", {"adm-ffhq256": 30.0})
    cpu = torch.device("cpu")
    assert compile_pays("adm-ffhq256", cpu, 31) and not compile_pays("adm-ffhq256", cpu, 29)
    assert not compile_pays("restora-natural", cpu, 1e9)  # not measured faster: never by default
    assert not compile_pays("adm-ffhq256", torch.device("cuda"), 1e9)  # measured on CPU only


def test_the_compile_cache_is_persistent_unless_the_user_chose_one(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "")  # unset for the function, restored afterwards
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert persistent_compile_cache() == str(tmp_path / "restora" / "torch-compile")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/somewhere/else")
    assert persistent_compile_cache() == "/somewhere/else"
