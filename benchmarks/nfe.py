"""Quality against NFE, cold start against warm start: DiffPIR, DDRM and DDNM on sr4, deblur-gauss and
inpaint-box with the bundled prior.

    python benchmarks/nfe.py --out benchmarks/results/nfe

1. **Choosing the starts** (held-out *training* crops, never the test set): at --tune-nfe NFE, each solver
   and task tries the ladders of --spacings (and DiffPIR's second-order step) from pure noise, and warm
   starts from each --inits estimate at each sigma_start of --levels with the same ladders; the best cold
   and the best warm setting by mean PSNR are kept (``restora.experiments.warm.choose_start``).
2. **The curves** (the first --limit of the main table's CBSD68 centre crops): each solver at every NFE of
   --nfe with its published ladder from pure noise (*cold*), with the chosen cold ladder (*cold, tuned
   ladder*), and warm with the chosen start (*warm*); PSNR / SSIM / LPIPS-alex, seconds per image of the
   sampler and, for warm rows, of the estimate it starts from (``init_seconds``).

sigma_y 0.05 on [-1, 1] (as the main table); prior runtime restora's default (bf16 + channels_last where
the CPU has fast bf16, else fp32). Writes results.json (meta, chosen starts with every trial, rows).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from restora.experiments.measurements import BENCHMARK_TASKS, centre_crops, data_root, environment, held_out
from restora.experiments.methods import Method
from restora.experiments.records import write_results
from restora.experiments.scoring import Perceptual, row, score
from restora.experiments.warm import Estimator, choose_start
from restora.pictures import as_unit
from restora.priors import load as load_prior
from restora.solvers import get, info, options_for


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="sr4,deblur-gauss,inpaint-box")
    p.add_argument("--solvers", default="diffpir,ddrm,ddnm")
    p.add_argument("--nfe", default="5,10,20,50,100")
    p.add_argument("--limit", type=int, default=4, help="test crops (the main table's first ones)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--sigma-y", type=float, default=0.05, help="noise std on the [-1, 1] scale")
    p.add_argument("--inits", default="initial,dpir@ffdnet-color", help="warm-start estimates to try")
    p.add_argument("--levels", default="0.02,0.05,0.1,0.2,0.4,0.8,1.6,3.2",
                   help="sigma_start values to try ([-1, 1] scale)")
    p.add_argument("--spacings", default="quad,logsnr,karras")
    p.add_argument("--tune-nfe", type=int, default=10)
    p.add_argument("--tune-limit", type=int, default=4)
    p.add_argument("--tune-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="benchmarks/results/nfe")
    return p.parse_args(argv)


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def words(text: str) -> list[str]:
    return [v for v in text.split(",") if v]


def choose_starts(args: argparse.Namespace, prior, estimators: dict[str, Estimator]) -> dict:
    """{solver: {task: {"cold": options, "warm": options + init, "trials": [...]}}} on held-out crops."""
    x = held_out(args.tune_limit, args.tune_size)
    return {name: {task: choose_start(name, prior, x, task, nfe=args.tune_nfe, sigma_y=args.sigma_y,
                                      spacings=words(args.spacings), levels=floats(args.levels),
                                      estimators=estimators)
                   for task in words(args.tasks)} for name in words(args.solvers)}


def sampler(name: str, prior, options: dict, sigma_y: float, inits: dict[int, torch.Tensor] | None = None):
    """A solve ``(op, y, generator)`` with ``options`` (``inits``: the warm start of each measurement)."""
    kwargs = {k: v for k, v in options.items() if k != "init"}

    def run(op, y, g):
        extra = {} if inits is None else {"x_init": inits[id(y)]}
        return get(name)(prior, op, y, sigma_y=sigma_y, generator=g, **kwargs, **extra)

    return run


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    prior = load_prior("default").configure(dtype="auto", channels_last=None)
    estimators = {init: Estimator(init) for init in words(args.inits)}
    chosen = choose_starts(args, prior, estimators)
    images = centre_crops(data_root() / "test" / "CBSD68", args.size, args.limit)
    x = torch.cat([img for _, img in images])
    meta = {"images": [n for n, _ in images], "size": args.size, "sigma_y": args.sigma_y,
            "sigma_y_scale": "[-1,1]", "nfe": [int(n) for n in floats(args.nfe)],
            "tune": {"nfe": args.tune_nfe, "limit": args.tune_limit, "size": args.tune_size,
                     "levels": floats(args.levels), "spacings": words(args.spacings),
                     "inits": words(args.inits)},
            "chosen": chosen, "environment": environment(),
            "runtime": {"dtype": prior.dtype_name, "channels_last": prior.channels_last}}
    perceptual = Perceptual()
    rows: list[dict] = []
    for task_name in words(args.tasks):
        task = BENCHMARK_TASKS[task_name]
        chunks = task.measurements(x, args.sigma_y, len(x), lambda idx: 7 + idx[0])
        starts, init_seconds = {}, {}
        for init, estimate in estimators.items():
            t0 = time.perf_counter()
            starts[init] = {id(y): estimate(op, y, sigma_y=args.sigma_y, family=task.family,
                                            generator=torch.Generator().manual_seed(3))
                            for op, _, y in chunks}
            init_seconds[init] = (time.perf_counter() - t0) / len(x)
        methods, extra = [], {}
        for name in words(args.solvers):
            picked = chosen[name][task_name]
            published = options_for(name, task.family, prior)
            for nfe in meta["nfe"]:
                variants = {"cold": ({**published, "steps": nfe}, None),
                            "cold, tuned ladder": ({**picked["cold"], "steps": nfe}, None),
                            "warm": ({**picked["warm"], "steps": nfe}, starts[picked["warm"]["init"]])}
                defaults = info(name).defaults
                if {**defaults, **picked["cold"], "steps": nfe} == {**defaults, **published, "steps": nfe}:
                    del variants["cold, tuned ladder"]
                for start, (options, inits) in variants.items():
                    label = f"{name} {start} {nfe}"
                    methods.append(Method(label, sampler(name, prior, options, args.sigma_y, inits), nfe))
                    extra[label] = {"solver": name, "start": start, "options": options}
                    if inits is not None:
                        extra[label]["init_seconds"] = round(init_seconds[options["init"]], 2)
        task_rows, _ = score(task.name, methods, chunks, x, perceptual=perceptual)
        rows += [{**r, **extra[r["method"]]} for r in task_rows]
        for init, seconds in init_seconds.items():  # the estimates the warm starts begin from, scored alone
            est = as_unit(torch.cat([starts[init][id(y)] for _, _, y in chunks]))
            rows.append({**row(task.name, f"init {init}", est, as_unit(x), 0, seconds, perceptual=perceptual),
                         "solver": "init", "start": init})
        write_results(Path(args.out), rows, meta)  # after every task: a stop keeps them


if __name__ == "__main__":
    main()
