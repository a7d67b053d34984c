"""Image-quality metrics with the conventions of the restoration benchmark tables.

PSNR and SSIM follow BasicSR / KAIR (``calculate_psnr``, ``calculate_ssim``, ``bgr2ycbcr(only_y=True)``):

* inputs are NCHW batches in [0, ``data_range``] (library images in [-1, 1] must be mapped with
  ``(x + 1) / 2`` first); they are scaled to 0..255 and computed in float64;
* ``quantize=True`` rounds the 0..255 values to integers first (the 8-bit files the tables score);
* ``crop_border`` removes that many pixels on every side before scoring;
* ``y_channel=True`` scores the BT.601 luma of RGB inputs, Y = 16 + (65.481 R + 128.553 G + 24.966 B)
  with R, G, B in [0, 1], i.e. Y in 16..235 (one-channel inputs are scored as they are). Y is not
  rounded (BasicSR); KAIR rounds Y of uint8 images, which moves PSNR by about 0.01 dB;
* PSNR = 10 log10(255^2 / MSE), the MSE over all channels and pixels of each image; identical images
  give ``inf`` (as BasicSR), or ``max_db`` where one is given;
* SSIM uses an 11x11 Gaussian window (sigma 1.5), C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, 'valid'
  filtering (no padding; the 5-pixel rim of the SSIM map is not scored) and the mean over channels.

LPIPS and FID are optional: they use the ``lpips`` and ``pytorch_fid`` (or ``torchmetrics``) packages
when installed and their network weights are already in the torch hub cache; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restora.errors import RestoraError
from restora.io import list_images, read_image, to_model

Y_WEIGHTS = (65.481, 128.553, 24.966)  # for R, G, B in [0, 1]; Y comes out on the 0..255 scale
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5

# Files the optional metrics need in ``<torch hub dir>/checkpoints`` (where torch caches downloads).
LPIPS_BACKBONES = {
    "alex": ("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    "vgg": ("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth"),
}
FID_WEIGHTS_PYTORCH_FID = (
    "pt_inception-2015-12-05-6726825d.pth",
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth",
)
FID_WEIGHTS_TORCHMETRICS = (
    "weights-inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth",
)


# --------------------------------------------------------------------------------------------------
# PSNR / SSIM


def _work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _prepare(
    x: Tensor, y: Tensor, data_range: float, crop_border: int, y_channel: bool, quantize: bool
) -> tuple[Tensor, Tensor]:
    """Both images on the 0..255 scale in float64, luma-converted and border-cropped as asked."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor) or t.ndim != 4:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise RestoraError(f"metrics take NCHW tensors; {name} is {shape} (use img[None] for one image)")
    if x.shape != y.shape:
        raise RestoraError(
            f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}; resize or crop first"
        )
    if not data_range > 0:
        raise RestoraError(f"data_range must be positive, got {data_range}")
    for t in (x, y):
        if not (t.is_floating_point() or t.dtype == torch.uint8):
            raise RestoraError(f"metrics take float or uint8 tensors, got {t.dtype}")
        if t.dtype == torch.uint8 and data_range != 255:
            raise RestoraError("uint8 images are on the 0..255 scale: pass data_range=255")
    if crop_border < 0:
        raise RestoraError(f"crop_border must be >= 0, got {crop_border}")
    h, w = x.shape[-2:]
    if 2 * crop_border >= min(h, w):
        raise RestoraError(f"crop_border={crop_border} leaves nothing of a {h}x{w} image; use a smaller one")
    dtype = _work_dtype(x.device)
    out = []
    for t in (x, y):
        t = t.to(dtype) * (255.0 / data_range)
        if quantize:
            t = t.clamp(0, 255).round()
        if y_channel:
            t = _luma255(t)
        if crop_border:
            t = t[..., crop_border:-crop_border, crop_border:-crop_border]
        out.append(t)
    return out[0], out[1]


def _luma255(t: Tensor) -> Tensor:
    """BT.601 'studio swing' luma of 0..255 RGB (one-channel images pass through)."""
    if t.shape[1] == 1:
        return t
    if t.shape[1] != 3:
        raise RestoraError(f"y_channel needs RGB or gray images, got {t.shape[1]} channels")
    wts = torch.tensor(Y_WEIGHTS, dtype=t.dtype, device=t.device).view(1, 3, 1, 1) / 255.0
    return (t * wts).sum(dim=1, keepdim=True) + 16.0


def rgb_to_y(img: Tensor) -> Tensor:
    """Luma Y in [16/255, 235/255] of NCHW RGB in [0, 1] (BasicSR's ``bgr2ycbcr(only_y=True)`` on RGB)."""
    return _luma255(img.to(_work_dtype(img.device)) * 255.0).div(255.0).to(img.dtype)


def psnr(x: Tensor, y: Tensor, *, data_range: float = 1.0, crop_border: int = 0, y_channel: bool = False,
         quantize: bool = False, max_db: float | None = None) -> Tensor:
    """PSNR in dB of each image pair of two NCHW batches in [0, data_range]: a (N,) float64 tensor.

    Identical images give ``inf`` unless ``max_db`` caps the result. uint8 inputs need ``data_range=255``;
    results live on the inputs' device (float32 on MPS, which has no float64).
    """
    a, b = _prepare(x, y, data_range, crop_border, y_channel, quantize)
    mse = (a - b).square().flatten(1).mean(dim=1)
    out = 10.0 * torch.log10(255.0**2 / mse)  # mse == 0 -> inf
    if max_db is not None:
        out = out.clamp(max=max_db)
    return out


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    r = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(t: Tensor, g: Tensor) -> Tensor:
    """Separable Gaussian filtering of every channel without padding (output shrinks by len(g) - 1)."""
    k = g.numel()
    flat = t.reshape(-1, 1, *t.shape[-2:])
    flat = F.conv2d(F.conv2d(flat, g.view(1, 1, k, 1)), g.view(1, 1, 1, k))
    return flat.reshape(*t.shape[:-2], *flat.shape[-2:])


def ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0, crop_border: int = 0, y_channel: bool = False,
         quantize: bool = False, per_pixel: bool = False) -> Tensor:
    """SSIM of each image pair of two NCHW batches in [0, data_range], channel-averaged: (N,) float64; with
    ``per_pixel`` the SSIM map itself, (N, C, H - 10 - 2 crop, W - 10 - 2 crop), whose mean that is."""
    a, b = _prepare(x, y, data_range, crop_border, y_channel, quantize)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise RestoraError(
            f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after the border crop, "
            f"got {a.shape[-2]}x{a.shape[-1]}"
        )
    g = _gaussian_window(SSIM_WINDOW, SSIM_SIGMA, a.dtype, a.device)
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    mu_a, mu_b, e_aa, e_bb, e_ab = _filter_valid(torch.stack([a, b, a * a, b * b, a * b]), g)
    var_a = e_aa - mu_a**2
    var_b = e_bb - mu_b**2
    cov = e_ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    ssim_map = num / den
    return ssim_map if per_pixel else ssim_map.flatten(1).mean(dim=1)


IMMERKAER_KERNEL = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))


def noise_std(x: Tensor) -> Tensor:
    """Immerkaer's estimate of the white-noise std of each image of an NCHW batch (J. Immerkaer, "Fast
    noise variance estimation", CVIU 64(2), 1996): sqrt(pi / 2) / 6 times the mean absolute response to the
    Laplacian-difference mask, which cancels smooth content. In the units of ``x``; over-estimates on
    strongly textured images (it reads texture as noise), so use it as an upper bound. (N,) float64."""
    if not isinstance(x, Tensor) or x.ndim != 4 or min(x.shape[-2:]) < 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise RestoraError(f"noise_std takes an NCHW batch of images of at least 3x3 pixels, got {shape}")
    a = (x.abs() if x.is_complex() else x).to(_work_dtype(x.device))
    k = torch.tensor(IMMERKAER_KERNEL, dtype=a.dtype, device=a.device).view(1, 1, 3, 3)
    response = F.conv2d(a.reshape(-1, 1, *a.shape[-2:]), k).reshape(a.shape[0], -1)
    return (torch.pi / 2) ** 0.5 / 6 * response.abs().mean(dim=1)


# --------------------------------------------------------------------------------------------------
# Optional learned metrics (no downloads, ever)


def _hub_checkpoint(filename: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _require_checkpoint(filename: str, url: str, what: str) -> Path:
    path = _hub_checkpoint(filename)
    if not path.is_file():
        raise RestoraError(
            f"{what} needs the weights file {path} (restora never downloads); fetch {url} there "
            "or set TORCH_HOME to a folder whose hub/checkpoints holds it"
        )
    return path


def load_lpips(net: str = "alex", device: torch.device | str = "cpu") -> nn.Module:
    """The ``lpips`` package's LPIPS model (eval mode), from locally cached backbone weights only."""
    if net not in LPIPS_BACKBONES:
        raise RestoraError(f"unknown LPIPS net {net!r}; choose one of {sorted(LPIPS_BACKBONES)}")
    try:
        import lpips as lpips_pkg
    except ImportError as exc:
        raise RestoraError("LPIPS needs the 'lpips' package: pip install lpips") from exc
    _require_checkpoint(*LPIPS_BACKBONES[net], what=f"LPIPS ({net})")
    try:
        model = lpips_pkg.LPIPS(net=net, verbose=False)
    except Exception as exc:
        raise RestoraError(f"could not build LPIPS ({net}) from the local weights: {exc}") from exc
    return model.eval().to(device)


def lpips(x: Tensor, y: Tensor, net: str = "alex", *, model: nn.Module | None = None) -> Tensor:
    """LPIPS distance (lower is better) of each pair of NCHW RGB batches in [0, 1]: a (N,) tensor.

    Pass ``model`` (from :func:`load_lpips`) to reuse one network across calls.
    """
    if x.ndim != 4 or x.shape != y.shape or x.shape[1] != 3:
        raise RestoraError(
            f"LPIPS takes two NCHW RGB batches of one shape, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    model = model if model is not None else load_lpips(net, x.device)
    with torch.no_grad():
        d = model(to_model(x.float()), to_model(y.float()))
    return d.flatten(1).mean(dim=1)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)): the Fréchet distance of two Gaussians."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape:
        raise RestoraError("Fréchet distance needs statistics of the same dimension")
    covmean = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        # Singular product (fewer images than feature dimensions): regularise as pytorch-fid does.
        offset = np.eye(cov1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def _fid_images(folder: str | Path) -> list[Path]:
    files = list_images(folder)
    if len(files) < 2:
        raise RestoraError(f"FID needs at least 2 images in {folder}, found {len(files)}")
    return files


def fid(
    folder_a: str | Path, folder_b: str | Path, *, device: torch.device | str = "cpu", batch_size: int = 16
) -> float:
    """FID between two image folders with the standard 2048-d Inception pool features.

    Uses ``pytorch_fid`` (else ``torchmetrics``) with weights already in the torch hub cache.
    """
    files_a, files_b = _fid_images(folder_a), _fid_images(folder_b)
    try:
        from pytorch_fid.inception import InceptionV3
    except ImportError:
        InceptionV3 = None
    if InceptionV3 is not None:
        _require_checkpoint(*FID_WEIGHTS_PYTORCH_FID, what="FID (pytorch_fid)")
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval().to(device)

        def stats(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
            feats = []
            with torch.no_grad():
                for img in _batches(files, batch_size, device):
                    feats.append(model(img)[0].flatten(1).double().cpu())
            f = torch.cat(feats).numpy()
            return f.mean(axis=0), np.cov(f, rowvar=False)

        return frechet_distance(*stats(files_a), *stats(files_b))
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
    except ImportError as exc:
        raise RestoraError(
            "FID needs 'pytorch-fid' (pip install pytorch-fid) or 'torchmetrics[image]'"
        ) from exc
    _require_checkpoint(*FID_WEIGHTS_TORCHMETRICS, what="FID (torchmetrics)")
    try:
        metric = FrechetInceptionDistance(feature=2048).to(device)
    except Exception as exc:
        raise RestoraError(f"could not build torchmetrics FID from the local weights: {exc}") from exc
    for files, real in ((files_a, True), (files_b, False)):
        for img in _batches(files, batch_size, device):
            metric.update((img * 255).round().to(torch.uint8), real=real)
    return float(metric.compute())


def _batches(files: list[Path], batch_size: int, device: torch.device | str):
    """RGB [0, 1] batches of same-sized images (a size change starts a new batch)."""
    batch: list[Tensor] = []
    for f in files:
        img = read_image(f, channels=3)
        if batch and (len(batch) == batch_size or batch[-1].shape != img.shape):
            yield torch.cat(batch).to(device)
            batch = []
        batch.append(img)
    if batch:
        yield torch.cat(batch).to(device)


# --------------------------------------------------------------------------------------------------
# Folder evaluation for `restora eval`

PAIR_METRICS = ("psnr", "ssim", "psnr_y", "ssim_y")


def _as_files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        p = Path(paths)
        return list_images(p) if p.is_dir() else [p]
    return [Path(p) for p in paths]


def pair_by_name(
    restored: str | Path | Sequence[str | Path], reference: str | Path | Sequence[str | Path]
) -> list[tuple[Path, Path | None]]:
    """(restored, reference) pairs matched by file stem; reference None where none has that name.

    Folders are expanded to their images; references without a restored image are ignored.
    """
    refs: dict[str, Path] = {}
    for p in _as_files(reference):
        if p.stem in refs:
            raise RestoraError(
                f"two references are named {p.stem!r} ({refs[p.stem].name}, {p.name}); rename one"
            )
        refs[p.stem] = p
    return [(p, refs.get(p.stem)) for p in _as_files(restored)]


def evaluate_pair(
    restored: str | Path,
    reference: str | Path,
    *,
    crop_border: int = 0,
    quantize: bool = True,
    lpips_model: nn.Module | None = None,
) -> dict[str, Any]:
    """PSNR / SSIM on RGB and on Y (and LPIPS with ``lpips_model``) of one image file pair.

    Raises RestoraError when the images differ in size or cannot be read.
    """
    a = read_image(restored)
    b = read_image(reference)
    if a.shape[-2:] != b.shape[-2:]:
        raise RestoraError(
            f"{Path(restored).name} is {a.shape[-1]}x{a.shape[-2]} but its reference "
            f"{Path(reference).name} is {b.shape[-1]}x{b.shape[-2]}; restore at the reference's size"
        )
    if a.shape[1] != b.shape[1]:  # gray vs RGB: compare in RGB
        a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
    kw = {"crop_border": crop_border, "quantize": quantize}
    row: dict[str, Any] = {
        "name": Path(restored).stem,
        "restored": str(restored),
        "reference": str(reference),
        "psnr": psnr(a, b, **kw).item(),
        "ssim": ssim(a, b, **kw).item(),
        "psnr_y": psnr(a, b, y_channel=True, **kw).item(),
        "ssim_y": ssim(a, b, y_channel=True, **kw).item(),
    }
    if lpips_model is not None:
        c = crop_border
        if c:
            a, b = a[..., c:-c, c:-c], b[..., c:-c, c:-c]
        row["lpips"] = lpips(a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1), model=lpips_model).item()
    return row


def evaluate_pairs(
    restored_paths: str | Path | Sequence[str | Path],
    reference_paths: str | Path | Sequence[str | Path],
    *,
    crop_border: int = 0,
    quantize: bool = True,
    lpips_model: nn.Module | None = None,
    skip_errors: bool = False,
) -> list[dict[str, Any]]:
    """One row of metrics per restored image, paired with its reference by name (:func:`pair_by_name`).

    A bad pair (no reference, size mismatch, unreadable file) raises RestoraError, or with
    ``skip_errors`` gives a row ``{"name", "restored", "reference", "error"}`` and the rest go on.
    """
    rows = []
    for res, ref in pair_by_name(restored_paths, reference_paths):
        try:
            if ref is None:
                raise RestoraError(f"no reference image named {res.stem!r} for {res}")
            rows.append(
                evaluate_pair(res, ref, crop_border=crop_border, quantize=quantize, lpips_model=lpips_model)
            )
        except RestoraError as exc:
            if not skip_errors:
                raise
            rows.append({"name": res.stem, "restored": str(res), "reference": str(ref), "error": str(exc)})
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means of each metric over the rows without an error, plus ``count`` and ``failed``.

    A pair of identical images makes the PSNR mean ``inf`` (see :func:`psnr`).
    """
    good = [r for r in rows if "error" not in r]
    out: dict[str, Any] = {"count": len(good), "failed": len(rows) - len(good)}
    keys = [k for k in (*PAIR_METRICS, "lpips") if good and all(k in r for r in good)]
    for k in keys:
        vals = [float(r[k]) for r in good]
        out[k] = sum(vals) / len(vals)
    return out
