"""``restora bench``: time solver x prior x size x batch on this device (:mod:`restora.experiments.speed`)."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any

import torch

import restora
from restora import solvers
from restora.cli.files import check_output_file, write_json_atomic
from restora.cli.log import LOG, error
from restora.cli.options import check_sigma, str_list
from restora.cli.progress import RunProgress, enabled
from restora.cli.runtime import resolve_device, set_threads
from restora.errors import RestoraError
from restora.experiments.speed import Case, device_record, markdown_table, run_case
from restora.operators import tasks
from restora.pairs import parse_pairs
from restora.priors.spec import load_spec
from restora.priors.spec import parse as parse_prior


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    priors, per_solver = _check(args)
    device = resolve_device(args.device)
    results: list[dict[str, Any]] = []
    prior_records = []
    for spec in priors:
        prior, info = load_spec(parse_prior(spec, args.weights), device=device, dtype=args.dtype,
                                channels_last=args.channels_last, compile=args.compile)
        record = {**info.as_dict(), "random_weights": info.weights == "random",
                  "parameters": sum(p.numel() for p in prior.parameters())}
        prior_records.append(record)
        LOG.info(f"prior {info.name} ({'random weights' if record['random_weights'] else info.weights}), "
                 f"{record['parameters'] / 1e6:.1f} M parameters, on {device}")
        head = {"prior": info.name, "weights": info.weights, "random_weights": record["random_weights"],
                "dtype": info.dtype, "channels_last": info.channels_last, "compile": args.compile}
        results += _run_cases(args, prior, head, per_solver, device)
        del prior
        if device.type == "cuda":
            torch.cuda.empty_cache()
    data = {
        "restora": restora.__version__,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": ["restora", *sys.argv[1:]] if sys.argv and sys.argv[0] else None,
        "device": device_record(device),
        "settings": {"steps": args.steps, "repeats": args.repeats, "warmup": args.warmup, "dtype": args.dtype,
                     "channels_last": args.channels_last, "compile": args.compile, "sigma_y": args.sigma_y,
                     "statistic": "median over repeats"},
        "priors": prior_records,
        "random_weights": any(r["random_weights"] for r in prior_records),
        "results": results,
    }
    if args.out:
        write_json_atomic(Path(args.out).expanduser(), data)
    LOG.info(markdown_table(results))
    if args.out:
        LOG.info(f"wrote {args.out}")
    return 1 if any("error" in r for r in results) else 0


def _check(args: argparse.Namespace) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """(prior specs, each solver's checked --opt values): every check of the options (exit 2)."""
    priors = [s for spec in (args.prior or ["adm-ffhq256:random"]) for s in str_list(spec)] or \
        ["adm-ffhq256:random"]
    if args.weights and len(priors) != 1:
        raise RestoraError("--weights goes with a single --prior")
    for task in args.task:
        tasks.info(task)
    options = parse_pairs(args.opt, "--opt")
    per_solver = {}
    for name in args.solver:
        if not solvers.info(name).measurement:
            raise RestoraError(f"{name} has no measurement; bench restoration solvers")
        per_solver[name] = solvers.validate_options(name, options)
    if args.warmup < 0:
        raise RestoraError(f"--warmup must be >= 0, got {args.warmup}")
    check_sigma(args.sigma_y)
    if args.out:
        check_output_file(args.out)
    return priors, per_solver


def _run_cases(args: argparse.Namespace, prior, head: dict[str, Any], per_solver: dict[str, dict[str, Any]],
               device: torch.device) -> list[dict[str, Any]]:
    """Every task x solver x size x batch of the grid on one prior; a configuration that fails gets a row
    with its error and the others go on."""
    cases = [(t, s, z, b) for t in args.task for s in args.solver for z in args.size for b in args.batch]
    results = []
    progress = RunProgress(len(cases), len(cases), enabled=enabled(args.no_progress))
    for task, solver, size, batch in cases:
        progress.nfe()
        progress.finished(1)
        case = Case(solver=solver, task=task, size=size, batch=batch, steps=args.steps, sigma_y=args.sigma_y,
                    options=per_solver[solver], tile=args.tile, tile_overlap=args.tile_overlap)
        try:
            res = run_case(case, prior, device, repeats=args.repeats, warmup=args.warmup)
            results.append({**head, **res})
        except Exception as exc:
            if device.type == "cuda":
                torch.cuda.empty_cache()
            msg = error(exc, f"{solver} / {head['prior']} / {task} / {size}px / batch {batch}")
            results.append({**head, "solver": solver, "task": task, "size": size, "batch": batch,
                            "steps": args.steps, "error": msg})
    progress.close()
    return results
