"""``restora baseline``: restore SR measurements with a supervised reference model (DAT-light, SRMD,
Real-ESRGAN) instead of a zero-shot solver, to compare with; the degradation comes from each
measurement's sidecar or from --task / --sigma-y, as for ``restora restore``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from restora.cli.files import (
    check_no_overwrite,
    check_output_dir,
    check_unique_stems,
    expand_inputs,
    is_complete_image,
    write_json_atomic,
)
from restora.cli.log import LOG, one_line
from restora.cli.options import AUTO, check_sigma
from restora.cli.outputs import score
from restora.cli.runtime import resolve_device, set_threads
from restora.cli.sidecar import Sidecar
from restora.cli.specs import CliSpec, Spec, probe_operator, read_measurement, resolve
from restora.errors import RestoraError
from restora.io import list_images, write_image
from restora.operators.noise_level import estimate_sigma_y
from restora.pictures import as_unit
from restora.references.models import Reference, ReferenceRestorer, check_operator, reference


def _spec(path: Path, cli: CliSpec, seed: int, ref: Reference) -> Spec:
    """The measurement's degradation (sidecar, then the command line), refused unless ``ref`` models it."""
    spec = resolve(cli, Sidecar.read(Sidecar.path_for(path)), path.parent, seed)
    check_operator(ref, probe_operator(spec)[0])
    return spec


def restore_one(model: ReferenceRestorer, path: Path, spec: Spec, device: torch.device,
                estimate: bool) -> tuple[torch.Tensor, float]:
    """The restoration (1, 3, H, W) on [-1, 1] of one measurement file, and the sigma_y it was given
    (``estimate``: measured from the file, :mod:`restora.operators.noise_level`)."""
    y = read_measurement(path, 3)
    op = spec.build(spec.shape_of_image(tuple(y.shape)))
    sigma = float(estimate_sigma_y(op, y)[0]) if estimate else spec.sigma_y
    return model(op, y.to(device), sigma).cpu(), sigma


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    ref = reference(args.model)  # an unknown name is exit 2 before anything is read
    estimate = args.sigma_y == AUTO
    given = None if args.sigma_y is None or estimate else check_sigma(args.sigma_y)
    cli = CliSpec(task=args.task, sigma_y=given)
    if args.task is not None:
        check_operator(ref, probe_operator(resolve(cli, None, Path("."), 0))[0])
    inputs = expand_inputs(args.inputs, tensors=True)
    check_unique_stems(inputs)
    out = check_output_dir(args.out)
    if args.reference is not None and not Path(args.reference).is_dir():
        raise RestoraError(f"--reference {args.reference}: no such folder")
    clean = {p.stem: p for p in list_images(Path(args.reference))} if args.reference else {}
    check_no_overwrite([out / f"{p.stem}.png" for p in inputs],
                       {**{p: "the input" for p in inputs}, **{p: "the reference" for p in clean.values()}})
    device = resolve_device(args.device)
    model = ReferenceRestorer(ref.name)
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for i, path in enumerate(inputs):
        target = out / f"{path.stem}.png"
        row: dict[str, Any] = {"input": str(path), "output": str(target)}
        try:
            spec = _spec(path, cli, args.seed + i, ref)
            row.update(task=spec.task, sigma_y=spec.sigma_y, source=spec.source)
            if is_complete_image(target):
                row["status"] = "skipped"
            else:
                t0 = time.perf_counter()
                restored, sigma = restore_one(model, path, spec, device, estimate)
                write_image(as_unit(restored), target)
                row.update(status="ok", seconds=round(time.perf_counter() - t0, 3), sigma_y=sigma,
                           sigma_y_estimated=estimate)
            row.update(score(target, clean.get(path.stem), args.crop_border, path.name))
        except RestoraError as exc:
            LOG.error(f"{path.name}: {one_line(exc)}")
            row.update(status="failed", error=one_line(exc))
        rows.append(row)
        shown = f" PSNR {row['psnr']:.2f} dB" if "psnr" in row else ""
        LOG.info(f"{path.name}: {row['status']}{shown}")
    write_json_atomic(out / "run.json", {"model": ref.name, "description": ref.description,
                                         "supervised": True, "device": str(device), "rows": rows,
                                         "seconds": round(time.perf_counter() - t_start, 3)})
    failed = sum(r["status"] == "failed" for r in rows)
    LOG.info(f"{ref.name}: {len(rows) - failed} of {len(rows)} image(s) -> {out}/")
    return 1 if failed else 0
