"""restora: zero-shot image restoration with diffusion priors."""

from restora.errors import RestoraError

__version__ = "0.1.0"
__all__ = ["RestoraError", "__version__"]
