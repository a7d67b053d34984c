"""Speed and memory of restora, measured with ``restora bench``, for docs/performance.md.

    python benchmarks/performance.py                 # measure on this machine
    python benchmarks/performance.py --groups cpu-batch,naive
    python benchmarks/report.py                      # then fill the doc's tables from the records

Each group below is one ``restora bench`` command run in its own process (so that peak-memory
readings of one configuration do not inherit another's); its JSON lands in
benchmarks/results/performance/<group>.json. On a CUDA machine the GPU groups (ADM-256 layouts with
random weights, fp32 / bf16, channels_last, torch.compile) run too. The naive-loop comparison runs
in this process: the same DiffPIR algorithm written as a plain per-image loop (batch 1, fp32,
autograd left on) against restora's calls (fp32 and restora's default runtime), same prior, same
images, same run, with the PSNR of every variant so that speed is not bought with quality.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from restora.experiments.measurements import environment
from restora.experiments.records import write_json
from restora.experiments.speed import test_images
from restora.metrics import psnr
from restora.operators import build_operator
from restora.pictures import as_unit
from restora.priors import load as load_prior
from restora.priors.base import fast_runtime
from restora.schedules import sampling_sigmas
from restora.solvers.diffpir import diffpir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "performance"
CPU = "--prior default --device cpu --threads 2"  # restora's default runtime (--dtype auto, channels_last)
FP32 = "--dtype fp32 --no-channels-last"  # the plain fp32 NCHW network
ONE = "--solver diffpir --task sr4 --steps 1 --repeats 1 --warmup 0"  # one timed NFE, for memory
KNOB = f"{CPU} --solver diffpir --task sr4 --size 256 --batch 4 --steps 3 --repeats 2"
CPU_GROUPS = {  # name -> `restora bench` arguments
    "cpu-overhead": f"{CPU} --solver diffpir,ddrm,ddnm,pigdm,dps --task sr4,deblur-gauss,inpaint-random "
    "--size 256 --batch 1 --steps 20 --repeats 2",
    "cpu-batch": f"{CPU} --solver diffpir --task sr4 --size 256 --batch 1,4,16,32 --steps 2 --repeats 2",
    "cpu-fp32": f"{KNOB} {FP32}",
    "cpu-channels-last": f"{KNOB} --dtype fp32 --channels-last",
    "cpu-bf16": f"{KNOB} --dtype bf16 --no-channels-last",
    "cpu-default": KNOB,
    "cpu-compile": f"{KNOB} --compile",
    "cpu-1-thread": KNOB.replace("--threads 2", "--threads 1"),
    "cpu-512-whole": f"{CPU} --solver diffpir --task sr4 --size 512 --steps 2 --repeats 1 --tile 0",
    "cpu-1024-whole": f"{CPU} {ONE} --size 1024 --tile 0",
    "cpu-1024-tiled": f"{CPU} {ONE} --size 1024 --tile 256",
    "cpu-2048-tiled": f"{CPU} {ONE} --size 2048 --tile 256",
}
GPU = ("--prior adm-imagenet256-uncond:random,adm-ffhq256:random --device cuda --solver diffpir --task sr4 "
       "--size 256 --batch 1,4,16,32 --steps 10 --repeats 3")
GPU_GROUPS = {
    "gpu-fp32": f"{GPU} {FP32}",
    "gpu-bf16": f"{GPU} --dtype bf16 --channels-last",
    "gpu-bf16-compile": f"{GPU} --dtype bf16 --channels-last --compile",
    "gpu-overhead": "--prior adm-imagenet256-uncond:random --device cuda --dtype bf16 --channels-last "
    "--solver diffpir,ddrm,ddnm,pigdm,dps --task sr4,deblur-gauss,inpaint-random --size 256 --batch 4 "
    "--steps 20",
}


def run_group(name: str, args: str) -> None:
    """One ``restora bench`` command in a fresh process; failures of single configurations are
    recorded in the JSON and shown in the doc."""
    out = RESULTS / f"{name}.json"
    cmd = [sys.executable, "-m", "restora", "bench", *args.split(), "-o", str(out)]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=False, cwd=ROOT)


def naive_diffpir(prior, op, y, steps: int, sigma_y: float, lam: float, zeta: float, seed: int):
    """DiffPIR as a straightforward script writes it: one image, fp32, autograd on, step by step."""
    sigmas = sampling_sigmas(prior.schedule, steps, "quad")
    gen = torch.Generator().manual_seed(seed)
    x = sigmas[0] * torch.randn(op.x_shape(y.shape), generator=gen)
    sigma_n = max(sigma_y / 2, 1e-3)
    for i in range(len(sigmas)):
        s = sigmas[i].item()
        x0 = op.prox(prior(x, s), y, lam * sigma_n**2 / s**2)
        s_next = sigmas[i + 1].item() if i + 1 < len(sigmas) else 0.0
        eps = (x - x0) / s
        noise = torch.randn(x.shape, generator=gen)
        x = x0 + s_next * ((1 - zeta) ** 0.5 * eps + zeta**0.5 * noise)
    return x.detach()


NAIVE_VARIANTS = {  # key of NAIVE_LABELS -> (runtime knobs, batched)
    "naive_loop": (None, False),
    "restora_fp32_per_image": (("fp32", False), False),
    "restora_fp32_batched": (("fp32", False), True),
    "restora_per_image": ("fast", False),
    "restora_batched": ("fast", True),
}


def naive_vs_batched(images: int, steps: int, repeats: int) -> dict:
    """Seconds and PSNR for ``images`` restorations: a per-image naive loop against restora's calls
    (per image / batched, fp32 / the default runtime), same prior and measurements."""
    torch.set_num_threads(2)
    x = test_images(images, 3, 256)
    op = build_operator("sr4", x.shape)
    y = op.measure(x, 0.05, torch.Generator().manual_seed(0))
    single = build_operator("sr4", x[:1].shape)
    kw = {"steps": steps, "sigma_y": 0.05, "lam": 1.0, "zeta": 0.3}
    fast = fast_runtime("cpu")
    record = {"images": images, "steps": steps, "size": 256, "task": "sr4", "threads": 2,
              "default_runtime": {"dtype": fast[0], "channels_last": fast[1]}}
    for key, (knobs, batched) in NAIVE_VARIANTS.items():
        prior = load_prior("default")
        if knobs is not None:
            prior.configure(*(fast if knobs == "fast" else knobs))

        def run(prior=prior, knobs=knobs, batched=batched) -> torch.Tensor:
            if knobs is None:
                return torch.cat([naive_diffpir(prior, single, y[i : i + 1], steps, 0.05, 1.0, 0.3, i)
                                  for i in range(images)])
            if batched:
                return diffpir(prior, op, y, generator=torch.Generator().manual_seed(0), **kw)
            return torch.cat([diffpir(prior, single, y[i : i + 1], generator=torch.Generator().manual_seed(i),
                                      **kw) for i in range(images)])

        out = run()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        record[key] = statistics.median(times)
        record[f"{key}_psnr"] = float(psnr(as_unit(out), as_unit(x), quantize=True).mean())
        print(f"{key}: {record[key]:.2f} s for {images} images, {record[f'{key}_psnr']:.2f} dB", flush=True)
    record["speedup"] = record["naive_loop"] / min(record["restora_batched"], record["restora_per_image"])
    return record


def flops_per_image_nfe(prior_name: str, size: int = 256) -> float:
    """Floating-point operations of one denoiser call on one image (torch's FLOP counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    prior = load_prior(prior_name)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        prior(torch.zeros(1, prior.channels, size, size), 1.0)
    return float(counter.get_total_flops())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--groups", help="comma-separated subset of the groups to run")
    p.add_argument("--naive-images", type=int, default=4)
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    extra_file = RESULTS / "extra.json"
    extra = json.loads(extra_file.read_text()) if extra_file.exists() else {}
    groups = {**CPU_GROUPS, **(GPU_GROUPS if torch.cuda.is_available() else {})}
    wanted = args.groups.split(",") if args.groups else list(groups)
    for name in wanted:
        if name in groups:
            run_group(name, groups[name])
    if not args.groups or "naive" in wanted:
        extra["naive"] = naive_vs_batched(args.naive_images, steps=5, repeats=2)
        extra["gflop_per_image_nfe"] = {"default": flops_per_image_nfe("default") / 1e9}
        extra["environment"] = environment()
        write_json(extra_file, extra)
    print("then: python benchmarks/report.py (fills docs/performance.md)")


if __name__ == "__main__":
    main()
