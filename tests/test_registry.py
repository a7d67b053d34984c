"""restora.priors.load / list_models / info: presets, files, configs, clear errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import MappingProxyType

import pytest
import torch

from restora.errors import RestoraError
from restora.priors import EDMPrior, Prior, VPEpsPrior, info, list_models, load, registry
from restora.priors.adm import adm_unet
from restora.priors.loaders import save_restora_prior, save_state_dict
from restora.priors.unet import UNetConfig, build_restora_prior


@pytest.fixture
def reference(adm_reference: dict) -> dict:
    """The original guided-diffusion UNet's outputs (conftest's ``adm_reference``)."""
    return adm_reference


@pytest.fixture
def ffhq_layout(reference: dict, tmp_path: Path) -> tuple[dict, Path, dict]:
    """The fixture's tiny ffhq-layout net saved as a plain .pt state dict."""
    entry = reference["adm_ffhq256_layout"]
    path = tmp_path / "tiny_ffhq.pt"
    torch.save(entry["state_dict"], path)
    return json.loads(entry["config"]), path, entry


def assert_reproduces(prior: Prior, entry: dict) -> None:
    assert isinstance(prior, VPEpsPrior)
    with torch.inference_mode():
        out = prior.net(entry["x"], entry["t"])
    assert (out - entry["out"]).abs().max() < 1e-4
    assert not any(p.requires_grad for p in prior.parameters()) and not prior.training


def test_load_file_with_config(ffhq_layout) -> None:
    config, path, entry = ffhq_layout
    assert_reproduces(load(path, config=config), entry)


def test_load_adm_json_config(ffhq_layout, tmp_path: Path) -> None:
    config, path, entry = ffhq_layout
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps(config))
    assert_reproduces(load(f"adm:{cfg_file}", path), entry)
    assert_reproduces(load("adm:" + json.dumps(config), path), entry)
    with pytest.raises(RestoraError, match="needs a weights file"):
        load(f"adm:{cfg_file}")


def test_load_preset_by_name_and_local_lookup(ffhq_layout, tmp_path: Path, monkeypatch) -> None:
    """A preset resolves its config, finds its file in $RESTORA_WEIGHTS, and bare paths are identified."""
    config, path, entry = ffhq_layout
    spec = registry.ModelSpec(name="tiny-ffhq", kind="adm", description="test", source="nowhere",
                              filenames=("tiny_ffhq.pt",), config=MappingProxyType(config))
    monkeypatch.setattr(registry, "PRESETS", MappingProxyType({"tiny-ffhq": spec}))
    monkeypatch.setenv("RESTORA_WEIGHTS", str(tmp_path))
    assert_reproduces(load("tiny-ffhq", path), entry)
    assert_reproduces(load("tiny-ffhq"), entry)
    assert_reproduces(load(path), entry)  # identified by its keys and shapes
    found = info("tiny-ffhq")
    assert found["available"] and found["path"] == str(path) and found["native_size"] == 256
    monkeypatch.setenv("RESTORA_WEIGHTS", str(tmp_path / "empty"))
    with pytest.raises(RestoraError, match="never downloads"):
        load("tiny-ffhq")


def test_wrong_keys_error_names_preset(ffhq_layout) -> None:
    _, path, _ = ffhq_layout
    with pytest.raises(RestoraError) as caught:
        load("adm-imagenet256-uncond", path)
    msg = str(caught.value)
    print(msg)
    assert "missing keys" in msg and "unexpected keys" in msg and "shape mismatches" in msg
    assert "input_blocks." in msg  # names actual keys
    assert "adm-ffhq256" in msg  # same key layout as that preset


def test_exact_preset_match_is_named() -> None:
    """Full-size preset weights (on the meta device, no memory) given to the other preset."""
    ffhq = adm_unet(dict(registry.PRESETS["adm-ffhq256"].config), "meta").state_dict()
    imagenet = adm_unet(dict(registry.PRESETS["adm-imagenet256-uncond"].config), "meta")
    with pytest.raises(RestoraError, match=r"those of preset 'adm-ffhq256'") as caught:
        registry.check_state_dict(imagenet, ffhq, "preset 'adm-imagenet256-uncond'", "adm-imagenet256-uncond")
    assert "missing keys, first: [" in str(caught.value)
    assert registry.identify_preset(ffhq) == "adm-ffhq256"
    registry.check_state_dict(imagenet, imagenet.state_dict(), "itself")


def test_unidentified_file(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(RestoraError, match="cannot tell which architecture"):
        load(path)
    with pytest.raises(RestoraError, match="two files"):
        load(path, path)


@pytest.mark.parametrize(("names", "file", "channels"), [
    (("default", "restora-natural"), registry.BUNDLED_FILE, 3),
    (("restora-kernel",), registry.KERNEL_FILE, 1)])
def test_bundled_priors(names: tuple[str, ...], file: str, channels: int) -> None:
    if (registry.WEIGHTS_DIR / file).is_file():
        for name in names:
            prior = load(name)
            assert isinstance(prior, EDMPrior) and prior.channels == channels
            x = torch.rand(1, channels, 31, 24) * 2 - 1
            with torch.inference_mode():
                assert prior(x, 0.1).shape == x.shape
            assert registry.info(name)["channels"] == channels
    else:
        with pytest.raises(RestoraError, match=r"bundled weights of .* are missing") as caught:
            load(names[0])
        assert "restora train --export" in str(caught.value)


def test_restora_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    prior = build_restora_prior(UNetConfig(channels=16, channel_mult=(1, 2), num_blocks=(1, 1), groups=8))
    path = save_restora_prior(prior, tmp_path / "mine.safetensors")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    for loaded in (load(path), load("restora-natural", path), load(str(path), dtype="bf16")):
        assert isinstance(loaded, EDMPrior)
        with torch.inference_mode():
            assert torch.allclose(loaded.configure()(x, 0.3), prior.eval()(x, 0.3), atol=1e-6)
    assert load(path, dtype="bf16").run_dtype == torch.bfloat16


def test_safetensors_adm_file(ffhq_layout, tmp_path: Path) -> None:
    config, _, entry = ffhq_layout
    path = save_state_dict(entry["state_dict"], tmp_path / "tiny.safetensors")
    assert_reproduces(load(path, config=config), entry)
    half = save_state_dict({k: v.half() for k, v in entry["state_dict"].items()}, tmp_path / "h.safetensors")
    prior = load(half, config=config)
    assert next(prior.parameters()).dtype == torch.float32


@pytest.mark.parametrize("name", ["https://example.com/x.pt", "hf:openai/diffusion", "hf://a/b"])
def test_no_downloads(name: str) -> None:
    with pytest.raises(RestoraError, match="never downloads"):
        load(name)


def test_unknown_name_lists_models() -> None:
    with pytest.raises(RestoraError, match="adm-ffhq256"):
        load("no-such-model")
    with pytest.raises(RestoraError, match="unknown model"):
        info("no-such-model")


def test_list_models() -> None:
    models = {m["name"]: m for m in list_models()}
    assert {"restora-natural", "adm-imagenet256-uncond", "adm-ffhq256"} <= set(models)
    assert models["adm-imagenet256-uncond"]["parameters"] == 552_814_086
    assert models["adm-ffhq256"]["parameters"] == 93_563_910
    assert models["restora-natural"]["aliases"] == ["default"]
    for m in models.values():
        assert {"name", "kind", "description", "parameters", "available", "source"} <= set(m)
        assert isinstance(m["available"], bool) and m["parameters"] > 0
    assert info("default")["name"] == "restora-natural"


def test_diffusers_missing_folder() -> None:
    with pytest.raises(RestoraError, match="no such local folder"):
        load("diffusers:/nonexistent/model")


@pytest.mark.skipif(importlib.util.find_spec("diffusers") is None, reason="diffusers not installed")
def test_diffusers_unet(tmp_path: Path) -> None:
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=32, block_out_channels=(32, 64), layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8).eval()
    unet.save_pretrained(tmp_path / "unet")
    prior = load(f"diffusers:{tmp_path / 'unet'}")
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(prior.net(x, torch.tensor([10.0])), unet(x, torch.tensor([10.0])).sample,
                              atol=1e-5)
        assert prior(x, 0.5).shape == x.shape
