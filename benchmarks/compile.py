"""When torch.compile pays on this machine: its one-off cost per process, with an empty and with a warm
on-disk cache, against the time it saves per network call.

    python benchmarks/compile.py --out benchmarks/results/performance/compile.json

For each prior (the bundled one and the ADM FFHQ-256 layout with random weights, whose cost is set by its
layout) at 256 px, batch 1, restora's default runtime, three fresh processes: *eager* (a warm-up call, then
--calls timed calls), *compiled, empty cache* (TORCHINDUCTOR_CACHE_DIR a new folder: the first call pays
tracing and code generation) and *compiled, warm cache* (the same folder again: what every later process
pays, the FX-graph and AOTAutograd caches torch keeps on disk). A process's compile cost is its first call
minus one compiled call; a break-even is that cost over the saving per call, in network calls (one call
evaluates a whole batch); ``restora restore --compile auto`` applies the empty-cache one
(:data:`restora.priors.compiling.BREAK_EVEN_CALLS`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from restora.experiments.measurements import environment
from restora.experiments.records import write_json
from restora.priors import load as load_prior

PRIORS = ("default", "adm-ffhq256:random")


def child(prior_name: str, compiled: bool, calls: int, size: int) -> dict:
    """Times the first call and ``calls`` more of one prior in this process."""
    torch.set_grad_enabled(False)
    prior = load_prior(prior_name).configure(dtype="auto", channels_last=None, compile=compiled)
    x = torch.randn(1, prior.channels, size, size, generator=torch.Generator().manual_seed(0))
    sigmas = torch.linspace(2.0, 0.05, calls + 1).tolist()  # a solver's changing noise levels
    start = time.perf_counter()
    prior(x, sigmas[0])
    first = time.perf_counter() - start
    times = []
    for sigma in sigmas[1:]:
        start = time.perf_counter()
        prior(x, sigma)
        times.append(time.perf_counter() - start)
    return {"first_call": first, "per_call": statistics.median(times), "calls": calls,
            "runtime": {"dtype": prior.dtype_name, "channels_last": prior.channels_last}}


def spawn(args: argparse.Namespace, prior: str, compiled: bool, cache: Path) -> dict:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    cmd = [sys.executable, __file__, "--child", prior, "--calls", str(args.calls), "--size", str(args.size),
           "--threads", str(args.threads), *(["--compiled"] if compiled else [])]
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "process_seconds": time.perf_counter() - start}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--priors", default=",".join(PRIORS))
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default="benchmarks/results/performance/compile.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child(args.child, args.compiled, args.calls, args.size)))
        return
    rows = []
    for prior in args.priors.split(","):
        with tempfile.TemporaryDirectory() as cache:
            eager = spawn(args, prior, False, Path(cache) / "unused")
            empty = spawn(args, prior, True, Path(cache))
            warm = spawn(args, prior, True, Path(cache))
        saving = eager["per_call"] - warm["per_call"]
        modes = {"eager": eager, "compiled, empty cache": empty, "compiled, warm cache": warm}
        for mode, result in modes.items():
            cost = result["first_call"] - result["per_call"] if mode != "eager" else 0.0
            rows.append({"prior": prior, "mode": mode, **result, "compile_seconds": round(cost, 2)})
            print(f"{prior:22s} {mode:24s} first {result['first_call']:7.2f} s, then "
                  f"{result['per_call']:.3f} s/call", flush=True)
        warm_cost = warm["first_call"] - warm["per_call"]
        empty_cost = empty["first_call"] - empty["per_call"]
        rows.append({"prior": prior, "mode": "break-even", "saving_per_call": saving,
                     "break_even_calls": warm_cost / saving if saving > 0 else None,
                     "break_even_calls_empty_cache": empty_cost / saving if saving > 0 else None})
        print(f"{prior:22s} saves {saving:.3f} s/call; break-even "
              f"{'never' if saving <= 0 else f'{warm_cost / saving:.0f} calls'} (warm cache)", flush=True)
    write_json(Path(args.out), {"meta": {"size": args.size, "batch": 1, "threads": args.threads,
                                         "environment": environment()}, "rows": rows})


if __name__ == "__main__":
    main()
