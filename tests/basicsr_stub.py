"""Import BasicSR's NIQE module (``basicsr.metrics.niqe``) for the cross-check without running
``basicsr/__init__.py``, which imports the whole training framework (torchvision, opencv, ...): the
packages on the way are entered as bare namespaces over the installed folders."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def basicsr_niqe() -> Iterator[types.ModuleType]:
    """BasicSR's niqe module; sys.modules is restored after."""
    spec = importlib.util.find_spec("basicsr")
    root = Path(next(iter(spec.submodule_search_locations)))
    saved = dict(sys.modules)
    try:
        for name, folder in (("basicsr", root), ("basicsr.utils", root / "utils"),
                             ("basicsr.metrics", root / "metrics")):
            module = types.ModuleType(name)
            module.__path__ = [str(folder)]
            sys.modules[name] = module
        if importlib.util.find_spec("cv2") is None:  # used only for its gray conversion, not by Y
            sys.modules["cv2"] = types.ModuleType("cv2")
        sys.modules["basicsr.utils"].bgr2ycbcr = importlib.import_module("basicsr.utils.color_util").bgr2ycbcr
        with warnings.catch_warnings():  # its scipy.ndimage.filters import is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module("basicsr.metrics.niqe")
        yield module
    finally:
        sys.modules.clear()
        sys.modules.update(saved)
