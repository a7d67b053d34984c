"""Safe checkpoint loading: no code from pickles ever runs; .pt <-> .safetensors conversion."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restora.errors import RestoraError
from restora.priors.loaders import convert, load_state_dict, read_metadata, save_state_dict


class Payload:
    """Unpickling this calls ``open(marker, 'w')``: the file appears iff pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt"])
def test_malicious_pickle_is_refused(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    torch.save({"weight": torch.zeros(2), "payload": Payload(marker)}, path)
    assert not marker.exists()
    with pytest.raises(RestoraError, match="refusing to load"):
        load_state_dict(path)
    assert not marker.exists()


def test_payload_is_real(tmp_path: Path) -> None:
    """Control: the same file run through an unsafe load does execute its code."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"payload": Payload(marker)}, path)
    obj = torch.load(path, weights_only=False)
    obj["payload"].close()
    assert marker.exists()


def test_pt_to_safetensors_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = {"a.weight": torch.randn(4, 3, 3, 3), "a.bias": torch.randn(4),
             "emb": torch.randn(10, 8).half(), "idx": torch.arange(5)}
    src = tmp_path / "model.pt"
    torch.save({"ema": state, "step": 3}, src)  # nested checkpoints are unwrapped
    dst = convert(src, tmp_path / "model.safetensors")
    loaded = load_state_dict(dst)
    assert loaded.keys() == state.keys()
    for k, v in state.items():
        assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], v)
    assert read_metadata(dst)["converted_from"] == "model.pt"
    assert read_metadata(src) == {}


def test_shared_storage_is_saved(tmp_path: Path) -> None:
    w = torch.randn(6)
    out = save_state_dict({"w": w, "view": w[:3]}, tmp_path / "s.safetensors")
    assert torch.equal(load_state_dict(out)["view"], w[:3])


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(RestoraError, match="no such checkpoint"):
        load_state_dict(tmp_path / "missing.pt")
    with pytest.raises(RestoraError, match="no such checkpoint"):
        read_metadata(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(RestoraError, match="cannot read"):
        load_state_dict(tmp_path / "junk.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"garbage")
    with pytest.raises(RestoraError):
        load_state_dict(tmp_path / "junk.pt")
    torch.save({"step": 3, "lr": 0.1}, tmp_path / "nostate.pt")
    with pytest.raises(RestoraError, match="no state dict"):
        load_state_dict(tmp_path / "nostate.pt")
    with pytest.raises(RestoraError, match=r"\.safetensors"):
        save_state_dict({"w": torch.zeros(1)}, tmp_path / "out.pt")
