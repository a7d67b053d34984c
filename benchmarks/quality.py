"""Restoration quality: every solver x task on test images, against classical baselines.

    python benchmarks/quality.py --limit 8 --out benchmarks/results/quality
    python benchmarks/quality.py --methods diffpir@default,dpir@ffdnet-color,diffpir@default+ffdnet-color

A method is ``SOLVER`` (with --prior) or ``SOLVER@PRIOR``; its options are the solver's published
defaults with the settings tuned for that prior (:func:`restora.solvers.settings`), and the
number of steps from --steps (``SOLVER=N`` or ``SOLVER@PRIOR=N``). ``SOLVER@PRIOR:KEY=VALUE:...``
overrides options for that method alone (e.g. ``diffpir@default+ffdnet-color:sigma_start=0.6``).
Centre 256x256 crops of CBSD68 (first --limit images, sorted by name), Gaussian measurement noise
sigma_y (default 0.05 on the [-1, 1] scale = 6.375/255 on [0, 1]), one seeded measurement per image
and task. PSNR / SSIM on 8-bit quantised RGB images in [0, 1] (BasicSR convention, no border crop),
seconds per image (batched over images that share an operator), NFE = denoiser calls per image.
``--samples S`` adds, for every sampling solver, the mean of S draws per image (one batched solve; S x
the compute): the posterior-mean estimate, which PSNR rewards over a single posterior sample.
Writes results.json, a Markdown table (table.md) and one picture per task (grid_<task>.png).
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import torch
from common import DATA, TASKS, centre_crops, environment

from restora.baselines import classical
from restora.cli.options import parse_pairs
from restora.io import write_image
from restora.metrics import psnr, ssim
from restora.pictures import as_unit, side_by_side
from restora.priors import load as load_prior
from restora.solvers import check_compatible, get, info, restore_samples, settings, validate_options

IMAGE_TASKS = ("sr4", "deblur-gauss", "deblur-levin", "inpaint-box", "inpaint-random")
DEFAULT_SOLVERS = ("diffpir", "ddrm", "ddnm", "pigdm", "dps")
STEPS = {"diffpir": 100, "ddrm": 20, "ddnm": 100, "pigdm": 100, "dps": 250}


def split_method(method: str) -> tuple[str, str, dict]:
    """``'SOLVER@PRIOR:KEY=VALUE:...'`` -> (solver, prior, the options it overrides, checked)."""
    head, *pairs = method.split(":")
    solver, prior = head.split("@", 1)
    return solver, prior, validate_options(solver, parse_pairs(pairs, method))


def solver_kwargs(method: str, family: str, prior, steps: dict[str, int], no_x8: bool = False) -> dict:
    """The published settings with those tuned for ``prior``, and the steps: --steps for the method or
    its solver, else the settings' own, else :data:`STEPS`; then the method's own overrides;
    ``no_x8`` turns DPIR's self-ensemble off."""
    solver, _, overrides = split_method(method)
    kwargs = settings(solver, family, prior)
    kwargs["steps"] = steps.get(method, steps.get(solver, kwargs.get("steps", STEPS.get(solver))))
    kwargs.update(overrides)
    if no_x8 and "x8" in kwargs:
        kwargs["x8"] = False
    return kwargs


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default=str(DATA / "test" / "CBSD68"))
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--prior", default="default")
    p.add_argument("--tasks", default=",".join(IMAGE_TASKS),
                   help="default: the colour tasks (medical.py runs the gray ones)")
    p.add_argument("--solvers", default=",".join(DEFAULT_SOLVERS), help="solvers run with --prior")
    p.add_argument("--methods", default="", help="SOLVER@PRIOR,... (instead of --solvers / --prior)")
    p.add_argument("--sigma-y", type=float, default=0.05, help="noise std on the [-1, 1] scale")
    p.add_argument("--batch", type=int, default=4, help="images per solver call")
    p.add_argument("--steps", default="", help="NFE overrides, e.g. diffpir=50,dps=100")
    p.add_argument("--samples", type=int, default=1, help="also score the mean of this many draws")
    p.add_argument("--no-x8", action="store_true", help="DPIR without its x8 flips/rotations (same NFE)")
    p.add_argument("--merge", action="store_true",
                   help="replace only these methods' rows in --out's results (same images and noise)")
    p.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16"),
                   help="prior runtime (default auto: restora's default, bf16 + channels_last where fast)")
    p.add_argument("--out", default="benchmarks/results/quality")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    return p.parse_args()


def methods_for(task, op, args, priors: dict, methods_given: list[str], steps: dict[str, int]) -> dict:
    """label -> (run(op, y, generator) -> x, NFE per image): the classical baseline and every method that
    can handle ``op`` (one draw, and the mean of --samples draws for sampling solvers)."""
    methods = {"classical": (lambda op, y, g: classical(op, y, args.sigma_y), 0)}
    for method in methods_given:
        solver, prior_name, overrides = split_method(method)
        # the solver's name alone is a label only where it tells the methods apart
        label = solver if len(priors) == 1 and not args.merge and not overrides else method
        try:
            check_compatible(solver, op)
        except ValueError:
            continue
        prior = priors[prior_name]
        kwargs = solver_kwargs(method, task.family, prior, steps, args.no_x8)
        calls = info(solver).nfe(prior=prior, **kwargs)  # DPIR's x8 costs no extra calls
        run = partial(get(solver), prior, sigma_y=args.sigma_y, **kwargs)
        methods[label] = (lambda op, y, g, run=run: run(op, y, generator=g), calls)
        if args.samples > 1 and info(solver).stochastic:
            draw = partial(restore_samples, get(solver), prior, samples=args.samples, sigma_y=args.sigma_y,
                           **kwargs)
            methods[f"{label} mean of {args.samples}"] = (
                lambda op, y, g, draw=draw: draw(op, y, generator=g).clamp(-1, 1).mean(1), calls)
    return methods


def score(task_name: str, methods: dict, chunks: list, refs: torch.Tensor) -> tuple[list[dict], dict]:
    """(rows, estimates) of every method on the task's measurements: PSNR / SSIM on 8-bit images, seconds
    per image (batched over images that share an operator)."""
    rows, results = [], {}
    for name, (run, calls) in methods.items():
        est = torch.empty_like(refs)
        start = time.perf_counter()
        for op, idx, y in chunks:
            est[idx] = as_unit(run(op, y, torch.Generator().manual_seed(11 + idx[0])))
        seconds = (time.perf_counter() - start) / len(refs)
        results[name] = est
        rows.append({"task": task_name, "method": name, "nfe": calls, "seconds_per_image": round(seconds, 2),
                     "psnr": float(psnr(est, refs, quantize=True).mean()),
                     "ssim": float(ssim(est, refs, quantize=True).mean())})
        print(f"{task_name:15s} {name:24s} {rows[-1]['psnr']:.2f} dB  {seconds:.1f} s/image", flush=True)
    return rows, results


def write_grid(path: Path, chunks: list, results: dict, refs: torch.Tensor) -> None:
    """measurement | every method (with PSNR) | reference, for the task's first image."""
    _, idx, y = chunks[0]
    pictures = [as_unit(y[:1]), *(results[n][idx[0]][None] for n in results), refs[idx[0]][None]]
    labels = ["measurement"] + [
        f"{n} {float(psnr(results[n][idx[0]][None], refs[idx[0]][None], quantize=True)):.2f}dB"
        for n in results
    ] + ["reference"]
    write_image(side_by_side(pictures, labels), path)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pairs = (item.split("=") for item in filter(None, args.steps.split(",")))
    steps = {name: int(value) for name, value in pairs}
    methods_given = [m if "@" in m else f"{m}@{args.prior}" for m in
                     (args.methods or args.solvers).split(",") if m]
    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = centre_crops(Path(args.images), args.size, args.limit)
    priors = {}
    for method in methods_given:
        name = split_method(method)[1]
        if name not in priors:
            priors[name] = load_prior(name).configure(dtype=args.dtype, channels_last=None)
    rows = []
    for task_name in args.tasks.split(","):
        task = TASKS[task_name]
        refs = torch.cat([as_unit(img) for _, img in images])
        # (operator, image indices, measurement) shared by every method
        chunks = task.measurements(torch.cat([img for _, img in images]), args.sigma_y, args.batch,
                                   lambda idx: 7 + idx[0])
        methods = methods_for(task, chunks[0][0], args, priors, methods_given, steps)
        task_rows, results = score(task_name, methods, chunks, refs)
        rows += task_rows
        write_grid(out / f"grid_{task_name}.png", chunks, results, refs)
        meta = record(args, images, priors, methods_given, steps)
        write_results(out, *(merged(out, rows, meta) if args.merge else (rows, meta)))
    print(markdown(rows))


def merged(out: Path, rows: list[dict], meta: dict) -> tuple[list[dict], dict]:
    """The rows and metadata of ``out``'s results with this run's (task, method) rows put in their place;
    refused when the images, size or noise differ (the table would mix measurements)."""
    old = json.loads((out / "results.json").read_text())
    keys = ("images", "size", "sigma_y")
    if any(old["meta"][k] != meta[k] for k in keys):
        raise SystemExit(f"--merge: {out} was measured on other images, size or noise ({keys})")
    new = {(r["task"], r["method"]) for r in rows}
    kept = [r for r in old["rows"] if (r["task"], r["method"]) not in new]
    order = list(dict.fromkeys((r["task"], r["method"]) for r in old["rows"] + rows))
    tasks = list(dict.fromkeys(task for task, _ in order))
    rows = sorted(kept + rows, key=lambda r: (tasks.index(r["task"]), order.index((r["task"], r["method"]))))
    both = {**old["meta"], **meta}
    for key in ("methods", "priors"):  # the kept rows' too
        if key in meta:
            both[key] = list(dict.fromkeys(old["meta"].get(key, []) + meta[key]))
    if "runtime" in meta:
        both["runtime"] = {**old["meta"].get("runtime", {}), **meta["runtime"]}
    if "settings" in meta:  # method -> task family -> options: a rerun of some families keeps the others
        before = old["meta"].get("settings", {})
        both["settings"] = {**before, **{m: {**before.get(m, {}), **families}
                                         for m, families in meta["settings"].items()}}
    if "samples" in meta:
        both["samples"] = max(old["meta"].get("samples", 1), meta["samples"])
    return rows, both


def record(args, images: list, priors: dict, methods_given: list[str], steps: dict[str, int]) -> dict:
    """The run's metadata: images, noise, methods and the settings each used per task family."""
    settings_used = {m: {f: solver_kwargs(m, f, priors[split_method(m)[1]], steps, args.no_x8)
                         for f in {TASKS[t].family for t in args.tasks.split(",")}} for m in methods_given}
    meta = {"images": [n for n, _ in images], "size": args.size, "sigma_y": args.sigma_y,
            "sigma_y_scale": "[-1,1]", "priors": list(priors), "methods": methods_given,
            "settings": settings_used, "samples": args.samples, "environment": environment(),
            "runtime": {n: {"dtype": p.dtype_name, "channels_last": p.channels_last}
                        for n, p in priors.items()}}
    return meta


def write_results(out: Path, rows: list[dict], meta: dict) -> None:
    """results.json and table.md for the tasks done so far (a stopped run keeps them)."""
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    (out / "table.md").write_text(markdown(rows))


def markdown(rows: list[dict]) -> str:
    """PSNR / SSIM table, one row per task and method, best PSNR per task in bold."""
    lines = ["| task | method | PSNR (dB) | SSIM | NFE | s / image |", "|---|---|---|---|---|---|"]
    best = {}
    for r in rows:
        best[r["task"]] = max(best.get(r["task"], -1.0), r["psnr"])
    for r in rows:
        p = f"{r['psnr']:.2f}"
        p = f"**{p}**" if r["psnr"] == best[r["task"]] else p
        ssim = "n/a" if r["ssim"] is None else f"{r['ssim']:.4f}"
        lines.append(f"| {r['task']} | {r['method']} | {p} | {ssim} | {r['nfe']} | "
                     f"{r['seconds_per_image']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
