"""Diffusion priors: the denoiser interface, restora's own UNet, the guided-diffusion ADM UNet and
the registry of named priors, and the one entry point that loads any of them by name, file or spec
(:func:`load`; :func:`parse` reads a spec once). One vocabulary with the solvers and operators:
:func:`names`, :func:`info`, :func:`load`."""

from restora.priors.adm import ADMConfig, ADMUNet, build_adm_prior
from restora.priors.base import EDMPrior, Prior, VPEpsPrior, vp_eps
from restora.priors.registry import PRESETS, info, list_models, names
from restora.priors.spec import PriorSpec, load, parse

__all__ = [
    "PRESETS",
    "ADMConfig",
    "ADMUNet",
    "EDMPrior",
    "Prior",
    "PriorSpec",
    "VPEpsPrior",
    "build_adm_prior",
    "info",
    "list_models",
    "load",
    "names",
    "parse",
    "vp_eps",
]
