"""``restora eval``: fidelity (PSNR / SSIM, RGB and Y), perceptual (LPIPS, DISTS), no-reference (NIQE,
BRISQUE) and set (FID, KID) metrics of restored images against references."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restora.cli.files import check_no_overwrite, check_output_file, write_text_atomic
from restora.cli.log import LOG, forward_warnings, one_line
from restora.cli.progress import RunProgress, enabled
from restora.cli.runtime import resolve_device
from restora.errors import RestoraError
from restora.io import IMAGE_SUFFIXES

if TYPE_CHECKING:  # the metrics import torch: loaded only when a run scores
    from restora.metrics import Scorer

COLUMNS = {"psnr": ("PSNR (dB)", 2), "ssim": ("SSIM", 4), "psnr_y": ("PSNR-Y (dB)", 2),
           "ssim_y": ("SSIM-Y", 4), "lpips": ("LPIPS-alex", 4), "lpips_vgg": ("LPIPS-vgg", 4),
           "dists": ("DISTS", 4), "niqe": ("NIQE", 3), "brisque": ("BRISQUE", 2)}
SET_LABELS = {"fid": ("FID", 3), "kid": ("KID", 5), "kid_std": ("KID std over subsets", 5)}


def run(args: argparse.Namespace) -> int:
    from restora.metrics import Scorer, parse_metrics, summarize

    restored, reference = Path(args.restored), Path(args.reference)
    names = parse_metrics(args.metrics)
    pairs = _pairs(args, restored, reference, names)
    scorer = Scorer(names, crop_border=args.crop_border, quantize=not args.no_quantize,
                    device=resolve_device(args.device))
    rows = _score(pairs, reference, scorer, enabled(args.no_progress))
    if not rows:
        raise RestoraError(f"no images in {restored}")
    for r in rows:
        if "error" in r:
            LOG.error(f"{r['restored']}: {one_line(r['error'])}")
    summary = summarize(rows)
    extra: dict[str, Any] = scorer.set_scores()
    conventions = {"crop_border": args.crop_border, "quantize": not args.no_quantize, "metrics": list(names),
                   "y_channel": "BT.601 luma, 16..235 (BasicSR bgr2ycbcr only_y)",
                   "ssim": "11x11 Gaussian window, sigma 1.5, valid filtering, channel mean",
                   "perceptual": "LPIPS v0.1, DISTS, NIQE, BRISQUE on the cropped 8-bit images; FID / KID "
                                 "on Inception pool3 features of the scored pairs"}
    fmt = args.format or _format_from_suffix(args.out)
    text = {"md": _markdown, "csv": _csv, "json": _json}[fmt](rows, summary, extra, conventions)
    if args.out:
        write_text_atomic(Path(args.out), text)
        LOG.info(f"wrote {args.out} ({summary['count']} pair(s), {summary['failed']} failed)")
    else:
        print(text, end="")
    return 1 if summary["failed"] else 0


def _pairs(args: argparse.Namespace, restored: Path, reference: Path,
           names: tuple[str, ...]) -> list[tuple[Path, Path | None]]:
    """The (restored, reference) pairs to score, after every check of the arguments (exit 2): both paths
    exist, a table file for -o that is none of the images, FID / KID with two folders."""
    from restora.metrics import pair_by_name

    for p in (restored, reference):
        if not p.exists():
            raise RestoraError(f"no such file or folder: {p}")
    if args.crop_border < 0:
        raise RestoraError(f"--crop-border must be >= 0, got {args.crop_border}")
    if args.out:
        check_output_file(args.out)
        if Path(args.out).suffix.lower() in (*IMAGE_SUFFIXES, ".npy"):
            raise RestoraError(f"-o {args.out} names an image: the scores are a table; write them to a .md, "
                               ".csv or .json file")
    if {"fid", "kid"} & set(names) and not (restored.is_dir() and reference.is_dir()):
        raise RestoraError("FID and KID compare two folders of images")
    if restored.is_file() and reference.is_file():
        pairs = [(restored, reference)]
    elif reference.is_file():
        raise RestoraError("REFERENCE is a file but RESTORED a folder; give two folders or two files")
    else:
        pairs = pair_by_name(restored, reference)
    if args.out:
        scored = {p: "an image being scored" for pair in pairs for p in pair if p is not None}
        check_no_overwrite([Path(args.out).expanduser()], scored)
    return pairs


def _score(pairs: list[tuple[Path, Path | None]], reference: Path, scorer: Scorer,
           show_progress: bool) -> list[dict[str, Any]]:
    """One row of metrics per pair; a pair that cannot be scored gets a row with its error."""
    rows = []
    progress = RunProgress(len(pairs), len(pairs), enabled=show_progress)
    with forward_warnings():
        for res, ref in pairs:
            progress.nfe()
            progress.finished(1)
            try:
                if ref is None:
                    raise RestoraError(f"no reference image named {res.stem!r} in {reference}")
                rows.append(scorer.score(res, ref))
            except RestoraError as exc:
                rows.append({"name": res.stem, "restored": str(res), "reference": str(ref or ""),
                             "error": str(exc)})
    progress.close()
    return rows


def _format_from_suffix(out: str | None) -> str:
    if out is None:
        return "md"
    suffix = Path(out).suffix.lower().lstrip(".")
    return {"md": "md", "markdown": "md", "csv": "csv", "json": "json"}.get(suffix, "md")


def _num(v: Any, digits: int) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{digits}f}"


def _columns(rows: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(key, label, digits) of every per-image metric some row has."""
    return [(k, *v) for k, v in COLUMNS.items() if any(k in r for r in rows)]


def _markdown(rows, summary, extra, conventions) -> str:
    cols = _columns(rows)
    lines = ["| image | " + " | ".join(c[1] for c in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for r in rows:
        if "error" in r:
            cells = ["failed: " + one_line(r["error"])] + [""] * (len(cols) - 1)
        else:
            cells = [_num(r.get(k), d) for k, _, d in cols]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    mean = [_num(summary.get(k), d) for k, _, d in cols]
    lines.append(f"| **mean ({summary['count']})** | " + " | ".join(mean) + " |")
    notes = [f"crop border {conventions['crop_border']}",
             "8-bit values" if conventions["quantize"] else "unquantised values",
             "Y = BT.601 luma (BasicSR/KAIR)"]
    sets = [f"{SET_LABELS[k][0]} {_num(extra[k], SET_LABELS[k][1])}" for k in SET_LABELS if k in extra]
    if sets:
        notes.insert(0, ", ".join(sets) + f" ({extra['set_size']} pairs)")
    return "\n".join(lines) + "\n\n" + "; ".join(notes) + "\n"


def _csv(rows, summary, extra, conventions) -> str:
    cols = [c[0] for c in _columns(rows)]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["name", "restored", "reference", *cols, "error"])
    for r in rows:
        w.writerow([r["name"], r["restored"], r["reference"], *(_num(r.get(k), 6) for k in cols),
                    r.get("error", "")])
    w.writerow(["mean", "", "", *(_num(summary.get(k), 6) for k in cols), ""])
    for k in SET_LABELS:
        if k in extra:
            w.writerow([k, "", "", _num(extra[k], 6)])
    return buf.getvalue()


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # 'inf' (identical images): JSON has no infinity
    return v


def _json(rows, summary, extra, conventions) -> str:
    data = {"conventions": conventions,
            "rows": [{k: _finite(v) for k, v in r.items()} for r in rows],
            "summary": {k: _finite(v) for k, v in summary.items()}, **extra}
    return json.dumps(data, indent=2) + "\n"
