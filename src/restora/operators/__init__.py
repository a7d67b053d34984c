"""Degradation operators y = A(x) + n for zero-shot restoration (see :mod:`restora.operators.base`)."""

from restora.operators import tasks
from restora.operators.base import (
    GaussianNoise,
    NoiseModel,
    NonlinearOperator,
    Operator,
    PoissonGaussianNoise,
    PoissonNoise,
    SVDOperator,
    batch_view,
    bdot,
    conjugate_gradient,
    noise_model,
)
from restora.operators.blind import BlindBlur
from restora.operators.blur import Blur, p2o
from restora.operators.colorize import Colorize
from restora.operators.compose import Compose
from restora.operators.cs import BlockCS, WalshHadamardCS, fwht, random_orthogonal
from restora.operators.ct import CT, sparse_view_angles
from restora.operators.denoise import Denoise, Identity
from restora.operators.inpaint import Inpaint
from restora.operators.jpeg import JPEG
from restora.operators.kernels import (
    anisotropic_gaussian_kernel,
    bicubic_kernel,
    gaussian_kernel,
    image_to_kernel,
    kernel12,
    kernel_is_random,
    kernel_to_image,
    levin_kernel,
    load_kernel,
    motion_kernel,
    random_kernel,
    random_shake,
    validate_kernel,
)
from restora.operators.masks import box_mask, half_mask, lines_mask, load_mask, random_mask
from restora.operators.mri import MRI, column_mask, variable_density_mask
from restora.operators.phase import PhaseRetrieval, align, hio
from restora.operators.resize import imresize, modcrop, resize_matrix
from restora.operators.sr import AvgPoolSR, BicubicSR, BlurDownsampleSR
from restora.operators.tasks import Task, build_operator, task_family
from restora.scales import NOISE_MODELS, sigma_on_model_scale

__all__ = [
    "CT",
    "JPEG",
    "MRI",
    "NOISE_MODELS",
    "AvgPoolSR",
    "BicubicSR",
    "BlindBlur",
    "BlockCS",
    "Blur",
    "BlurDownsampleSR",
    "Colorize",
    "Compose",
    "Denoise",
    "GaussianNoise",
    "Identity",
    "Inpaint",
    "NoiseModel",
    "NonlinearOperator",
    "Operator",
    "PhaseRetrieval",
    "PoissonGaussianNoise",
    "PoissonNoise",
    "SVDOperator",
    "Task",
    "WalshHadamardCS",
    "align",
    "anisotropic_gaussian_kernel",
    "batch_view",
    "bdot",
    "bicubic_kernel",
    "box_mask",
    "build_operator",
    "column_mask",
    "conjugate_gradient",
    "fwht",
    "gaussian_kernel",
    "half_mask",
    "hio",
    "image_to_kernel",
    "imresize",
    "kernel12",
    "kernel_is_random",
    "kernel_to_image",
    "levin_kernel",
    "lines_mask",
    "load_kernel",
    "load_mask",
    "modcrop",
    "motion_kernel",
    "noise_model",
    "p2o",
    "random_kernel",
    "random_mask",
    "random_orthogonal",
    "random_shake",
    "resize_matrix",
    "sigma_on_model_scale",
    "sparse_view_angles",
    "task_family",
    "tasks",
    "validate_kernel",
    "variable_density_mask",
]
