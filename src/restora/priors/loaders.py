"""Safe checkpoint loading: safetensors, or torch files with ``weights_only=True`` only."""

from __future__ import annotations

import json
import math
import pickle
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from restora.errors import RestoraError

RESTORA_FORMAT = "restora-unet-v1"


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a checkpoint file. Pickled files are opened with ``weights_only=True`` so that no
    code inside them can run; a file that needs more is refused with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise RestoraError(f"no such checkpoint file: {path}")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError) as exc:
            raise RestoraError(f"cannot read safetensors file {path}: {exc}") from exc
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the refusal below says it all
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise RestoraError(
            f"refusing to load {path.name}: it is not a plain tensor checkpoint and unpickling it "
            "could run arbitrary code. If you trust the file, convert it yourself to .safetensors."
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise RestoraError(f"cannot read checkpoint {path}: {exc}") from exc
    except (IndexError, KeyError, ValueError, TypeError, AttributeError) as exc:  # not a torch file at all
        raise RestoraError(f"cannot read checkpoint {path}: not a torch checkpoint ({type(exc).__name__} "
                           "while unpickling); give a .safetensors file or a torch.save of a state "
                           "dict") from exc
    if isinstance(obj, dict):
        for key in ("ema", "state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise RestoraError(f"{path.name} holds no state dict of tensors")
    return obj


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a .safetensors file (empty for other formats)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {}
    if not path.is_file():
        raise RestoraError(f"no such checkpoint file: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise RestoraError(f"cannot read safetensors file {path}: {exc}") from exc


def save_state_dict(
    state: dict[str, Tensor], path: str | Path, metadata: dict[str, str] | None = None
) -> Path:
    """Write tensors as .safetensors (contiguous copies; shared storage is not allowed there)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise RestoraError(f"output must end in .safetensors, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in state.items()}, str(tmp),
              metadata=metadata)
    tmp.replace(path)
    return path


def convert(src: str | Path, dst: str | Path) -> Path:
    """Convert a tensor checkpoint (.pt/.pth/.ckpt, loaded safely) to .safetensors."""
    return save_state_dict(load_state_dict(src), dst, {"converted_from": Path(src).name})


def save_restora_prior(prior, path: str | Path, half: bool = False,
                       extra: dict[str, str] | None = None) -> Path:
    """Save an EDM-preconditioned restora UNet with its architecture and tuned solver settings in
    the file's metadata."""
    state = prior.state_dict()
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    meta = {"format": RESTORA_FORMAT, "unet": json.dumps(prior.net.config.to_dict()),
            "sigma_data": str(prior.sigma_data), "sigma_min": str(prior.sigma_min),
            "sigma_max": str(prior.sigma_max), **(extra or {})}
    if prior.solver_settings:
        meta["solver_settings"] = json.dumps(prior.solver_settings)
    return save_state_dict(state, path, meta)


def load_restora_prior(path: str | Path):
    """Build and load a restora prior saved by :func:`save_restora_prior`."""
    from restora.priors.unet import build_restora_prior

    meta = read_metadata(path)
    name = Path(path).name
    if meta.get("format") != RESTORA_FORMAT:
        raise RestoraError(f"{name} is not a restora prior file (no '{RESTORA_FORMAT}' metadata)")
    try:
        config = json.loads(meta["unet"])
        sigmas = [float(meta[k]) for k in ("sigma_data", "sigma_min", "sigma_max")]
        settings = json.loads(meta.get("solver_settings", "{}"))
        if not isinstance(config, dict) or not isinstance(settings, dict):
            raise TypeError("the unet config and solver settings must be JSON objects")
    except (KeyError, ValueError, TypeError) as exc:
        raise RestoraError(f"{name}: broken restora metadata ({str(exc)[:200]}); export the weights again "
                           "with restora train --export") from exc
    sigma_data, sigma_min, sigma_max = sigmas
    if not (all(math.isfinite(v) for v in sigmas) and sigma_data > 0 and 0 < sigma_min < sigma_max):
        raise RestoraError(f"{name}: metadata sigma_data {sigma_data:g}, sigma_min {sigma_min:g}, sigma_max "
                           f"{sigma_max:g} must be finite with sigma_data > 0 and 0 < sigma_min < sigma_max")
    try:
        prior = build_restora_prior(config, sigma_data, sigma_min, sigma_max)
    except TypeError as exc:
        raise RestoraError(f"{name}: the UNet config in its metadata is not restora's "
                           f"({str(exc)[:200]})") from exc
    state = {k: v.float() for k, v in load_state_dict(path).items()}
    try:
        prior.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RestoraError(f"{name}: the weights do not fit the UNet config in its metadata: "
                           f"{' '.join(str(exc).split())[:300]}") from exc
    prior.solver_settings = settings
    return prior.eval().requires_grad_(False)
