"""Scoring restored image files against references, for ``restora eval`` and ``restora restore
--reference``: a :class:`Scorer` built from metric names loads each network once, scores pairs (and
no-reference metrics on the restored image alone) and gathers the features of the set metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from restora.errors import RestoraError
from restora.io import list_images, read_image
from restora.metrics.fidelity import psnr, ssim

PAIR_METRICS = ("psnr", "ssim", "lpips", "lpips-vgg", "dists")
"""Metrics of a (restored, reference) pair; psnr and ssim also give their luma (_y) columns."""
NO_REFERENCE = ("niqe", "brisque")
SET_METRICS = ("fid", "kid")
METRICS = (*PAIR_METRICS, *NO_REFERENCE, *SET_METRICS)
DEFAULT = ("psnr", "ssim")


def parse_metrics(text: str) -> tuple[str, ...]:
    """``psnr,ssim,lpips`` -> the names, checked (``all`` is every metric)."""
    names = METRICS if text.strip() == "all" else tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise RestoraError(f"unknown metric(s) {unknown or [text]}; choose from {', '.join(METRICS)} or all")
    return tuple(dict.fromkeys(names))


def columns(names: Sequence[str]) -> list[str]:
    """The per-image columns the metrics write, in table order."""
    cols = []
    for n in names:
        if n in ("psnr", "ssim"):
            cols += [n, f"{n}_y"]
        elif n not in SET_METRICS:
            cols.append(n.replace("-", "_"))
    return cols


def _models(names: Sequence[str]) -> dict[str, Any]:
    """Each learned metric's model, loaded once (a missing package fails here, before any scoring)."""
    from restora.metrics.brisque import SVR
    from restora.metrics.dists import DISTS
    from restora.metrics.files import BRISQUE_MODEL
    from restora.metrics.inception import InceptionV3
    from restora.metrics.lpips import LPIPS
    from restora.metrics.niqe import NIQEModel

    loaders = {"lpips": lambda: LPIPS.load("alex"), "lpips-vgg": lambda: LPIPS.load("vgg"),
               "dists": DISTS.load, "niqe": NIQEModel.load,
               "brisque": lambda: SVR.read(BRISQUE_MODEL.locate("BRISQUE"))}
    models = {n: loaders[n]() for n in names if n in loaders}
    if any(n in SET_METRICS for n in names):
        models["inception"] = InceptionV3.load()
    return models


class Scorer:
    """The chosen metrics over image files; models on ``device``."""

    def __init__(self, names: Sequence[str] = DEFAULT, *, crop_border: int = 0, quantize: bool = True,
                 device: torch.device | str = "cpu") -> None:
        self.names, self.crop, self.quantize = tuple(names), crop_border, quantize
        self.device = torch.device(device)
        self.models = {k: m.to(self.device) if isinstance(m, torch.nn.Module) else m
                       for k, m in _models(self.names).items()}
        self.restored_features: list[Tensor] = []
        self.reference_features: list[Tensor] = []

    def score(self, restored: str | Path, reference: str | Path) -> dict[str, Any]:
        """One row: the file names and every per-image metric. Raises RestoraError when the images
        differ in size or cannot be read."""
        a, b = read_image(restored), read_image(reference)
        if a.shape[-2:] != b.shape[-2:]:
            raise RestoraError(f"{Path(restored).name} is {a.shape[-1]}x{a.shape[-2]} but its reference "
                               f"{Path(reference).name} is {b.shape[-1]}x{b.shape[-2]}; restore at the "
                               "reference's size")
        if a.shape[1] != b.shape[1]:  # gray vs RGB: compare in RGB
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        row: dict[str, Any] = {"name": Path(restored).stem, "restored": str(restored),
                               "reference": str(reference), **self._fidelity(a, b)}
        c = self.crop
        a, b = (a[..., c:-c, c:-c], b[..., c:-c, c:-c]) if c else (a, b)
        row.update(self._perceptual(a.to(self.device), b.to(self.device)))
        return row

    def _fidelity(self, a: Tensor, b: Tensor) -> dict[str, float]:
        kw = {"crop_border": self.crop, "quantize": self.quantize}
        out = {}
        for name, fn in (("psnr", psnr), ("ssim", ssim)):
            if name in self.names:
                out[name] = fn(a, b, **kw).item()
                out[f"{name}_y"] = fn(a, b, y_channel=True, **kw).item()
        return out

    def _perceptual(self, a: Tensor, b: Tensor) -> dict[str, float]:
        from restora.metrics.brisque import brisque
        from restora.metrics.dists import dists
        from restora.metrics.lpips import lpips
        from restora.metrics.niqe import niqe

        m, out = self.models, {}
        for name in ("lpips", "lpips-vgg"):
            if name in m:
                out[name.replace("-", "_")] = lpips(a, b, model=m[name]).item()
        if "dists" in m:
            out["dists"] = dists(a, b, model=m["dists"]).item()
        if "niqe" in m:
            out["niqe"] = niqe(a, model=m["niqe"]).item()
        if "brisque" in m:
            out["brisque"] = brisque(a, model=m["brisque"]).item()
        if "inception" in m:
            with torch.inference_mode():
                self.restored_features.append(m["inception"](a).double().cpu())
                self.reference_features.append(m["inception"](b).double().cpu())
        return out

    def set_scores(self, generator: torch.Generator | None = None) -> dict[str, float]:
        """FID / KID (mean and its std over subsets) of the pairs scored so far, with the set size."""
        from restora.metrics.sets import fid_of_features, kid_of_features

        if not any(n in SET_METRICS for n in self.names):
            return {}
        fa, fb = torch.cat(self.restored_features or [torch.zeros(0, 2048)]), \
            torch.cat(self.reference_features or [torch.zeros(0, 2048)])
        out: dict[str, float] = {"set_size": len(fa)}
        if "fid" in self.names:
            out["fid"] = fid_of_features(fa, fb)
        if "kid" in self.names:
            out["kid"], out["kid_std"] = kid_of_features(fa, fb, generator=generator)
        return out


def _as_files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        p = Path(paths)
        return list_images(p) if p.is_dir() else [p]
    return [Path(p) for p in paths]


def pair_by_name(restored: str | Path | Sequence[str | Path],
                 reference: str | Path | Sequence[str | Path]) -> list[tuple[Path, Path | None]]:
    """(restored, reference) pairs matched by file stem; reference None where none has that name.

    Folders are expanded to their images; references without a restored image are ignored.
    """
    refs: dict[str, Path] = {}
    for p in _as_files(reference):
        if p.stem in refs:
            raise RestoraError(f"two references are named {p.stem!r} ({refs[p.stem].name}, {p.name}); "
                               "rename one")
        refs[p.stem] = p
    return [(p, refs.get(p.stem)) for p in _as_files(restored)]


def evaluate_pair(restored: str | Path, reference: str | Path, *, crop_border: int = 0,
                  quantize: bool = True) -> dict[str, Any]:
    """PSNR / SSIM on RGB and on Y of one image file pair (a :class:`Scorer` for other metrics)."""
    return Scorer(DEFAULT, crop_border=crop_border, quantize=quantize).score(restored, reference)


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means of each metric over the rows without an error, plus ``count`` and ``failed``.

    A pair of identical images makes the PSNR mean ``inf`` (see :func:`psnr`).
    """
    good = [r for r in rows if "error" not in r]
    out: dict[str, Any] = {"count": len(good), "failed": len(rows) - len(good)}
    keys = [k for k in columns(METRICS) if good and all(k in r for r in good)]
    for k in keys:
        vals = [float(r[k]) for r in good]
        out[k] = sum(vals) / len(vals)
    return out
