"""Prior specs as the command line writes them: ``default``, ``NAME:WEIGHTS_FILE``, ``NAME:random``, a
weights file, ``adm:CONFIG.json`` (with a weights file), ``diffusers:FOLDER`` or ``HIGH+LOW``.

:func:`load_spec` loads one and says what it loaded (:class:`PriorInfo`); :func:`spec_channels` tells
a spec's image channels without loading any weights, so that checks can run before a model loads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from restora.errors import RestoraError
from restora.priors.base import Prior
from restora.priors.loaders import RESTORA_FORMAT, read_metadata
from restora.priors.registry import find_preset, load, local_file, model_info, preset_names


@dataclass
class PriorInfo:
    """What was loaded, for logs, summaries and benchmark records."""

    spec: str
    name: str
    weights: str  # 'random', or the weights file / the preset name where the registry found it
    native_size: int | None
    size_multiple: int
    channels: int
    dtype: str = "fp32"  # the runtime knobs in effect (--dtype auto resolved)
    channels_last: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def random_prior(name: str) -> Prior:
    """A preset's architecture with random weights (seed 0): enough to time it, useless to restore."""
    from restora.priors.adm import build_adm_prior
    from restora.priors.ffdnet import FFDNet, FFDNetPrior
    from restora.priors.unet import MODEL_SIZES, build_restora_prior

    spec = find_preset(name)
    if spec is None:
        raise RestoraError(f"'{name}:random': {name!r} is not a preset; random weights need one of "
                           f"{preset_names()}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if spec.kind == "adm":
            prior = build_adm_prior(dict(spec.config))
        elif spec.kind == "ffdnet":
            prior = FFDNetPrior(FFDNet(spec.config["channels"]))
        else:
            prior = build_restora_prior(MODEL_SIZES["small"])
    return prior.eval().requires_grad_(False)


def load_spec(spec: str, weights: str | None = None, *, device: torch.device | None = None,
              dtype: str = "fp32", channels_last: bool | None = False, compile: bool = False,
              split: float | None = None) -> tuple[Prior, PriorInfo]:
    """Load ``--prior`` (see the module doc); an extra ``weights`` file goes with a name or
    ``adm:CONFIG.json``, ``split`` with a composite. ``dtype="auto"`` and ``channels_last=None`` take the
    device's fastest setting (:meth:`restora.priors.base.Prior.configure`)."""
    name, sep, rest = spec.partition(":")
    preset = find_preset(name) if sep else None
    if preset is not None and rest == "random":
        prior, source = random_prior(name), "random"
    elif preset is not None:
        if weights is not None:
            raise RestoraError(f"--prior {spec} already names a weights file; drop --weights")
        if not Path(rest).expanduser().is_file():
            raise RestoraError(f"--prior {spec}: no such weights file {rest}")
        prior, source = load(name, Path(rest).expanduser()), str(Path(rest).expanduser())
    else:
        local = find_preset(spec)
        try:
            prior = load(spec, weights, split=split)
        except RestoraError as exc:
            if local is not None and weights is None and local.kind == "adm":
                raise RestoraError(f"{exc}\non the command line: --prior {spec}:WEIGHTS_FILE") from exc
            raise
        source = str(weights) if weights is not None else (
            model_info(local.name).get("path") or local.name if local is not None else spec)
    prior = prior.eval().requires_grad_(False)
    if device is not None:
        prior = prior.to(device)
    prior.configure(dtype=dtype, channels_last=channels_last, compile=compile)
    canonical = preset or find_preset(spec)
    info = PriorInfo(spec=spec, name=canonical.name if canonical is not None else spec, weights=source,
                     native_size=prior.native_size, size_multiple=prior.size_multiple,
                     channels=prior.channels, dtype=prior.dtype_name, channels_last=prior.channels_last)
    return prior, info


def _restora_metadata(spec: str, weights: str | None) -> dict[str, str]:
    """The metadata of the restora weights file a spec names (its preset's local file), else {}."""
    preset = find_preset(spec.partition(":")[0]) or find_preset(spec)
    file = Path(weights or spec.partition(":")[2] or spec).expanduser()
    if preset is not None and preset.kind == "restora" and not file.is_file():
        file = local_file(preset) or file
    if file.is_file() and file.suffix == ".safetensors":
        meta = read_metadata(file)
        if meta.get("format") == RESTORA_FORMAT:
            return meta
    return {}


def spec_solver_settings(spec: str, weights: str | None = None) -> dict[str, Any]:
    """The solver settings stored with the weights a spec names (a composite: its diffusion prior's),
    read without loading the weights."""
    if "+" in spec and not Path(spec).expanduser().is_file():
        parts = [p for p in spec.split("+") if (find_preset(p) is None or find_preset(p).kind != "ffdnet")]
        return spec_solver_settings(parts[0]) if parts else {}
    return json.loads(_restora_metadata(spec, weights).get("solver_settings", "{}"))


def spec_channels(spec: str, weights: str | None = None) -> int:
    """The image channels of the prior ``spec`` names, read from its preset or file metadata only (3 where
    they do not say)."""
    if "+" in spec and not Path(spec).expanduser().is_file():
        return spec_channels(spec.split("+")[0])  # a composite's two priors have the same channels
    preset = find_preset(spec.partition(":")[0]) or find_preset(spec)
    if preset is not None and preset.kind == "ffdnet":
        return int(preset.config["channels"])
    meta = _restora_metadata(spec, weights)
    return int(json.loads(meta["unet"]).get("in_channels", 3)) if meta else 3
