"""Shared fixtures: the read-only data folder (../shared/data or $RESTORA_DATA), the ADM fixture, and
benchmarks/ scripts imported as modules."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch


def shared_data_dir() -> Path:
    """$RESTORA_DATA, else ../shared/data next to the repository."""
    env = os.environ.get("RESTORA_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder not available ({path})")
    return path


@pytest.fixture(scope="session")
def adm_reference(shared_data: Path) -> dict:
    path = shared_data / "fixtures" / "adm_reference.pt"
    if not path.is_file():
        pytest.skip(f"ADM reference fixture not available ({path})")
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def one_thread():
    """In-process CLI runs share two busy cores: one torch thread for the module (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def bench_module(name: str):
    """A benchmarks/ script imported as a module (they import their neighbours by name): a generator for
    a fixture to yield from."""
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))
        sys.modules.pop(name, None)
