"""Shared fixtures: the read-only data folder (../shared/data or $RESTORA_DATA) and the ADM fixture."""

from __future__ import annotations

import os
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


def save_tiny_prior(path: Path) -> Path:
    """A random-weight tiny restora prior (seed 0) saved at ``path``: the CLI's tests restore with it."""
    from restora.priors.loaders import save_restora_prior
    from restora.priors.unet import MODEL_SIZES, build_restora_prior

    with torch.random.fork_rng():
        torch.manual_seed(0)
        save_restora_prior(build_restora_prior(MODEL_SIZES["tiny"]), path)
    return path
