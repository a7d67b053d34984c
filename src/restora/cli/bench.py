"""``restora bench``: time solver x prior x size x batch on this device (logic in :mod:`restora.bench`)."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any

import torch

import restora
from restora import solvers
from restora.bench import Case, device_record, markdown_table, run_case
from restora.cli.files import check_output_file, write_json_atomic
from restora.cli.log import LOG, error
from restora.cli.options import check_sigma, int_list, parse_pairs, positive_int, str_list
from restora.cli.progress import Progress, enabled
from restora.cli.runtime import resolve_device, set_threads
from restora.errors import RestoraError
from restora.operators import get_task
from restora.priors.spec import load_spec

EXAMPLES = """examples:
  # the numbers of docs/performance.md: ADM-FFHQ with random weights (timing only), three batch sizes
  restora bench --solver diffpir,ddrm,dps --prior adm-ffhq256:random --size 256 --batch 1,4,16 \\
      --steps 20 --device cuda --dtype bf16 -o bench/h100-adm.json
  # the bundled prior on 2 CPU threads, two sizes
  restora bench --prior default --size 128,256 --threads 2 --steps 10 -o bench/cpu.json
  # a trained checkpoint, channels_last + torch.compile
  restora bench --prior adm-imagenet256-uncond:256x256_diffusion_uncond.pt --channels-last --compile

Each configuration runs --warmup times untimed and --repeats times timed; the JSON records every
repeat and the median: seconds per image, NFE per second, the share of time inside the network
(forward and backward passes through the prior; CUDA is synchronised around each call in bench
mode only) against the solver's own work, and peak memory (CUDA max allocated / CPU peak RSS).
NAME:random builds a preset with random weights (the JSON says so): fine for timing.
"""


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", parents=parents, help="time solvers x priors x sizes x batches",
                       description="Benchmark restoration speed and memory on the current device.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--solver", type=str_list, default=["diffpir"], help="solver(s), comma-separated")
    p.add_argument("--prior", action="append", metavar="SPEC",
                   help="prior (as for restore; NAME:random for random weights); repeatable "
                        "(default: adm-ffhq256:random)")
    p.add_argument("--weights", metavar="FILE", help="weights file for a single --prior NAME")
    p.add_argument("--task", type=str_list, default=["sr4"], help="task(s), comma-separated (default sr4)")
    p.add_argument("--size", type=int_list, default=[256], help="image size(s) in pixels (default 256)")
    p.add_argument("--batch", type=int_list, default=[1], help="batch size(s), e.g. 1,4,16 (default 1)")
    p.add_argument("--steps", type=positive_int, default=20, help="solver steps (default 20)")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed runs (default 3; median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    p.add_argument("--sigma-y", type=float, default=0.05,
                   help="measurement noise, [-1,1] scale (default 0.05)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", help="solver option (repeatable)")
    p.add_argument("--tile", type=int, metavar="N",
                   help="tile size (default: native size of fixed-size priors)")
    p.add_argument("--tile-overlap", type=int, default=64, metavar="N")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="prior compute dtype (default auto: bf16 where the device runs it fast, else fp32)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="channels_last memory layout for the prior (default: on)")
    p.add_argument("--compile", action="store_true", help="torch.compile the prior (warm-up compiles)")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.add_argument("-o", "--out", metavar="FILE.json", help="write the JSON record here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    priors = [s for spec in (args.prior or ["adm-ffhq256:random"]) for s in str_list(spec)] or \
        ["adm-ffhq256:random"]
    if args.weights and len(priors) != 1:
        raise RestoraError("--weights goes with a single --prior")
    for task in args.task:
        get_task(task)
    options = parse_pairs(args.opt, "--opt")
    per_solver = {}
    for name in args.solver:
        if not solvers.info(name).measurement:
            raise RestoraError(f"{name} has no measurement; bench restoration solvers")
        per_solver[name] = solvers.validate_options(name, options)
    if args.warmup < 0:
        raise RestoraError(f"--warmup must be >= 0, got {args.warmup}")
    check_sigma(args.sigma_y)
    device = resolve_device(args.device)
    if args.out:
        check_output_file(args.out)

    results: list[dict[str, Any]] = []
    prior_records = []
    cases = [(t, s, z, b) for t in args.task for s in args.solver for z in args.size for b in args.batch]
    for spec in priors:
        prior, info = load_spec(spec, args.weights, device=device, dtype=args.dtype,
                                channels_last=args.channels_last, compile=args.compile)
        record = {**info.as_dict(), "random_weights": info.weights == "random",
                  "parameters": sum(p.numel() for p in prior.parameters())}
        prior_records.append(record)
        LOG.info(f"prior {info.name} ({'random weights' if record['random_weights'] else info.weights}), "
                     f"{record['parameters'] / 1e6:.1f} M parameters, on {device}")
        progress = Progress(len(cases), len(cases), enabled=enabled(args.no_progress))
        for task, solver, size, batch in cases:
            progress.nfe()
            progress.finished(1)
            case = Case(solver=solver, task=task, size=size, batch=batch, steps=args.steps,
                        sigma_y=args.sigma_y, options=per_solver[solver], tile=args.tile,
                        tile_overlap=args.tile_overlap)
            head = {"prior": info.name, "weights": info.weights, "random_weights": record["random_weights"],
                    "dtype": info.dtype, "channels_last": info.channels_last, "compile": args.compile}
            try:
                res = run_case(case, prior, device, repeats=args.repeats, warmup=args.warmup)
                results.append({**head, **res})
            except Exception as exc:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                msg = error(exc, f"{solver} / {info.name} / {task} / {size}px / batch {batch}")
                results.append({**head, "solver": solver, "task": task, "size": size, "batch": batch,
                                "steps": args.steps, "error": msg})
        progress.close()
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
