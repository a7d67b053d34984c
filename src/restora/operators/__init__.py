"""Degradation operators y = A(x) + n for zero-shot restoration (see :mod:`restora.operators.base`)."""

from restora.operators.base import (
    GaussianNoise,
    NoiseModel,
    Operator,
    PoissonNoise,
    batch_view,
    bdot,
    conjugate_gradient,
    sigma_on_model_scale,
)
from restora.operators.blur import Blur, p2o
from restora.operators.colorize import Colorize
from restora.operators.compose import Compose
from restora.operators.cs import BlockCS, WalshHadamardCS, fwht, random_orthogonal
from restora.operators.denoise import Denoise, Identity
from restora.operators.inpaint import Inpaint
from restora.operators.jpeg import JPEG
from restora.operators.kernels import (
    anisotropic_gaussian_kernel,
    bicubic_kernel,
    gaussian_kernel,
    kernel12,
    levin_kernel,
    load_kernel,
    motion_kernel,
    validate_kernel,
)
from restora.operators.masks import box_mask, half_mask, lines_mask, load_mask, random_mask
from restora.operators.resize import imresize, modcrop, resize_matrix
from restora.operators.sr import AvgPoolSR, BicubicSR, BlurDownsampleSR
from restora.operators.tasks import TASKS, build_operator, task_family

CompressedSensing = BlockCS
"""Alias: the default compressed-sensing operator (block-wise random orthogonal)."""

__all__ = [
    "JPEG",
    "TASKS",
    "AvgPoolSR",
    "BicubicSR",
    "BlockCS",
    "Blur",
    "BlurDownsampleSR",
    "Colorize",
    "Compose",
    "CompressedSensing",
    "Denoise",
    "GaussianNoise",
    "Identity",
    "Inpaint",
    "NoiseModel",
    "Operator",
    "PoissonNoise",
    "WalshHadamardCS",
    "anisotropic_gaussian_kernel",
    "batch_view",
    "bdot",
    "bicubic_kernel",
    "box_mask",
    "build_operator",
    "conjugate_gradient",
    "fwht",
    "gaussian_kernel",
    "half_mask",
    "imresize",
    "kernel12",
    "levin_kernel",
    "lines_mask",
    "load_kernel",
    "load_mask",
    "modcrop",
    "motion_kernel",
    "p2o",
    "random_mask",
    "random_orthogonal",
    "resize_matrix",
    "sigma_on_model_scale",
    "task_family",
    "validate_kernel",
]
