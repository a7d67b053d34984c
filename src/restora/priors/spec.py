"""Prior specs, parsed once: ``default`` (a preset or alias), ``NAME:WEIGHTS_FILE``, ``NAME:random``, a
weights file, ``adm:CONFIG.json`` (with a weights file), ``diffusers:FOLDER`` or ``HIGH+LOW``.

:func:`parse` turns the text (and an optional weights file) into one small object per kind, each
registered with :func:`kind` like a solver and tried in order; the object answers what the rest of
restora asks of a prior before and after loading it: :meth:`PriorSpec.load`, its image channels and the
solver settings stored with its weights (read without loading the network), the name and weights file a
record names. :func:`load` is ``restora.priors.load``; :func:`load_spec` also configures the runtime and
says what it loaded (:class:`PriorInfo`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from restora.errors import RestoraError
from restora.priors.adm import build_adm_prior, parse_config
from restora.priors.base import Prior
from restora.priors.composite import NoiseSplitPrior
from restora.priors.loaders import RESTORA_FORMAT, read_metadata
from restora.priors.registry import (
    BUILDERS,
    ModelSpec,
    composite,
    ffdnet_network,
    find_preset,
    from_file,
    load_adm,
    load_diffusers,
    local_file,
    names,
)

HUB_PREFIXES = ("http://", "https://", "hf://", "hf:", "huggingface:", "hub:", "s3://", "gs://")
KINDS: list[type[PriorSpec]] = []
"""The kinds of spec, in the order :func:`parse` tries them."""


def kind(cls: type[PriorSpec]) -> type[PriorSpec]:
    """Register a kind of prior spec (a class with ``parse(text, weights) -> spec or None``), as a frozen
    dataclass of its fields."""
    cls = dataclass(frozen=True)(cls)
    KINDS.append(cls)
    return cls


@dataclass(frozen=True)
class PriorSpec:
    """A parsed prior spec (``text``: as given). Subclasses build the prior and may say more without
    loading it."""

    text: str
    takes_split: ClassVar[bool] = False

    @classmethod
    def parse(cls, text: str, weights: Path | None) -> PriorSpec | None:
        """This kind's spec for ``text``, or None when ``text`` is not of this kind."""
        raise NotImplementedError

    def build(self, split: float | None) -> Prior:
        raise NotImplementedError

    def load(self, split: float | None = None) -> Prior:
        """The prior, in eval mode without gradients (``split`` only for a composite)."""
        if split is not None and not self.takes_split:
            raise RestoraError(f"split= goes with a composite prior ('HIGH+LOW'), not {self.text!r}")
        return self.build(split).eval().requires_grad_(False)

    def weights_file(self) -> Path | None:
        """The weights file the spec names or finds, if any."""
        return None

    def metadata(self) -> dict[str, str]:
        """The metadata of the restora weights file the spec names, else {}."""
        return _restora_meta(self.weights_file())

    def channels(self) -> int:
        """The image channels, from the preset or the file's metadata (3 where they do not say)."""
        meta = self.metadata()
        return int(json.loads(meta["unet"]).get("in_channels", 3)) if meta else 3

    def solver_settings(self) -> dict[str, Any]:
        """The solver settings stored with the weights (restora.solvers.settings reads them)."""
        return json.loads(self.metadata().get("solver_settings", "{}"))

    @property
    def name(self) -> str:
        """The name records use: the preset's canonical name, else the spec as given."""
        return self.text

    @property
    def source(self) -> str:
        """Where the weights come from: a file, 'random', or the name."""
        file = self.weights_file()
        return str(file) if file is not None else self.name


def _restora_meta(file: Path | None) -> dict[str, str]:
    if file is not None and file.is_file() and file.suffix == ".safetensors":
        meta = read_metadata(file)
        if meta.get("format") == RESTORA_FORMAT:
            return meta
    return {}


@kind
class HubName(PriorSpec):
    """A hub or URL name: refused, restora never downloads."""

    @classmethod
    def parse(cls, text: str, weights: Path | None) -> PriorSpec | None:
        if text.lower().startswith(HUB_PREFIXES):
            raise RestoraError(f"{text!r}: restora never downloads weights (no network access is assumed). "
                               "Download the file yourself and pass its local path.")
        return None


@dataclass(frozen=True)
class _FileSpec(PriorSpec):
    """A spec that names its weights file."""

    file: Path

    def weights_file(self) -> Path | None:
        return self.file


@kind
class ADMConfigFile(_FileSpec):
    """``adm:CONFIG.json`` (or inline JSON) with a weights file: a guided-diffusion UNet of any config."""

    config: str

    @classmethod
    def parse(cls, text: str, weights: Path | None) -> PriorSpec | None:
        if not text.startswith("adm:"):
            return None
        if weights is None:
            raise RestoraError("'adm:CONFIG' needs a weights file: load('adm:config.json', 'weights.pt')")
        src = text[len("adm:"):]
        if not src.lstrip().startswith("{"):
            file = Path(src).expanduser()
            if not file.is_file():
                raise RestoraError(f"no such ADM config file: {file}")
            src = file.read_text()
        return cls(text, weights, src)

    def build(self, split: float | None) -> Prior:
        return load_adm(parse_config(self.config), self.file)


@kind
class DiffusersFolder(PriorSpec):
    """``diffusers:FOLDER``: a saved diffusers UNet2DModel with its scheduler config."""

    @classmethod
    def parse(cls, text: str, weights: Path | None) -> PriorSpec | None:
        return cls(text) if text.startswith("diffusers:") else None

    def build(self, split: float | None) -> Prior:
        return load_diffusers(self.text[len("diffusers:"):])


@kind
class RandomWeights(PriorSpec):
    """``NAME:random``: a preset's architecture with random weights (seed 0), to time it, never to restore."""
    preset: ModelSpec

    @classmethod
    def parse(cls, text: str, weights: Path | None) -> PriorSpec | None:
        name, sep, rest = text.partition(":")
        if not sep or rest != "random":
            return None
        preset = find_preset(name)
        if preset is None:
            raise RestoraError(f"'{text}': {name!r} is not a preset; random weights need one of {names()}")
        return cls(text, preset)

    def build(self, split: float | None) -> Prior:
        from restora.priors.ffdnet import FFDNetPrior
        from restora.priors.unet import MODEL_SIZES, build_restora_prior

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            if self.preset.kind == "adm":
                return build_adm_prior(dict(self.preset.config))
            if self.preset.kind == "ffdnet":
                return FFDNetPrior(ffdnet_network(self.preset))
            return build_restora_prior(MODEL_SIZES["small"])

    def channels(self) -> int:
        return int(self.preset.config.get("channels", 3))

    @property
    def name(self) -> str:
        return self.preset.name

    @property
    def source(self) -> str:
        return "random"


@kind
class Preset(PriorSpec):
    """A preset name or alias, with its weights found locally, given, or named as ``NAME:FILE``."""
    preset: ModelSpec
    weights: Path | None = None

    @classmethod
    def parse(cls, text: str, weights: Path | None) -> PriorSpec | None:
        preset = find_preset(text)
        if preset is not None:
            return cls(text, preset, weights)
        name, sep, rest = text.partition(":")
        preset = find_preset(name) if sep else None
        if preset is None:
            return None
        if weights is not None:
            raise RestoraError(f"--prior {text} already names a weights file; drop --weights")
        if not Path(rest).expanduser().is_file():
            raise RestoraError(f"--prior {text}: no such weights file {rest}")
        return cls(text, preset, Path(rest).expanduser())

    def build(self, split: float | None) -> Prior:
        try:
            return BUILDERS[self.preset.kind](self.preset, self.weights)
        except RestoraError as exc:
            if self.weights is None and self.preset.kind == "adm":
                raise RestoraError(f"{exc}\non the command line: --prior {self.text}:WEIGHTS_FILE") from exc
            raise

    def weights_file(self) -> Path | None:
        return self.weights or local_file(self.preset)

    def channels(self) -> int:
        if self.preset.kind == "ffdnet":
            return int(self.preset.config["channels"])
        return super().channels()

    @property
    def name(self) -> str:
        return self.preset.name


@kind
class WeightsFile(_FileSpec):
    """A weights file whose architecture restora can tell: its own format, or a known ADM checkpoint."""

    @classmethod
    def parse(cls, text: str, weights: Path | None) -> PriorSpec | None:
        file = Path(text).expanduser()
        if not file.is_file():
            return None
        if weights is not None:
            raise RestoraError(f"got two files ({text}, {weights}); a second path goes with a preset name "
                               "or 'adm:CONFIG.json', or pass config=")
        return cls(text, file)

    def build(self, split: float | None) -> Prior:
        return from_file(self.file)


@kind
class Composite(PriorSpec):
    """``HIGH+LOW``: a low-noise expert spliced under a diffusion prior (:func:`registry.composite`)."""
    parts: tuple[PriorSpec, PriorSpec]
    takes_split: ClassVar[bool] = True

    @classmethod
    def parse(cls, text: str, weights: Path | None) -> PriorSpec | None:
        if "+" not in text:
            return None
        parts = text.split("+")
        if len(parts) != 2 or not all(parts):
            raise RestoraError(f"a composite prior is two names joined by '+', e.g. 'default+ffdnet-color'; "
                               f"got {text!r}")
        if weights is not None:
            raise RestoraError(f"a composite prior takes its parts' own weights, not a weights file: "
                               f"{text!r}")
        return cls(text, (parse(parts[0]), parse(parts[1])))

    def build(self, split: float | None) -> NoiseSplitPrior:
        a, b = (part.load() for part in self.parts)
        if a.sigma_max == b.sigma_max:
            raise RestoraError(f"'{self.text}': one of the two priors must be a low-noise expert with a "
                               f"smaller noise range (e.g. ffdnet-color); both reach sigma {a.sigma_max:.4g}")
        high, low = (a, b) if a.sigma_max > b.sigma_max else (b, a)
        return composite(high, low, split)

    def channels(self) -> int:
        return self.parts[0].channels()  # a composite's two priors have the same channels (or 1 and 3)

    def solver_settings(self) -> dict[str, Any]:
        """The diffusion prior's (the part that is not an FFDNet preset)."""
        diffusion = [p for p in self.parts if not (isinstance(p, Preset) and p.preset.kind == "ffdnet")]
        return diffusion[0].solver_settings() if diffusion else {}


def parse(text: str | Path, weights: str | Path | None = None) -> PriorSpec:
    """The spec of ``text`` (with an extra ``weights`` file for a name or ``adm:CONFIG.json``)."""
    text, file = str(text), Path(weights).expanduser() if weights is not None else None
    for spec_kind in KINDS:
        found = spec_kind.parse(text, file)
        if found is not None:
            return found
    raise RestoraError(f"unknown prior {text!r}: not a file, and not one of {names()} "
                       "(nor 'adm:CONFIG.json', 'diffusers:FOLDER' or 'HIGH+LOW')")


def load(name_or_path: str | Path, path: str | Path | None = None, *, config: Mapping | str | None = None,
         device: torch.device | str | None = None, dtype: str | torch.dtype | None = None,
         split: float | None = None) -> Prior:
    """Load a prior by preset name (+ weights file, or ``NAME:FILE``), ``'adm:CONFIG.json'``,
    ``'diffusers:FOLDER'``, a file path (restora .safetensors or a known ADM checkpoint), a file with
    ``config=`` (a guided-diffusion config), or two names joined by ``+`` (``'default+ffdnet-color'``:
    the low-noise expert below ``split``, see :func:`restora.priors.registry.composite`).

    ``device`` moves the prior; ``dtype`` ('fp32'/'bf16'/'fp16') sets its compute dtype (autocast).
    Weights load strictly; nothing is downloaded.
    """
    if config is not None:
        prior = load_adm(config, path if path is not None else name_or_path)
    else:
        prior = parse(name_or_path, path).load(split)
    if device is not None:
        prior = prior.to(device)
    if dtype is not None:
        prior.configure(dtype=dtype)
    return prior


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


def load_spec(spec: PriorSpec, *, device: torch.device | None = None, dtype: str = "fp32",
              channels_last: bool | None = False, compile: bool = False,
              split: float | None = None) -> tuple[Prior, PriorInfo]:
    """Load a parsed spec on ``device`` with its runtime configured, and say what was loaded.
    ``dtype="auto"`` and ``channels_last=None`` take the device's fastest setting
    (:meth:`restora.priors.base.Prior.configure`)."""
    prior = spec.load(split)
    if device is not None:
        prior = prior.to(device)
    prior.configure(dtype=dtype, channels_last=channels_last, compile=compile)
    info = PriorInfo(spec=spec.text, name=spec.name, weights=spec.source, native_size=prior.native_size,
                     size_multiple=prior.size_multiple, channels=prior.channels, dtype=prior.dtype_name,
                     channels_last=prior.channels_last)
    return prior, info

