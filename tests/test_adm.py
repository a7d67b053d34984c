"""The guided-diffusion ADM UNet: reproduction of the original network's outputs, layout, wrapping."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.priors.adm import (
    ADMConfig,
    AttentionBlock,
    adm_unet,
    build_adm_prior,
    count_parameters,
    timestep_embedding,
)
from restora.priors.base import VPEpsPrior, cpu_has_bf16, fast_runtime, vp_eps
from restora.priors.registry import PRESETS
from restora.priors.unet import UNetConfig, build_restora_prior
from restora.schedules import VPSchedule

LAYOUTS = ("adm_imagenet256_layout", "adm_ffhq256_layout")


@pytest.fixture
def reference(adm_reference: dict) -> dict:
    """The original guided-diffusion UNet's outputs (conftest's ``adm_reference``)."""
    return adm_reference


def fixture_prior(reference: dict, layout: str) -> VPEpsPrior:
    entry = reference[layout]
    prior = build_adm_prior(json.loads(entry["config"]))
    prior.net.load_state_dict(entry["state_dict"], strict=True)
    return prior.requires_grad_(False)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_reproduces_original_unet(reference: dict, layout: str) -> None:
    entry = reference[layout]
    prior = fixture_prior(reference, layout)
    with torch.inference_mode():
        out = prior.net(entry["x"], entry["t"])
    err = (out - entry["out"]).abs().max().item()
    print(f"{layout}: max abs error vs guided-diffusion = {err:.3g} (output scale "
          f"{entry['out'].abs().max().item():.3g})")
    assert out.shape == entry["out"].shape == (2, 6, 64, 64)
    assert err < 1e-4


@pytest.mark.parametrize("layout", LAYOUTS)
def test_strict_layout(reference: dict, layout: str) -> None:
    entry = reference[layout]
    net = adm_unet(json.loads(entry["config"]), "meta")
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in entry["state_dict"].items()}
    assert ours == theirs
    state = dict(entry["state_dict"])
    state.pop("out.2.bias")
    with pytest.raises(RuntimeError, match=r"out\.2\.bias"):
        fixture_prior(reference, layout).net.load_state_dict(state, strict=True)


def test_vp_eps_round_trip(reference: dict) -> None:
    """Wrapping as D(x, sigma) and unwrapping with vp_eps gives back the raw eps at integer t."""
    entry = reference["adm_imagenet256_layout"]
    prior = fixture_prior(reference, "adm_imagenet256_layout")
    with torch.inference_mode():
        eps = vp_eps(prior, entry["x"], entry["t"])
    err = (eps - entry["out"][:, :3]).abs().max().item()
    print(f"vp_eps round trip: max abs error {err:.3g}")
    assert err < 1e-4


def test_fractional_timesteps(reference: dict) -> None:
    entry = reference["adm_ffhq256_layout"]
    prior = fixture_prior(reference, "adm_ffhq256_layout")
    x = entry["x"][:1]
    with torch.inference_mode():
        lo, mid, hi = (prior.net(x, torch.tensor([t])) for t in (10.0, 10.5, 11.0))
    assert torch.isfinite(mid).all()
    # t is not rounded (the half step differs from both neighbours) and the output is continuous in t
    step = (hi - lo).abs().max()
    assert (mid - lo).abs().max() > 0 and (mid - hi).abs().max() > 0
    assert (mid - lo).abs().max() < 2 * step and (mid - hi).abs().max() < 2 * step
    emb = timestep_embedding(torch.tensor([10.5]), 6)
    freqs = [math.exp(-math.log(10000) * i / 3) for i in range(3)]
    want = [math.cos(10.5 * f) for f in freqs] + [math.sin(10.5 * f) for f in freqs]
    assert torch.allclose(emb[0], torch.tensor(want), atol=1e-6)
    assert timestep_embedding(torch.tensor([3.0]), 7).shape == (1, 7)


def test_odd_size_is_padded(reference: dict) -> None:
    prior = fixture_prior(reference, "adm_ffhq256_layout")
    assert prior.size_multiple == 32 and prior.native_size == 256
    x = torch.rand(1, 3, 60, 70) * 2 - 1
    with torch.inference_mode():
        out = prior(x, 0.3)
    assert out.shape == x.shape and torch.isfinite(out).all()


def naive_attention(qkv: Tensor, heads: int, legacy: bool) -> Tensor:
    """Reference einsum attention of guided-diffusion's QKVAttention(Legacy) (written independently)."""
    b, width, n = qkv.shape
    ch = width // (3 * heads)
    if legacy:
        q, k, v = qkv.reshape(b * heads, 3 * ch, n).split(ch, dim=1)
    else:
        q, k, v = (t.reshape(b * heads, ch, n) for t in qkv.chunk(3, dim=1))
    w = torch.einsum("bct,bcs->bts", q, k) / math.sqrt(ch)
    return torch.einsum("bts,bcs->bct", w.softmax(-1), v).reshape(b, -1, n)


@pytest.mark.parametrize("new_order", [False, True])
def test_attention_orders(new_order: bool) -> None:
    torch.manual_seed(0)
    block = AttentionBlock(64, num_heads=4, use_new_attention_order=new_order)
    torch.nn.init.normal_(block.proj_out.weight, std=0.1)
    x = torch.randn(2, 64, 5, 6)
    with torch.no_grad():
        qkv = block.qkv(block.norm(x.reshape(2, 64, -1)))
        want = x + block.proj_out(naive_attention(qkv, 4, not new_order)).reshape(x.shape)
        got = block(x)
    assert (got - want).abs().max() < 1e-5
    assert AttentionBlock(64, num_heads=4, num_head_channels=16).num_heads == 4


def test_preset_parameter_counts() -> None:
    counts = {name: count_parameters(adm_unet(dict(PRESETS[name].config), "meta"))
              for name in ("adm-imagenet256-uncond", "adm-ffhq256")}
    print(f"parameter counts: {counts}")
    assert counts == {"adm-imagenet256-uncond": 552_814_086, "adm-ffhq256": 93_563_910}


def test_variants_build_and_run() -> None:
    """Class-conditional, plain add-norm, conv resampling and the new attention order all run."""
    cfg = dict(image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,2",
               attention_resolutions="16", class_cond=True, num_classes=10, use_scale_shift_norm=False,
               resblock_updown=False, use_new_attention_order=True, learn_sigma=False)
    torch.manual_seed(0)
    net = adm_unet(cfg)
    keys = net.state_dict()
    assert keys["label_emb.weight"].shape == (10, 128)
    assert "input_blocks.2.0.op.weight" in keys and "output_blocks.1.2.conv.weight" in keys
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = net(x, torch.tensor([5.0, 500.0]), y=torch.tensor([1, 2]))
        assert out.shape == (2, 3, 32, 32)
        with pytest.raises(RestoraError, match="class-conditional"):
            net(x, 5.0)
        net.class_label = 3
        assert net(x, 5.0).shape == out.shape


def test_config_handling() -> None:
    assert ADMConfig(image_size=256).mult == (1, 1, 2, 2, 4, 4)
    assert ADMConfig(image_size=128).mult == (1, 1, 2, 3, 4)
    assert ADMConfig(image_size=64).mult == (1, 2, 3, 4)
    assert ADMConfig(image_size=256, attention_resolutions="32,16,8").attention_ds == (8, 16, 32)
    assert ADMConfig.from_dict({"image_size": 256, "attention_resolutions": 16}).attention_ds == (16,)
    assert ADMConfig.from_dict({"image_size": 64, "learn_sigma": True}).out_channels == 6
    assert ADMConfig.from_dict({"image_size": 256, "use_checkpoint": True}).size_multiple == 32
    with pytest.raises(RestoraError, match="unknown ADM config keys"):
        ADMConfig.from_dict({"num_chanels": 64})
    with pytest.raises(RestoraError, match="channel_mult"):
        ADMConfig.from_dict({"image_size": 100})
    with pytest.raises(RestoraError, match="predict_xstart"):
        ADMConfig.from_dict({"predict_xstart": True})
    sched = ADMConfig().schedule()
    assert torch.allclose(sched.betas, VPSchedule.linear().betas)


# ---------------------------------------------------------------------------- runtime knobs

# measured relative errors: D <= 2.4e-4, eps ~3e-3 (ADM fixture); D <= 8e-3, eps <= 1.1e-2 (restora UNet)
BF16_REL_TOL = 2e-2


def random_restora_prior():
    torch.manual_seed(0)
    prior = build_restora_prior(UNetConfig(channels=16, channel_mult=(1, 2, 2), num_blocks=(1, 1, 1),
                                           groups=8))
    with torch.no_grad():
        for p in prior.parameters():  # the zero-initialised output convs would make D trivial
            p.add_(torch.randn_like(p) * 0.05)
    return prior.eval().requires_grad_(False)


@pytest.fixture(params=["adm", "restora"])
def knob_prior(request, reference: dict):
    if request.param == "adm":
        return fixture_prior(reference, "adm_ffhq256_layout")
    return random_restora_prior()


def rel(a: Tensor, b: Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize("sigma", [0.1, 1.0])
def test_bf16_autocast(knob_prior, sigma: float) -> None:
    torch.manual_seed(1)
    x = (torch.rand(1, 3, 32, 32) * 2 - 1) + sigma * torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        ref, ref_eps = knob_prior.configure()(x, sigma), knob_prior.eps(x, sigma)
        out, out_eps = knob_prior.configure(dtype="bf16")(x, sigma), knob_prior.eps(x, sigma)
    knob_prior.configure()
    err, err_eps = rel(out, ref), rel(out_eps, ref_eps)
    print(f"{type(knob_prior.net).__name__} bf16 vs fp32 at sigma {sigma}: relative error of D {err:.2e}, "
          f"of eps {err_eps:.2e}")
    assert out.dtype == x.dtype and err < BF16_REL_TOL and err_eps < BF16_REL_TOL


def test_channels_last(knob_prior) -> None:
    torch.manual_seed(2)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.inference_mode():
        ref = knob_prior.configure()(x, 0.5)
        out = knob_prior.configure(channels_last=True)(x, 0.5)
    assert (out - ref).abs().max() < 1e-5


def test_fast_runtime_agrees_with_fp32(knob_prior) -> None:
    dtype, channels_last = fast_runtime("cpu")
    assert dtype in ("bf16", "fp32") and channels_last
    assert fast_runtime("meta") == ("fp32", True)  # nothing known about the device: no autocast
    torch.manual_seed(4)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        ref = knob_prior.configure()(x, 0.3)
        out = knob_prior.configure(dtype=dtype, channels_last=channels_last)(x, 0.3)
    knob_prior.configure(dtype="auto", channels_last=None)  # resolved for the device of the weights
    assert (knob_prior.dtype_name, knob_prior.channels_last) == (dtype, channels_last)
    knob_prior.configure()
    assert out.dtype == x.dtype and out.is_contiguous() and rel(out, ref) < BF16_REL_TOL


@pytest.mark.slow
def test_compile(knob_prior) -> None:
    torch.manual_seed(3)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        ref = knob_prior.configure()(x, 0.5)
        out = knob_prior.configure(compile=True)(x, 0.5)
    knob_prior.configure()
    assert (out - ref).abs().max() < 1e-4


@pytest.mark.parametrize(("cpuinfo", "native"), [
    ("processor : 0\nflags : fpu sse avx2 avx512f avx512bw avx512_vnni\n", False),  # oneDNN emulates bf16
    ("flags : fpu avx512f avx512_bf16 avx512_vnni\n", True),
    ("flags : fpu amx_tile amx_bf16\n", True),
    ("Features : fp asimd sve bf16 i8mm\n", True),  # Arm
    ("Features : fp asimd\n", False),
    ("", False),
])
def test_bf16_autocast_is_chosen_only_where_the_cpu_has_bf16_instructions(cpuinfo, native) -> None:
    assert cpu_has_bf16(cpuinfo) is native
