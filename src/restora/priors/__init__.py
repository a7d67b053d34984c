"""Diffusion priors: the denoiser interface, restora's own UNet, the guided-diffusion ADM UNet and
the registry that loads any of them by name or file (:func:`load`)."""

from restora.priors.adm import ADMConfig, ADMUNet, build_adm_prior
from restora.priors.base import EDMPrior, Prior, VPEpsPrior, vp_eps
from restora.priors.registry import PRESETS, list_models, load, model_info

__all__ = [
    "PRESETS",
    "ADMConfig",
    "ADMUNet",
    "EDMPrior",
    "Prior",
    "VPEpsPrior",
    "build_adm_prior",
    "list_models",
    "load",
    "model_info",
    "vp_eps",
]
